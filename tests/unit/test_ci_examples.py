# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""ci-examples/: the GitHub Actions and GitLab CI recipes do what docs/ci.md says.

Structure: the triggers (pull/merge request and merge), the collection
install, the reconcile command with its CI gate, the evidence verification,
the artifact and the comment, in that order, and the gate failing the job at
the end. Behaviour: the comment scripts are run with bash against a stub
``gh`` / ``curl``, with a report far over GitHub's 65,536-character limit.
"""

from __future__ import annotations

import os
import pathlib
import re
import shlex
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
GITHUB = ROOT / "ci-examples" / "github-actions.yml"
GITLAB = ROOT / "ci-examples" / "gitlab-ci.yml"
GITHUB_COMMENT_LIMIT = 65536

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def commands(script):
    """Every simple command of a shell script, as argument lists (continuations joined)."""
    script = script.replace("\\\n", " ")
    found = []
    for line in script.splitlines():
        for part in re.split(r";|&&|\|\|", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:
                continue
            if words:
                found.append(words)
    return found


def has_reconcile_gate(script):
    for words in commands(script):
        if words[:2] != ["ansible-playbook", "nhi.lifecycle.reconcile"]:
            continue
        inventory = words[words.index("-i") + 1] if "-i" in words else None
        extra = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-e", "--extra-vars")]
        return inventory == "inventories/prod" and any(e in ("fail_on=high", "nhi_reconcile_fail_on=high") for e in extra)
    return False


def runs_verify(script):
    for words in commands(script):
        tool = next((w for w in words if w.endswith("nhi-evidence")), None)
        if tool and words[words.index(tool) + 1:words.index(tool) + 2] == ["verify"]:
            return "--hmac-key-env" in words
    return False


def test_fail_on_is_the_short_form_of_the_reconcile_gate():
    defaults = load(ROOT / "roles" / "reconcile" / "defaults" / "main.yml")
    assert "fail_on" in defaults["nhi_reconcile_fail_on"]


# ----------------------------------------------------------------- GitHub


@pytest.fixture(scope="module")
def workflow():
    return load(GITHUB)


def steps_of(workflow):
    [job] = workflow["jobs"].values()
    return job["steps"]


def find_step(steps, predicate, what):
    for index, step in enumerate(steps):
        if predicate(step):
            return index, step
    pytest.fail("no step that %s" % what)
    return None  # unreachable


def test_github_triggers(workflow):
    triggers = workflow["on"] if "on" in workflow else workflow[True]  # PyYAML reads a bare `on` as true
    assert "pull_request" in triggers
    assert triggers["push"]["branches"] == ["main"], "on merge: a push to the default branch"
    assert "merge_group" in triggers
    permissions = workflow["permissions"]
    assert permissions["pull-requests"] == "write" and permissions["id-token"] == "write"


def test_github_run_id_is_new_for_every_attempt(workflow):
    env = workflow["env"]
    assert "github.run_attempt" in env["NHI_RUN_ID"], "a re-run must not reuse a run id (the callback fails closed)"
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "nhi.lifecycle.evidence"
    assert env["ANSIBLE_INVENTORY_ENABLED"].split(",")[0] == "nhi.lifecycle.catalog"
    assert int(env["NHI_EVIDENCE_TIMELINE_LIMIT"]) > 0


def test_github_steps_in_order(workflow):
    steps = steps_of(workflow)
    install, _install_step = find_step(steps, lambda s: "ansible-galaxy collection install" in s.get("run", "")
                                       and "nhi.lifecycle" in s.get("run", ""), "installs the collection")
    gate, gate_step = find_step(steps, lambda s: has_reconcile_gate(s.get("run", "")),
                                "runs `ansible-playbook nhi.lifecycle.reconcile -i inventories/prod -e fail_on=high`")
    assert gate_step.get("continue-on-error") is True and gate_step.get("id")
    assert gate_step["env"]["NHI_EVIDENCE_HMAC_KEY"].startswith("${{ secrets.")
    verify, verify_step = find_step(steps, lambda s: runs_verify(s.get("run", "")), "runs nhi-evidence verify")
    assert "always()" in verify_step.get("if", "")
    artifact, artifact_step = find_step(steps, lambda s: s.get("uses", "").startswith("actions/upload-artifact@"),
                                        "uploads the evidence as an artifact")
    assert "NHI_RUN_ID" in artifact_step["with"]["path"] and "always()" in artifact_step.get("if", "")
    comment, comment_step = find_step(steps, lambda s: "gh pr comment" in s.get("run", ""),
                                      "comments on the pull request")
    assert "--body-file" in comment_step["run"] and "always()" in comment_step.get("if", "")
    last = steps[-1]
    assert "always()" in last.get("if", "") and "exit 1" in last.get("run", "")
    assert gate_step["id"] in last["if"] and verify_step["id"] in last["if"], "the gate must fail the job at the end"
    assert install < gate < verify < comment < len(steps) - 1 and gate < artifact


def run_script(script, tmp_path, env, stubs):
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, body in stubs.items():
        path = bindir / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
    child = {"PATH": "%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")), "HOME": str(tmp_path)}
    child.update(env)
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=str(tmp_path), env=child,
                          capture_output=True, text=True, timeout=60, check=False)


def big_report(path, rows=4000):
    lines = ["# nhi.lifecycle evidence report", "", "| identity | step | outcome |", "| --- | --- | --- |"]
    lines += ["| ci-deployer-%05d | prove_old_rejected | changed |" % i for i in range(rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


GH_STUB = r'''
if [ "$1 $2" = "pr comment" ]; then
  printf '%s\n' "$@" > "$HOME/gh-args"
  while [ $# -gt 0 ]; do if [ "$1" = "--body-file" ]; then cp "$2" "$HOME/posted.md"; fi; shift; done
  exit 0
fi
if [ "$1" = "api" ]; then echo 42; exit 0; fi
exit 3
'''


@pytest.mark.parametrize("size", ["small", "huge"])
@pytest.mark.parametrize("event", ["pull_request", "push"])
def test_github_comment_stays_under_the_limit(workflow, tmp_path, size, event):
    _index, step = find_step(steps_of(workflow), lambda s: "gh pr comment" in s.get("run", ""), "comments")
    report = tmp_path / "evidence" / "gh-1-1" / "report.md"
    if size == "huge":
        big_report(report)
        assert report.stat().st_size > 3 * GITHUB_COMMENT_LIMIT
    else:
        big_report(report, rows=10)
    env = {"NHI_EVIDENCE_ROOT": str(tmp_path / "evidence"), "NHI_RUN_ID": "gh-1-1", "GH_REPO": "org/catalog",
           "GITHUB_SHA": "abc123", "ARTIFACT_URL": "https://github.example/run/1", "RECONCILE": "failure",
           "VERIFY": "success", "PR_NUMBER": "7" if event == "pull_request" else ""}
    proc = run_script(step["run"], tmp_path, env, {"gh": GH_STUB})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = (tmp_path / "gh-args").read_text().split("\n")
    assert args[:3] == ["pr", "comment", "7" if event == "pull_request" else "42"]
    posted = (tmp_path / "posted.md").read_text(encoding="utf-8")
    assert len(posted) < GITHUB_COMMENT_LIMIT
    assert "gate failure, evidence success" in posted and "https://github.example/run/1" in posted
    if size == "huge":
        assert "artifact nhi-evidence-gh-1-1" in posted
        body = [line for line in posted.splitlines() if line.startswith("| ci-deployer-")]
        assert body and all(line.endswith("| changed |") for line in body), "a table row was cut in half"
    else:
        assert posted.count("| ci-deployer-") == 10


# ----------------------------------------------------------------- GitLab


@pytest.fixture(scope="module")
def gitlab():
    return load(GITLAB)


def test_gitlab_job(gitlab):
    job = gitlab["nhi-reconcile"]
    ifs = [rule.get("if", "") for rule in job["rules"]]
    assert any('merge_request_event' in rule for rule in ifs)
    assert any("CI_DEFAULT_BRANCH" in rule for rule in ifs), "on merge: the default branch"
    before = "\n".join(job["before_script"])
    assert "ansible-galaxy collection install" in before and "nhi.lifecycle" in before
    script = job["script"]
    gate = next(i for i, line in enumerate(script) if has_reconcile_gate(line))
    verify = next(i for i, line in enumerate(script) if runs_verify(line))
    note = next(i for i, line in enumerate(script) if "/merge_requests/" in line and "/notes" in line)
    assert gate < verify < note < len(script) - 1
    assert "set +e" in script[gate] and "set +e" in script[verify], "the gate must not stop the job before the report"
    assert "exit 1" in script[-1] and "$gate" in script[-1] and "$verified" in script[-1]
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always" and "evidence/" in artifacts["paths"]
    variables = gitlab["variables"]
    assert "CI_JOB_ID" in variables["NHI_RUN_ID"], "a retried job must not reuse a run id"
    assert variables["NHI_EVIDENCE_ROOT"].endswith("/evidence")


CURL_STUB = r'''
body=""
for arg in "$@"; do
  case "$arg" in body@*) body="${arg#body@}";; esac
done
if [ -n "$body" ]; then printf '%s\n' "$@" > "$HOME/curl-args"; cp "$body" "$HOME/posted.md"; exit 0; fi
echo '[{"iid": 9}]'
'''
JQ_STUB = r'''
cat >/dev/null
echo 9
'''


@pytest.mark.parametrize("event", ["merge_request_event", "push"])
def test_gitlab_note(gitlab, tmp_path, event):
    script = gitlab["nhi-reconcile"]["script"]
    note = next(line for line in script if "/merge_requests/" in line and "/notes" in line)
    big_report(tmp_path / "evidence" / "gl-1-2" / "report.md")
    env = {"NHI_EVIDENCE_ROOT": str(tmp_path / "evidence"), "NHI_RUN_ID": "gl-1-2", "NHI_GITLAB_TOKEN": "t",
           "CI_API_V4_URL": "https://gitlab.example/api/v4", "CI_PROJECT_ID": "5", "CI_COMMIT_SHA": "abc",
           "CI_JOB_URL": "https://gitlab.example/job/2", "CI_PIPELINE_SOURCE": event, "gate": "2", "verified": "0"}
    if event == "merge_request_event":
        env["CI_MERGE_REQUEST_IID"] = "9"
    proc = run_script(note, tmp_path, env, {"curl": CURL_STUB, "jq": JQ_STUB})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    args = (tmp_path / "curl-args").read_text()
    assert "https://gitlab.example/api/v4/projects/5/merge_requests/9/notes" in args
    posted = (tmp_path / "posted.md").read_text(encoding="utf-8")
    assert len(posted) < GITHUB_COMMENT_LIMIT and "gate exit 2, evidence verify exit 0" in posted

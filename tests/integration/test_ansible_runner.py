# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The playbooks under ansible-runner, the way AWX starts a job.

``ansible_runner.run()`` with process isolation off, a private data
directory, the job's ``JOB_ID``, and an environment made only of what the
custom credential types in awx/credential_types/ inject (rendered as AWX
renders them, tests/unit/awx_credentials.py), against the real local
backends. Then: the evidence callback wrote a sealed, HMAC-keyed chain
under ``<NHI_EVIDENCE_ROOT>/<JOB_ID>/`` that ``nhi-evidence verify``
accepts, and the systems are in the state the run claims.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import subprocess
import sys
import uuid

import pytest
import yaml

ansible_runner = pytest.importorskip("ansible_runner")

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit"))
import awx_credentials as awx  # noqa: E402

VENV_BIN = pathlib.Path(sys.executable).parent
COLLECTIONS = ROOT / ".run" / "collections"
TOOL = ROOT / "tools" / "nhi-evidence"
# What the job's environment must not inherit from the test process: the
# credentials come from the credential types only, as in AWX.
SCRUB = ("AWS_", "VAULT_", "BAO_", "NHI_", "GOOGLE_", "JOB_ID", "ANSIBLE_")


def write_catalog(tmp_path, names, prefix):
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    kinds = {
        "aws_iam_user": {"aws": {"path": "/nhi-runner/"}},
        "vault_approle": {"vault": {"token_policies": ["default"], "token_ttl": "1h"}},
        "scim_service_user": {"scim": {"display_name": "runner test"}},
    }
    identities = []
    for (kind, block), name in zip(kinds.items(), names):
        item = {"name": name, "kind": kind, "owner": "team-awx", "purpose": "ansible-runner integration test"}
        item.update(block)
        identities.append(item)
    (inv / "runner.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "store": {"mount": "secret", "path_prefix": prefix}},
        "identities": identities}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({
        "nhi_policy_rules": [{"id": "org.standard_change", "events": ["provision", "rotate", "offboard", "reconcile"],
                              "condition": "`true`", "effect": "allow", "reason": "standard change"}],
        "nhi_exceptions": []}))
    return inv


def credential_env(backends, private_data_dir, hmac_key):
    """What an AWX job with the nhi.lifecycle credentials attached gets in its environment."""
    types = awx.load_all()
    env = {}
    env.update(awx.inject(types["vault"], {"vault_addr": backends["VAULT_ADDR"],
                                           "vault_token": backends["VAULT_TOKEN"]}, private_data_dir))
    env.update(awx.inject(types["aws"], {"aws_access_key_id": backends["AWS_ACCESS_KEY_ID"],
                                         "aws_secret_access_key": backends["AWS_SECRET_ACCESS_KEY"],
                                         "aws_region": backends["AWS_REGION"]}, private_data_dir))
    env.update(awx.inject(types["aws_endpoint"], {"aws_endpoint_url": backends["AWS_ENDPOINT_URL"]}, private_data_dir))
    env.update(awx.inject(types["scim"], {"scim_url": backends["NHI_SCIM_URL"],
                                          "scim_token": backends["NHI_SCIM_TOKEN"]}, private_data_dir))
    env.update(awx.inject(types["evidence"], {"hmac_key": hmac_key}, private_data_dir))
    # AWX injects the optional fields left empty as empty strings; the run must cope.
    assert env["VAULT_NAMESPACE"] == "" and env["VAULT_CACERT"] == "" and env["AWS_SESSION_TOKEN"] == ""
    return env


@pytest.fixture
def job(backends, tmp_path, monkeypatch):
    """``job(playbook, job_id, project_dir=ROOT, **runner_kwargs)`` -> (runner result, evidence dir)."""
    for name in list(os.environ):
        if name.startswith(SCRUB):
            monkeypatch.delenv(name, raising=False)
    hmac_key = secrets.token_hex(32)
    evidence_root = tmp_path / "evidence"

    def run(playbook, job_id, project_dir=ROOT, ansible_cfg=True, **kwargs):
        private_data_dir = tmp_path / ("job-%s" % job_id)
        private_data_dir.mkdir()
        env = credential_env(backends, private_data_dir, hmac_key)
        env.update({
            "JOB_ID": str(job_id),  # AWX sets it for every job
            "NHI_EVIDENCE_ROOT": str(evidence_root),
            "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS),
            "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "/usr/bin:/bin")),
            "ANSIBLE_NOCOLOR": "1",
        })
        if ansible_cfg:
            env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
        result = ansible_runner.run(private_data_dir=str(private_data_dir), project_dir=str(project_dir),
                                    playbook=playbook, envvars=env, quiet=True, **kwargs)
        stdout = result.stdout.read()
        (tmp_path / ("job-%s.log" % job_id)).write_text(stdout)
        assert result.status == "successful" and result.rc == 0, "job %s: %s rc=%s\n%s" % (
            job_id, result.status, result.rc, stdout[-6000:])
        return result, stdout, evidence_root / str(job_id)

    run.hmac_key = hmac_key
    return run


def verify(directory, hmac_key):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["NHI_EVIDENCE_HMAC_KEY"] = hmac_key
    return subprocess.run([sys.executable, str(TOOL), "verify", str(directory), "--hmac-key-env",
                           "NHI_EVIDENCE_HMAC_KEY", "--json"], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def records(directory):
    with open(directory / "evidence.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def assert_evidence(directory, job_id, hmac_key, identities, event):
    proc = verify(directory, hmac_key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["sealed"] and result["hmac_checked"], result
    assert result["run_id"] == str(job_id), "the run id must come from the job's JOB_ID"
    found = records(directory)
    steps = [r for r in found if r["type"] == "step"]
    assert {r["run_id"] for r in found} == {str(job_id)}
    assert {r["identity"] for r in steps if r["event"] == event} >= set(identities)
    assert not [r for r in steps if r["outcome"] == "failed"], [r for r in steps if r["outcome"] == "failed"]
    for name in ("summary.json", "report.html", "report.md"):
        assert (directory / name).is_file()
    return steps


def test_provision_then_rotate_like_an_awx_job(job, tmp_path, unique_name, iam, vault, scim):
    names = [unique_name("rn-aws"), unique_name("rn-approle"), unique_name("rn-scim")]
    prefix = "nhi/itest-runner/%s" % uuid.uuid4().hex[:8]
    inventory = write_catalog(tmp_path, names, prefix)
    base = 470000 + int(uuid.uuid4().int % 10000) * 10

    _result, stdout, provision_dir = job("playbooks/provision.yml", base + 1, inventory=str(inventory),
                                         extravars={"nhi_workers": 4})
    assert "nhi.lifecycle evidence: " in stdout and "(HMAC-SHA256)" in stdout
    assert_evidence(provision_dir, base + 1, job.hmac_key, names, "provision")
    first = vault.secrets.kv.v2.read_secret_version(path="%s/%s" % (prefix, names[0]), mount_point="secret",
                                                    raise_on_deleted_version=True)["data"]["data"]

    result, _stdout, rotate_dir = job("playbooks/rotate.yml", base + 2, inventory=str(inventory),
                                      extravars={"nhi_rotate_force": True, "nhi_workers": 4})
    steps = assert_evidence(rotate_dir, base + 2, job.hmac_key, names, "rotate")
    assert {r["identity"] for r in steps if r["step"] == "prove_new" and r["outcome"] != "skipped"} >= set(names[:2])
    assert any(e["event"] == "playbook_on_stats" for e in result.events)

    # independently of the collection: the AWS key was replaced, and the stored one is the only key
    now = vault.secrets.kv.v2.read_secret_version(path="%s/%s" % (prefix, names[0]), mount_point="secret",
                                                  raise_on_deleted_version=True)["data"]["data"]
    assert now["access_key_id"] != first["access_key_id"]
    keys = iam.list_access_keys(UserName=names[0])["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [now["access_key_id"]]
    assert vault.auth.approle.read_role(role_name=names[1])["data"]
    users = scim.get("/Users", params={"filter": 'userName eq "%s"' % names[2]}).json()["Resources"]
    assert len(users) == 1 and users[0]["active"] is True


def test_the_awx_project_skeleton(job, tmp_path, unique_name, iam):
    """awx/project/: its ansible.cfg (no ANSIBLE_CONFIG, as in AWX) and its one-line playbooks."""
    names = [unique_name("rn-prj")]
    inventory = write_catalog(tmp_path, names, "nhi/itest-runner/%s" % uuid.uuid4().hex[:8])
    base = 480000 + int(uuid.uuid4().int % 10000) * 10
    project = ROOT / "awx" / "project"
    _result, _stdout, directory = job("playbooks/provision.yml", base + 1, project_dir=project, ansible_cfg=False,
                                      inventory=str(inventory))
    assert_evidence(directory, base + 1, job.hmac_key, names, "provision")
    _result, _stdout, directory = job("playbooks/rotate.yml", base + 2, project_dir=project, ansible_cfg=False,
                                      inventory=str(inventory), extravars={"nhi_rotate_force": True})
    assert_evidence(directory, base + 2, job.hmac_key, names, "rotate")
    assert len(iam.list_access_keys(UserName=names[0])["AccessKeyMetadata"]) == 1

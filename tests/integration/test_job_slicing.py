# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""AWX job slicing: two slices of one rotation, their evidence merged into one verified run.

AWX splits a sliced job template's hosts round-robin (slice n of N gets hosts
n-1, n-1+N, ...), and runs the slices as separate jobs at the same time, each
with its own JOB_ID. Here: a catalog of six identities, provisioned, then
rotated by two concurrent ``ansible-playbook --limit`` runs over disjoint host
sets, each with its own NHI_RUN_ID and the same HMAC key. ``nhi-evidence
merge`` joins the two slices; the merged chain verifies, and any edit,
deletion or reordering of a merged record is detected.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys
import uuid

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "nhi-evidence"
KINDS = (("aws_iam_user", {"aws": {"path": "/nhi-slices/"}}),
         ("vault_approle", {"vault": {"token_policies": ["default"]}}),
         ("scim_service_user", {"scim": {"display_name": "slicing test"}}))


def write_catalog(tmp_path, names, prefix):
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    identities = []
    for index, name in enumerate(names):
        kind, block = KINDS[index % len(KINDS)]
        item = {"name": name, "kind": kind, "owner": "team-awx", "purpose": "job slicing test"}
        item.update(block)
        identities.append(item)
    (inv / "slices.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "store": {"mount": "secret", "path_prefix": prefix}},
        "identities": identities}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({"nhi_policy_rules": [],
                                                                          "nhi_exceptions": []}))
    return inv


def tool(*args, key=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if key:
        env["NHI_SLICE_KEY"] = key
    return subprocess.run([sys.executable, str(TOOL)] + [str(a) for a in args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def lines_of(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_two_slices_merge_into_one_verified_run(tmp_path, run_playbook, unique_name, iam):
    names = sorted(unique_name("slice%d" % i) for i in range(6))
    inventory = write_catalog(tmp_path, names, "nhi/itest-slices/%s" % uuid.uuid4().hex[:8])
    root = tmp_path / "evidence"
    key = uuid.uuid4().hex + uuid.uuid4().hex
    common = {"NHI_EVIDENCE_ROOT": str(root), "NHI_EVIDENCE_HMAC_KEY": key}

    run_playbook("playbooks/provision.yml", inventory=inventory, env=dict(common, NHI_RUN_ID="provision")).check()

    # AWX: slice n of 2 gets the hosts n-1, n+1, ... in inventory order, and both run at once.
    slices = {"4711": names[0::2], "4712": names[1::2]}
    assert not set(slices["4711"]) & set(slices["4712"])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {run_id: pool.submit(run_playbook, "playbooks/rotate.yml", inventory=inventory, limit=hosts,
                                       extra_vars={"nhi_rotate_force": True, "nhi_workers": 4},
                                       env=dict(common, NHI_RUN_ID=run_id))
                   for run_id, hosts in slices.items()}
        for future in futures.values():
            future.result().check()

    for run_id, hosts in slices.items():
        proc = tool("verify", root / run_id, "--hmac-key-env", "NHI_SLICE_KEY", key=key)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        steps = [json.loads(line) for line in lines_of(root / run_id / "evidence.jsonl")]
        rotated = {r["identity"] for r in steps if r.get("event") == "rotate" and r.get("type") == "step"}
        assert rotated == set(hosts), "slice %s acted on %s, not only on its own hosts" % (run_id, rotated)
    for index, name in enumerate(names):
        if KINDS[index % len(KINDS)][0] == "aws_iam_user":
            assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 1, name

    merged = root / "workflow-812"
    proc = tool("merge", merged, root / "4711", root / "4712", "--run-id", "workflow-812",
                "--hmac-key-env", "NHI_SLICE_KEY", key=key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (merged / "report.html").is_file() and (merged / "summary.json").is_file()

    proc = tool("verify", merged, "--hmac-key-env", "NHI_SLICE_KEY", "--json", key=key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["sealed"] and result["hmac_checked"] and result["run_id"] == "workflow-812"
    records = [json.loads(line) for line in lines_of(merged / "evidence.jsonl")]
    seal = records[-1]
    slice_counts = {run_id: sum(1 for line in lines_of(root / run_id / "evidence.jsonl")
                                if json.loads(line)["type"] == "step") for run_id in slices}
    assert seal["type"] == "seal" and seal.get("merge") is True
    assert result["count"] == sum(slice_counts.values()) == len(records) - 1
    assert {r["run_id"] for r in records[:-1]} == set(slices)
    assert {r["identity"] for r in records[:-1] if r["event"] == "rotate"} == set(names)
    assert json.dumps(seal).count("4711") and json.dumps(seal).count("4712")

    # Tampering with the merged run is detected, with or without the key.
    original = lines_of(merged / "evidence.jsonl")
    victim = next(i for i, r in enumerate(records) if r["step"] == "prove_old_rejected")

    def tampered(new_lines, label):
        target = tmp_path / ("tampered-%s" % label)
        target.mkdir()
        (target / "evidence.jsonl").write_text("\n".join(new_lines) + "\n", encoding="utf-8")
        return target

    edited = json.loads(original[victim])
    edited["outcome"] = "unchanged" if edited["outcome"] != "unchanged" else "changed"
    cases = {
        "edited": original[:victim] + [json.dumps(edited, sort_keys=True, separators=(",", ":"))] + original[victim + 1:],
        "deleted": original[:victim] + original[victim + 1:],
        "reordered": original[:victim - 1] + [original[victim], original[victim - 1]] + original[victim + 1:],
    }
    for label, new_lines in cases.items():
        directory = tampered(new_lines, label)
        for with_key in (True, False):
            args = ["verify", directory] + (["--hmac-key-env", "NHI_SLICE_KEY"] if with_key else [])
            proc = tool(*args, key=key)
            assert proc.returncode == 1, "%s (key: %s) was not detected: %s" % (label, with_key, proc.stdout)
            assert "FAILED at seq" in proc.stdout

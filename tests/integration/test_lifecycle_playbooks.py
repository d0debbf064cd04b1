# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The provision, rotate and offboard playbooks on a catalog, against the real backends.

Each test writes its own small catalog (AWS identities with unique names) and
checks the outcome with raw boto3 and hvac.
"""
from __future__ import annotations

import datetime
import json

import botocore.exceptions
import pytest
import yaml

CRASH_POINTS = ["mint", "store", "prove_new", "deactivate_old", "delete_old", "prove_old_rejected",
                "destroy_stored"]


def catalog(tmp_path, names, environment="dev", rules=None, exceptions=None, **identity_extra):
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
    identities = []
    for name in names:
        item = {"name": name, "kind": "aws_iam_user", "owner": "team-test", "purpose": "integration test",
                "aws": {"path": "/nhi-test/"}}
        item.update(identity_extra)
        identities.append(item)
    (inv / "test.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": environment, "store": {"mount": "secret", "path_prefix": "nhi/itest"}},
        "identities": identities}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({
        "nhi_policy_rules": rules or [], "nhi_exceptions": exceptions or []}))
    return inv


def stored(vault, name, version=None):
    response = vault.secrets.kv.v2.read_secret_version(path="nhi/itest/%s" % name, mount_point="secret",
                                                       version=version, raise_on_deleted_version=True)
    return response["data"]["data"]


def works(aws_client_factory, data):
    sts = aws_client_factory("sts", aws_access_key_id=data["access_key_id"],
                             aws_secret_access_key=data["secret_access_key"])
    try:
        sts.get_caller_identity()
        return True
    except botocore.exceptions.ClientError:
        return False


def assert_converged(iam, vault, aws_client_factory, name, old_secrets):
    """The invariants: one active key, stored, working; no old key works; no live old version."""
    data = stored(vault, name)
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(data["access_key_id"], "Active")], keys
    assert works(aws_client_factory, data)
    for old in old_secrets:
        if old["access_key_id"] != data["access_key_id"]:
            assert not works(aws_client_factory, old), "old key %s still works" % old["access_key_id"]
    meta = vault.secrets.kv.v2.read_secret_metadata(path="nhi/itest/%s" % name, mount_point="secret")["data"]
    live_old = [v for v, m in meta["versions"].items()
                if int(v) != meta["current_version"] and not m["destroyed"] and not m["deletion_time"]]
    assert live_old == [], "old versions still hold secrets: %s" % live_old


def test_provision_check_then_apply_then_idempotent(tmp_path, run_playbook, iam, vault, unique_name,
                                                    aws_client_factory):
    name = unique_name("prov")
    inv = catalog(tmp_path, [name])
    check = run_playbook("playbooks/provision.yml", inventory=inv, check=True, diff=True).check()
    assert "would_change" in json.dumps(check.evidence_records())
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=name)

    first = run_playbook("playbooks/provision.yml", inventory=inv).check()
    assert "1 changed" in first.stdout and ("  changed: [%s] " % name) in first.stdout
    assert works(aws_client_factory, stored(vault, name))
    second = run_playbook("playbooks/provision.yml", inventory=inv).check()
    assert "1 unchanged" in second.stdout
    assert "changed=0" in second.stdout


def test_provision_by_fqcn(tmp_path, run_playbook, iam, unique_name):
    name = unique_name("fqcn")
    run_playbook("nhi.lifecycle.provision", inventory=catalog(tmp_path, [name])).check()
    assert iam.get_user(UserName=name)["User"]["Path"] == "/nhi-test/"


def test_a_deny_leaves_every_system_untouched(tmp_path, run_playbook, iam, vault, unique_name):
    name = unique_name("deny")
    inv = catalog(tmp_path, [name], environment="prod")
    run = run_playbook("playbooks/provision.yml", inventory=inv)
    run.check(rc=2)
    assert "denied by policy" in run.stdout and "nhi.baseline.prod_approval" in run.stdout
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=name)
    with pytest.raises(Exception):
        stored(vault, name)
    [policy] = [r for r in run.evidence_records() if r.get("step") == "policy"]
    assert policy["outcome"] == "denied" and policy["decision"]["rule"] == "nhi.baseline.prod_approval"

    approved = run_playbook("playbooks/provision.yml", inventory=inv, extra_vars={"nhi_approvals": ["CHG-42"]})
    approved.check()
    assert iam.get_user(UserName=name)


def test_an_exception_waives_a_deny_until_it_expires(tmp_path, run_playbook, iam, unique_name):
    live, dead = unique_name("exc"), unique_name("exp")
    future = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    exceptions = [
        {"id": "EXC-LIVE", "identity": live, "rule": "nhi.baseline.prod_approval", "owner": "security",
         "reason": "migration window", "expires": future},
        {"id": "EXC-DEAD", "identity": dead, "rule": "nhi.baseline.prod_approval", "owner": "security",
         "reason": "old window", "expires": "2026-01-01T00:00:00Z"},
    ]
    inv = catalog(tmp_path, [live, dead], environment="prod", exceptions=exceptions)
    run = run_playbook("playbooks/provision.yml", inventory=inv)
    run.check(rc=2)
    assert iam.get_user(UserName=live)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=dead)
    decisions = {r["identity"]: r["decision"] for r in run.evidence_records() if r.get("step") == "policy"}
    assert decisions[live]["waived_by"] == "EXC-LIVE" and decisions[live]["effect"] == "allow"
    assert decisions[dead]["effect"] == "deny"
    summary = json.loads((run.evidence_dir / "summary.json").read_text())
    assert "EXC-DEAD" in json.dumps(summary)


def test_rotation_killed_after_each_step_converges(tmp_path, run_playbook, iam, vault, unique_name,
                                                   aws_client_factory):
    """A rotation killed (SIGKILL) right after each step resumes and converges.

    One identity per crash point, provisioned together. Each is rotated alone
    (``--limit``) and killed after its step, so the one resuming run meets
    every half-done state at once, in one batch.
    """
    names = {point: unique_name("kill") for point in CRASH_POINTS}
    inv = catalog(tmp_path, list(names.values()))
    run_playbook("playbooks/provision.yml", inventory=inv).check()
    before = {point: stored(vault, name) for point, name in names.items()}
    for point, name in names.items():
        killed = run_playbook("playbooks/rotate.yml", inventory=inv, extra_vars={"nhi_rotate_force": True},
                              limit=name, env={"NHI_TEST_CRASH_AFTER": point})
        assert killed.rc != 0, "the crash hook did not fire after %s" % point
        if point != "mint":  # every later step runs after the new key is stored
            assert stored(vault, name)["access_key_id"] != before[point]["access_key_id"], (
                "killed after %s, yet the new key is not stored" % point)
    resumed = run_playbook("playbooks/rotate.yml", inventory=inv).check()
    for point, name in names.items():
        try:
            assert_converged(iam, vault, aws_client_factory, name, [before[point]])
        except AssertionError as exc:
            raise AssertionError("killed after %s: %s\n%s" % (point, exc, resumed.stdout[-3000:])) from exc
    again = run_playbook("playbooks/rotate.yml", inventory=inv).check()
    assert "%d unchanged" % len(names) in again.stdout, again.stdout[-2000:]


def test_offboard_proves_every_old_credential_rejected(tmp_path, run_playbook, iam, vault, unique_name,
                                                       aws_client_factory):
    name = unique_name("off")
    inv = catalog(tmp_path, [name])
    run_playbook("playbooks/provision.yml", inventory=inv).check()
    first = stored(vault, name)
    run_playbook("playbooks/rotate.yml", inventory=inv, extra_vars={"nhi_rotate_force": True}).check()
    second = stored(vault, name)
    run_playbook("playbooks/rotate.yml", inventory=inv, check=True, extra_vars={"nhi_rotate_force": True}).check()
    assert stored(vault, name) == second, "check mode must not rotate anything"
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [
        second["access_key_id"]]
    run_playbook("playbooks/offboard.yml", inventory=inv, check=True).check()
    assert works(aws_client_factory, second), "check mode must not revoke anything"

    off = run_playbook("playbooks/offboard.yml", inventory=inv).check()
    proofs = [r for r in off.evidence_records() if r.get("step") == "prove_old_rejected"]
    assert proofs and all(p["verified"]["ok"] and p["verified"]["result"] == "rejected" for p in proofs)
    assert not works(aws_client_factory, first) and not works(aws_client_factory, second)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=name)
    with pytest.raises(Exception):
        stored(vault, name)
    again = run_playbook("playbooks/offboard.yml", inventory=inv).check()
    assert "1 unchanged" in again.stdout


def test_offboard_keeps_a_suspended_identity_when_the_catalog_says_so(tmp_path, run_playbook, iam, unique_name):
    name = unique_name("susp")
    inv = catalog(tmp_path, [name], offboard={"mode": "suspend"})
    run_playbook("playbooks/provision.yml", inventory=inv).check()
    run_playbook("playbooks/offboard.yml", inventory=inv).check()
    assert "nhi-suspended" in iam.list_user_policies(UserName=name)["PolicyNames"]
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []


def test_evidence_that_cannot_be_written_stops_before_any_change(tmp_path, run_playbook, iam, unique_name):
    name = unique_name("fc")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    run = run_playbook("playbooks/provision.yml", inventory=catalog(tmp_path, [name]),
                       env={"NHI_EVIDENCE_ROOT": str(blocker / "evidence")})
    assert run.rc != 0
    assert "evidence cannot be written" in run.stdout
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=name)


def test_an_invalid_catalog_changes_nothing(tmp_path, run_playbook, iam, unique_name):
    good, bad = unique_name("ok"), unique_name("bad")
    inv = catalog(tmp_path, [good, bad])
    doc = yaml.safe_load((inv / "test.nhi.yml").read_text())
    doc["identities"][1]["rotation"] = {"max_age_days": "ninety"}
    (inv / "test.nhi.yml").write_text(yaml.safe_dump(doc))
    run = run_playbook("playbooks/provision.yml", inventory=inv)
    assert run.rc != 0
    assert "rotation.max_age_days" in run.stdout + run.stderr
    for name in (good, bad):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=name)


def test_the_authority_map_is_honoured(tmp_path, run_playbook, iam, unique_name):
    name = unique_name("auth")
    inv = catalog(tmp_path, [name], authority={"create": "terraform"})
    run = run_playbook("playbooks/provision.yml", inventory=inv).check()
    assert "1 delegated" in run.stdout
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=name)


def test_two_rotations_at_once_rotate_each_identity_exactly_once(tmp_path, run_playbook, iam, vault, unique_name,
                                                                 aws_client_factory):
    import concurrent.futures

    names = [unique_name("race%d" % index) for index in range(6)]
    inv = catalog(tmp_path, names)
    run_playbook("playbooks/provision.yml", inventory=inv).check()
    before = {name: stored(vault, name) for name in names}

    def rotate(label):
        return run_playbook("playbooks/rotate.yml", inventory=inv, extra_vars={"nhi_rotate_force": True},
                            env={"NHI_EVIDENCE_ROOT": str(tmp_path / ("evidence-" + label))})

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(rotate, ["a", "b"]))
    mints = {name: 0 for name in names}
    for run in runs:
        for record in run.evidence_records():
            if record.get("step") == "mint" and record.get("outcome") == "changed":
                mints[record["identity"]] += 1
    assert mints == {name: 1 for name in names}, mints
    locked = sum(run.stdout.count("is being changed by run") + run.stdout.count("locked by another run")
                 for run in runs)
    assert locked >= 1, "neither run reported the identities the other one held"
    for name in names:
        assert_converged(iam, vault, aws_client_factory, name, [before[name]])

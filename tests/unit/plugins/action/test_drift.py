# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The drift action: identities from the inventory, read targets, compare, remediation plan, gate."""

from __future__ import annotations

from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.nhi.lifecycle.plugins.action import drift as drift_action
from ansible_collections.nhi.lifecycle.plugins.action.drift import ActionModule

from action_mocks import make_action  # noqa: E402


def nhi(name, **extra):
    item = {"name": name, "kind": "aws_iam_user", "owner": "team-a", "environment": "dev", "source": "cat.nhi.yml",
            "store": {"mount": "secret", "path": "nhi/dev/%s" % name}, "rotation": {"max_age_days": 90},
            "authority": {}, "offboard": {"mode": "delete"}, "expires_at": None,
            "aws": {"user_name": name, "path": "/nhi/", "tags": {}}}
    item.update(extra)
    return item


class Host(object):
    def __init__(self, vars_):
        self.vars = vars_


class Inventory(object):
    def __init__(self, hosts):
        self.hosts = {h["name"]: Host({"nhi": h}) for h in hosts}

    def get_host(self, name):
        return self.hosts.get(name)


class HostVars(dict):
    def __init__(self, hosts):
        super().__init__()
        self._inventory = Inventory(hosts)


def task_vars(catalog, batch=None):
    return {"hostvars": HostVars(catalog), "ansible_play_batch": batch or [h["name"] for h in catalog],
            "groups": {"nhi": [h["name"] for h in catalog]}}


def action(args, check_mode=False):
    return make_action(ActionModule, "nhi.lifecycle.drift", args, check_mode)


PLAN = {"allowed": ["a", "b"], "denied": [], "nhi_exceptions_report": {"open": [], "expired": []}}


def reads(b_keys=(("K2", "Active"), ("K3", "Active"))):
    return {
        "store": {"results": [
            {"identity": n, "exists": True, "live": True, "current_version": 1,
             "custom_metadata": {"access_key_id": k, "nhi_identity": n}, "versions": []}
            for n, k in (("a", "K1"), ("b", "K2"))]},
        "aws_user": {"results": [
            {"identity": n, "user": {"user_name": n, "tags": {"owner": "team-a"}, "managed_policies": [],
                                     "inline_policies": [], "suspended": False}}
            for n in ("a", "b")]},
        "aws_keys": {"results": [
            {"identity": "a", "user_exists": True, "keys": [{"access_key_id": "K1", "status": "Active", "age_days": 1.0,
                                                             "last_used": None}]},
            {"identity": "b", "user_exists": True, "keys": [{"access_key_id": k, "status": s, "age_days": 1.0,
                                                             "last_used": None} for k, s in b_keys]}]},
        "aws_paths": {"results": [{"item": "/nhi/", "users": [{"user_name": "a"}, {"user_name": "b"},
                                                              {"user_name": "c"}, {"user_name": "shadow"}]}]},
        "approle": {"skipped": True}, "gcp": {"skipped": True}, "scim": {"skipped": True},
    }


@pytest.fixture
def catalog():
    return [nhi("a"), nhi("b"), nhi("c")]


def test_targets_cover_the_play_and_scope_the_whole_catalog(catalog):
    result = action({"phase": "targets", "plan": PLAN}).run(task_vars=task_vars(catalog, batch=["a", "b"]))
    assert [t["identity"] for t in result["read"]["aws_user"]] == ["a", "b"]
    assert result["read"]["aws_paths"] == ["/nhi/"]
    assert result["identities"] == 2 and result["catalog"] == 3 and result["changed"] is False


def test_denied_identities_are_not_read(catalog):
    plan = dict(PLAN, denied=["b"])
    result = action({"phase": "targets", "plan": plan}).run(task_vars=task_vars(catalog, batch=["a", "b"]))
    assert [t["identity"] for t in result["read"]["aws_user"]] == ["a"]


def test_the_plan_is_required_and_the_phase_checked(catalog):
    with pytest.raises(AnsibleActionFail, match="registered result of nhi.lifecycle.plan"):
        action({"phase": "targets"}).run(task_vars=task_vars(catalog))
    with pytest.raises(AnsibleActionFail, match="phase must be"):
        action({"phase": "fix", "plan": PLAN}).run(task_vars=task_vars(catalog))
    with pytest.raises(AnsibleActionFail, match="fail_on"):
        action({"plan": PLAN, "reads": reads(), "fail_on": "severe"}).run(task_vars=task_vars(catalog))


def test_compare_reports_drift_evidence_and_the_gate(catalog):
    result = action({"plan": PLAN, "reads": reads(), "fail_on": "medium"}).run(
        task_vars=task_vars(catalog, batch=["a", "b"]))
    got = sorted((d["identity"], d["class"]) for d in result["drift"])
    # "c" is in the catalog though outside the play (--limit): never unmanaged.
    assert got == [("b", "credential_multiple_active"), ("shadow", "identity_unmanaged")]
    assert [e["step"] for e in result["evidence"]] == ["drift", "drift"]
    assert all(e["outcome"] == "unchanged" and e["event"] == "reconcile" for e in result["evidence"])
    assert {d["drift_class"] for d in result["nhi_drift"]} == {"credential_multiple_active", "identity_unmanaged"}
    assert result["counts"]["by_severity"] == {"medium": 2}
    assert result["targets"] == {} and result["allowed"] == ["a", "b"]
    assert result["gate"]["failed"] and "2 drift item(s) at or above medium" in result["gate"]["msg"]
    assert not result.get("failed"), "the gate is the role's last task, not this one"


def test_remediate_plans_targets_and_takes_locks(catalog, monkeypatch):
    taken = {}

    def acquire(identities, allowed, run_id, workers=16):
        taken.update(allowed=list(allowed), run_id=run_id)
        return [{"identity": n, "mount": "secret"} for n in allowed], {}

    monkeypatch.setattr(drift_action._runlock, "acquire", acquire)
    monkeypatch.setenv("NHI_RUN_ID", "run-1")
    result = action({"plan": PLAN, "reads": reads(), "remediate": True}).run(
        task_vars=task_vars(catalog, batch=["a", "b"]))
    [target] = result["targets"]["aws_access_key"]
    assert (target["identity"], target["state"]) == ("b", "rotated")
    assert result["remediation"] == {"b": "rotate"} and taken == {"allowed": ["b"], "run_id": "run-1"}
    assert result["held_locks"] == [{"identity": "b", "mount": "secret"}] and result["run_id"] == "run-1"
    steps = [(e["identity"], e["step"]) for e in result["evidence"]]
    assert ("b", "policy") in steps and ("b", "drift") in steps


def test_remediate_in_check_mode_takes_no_locks(catalog, monkeypatch):
    monkeypatch.setattr(drift_action._runlock, "acquire", MagicMock(side_effect=AssertionError("no locks")))
    result = action({"plan": PLAN, "reads": reads(), "remediate": "true"}, check_mode=True).run(
        task_vars=task_vars(catalog, batch=["a", "b"]))
    assert result["targets"]["aws_access_key"][0]["identity"] == "b"


def test_a_locked_identity_is_withdrawn(catalog, monkeypatch):
    monkeypatch.setattr(drift_action._runlock, "acquire", lambda *a, **k: ([], {"b": "locked by run x"}))
    result = action({"plan": PLAN, "reads": reads(), "remediate": True}).run(
        task_vars=task_vars(catalog, batch=["a", "b"]))
    assert result["targets"] == {} and result["locked"] == ["b"]


def test_the_second_compare_records_what_was_remediated(catalog):
    first = action({"plan": PLAN, "reads": reads()}).run(task_vars=task_vars(catalog, batch=["a", "b"]))
    second = action({"plan": PLAN, "reads": reads(b_keys=(("K2", "Active"),)), "previous": first,
                     "remediate": True}).run(task_vars=task_vars(catalog, batch=["a", "b"]))
    assert [d["class"] for d in second["drift"]] == ["identity_unmanaged"]
    assert [(d["identity"], d["class"]) for d in second["resolved"]] == [("b", "credential_multiple_active")]
    resolved = [e for e in second["evidence"] if e["outcome"] == "changed"]
    assert [(e["identity"], e["details"]["remediated"]) for e in resolved] == [("b", True)]
    assert second["targets"] == {}, "the second compare never plans a fix"


def test_unread_identities_fail_through_the_outcome(catalog):
    broken = reads()
    broken["aws_keys"] = {"failed": True, "msg": "could not reach IAM"}
    result = action({"plan": PLAN, "reads": broken, "fail_on": "critical"}).run(
        task_vars=task_vars(catalog, batch=["a", "b"]))
    assert set(result["unread"]) == {"a", "b"} and result["allowed"] == []
    assert all(r["failed"] and "could not reach IAM" in r["msg"] for r in result["results"])
    assert result["gate"]["failed"]


def test_known_owners_are_read_from_the_catalog_file(tmp_path):
    path = tmp_path / "cat.nhi.yml"
    path.write_text("plugin: nhi.lifecycle.catalog\nknown_owners: [team-a, team-b]\nidentities: []\n")
    other = tmp_path / "other.nhi.yml"
    other.write_text("plugin: nhi.lifecycle.catalog\nidentities: []\n")
    owners = drift_action.known_owners([{"source": str(path)}, {"source": str(other)}, {"source": "missing.yml"}])
    assert owners == {str(path): ["team-a", "team-b"], str(other): None, "missing.yml": None}

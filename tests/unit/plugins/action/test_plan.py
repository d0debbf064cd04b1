# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""nhi.lifecycle.plan (the action): inputs, fail-closed checks, identities from the inventory, and locks.

The policy and target planning it calls are tested in plugin_utils/test__plan.py,
the run locks in plugin_utils/test__runlock.py.
"""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.nhi.lifecycle.plugins.action import plan as planmod
from ansible_collections.nhi.lifecycle.plugins.action.plan import ActionModule

from action_mocks import make_action  # noqa: E402


def ident(name, **extra):
    nhi = {"name": name, "kind": "aws_iam_user", "owner": "team-a", "purpose": "p", "environment": "dev",
           "store": {"mount": "secret", "path": "nhi/dev/%s" % name},
           "authority": {k: "nhi.lifecycle" for k in ("create", "rotate", "suspend", "delete")},
           "rotation": {"max_age_days": 30, "overlap_hours": 0}, "offboard": {"mode": "delete"},
           "on_foreign_authority": "skip", "temporary": False, "expires_at": None,
           "aws": {"user_name": name, "path": "/nhi/"}}
    nhi.update(extra)
    return nhi


class Host(object):
    def __init__(self, nhi):
        self.vars = {"nhi": nhi} if nhi is not None else {}


class Inventory(object):
    def __init__(self, hosts):
        self.hosts = hosts

    def get_host(self, name):
        return self.hosts.get(name)


class HostVars(dict):
    """What ``hostvars`` looks like to an action: a mapping, with the inventory behind it."""

    def __init__(self, inventory, fallback=None):
        super(HostVars, self).__init__(fallback or {})
        self._inventory = inventory


def task_vars(*nhis, extra_hosts=None):
    hosts = {n["name"]: Host(n) for n in nhis}
    hosts.update({name: Host(None) for name in extra_hosts or []})
    return {"hostvars": HostVars(Inventory(hosts)), "ansible_play_batch": list(hosts)}


@pytest.fixture
def evidence_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("NHI_EVIDENCE_DIR", str(tmp_path))
    monkeypatch.delenv("NHI_EVIDENCE_ERROR", raising=False)
    monkeypatch.setenv("NHI_RUN_ID", "run-unit")
    return tmp_path


@pytest.fixture
def locks(monkeypatch):
    taken = {"acquire": [], "refuse": {}}

    def acquire(identities, allowed, run_id, workers=16):
        taken["acquire"].append((sorted(allowed), run_id, workers))
        held = [{"identity": n, "mount": "secret", "expires": "later"} for n in allowed if n not in taken["refuse"]]
        return held, {n: why for n, why in taken["refuse"].items() if n in allowed}

    monkeypatch.setattr(planmod._runlock, "acquire", acquire)
    return taken


def run(args, tv, check_mode=False):
    return make_action(ActionModule, "nhi.lifecycle.plan", args, check_mode=check_mode).run(task_vars=tv)


def test_plain_copies_into_builtin_types():
    class Tagged(str):
        pass

    out = planmod.plain({Tagged("k"): [Tagged("v"), 1, 2.5, True, None, (3,)]})
    assert out == {"k": ["v", 1, 2.5, True, None, [3]]}
    assert {type(list(out)[0]), type(out["k"][0])} == {str}  # exactly str, not a subclass


def test_identities_come_from_the_inventory_and_hosts_without_nhi_are_named():
    tv = task_vars(ident("a"), ident("b"), extra_hosts=["localhost"])
    found, missing = planmod.identities_of(["a", "localhost", "b"], tv)
    assert [n["name"] for n in found] == ["a", "b"] and missing == ["localhost"]


def test_hostvars_is_the_fallback_when_the_inventory_lacks_the_host():
    tv = {"hostvars": HostVars(Inventory({}), {"a": {"nhi": ident("a")}})}
    found, missing = planmod.identities_of(["a", "ghost"], tv)
    assert [n["name"] for n in found] == ["a"] and missing == ["ghost"]


def test_evidence_that_cannot_be_written_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.delenv("NHI_EVIDENCE_ERROR", raising=False)
    monkeypatch.delenv("NHI_EVIDENCE_DIR", raising=False)
    assert planmod.check_evidence(False) is None
    with pytest.raises(AnsibleActionFail, match="callbacks_enabled = nhi.lifecycle.evidence"):
        planmod.check_evidence(True)
    monkeypatch.setenv("NHI_EVIDENCE_DIR", str(tmp_path / "not-there"))
    with pytest.raises(AnsibleActionFail, match="cannot be written to"):
        planmod.check_evidence(True)
    monkeypatch.setenv("NHI_EVIDENCE_DIR", str(tmp_path))
    assert planmod.check_evidence(True) == str(tmp_path)
    assert os.listdir(tmp_path) == []  # the probe is gone
    monkeypatch.setenv("NHI_EVIDENCE_ERROR", "disk full")
    with pytest.raises(AnsibleActionFail, match=r"evidence cannot be written \(disk full\)"):
        planmod.check_evidence(True)


def test_a_rotation_is_planned_and_every_allowed_identity_locked(evidence_dir, locks):
    out = run({"event": "rotate", "force": True, "workers": 4}, task_vars(ident("a"), ident("b")))
    assert out["allowed"] == ["a", "b"] and out["run_id"] == "run-unit" and out["changed"] is False
    assert [t["identity"] for t in out["targets"]["aws_access_key"]] == ["a", "b"]
    assert all(t["state"] == "rotated" and t["force"] for t in out["targets"]["aws_access_key"])
    assert locks["acquire"] == [(["a", "b"], "run-unit", 4)]
    assert [h["identity"] for h in out["held_locks"]] == ["a", "b"]
    assert [e["step"] for e in out["evidence"]] == ["policy", "policy"]
    assert out["evidence_dir"] == str(evidence_dir)


def test_a_locked_identity_is_withdrawn_and_reported(evidence_dir, locks):
    locks["refuse"]["b"] = "locked by run run-other (pid 42) until later"
    out = run({"event": "rotate"}, task_vars(ident("a"), ident("b")))
    assert out["allowed"] == ["a"] and out["locked"] == ["b"] and "run-other" in out["lock_errors"]["b"]
    assert [t["identity"] for t in out["targets"]["aws_access_key"]] == ["a"]
    assert out["counts"]["locked"] == 1


def test_check_mode_and_reconcile_take_no_locks(evidence_dir, locks):
    run({"event": "rotate"}, task_vars(ident("a")), check_mode=True)
    run({"event": "reconcile"}, task_vars(ident("a")))
    assert locks["acquire"] == []


@pytest.mark.parametrize("approvals", ["CHG-1, CHG-2", '["CHG-1", "CHG-2"]', ["CHG-1", "CHG-2"]])
def test_approvals_may_be_a_list_a_json_list_or_a_comma_string(evidence_dir, locks, approvals):
    rule = {"id": "needs-chg2", "events": ["rotate"], "effect": "deny", "reason": "CHG-2 is required",
            "condition": "!contains(approvals, 'CHG-2')"}
    out = run({"event": "rotate", "rules": [rule], "approvals": approvals, "include_baseline": False},
              task_vars(ident("a")))
    assert out["allowed"] == ["a"] and out["denied"] == []
    denied = run({"event": "rotate", "rules": [rule], "approvals": "CHG-1", "include_baseline": False},
                 task_vars(ident("a")))
    assert denied["denied"] == ["a"] and "targets" in denied and denied["targets"] == {}


@pytest.mark.parametrize("args, tv, needle", [
    ({"event": "rename"}, {}, "event must be provision, rotate, offboard or reconcile"),
    ({"event": "rotate"}, {"nhi_catalog_errors": ["prod.nhi.yml: identity 'a': owner is required"]},
     "the catalog failed validation, so nothing is changed in any system: prod.nhi.yml"),
    ({"event": "rotate"}, task_vars(ident("a"), extra_hosts=["web-1"]), "1 host(s) in this play are not catalog"),
    ({"event": "rotate", "rules": [{"id": "bad", "events": ["rotate"], "effect": "maybe", "reason": "r",
                                    "condition": "true"}]}, task_vars(ident("a")),
     "the policy could not be evaluated, nothing was changed"),
])
def test_bad_input_stops_before_any_lock_or_change(evidence_dir, locks, args, tv, needle):
    with pytest.raises(AnsibleActionFail) as info:
        run(args, tv)
    assert needle in str(info.value)
    assert locks["acquire"] == []

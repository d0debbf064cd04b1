# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""nhi.lifecycle.outcome: the status per identity, read from registered results by name or by value."""

from __future__ import annotations

import json

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.nhi.lifecycle.plugins.action import outcome
from ansible_collections.nhi.lifecycle.plugins.action.outcome import ActionModule

from action_mocks import make_action  # noqa: E402


def action(args):
    return make_action(ActionModule, "nhi.lifecycle.outcome", args)


PLAN = {"event": "rotate", "allowed": ["a", "b"], "denied": ["c"], "evidence": [
    {"identity": "a", "step": "policy", "action": "policy:evaluate", "started": "t0", "outcome": "unchanged"}]}
KEYS = {"changed": True, "evidence": [
    {"identity": "a", "step": "mint", "action": "iam:CreateAccessKey", "started": "t1", "outcome": "changed"},
    {"identity": "a", "step": "prove_new", "action": "sts:GetCallerIdentity", "started": "t2", "outcome": "changed",
     "verified": {"ok": True}}],
    "results": [{"identity": "a", "changed": True}, {"identity": "b", "failed": True, "msg": "AccessDenied"}]}


def write_evidence(tmp_path, entries):
    (tmp_path / "evidence.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    return str(tmp_path)


def test_registered_reads_by_name_and_refuses_what_is_not_a_name():
    assert outcome.registered({"x": {"a": 1}}, "x", "plan_var") == {"a": 1}
    assert outcome.registered({}, "never_ran", "result_vars", required=False) is None
    with pytest.raises(AnsibleActionFail, match="is not defined"):
        outcome.registered({}, "missing", "plan_var")
    with pytest.raises(AnsibleActionFail, match="not a variable name"):
        outcome.registered({"x": {}}, "{{ x }}", "plan_var")


def test_by_name_and_by_value_give_the_same_outcome(tmp_path, monkeypatch):
    monkeypatch.setenv("NHI_EVIDENCE_DIR", write_evidence(tmp_path, PLAN["evidence"] + KEYS["evidence"]))
    task_vars = {"__plan": PLAN, "__keys": KEYS, "__skipped": {"skipped": True}}
    common = {"event": "rotate", "fail_on_error": False, "fail_on_deny": False}
    by_name = action(dict(common, plan_var="__plan", result_vars=["__keys", "__skipped", "__never_ran"])).run(
        task_vars=task_vars)
    by_value = action(dict(common, plan=PLAN, results=[KEYS, {"skipped": True}])).run(task_vars=task_vars)
    for result in (by_name, by_value):
        assert result["counts"] == {"changed": 1, "failed": 1, "denied": 1}
        assert result["identities"]["a"]["steps"] == ["mint+", "prove_new\u2713"]
        assert result["failed_identities"] == ["b"] and result["evidence_entries"] == 3
        assert not result.get("failed")


def test_missing_evidence_fails_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NHI_EVIDENCE_DIR", write_evidence(tmp_path, PLAN["evidence"]))
    with pytest.raises(AnsibleActionFail, match="2 evidence entries are missing"):
        action({"plan_var": "__plan", "result_vars": ["__keys"]}).run(task_vars={"__plan": PLAN, "__keys": KEYS})


def test_without_a_plan_it_says_what_to_give():
    with pytest.raises(AnsibleActionFail, match="needs plan"):
        action({"results": []}).run(task_vars={})

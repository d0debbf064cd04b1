# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""NHIModule and Recorder, the base of every lifecycle module, driven by a small module of their own."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

SPEC = {"name": {"type": "str", "required": True}, "count": {"type": "int", "default": 1},
        "deadline": {"type": "float", "default": 5.0}, "state": {"type": "str", "choices": ["present", "absent"]}}


def demo_main(changes=None, backend_secret=None):
    """A module in the shape of the collection's modules: validate, process every target, exit."""
    nm = NHIModule(SPEC, label="demo", default_identity=lambda t: "id-" + t["name"],
                   validate=_reject_zero)

    def process(t):
        rec = Recorder(t, nm.check_mode)
        result = {"identity": t["identity"], "changed": False}
        try:
            with rec.step("update_identity", "demo", "demo:Write", "thing/%s" % t["name"]) as st:
                if t["name"].startswith("fail"):
                    raise NHIError("the backend refused %r" % t["name"], where="name")
                st.details["count"] = t["count"]
            result["changed"] = True
            if backend_secret and t["name"] == "leaky":
                nm.secrets.add(backend_secret)
                result["echo"] = "the secret is %s" % backend_secret
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        (changes if changes is not None else []).append(t["name"])
        return result

    nm.exit(nm.run(process))


def _reject_zero(target):
    if target["count"] == 0:
        raise NHIError("count must be at least 1", where="count", hint="use 1 or more")


def run(args, capsys, check_mode=False, **kw):
    args = dict(args)
    args.setdefault("workers", 2)
    if check_mode:
        args["_ansible_check_mode"] = True
    changes = []
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            demo_main(changes, **kw)
    return json.loads(capsys.readouterr().out), exit_info.value.code, changes


def test_one_target_from_the_top_level_options(capsys):
    out, code, changes = run({"name": "a", "count": 3}, capsys)
    assert code == 0 and out["changed"] is True and out["identity"] == "id-a" and changes == ["a"]
    [entry] = out["evidence"]
    assert entry["step"] == "update_identity" and entry["outcome"] == "changed" and entry["details"] == {"count": 3}
    assert "results" not in out


def test_a_batch_inherits_top_level_defaults_and_reports_per_target(capsys):
    targets = [{"name": "a"}, {"name": "fail-b", "identity": "b"}, {"name": "c", "count": 2}]
    out, code, _changes = run({"count": 7, "fail_on_error": False, "targets": targets}, capsys)
    assert code == 0
    assert [r["identity"] for r in out["results"]] == ["id-a", "b", "id-c"]
    assert out["summary"] == {"total": 3, "changed": 2, "failed": 1} and out["failed_identities"] == ["b"]
    assert [e["details"].get("count") for e in out["evidence"]] == [7, None, 2]
    failed = [e for e in out["evidence"] if e["outcome"] == "failed"]
    assert len(failed) == 1 and "the backend refused 'fail-b'" in failed[0]["error"]


def test_fail_on_error_fails_the_task_and_names_the_identities(capsys):
    out, code, _changes = run({"targets": [{"name": "a"}, {"name": "fail-b"}]}, capsys)
    assert code == 1 and out["failed"] is True
    assert out["msg"].startswith("1 of 2 targets failed: id-fail-b: the backend refused")
    assert out["summary"]["changed"] == 1  # the other target was still done, and said so


def test_bad_input_anywhere_in_a_batch_changes_nothing_and_says_where(capsys):
    out, code, changes = run({"targets": [{"name": "a"}, {"count": 2}, {"name": "z", "count": 0},
                                          {"name": "y", "state": "gone"}]}, capsys)
    assert code == 1 and changes == []  # nothing was processed: not even the valid first target
    assert out["msg"].startswith("invalid input, nothing was changed: ")
    errors = out["errors"]
    assert any(e.startswith("targets[1]: ") and "name" in e for e in errors)
    assert any(e.startswith("targets[2]: ") and "count must be at least 1" in e for e in errors)
    assert any(e.startswith("targets[3] (y): ") and "state" in e for e in errors)
    assert len(errors) == 3


def test_an_infinite_float_is_invalid_not_a_wait_forever(capsys):
    out, code, changes = run({"name": "a", "deadline": float("inf")}, capsys)
    assert code == 1 and changes == [] and "deadline must be a finite number" in out["msg"]


def test_check_mode_records_would_change(capsys):
    out, code, _changes = run({"name": "a"}, capsys, check_mode=True)
    assert code == 0 and [e["outcome"] for e in out["evidence"]] == ["would_change"]


def test_a_result_that_would_carry_a_remembered_secret_is_withheld(capsys):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzSECRET"
    out, code, _changes = run({"targets": [{"name": "ok"}, {"name": "leaky"}]}, capsys, backend_secret=secret)
    assert code == 1 and secret not in json.dumps(out)
    assert "it was withheld" in out["msg"] and out["identities"] == ["id-ok", "id-leaky"]


def test_recorder_records_failures_of_any_kind_and_reraises():
    rec = Recorder({"identity": "a", "event": "rotate", "decision": {"effect": "allow"}})
    with pytest.raises(ValueError):
        with rec.step("mint", "aws_iam", "iam:CreateAccessKey", "user/a"):
            raise ValueError("bad answer")
    [entry] = rec.entries
    assert entry["outcome"] == "failed" and entry["error"] == "ValueError: bad answer"
    assert entry["event"] == "rotate" and entry["decision"]["effect"] == "allow"


def test_verdict_is_ok_only_when_the_answer_is_the_expected_one():
    assert verdict("sts:GetCallerIdentity", "rejected", False)["ok"] is True
    assert verdict("sts:GetCallerIdentity", "rejected", True) == {
        "method": "sts:GetCallerIdentity", "expect": "rejected", "result": "accepted", "ok": False}
    assert verdict("m", "accepted", True, "fine")["detail"] == "fine"

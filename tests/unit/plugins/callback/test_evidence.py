# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Drive the evidence callback with TaskResult-shaped objects, the way ansible-core calls it."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.callback import evidence as cbmod
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "plugin_utils"))
import evidence_synth as synth  # noqa: E402
from evidence_synth import FakePlay, FakePlaybook, FakeResult, FakeStats, FakeTask  # noqa: E402

ENV = ("NHI_EVIDENCE_DIR", "NHI_RUN_ID", "NHI_EVIDENCE_ERROR", "NHI_EVIDENCE_HMAC_KEY", "JOB_ID", "MY_KEY")


@pytest.fixture(autouse=True)
def clean_env():
    with synth.isolated_env(ENV):
        yield


def entry(identity, step="mint", event="rotate", outcome="changed", **extra):
    out = {"identity": identity, "event": event, "step": step, "system": "aws_iam", "action": "iam:CreateAccessKey",
           "target": "arn:aws:iam::123456789012:user/nhi/%s" % identity, "authority": "nhi.lifecycle",
           "decision": {"effect": "allow", "rule": "nhi.default", "waived_by": None, "reason": "ok"},
           "outcome": outcome, "verified": None, "error": None, "started": "2026-11-23T19:27:03.123Z",
           "ended": "2026-11-23T19:27:03.456Z", "details": {"key_id": "AKIAEXAMPLE"}}
    out.update(extra)
    return out


def records(cb):
    with open(os.path.join(cb.directory, chain.EVIDENCE_FILE), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def start(tmp_path, **kwargs):
    cb, display = synth.make_callback(tmp_path, **kwargs)
    cb.v2_playbook_on_start(FakePlaybook("/srv/playbooks/rotate.yml"))
    cb.v2_playbook_on_play_start(FakePlay("Rotate NHI credentials"))
    return cb, display


def test_start_creates_the_run_directory_and_exports_it(tmp_path):
    cb, _display = start(tmp_path, run_id="job 42/../x")
    assert cb.run_id == "job_42_.._x"
    assert os.path.isdir(str(tmp_path / "job_42_.._x"))
    assert os.environ["NHI_EVIDENCE_DIR"] == str(tmp_path / "job_42_.._x")
    assert os.environ["NHI_RUN_ID"] == "job_42_.._x"
    assert "NHI_EVIDENCE_ERROR" not in os.environ


def test_run_id_falls_back_to_awx_job_id_then_a_timestamp(tmp_path, monkeypatch):
    monkeypatch.setenv("JOB_ID", "1234")
    cb, _display = start(tmp_path, run_id=None)
    assert cb.run_id == "1234"
    monkeypatch.delenv("JOB_ID")
    monkeypatch.delenv("NHI_RUN_ID")  # exported by the first callback
    cb2, _display = start(tmp_path / "other", run_id=None)
    assert len(cb2.run_id) == len("20261123T192703Z-3fa9c1") and cb2.run_id[8] == "T"


def test_an_unwritable_root_fails_closed(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cb, display = start(blocker, run_id="r1")
    assert cb.writer is None
    assert "NHI_EVIDENCE_DIR" not in os.environ
    assert "cannot create or write the evidence directory" in os.environ["NHI_EVIDENCE_ERROR"]
    assert "\n" not in os.environ["NHI_EVIDENCE_ERROR"]
    assert display.warnings
    task = FakeTask("mint")
    cb.v2_runner_on_ok(FakeResult("a", task, {"evidence": [entry("a")]}))  # must not raise
    cb.v2_playbook_on_stats(FakeStats(["a"]))
    assert any("no evidence was written" in w for w in display.warnings)


def test_an_existing_run_is_never_appended_to(tmp_path):
    first, _display = start(tmp_path, run_id="same")
    first.v2_playbook_on_stats(FakeStats([]))
    second, _display = start(tmp_path, run_id="same")
    assert second.writer is None
    assert "already exists" in os.environ["NHI_EVIDENCE_ERROR"]


def test_per_host_results_become_chained_records(tmp_path):
    cb, _display = start(tmp_path, run_id="r1")
    task = FakeTask("Mint new access keys", args={"event": "rotate"})
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_ok(FakeResult("ci-a", task, {"changed": True, "evidence": [entry("ci-a")]}))
    cb.v2_runner_on_ok(FakeResult("ci-b", task, {"changed": True, "evidence": entry("ci-b")}))  # a single dict
    stored = records(cb)  # flushed per task, before the run ends
    assert [r["identity"] for r in stored] == ["ci-a", "ci-b"]
    first = stored[0]
    assert first["seq"] == 1 and first["prev"] == "0" * 64 and first["type"] == "step"
    assert stored[1]["prev"] == first["hash"]
    assert first["run_id"] == "r1" and first["playbook"] == "rotate.yml" and first["play"] == "Rotate NHI credentials"
    assert first["task"] == "Mint new access keys" and first["task_uuid"] == task._uuid
    assert first["host"] == "ci-a" and first["check_mode"] is False
    assert first["controls"] == ["NHI7", "PR.AA-01", "PR.AA-02"]
    assert first["decision"]["rule"] == "nhi.default"
    body = dict(first)
    digest = body.pop("hash")
    assert hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest() == digest


def test_a_batch_result_records_every_identity(tmp_path):
    cb, _display = start(tmp_path, run_id="batch")
    task = FakeTask("Mint", args={"event": "rotate"})
    batch = [entry("id-%d" % i) for i in range(50)]
    cb.v2_runner_on_ok(FakeResult("id-0", task, {"changed": True, "evidence": batch, "results": []}))
    stored = records(cb)
    assert len(stored) == 50 and {r["host"] for r in stored} == {"id-0"}
    assert [r["identity"] for r in stored] == ["id-%d" % i for i in range(50)]


def test_loop_items_are_recorded_once(tmp_path):
    cb, _display = start(tmp_path, run_id="loop")
    task = FakeTask("Store", args={})
    items = [{"changed": True, "evidence": [entry("a", step="store")], "_ansible_item_label": "x"},
             {"changed": True, "evidence": [entry("a", step="prove_new")], "_ansible_item_label": "y"}]
    for item in items:
        cb.v2_runner_item_on_ok(FakeResult("a", task, item))
    cb.v2_runner_on_ok(FakeResult("a", task, {"changed": True, "results": items}))
    assert [r["step"] for r in records(cb)] == ["store", "prove_new"]


def test_loop_results_without_item_events_are_read_from_results(tmp_path):
    cb, _display = start(tmp_path, run_id="loop2")
    task = FakeTask("Store")
    cb.v2_runner_on_ok(FakeResult("a", task, {"changed": True, "results": [
        {"evidence": [entry("a", step="store")]}, {"evidence": [entry("b", step="store")]}, "not a dict"]}))
    assert [r["identity"] for r in records(cb)] == ["a", "b"]


def test_failed_items_and_results_with_evidence(tmp_path):
    cb, _display = start(tmp_path, run_id="fail")
    task = FakeTask("Delete old keys")
    failed_entry = entry("a", "delete_old", outcome="failed", error="AccessDenied")
    item = {"failed": True, "msg": "AccessDenied", "evidence": [failed_entry]}
    cb.v2_runner_item_on_failed(FakeResult("a", task, item))
    cb.v2_runner_on_failed(FakeResult("a", task, {"failed": True, "msg": "One or more items failed",
                                                  "results": [{"failed": True}]}))
    stored = records(cb)
    assert len(stored) == 1 and stored[0]["outcome"] == "failed" and stored[0]["error"] == "AccessDenied"
    assert "DE.CM-09" in stored[0]["controls"]


def test_a_failed_collection_task_without_evidence_still_leaves_a_record(tmp_path):
    cb, _display = start(tmp_path, run_id="nofx")
    cb.v2_playbook_on_task_start(FakeTask("other"), False)
    task = FakeTask("Create SCIM users", action="nhi.lifecycle.scim_service_user", args={"event": "provision"})
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_failed(FakeResult("bot-1", task, {"failed": True, "msg": "SCIM answered 503\nretry later"}))
    foreign = FakeTask("Some shell", action="ansible.builtin.command")
    cb.v2_runner_on_failed(FakeResult("bot-1", foreign, {"failed": True, "msg": "rc 1"}))
    stored = records(cb)
    assert len(stored) == 1
    record = stored[0]
    assert record["identity"] == "bot-1" and record["outcome"] == "failed" and record["event"] == "provision"
    assert record["error"] == "SCIM answered 503 retry later"
    assert record["action"] == "nhi.lifecycle.scim_service_user" and record["step"] == "task"
    assert record["started"] <= record["ended"]
    assert record["controls"]


def test_the_event_of_a_synthetic_record_comes_from_the_playbook_name(tmp_path):
    cb, _display = start(tmp_path, run_id="ev")
    task = FakeTask("Mint", action="nhi.lifecycle.aws_access_key")
    cb.v2_runner_on_unreachable(FakeResult("x", task, {"unreachable": True, "msg": "gone"}))
    assert records(cb)[0]["event"] == "rotate"  # rotate.yml


def test_secret_shaped_keys_are_dropped_and_masked_values_redacted(tmp_path):
    cb, _display = start(tmp_path, run_id="sec")
    task = FakeTask("Mint")
    details = {"key_id": "AKIAEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG", "SecretAccessKey": "s2",
               "password": "p", "client_token": "t", "private_key": "-----BEGIN", "secret_id": "sid",
               "secret_id_accessor": "acc-1", "token_accessor": "acc-2", "token_ttl": "1h",
               "nested": [{"api_key": "k", "fine": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}],
               "note": "user VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}
    cb.v2_runner_on_ok(FakeResult("a", task, {"evidence": [entry("a", details=details, password="x")]}))
    record = records(cb)[0]
    assert "password" not in record
    assert record["details"] == {"key_id": "AKIAEXAMPLE", "secret_id_accessor": "acc-1", "token_accessor": "acc-2",
                                 "token_ttl": "1h", "nested": [{"fine": cbmod.REDACTED}], "note": cbmod.REDACTED}
    text = open(os.path.join(cb.directory, chain.EVIDENCE_FILE), encoding="utf-8").read()
    for secret in ("wJalrXUtnFEMI", "s2", "-----BEGIN", "sid\"", "VALUE_SPECIFIED"):
        assert secret not in text


def test_no_log_results_give_only_their_evidence(tmp_path):
    cb, _display = start(tmp_path, run_id="nolog")
    task = FakeTask("Mint", action="nhi.lifecycle.aws_access_key")
    cb.v2_runner_on_failed(FakeResult("a", task, {"_ansible_no_log": True, "failed": True,
                                                  "msg": "the secret is hunter2",
                                                  "nhi_drift": [{"identity": "a", "drift_class": "owner_missing"}],
                                                  "evidence": [entry("a", outcome="failed", error="mint failed")]}))
    cb.v2_runner_on_failed(FakeResult("b", task, {"_ansible_no_log": True, "failed": True,
                                                  "msg": "the secret is hunter2"}))
    stored = records(cb)
    assert [r["identity"] for r in stored] == ["a", "b"]
    assert stored[1]["error"] == "the output was hidden by no_log"
    assert "hunter2" not in json.dumps(stored)
    assert cb.collector.drift == []


def test_a_censored_collection_task_is_recorded_as_hidden(tmp_path):
    cb, _display = start(tmp_path, run_id="censored")
    task = FakeTask("Rotate", action="nhi.lifecycle.aws_access_key", no_log=True)
    censored = {"changed": True, "censored": "the output has been hidden due to the fact that 'no_log: true' "
                                             "was specified for this result"}
    cb.v2_runner_on_ok(FakeResult("a", task, censored))
    record = records(cb)[0]
    assert record["outcome"] == "changed" and record["details"] == {"censored": True}
    assert "no_log" in record["error"]
    cb.v2_playbook_on_stats(FakeStats(["a"]))
    summary = json.load(open(os.path.join(cb.directory, "summary.json")))
    assert summary["censored_results"] == 1


def test_check_mode_comes_from_the_task_or_the_command_line(tmp_path):
    cb, _display = start(tmp_path, run_id="check")
    cb.v2_runner_on_ok(FakeResult("a", FakeTask("t", check_mode=True), {"evidence": [entry("a",
                                                                                           outcome="would_change")]}))
    cb.v2_runner_on_ok(FakeResult("b", FakeTask("t", check_mode=False), {"evidence": [entry("b")]}))
    assert [r["check_mode"] for r in records(cb)] == [True, False]


def test_incomplete_entries_are_completed_and_malformed_ones_skipped(tmp_path):
    cb, display = start(tmp_path, run_id="partial")
    task = FakeTask("t", args={"event": "offboard"})
    cb.v2_runner_on_ok(FakeResult("host-1", task, {"evidence": [{"step": "revoke"}, "junk", 7]}))
    stored = records(cb)
    assert len(stored) == 1
    record = stored[0]
    assert record["identity"] == "host-1" and record["event"] == "offboard" and record["outcome"] == "changed"
    assert set(cbmod.ENTRY_KEYS) <= set(record) and record["details"] == {}
    assert "NHI1" in record["controls"]
    assert len(display.warnings) == 2 and cb.malformed == 2


def test_seal_summary_and_report(tmp_path):
    cb, display = synth.make_callback(tmp_path, run_id="full")
    plan = synth.rich_run(cb)
    stored = records(cb)
    seal = stored[-1]
    steps = stored[:-1]
    expected = sum(len(p) for p in plan) + 2 + 1  # workflows, two loop items, one synthetic failure
    assert seal["type"] == "seal" and seal["count"] == expected == len(steps)
    assert seal["head"] == steps[-1]["hash"] == seal["prev"] and seal["run_id"] == "full"
    assert seal["first_ts"] == min(r["started"] for r in steps) and seal["last_ts"] == max(r["ended"] for r in steps)
    assert "scim-bot" in seal["hosts"] and seal["extras"]["stats"]["failed"] == 1
    assert seal["extras"]["exceptions"]["open"][0]["id"] == "EXC-7"
    assert all(r["controls"] for r in steps)
    assert chain.verify(cb.directory).ok
    summary = json.load(open(os.path.join(cb.directory, "summary.json")))
    assert summary["verification"]["ok"] is True and summary["chain"]["head"] == seal["head"]
    assert summary["counts"]["records"] == expected
    assert summary["counts"]["by_outcome"]["failed"] == 2
    assert summary["identities"]["count"] == 19
    assert summary["time_to_provision"]["count"] == 4 and summary["time_to_provision"]["p50"] > 0
    assert summary["time_to_revoke"]["count"] == 10  # 7 of 8 rotations proven, 3 offboards
    assert summary["time_to_revoke"]["p50"] <= summary["time_to_revoke"]["p95"]
    assert summary["failed_workflow_rate"]["by_event"]["rotate"] == {"failed": 1, "total": 8, "rate": 0.125}
    assert summary["exceptions"]["open_count"] == 1 and summary["exceptions"]["expired_count"] == 1
    assert summary["exceptions"]["waivers_used"] == {"EXC-7": 6}
    assert summary["drift"]["total"] == 4 and summary["drift"]["by_class"]["identity_unmanaged"] >= 1
    assert summary["credential_age_days"]["count"] == 15
    for name in ("summary.json", "report.html", "report.md"):
        assert os.path.getsize(os.path.join(cb.directory, name)) > 1000
    assert display.lines[-1] == "nhi.lifecycle evidence report: %s" % os.path.join(cb.directory, "report.html")
    assert seal["head"] in display.lines[-2]
    text = open(os.path.join(cb.directory, chain.EVIDENCE_FILE), encoding="utf-8").read()
    assert "wJalrXUtnFEMI" not in text and "acc-1234" in text


def test_hmac_keyed_when_the_named_variable_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "s3cr3t-key")
    cb, display = start(tmp_path, run_id="keyed", hmac_key_env="MY_KEY")
    cb.v2_runner_on_ok(FakeResult("a", FakeTask("t"), {"evidence": [entry("a"), entry("b")]}))
    cb.v2_playbook_on_stats(FakeStats(["a", "b"]))
    stored = records(cb)
    assert all(len(r["hmac"]) == 64 for r in stored) and stored[-1]["keyed"] is True
    assert chain.verify(cb.directory, hmac_key="s3cr3t-key").ok
    assert not chain.verify(cb.directory, hmac_key="wrong").ok
    assert "s3cr3t-key" not in open(os.path.join(cb.directory, chain.EVIDENCE_FILE)).read()
    assert "(HMAC-SHA256)" in display.lines[-2]


def test_a_write_failure_mid_run_fails_closed(tmp_path):
    cb, display = start(tmp_path, run_id="broken")

    def boom(record):
        raise OSError(28, "No space left on device")

    cb.writer.append = boom
    cb.v2_runner_on_ok(FakeResult("a", FakeTask("t"), {"evidence": [entry("a")]}))
    assert "No space left on device" in os.environ["NHI_EVIDENCE_ERROR"]
    assert "NHI_EVIDENCE_DIR" not in os.environ and cb.writer is None
    cb.v2_runner_on_ok(FakeResult("b", FakeTask("t"), {"evidence": [entry("b")]}))  # must not raise
    cb.v2_playbook_on_stats(FakeStats(["a"]))


def test_two_playbooks_in_one_command_share_one_run(tmp_path):
    cb, _display = start(tmp_path, run_id="multi")
    cb.v2_runner_on_ok(FakeResult("a", FakeTask("t"), {"evidence": [entry("a")]}))
    cb.v2_playbook_on_start(FakePlaybook("/srv/playbooks/offboard.yml"))
    cb.v2_runner_on_ok(FakeResult("b", FakeTask("t"), {"evidence": [entry("b")]}))
    cb.v2_playbook_on_stats(FakeStats(["a", "b"]))
    result = chain.verify(cb.directory)
    assert result.ok and result.count == 2


def test_the_callback_declares_itself_as_documented():
    assert cbmod.CallbackModule.CALLBACK_TYPE == "aggregate"
    assert cbmod.CallbackModule.CALLBACK_NEEDS_ENABLED is True
    assert cbmod.CallbackModule.CALLBACK_NAME == "nhi.lifecycle.evidence"
    import yaml

    doc = yaml.safe_load(cbmod.DOCUMENTATION)
    options = doc["options"]
    assert options["evidence_root"]["default"] == "./evidence"
    assert options["evidence_root"]["env"] == [{"name": "NHI_EVIDENCE_ROOT"}]
    assert options["evidence_root"]["ini"] == [{"section": "nhi_evidence", "key": "root"}]
    assert options["run_id"]["env"] == [{"name": "NHI_RUN_ID"}]
    assert options["hmac_key_env"]["default"] == "NHI_EVIDENCE_HMAC_KEY"


@pytest.mark.parametrize("name,secret", [
    ("secret_access_key", True), ("SecretAccessKey", True), ("password", True), ("token", True),
    ("client_token", True), ("private_key", True), ("secret_id", True), ("api_key", True),
    ("client_secret", True), ("secret_id_accessor", False), ("token_accessor", False), ("key_id", False),
    ("private_key_id", False), ("credential_age_days", False), ("token_ttl", False), ("kv_version", False),
    ("drift_class", False), ("secret_path", False),
])
def test_secret_names(name, secret):
    assert cbmod.secret_name(name) is secret


def test_the_reports_show_at_most_1000_identities_unless_told_otherwise(tmp_path):
    """The default timeline_limit: a 10,000-identity report stays openable; every failure is still shown."""
    names = ["svc-%04d" % i for i in range(1003)]
    batch = [entry(n) for n in names[:-1]] + [entry(names[-1], outcome="failed", error="denied by IAM")]
    cb, _display = synth.make_callback(tmp_path, run_id="big", timeline_limit=None)  # option unset
    synth.drive_batches(cb, [batch])
    md = (tmp_path / "big" / "report.md").read_text()
    assert "Showing 1,000 of 1,003 identities" in md
    assert "### %s (failed)" % names[-1] in md     # the failure sorts last, and is kept
    assert "### %s\n" % names[998] in md and "### %s\n" % names[999] not in md
    assert sum(1 for line in md.splitlines() if line.startswith("### svc-")) == 1000
    assert sum(1 for r in records(cb) if r["type"] == chain.STEP) == 1003  # evidence.jsonl holds everything

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import datetime
import json
import re

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _evidence as ev

ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _entry(**over):
    args = dict(identity="ci-deployer", event="rotate", step="mint", system="aws_iam",
                action="iam:CreateAccessKey", target="arn:aws:iam::123456789012:user/nhi/ci-deployer",
                authority="nhi.lifecycle",
                decision={"effect": "allow", "rule": "nhi.default", "waived_by": None, "reason": "ok",
                          "matched": ["x"], "evaluated_at": "2026-11-23T19:27:03Z"},
                outcome="changed")
    args.update(over)
    return ev.entry(**args)


def test_entry_has_exactly_the_documented_keys():
    entry = _entry(details={"key_id": "AKIAEXAMPLE", "credential_age_days": 12.5})
    assert set(entry) == set(ev.ENTRY_KEYS)
    assert entry["identity"] == "ci-deployer"
    assert entry["details"] == {"key_id": "AKIAEXAMPLE", "credential_age_days": 12.5}
    assert entry["verified"] is None and entry["error"] is None
    json.dumps(entry)  # plain JSON data


def test_decision_is_reduced_to_the_four_documented_keys():
    entry = _entry()
    assert entry["decision"] == {"effect": "allow", "rule": "nhi.default", "waived_by": None, "reason": "ok"}
    assert _entry(decision=None)["decision"] is None


def test_times_default_to_now_in_iso_utc_with_milliseconds():
    entry = _entry()
    assert ISO_MS.match(entry["started"]) and ISO_MS.match(entry["ended"])
    assert entry["started"] <= entry["ended"]


def test_times_accept_datetimes_and_strings():
    start = datetime.datetime(2026, 11, 23, 19, 27, 3, 123456, tzinfo=datetime.timezone.utc)
    entry = _entry(started=start, ended="2026-11-23T19:27:03.456Z")
    assert entry["started"] == "2026-11-23T19:27:03.123Z"
    assert entry["ended"] == "2026-11-23T19:27:03.456Z"


def test_naive_datetimes_are_taken_as_utc():
    assert ev.now_iso(datetime.datetime(2026, 1, 2, 3, 4, 5, 6000)) == "2026-01-02T03:04:05.006Z"


@pytest.mark.parametrize("field,value", [("event", "rotation"), ("outcome", "ok"), ("identity", "")])
def test_invalid_values_raise(field, value):
    with pytest.raises(ev.EvidenceError):
        _entry(**{field: value})


def test_error_is_folded_to_one_line():
    entry = _entry(outcome="failed", error="AccessDenied:\n  user is not\tauthorized")
    assert entry["error"] == "AccessDenied: user is not authorized"


def test_proof_computes_ok():
    assert ev.proof("sts:GetCallerIdentity", "rejected", "rejected") == {
        "method": "sts:GetCallerIdentity", "expect": "rejected", "result": "rejected", "ok": True}
    assert ev.proof("approle:Login", "accepted", "error")["ok"] is False
    with pytest.raises(ev.EvidenceError):
        ev.proof("x", "maybe", "accepted")


def test_timer_stamps_around_a_block():
    with ev.Timer() as timer:
        pass
    stamps = timer.stamps()
    assert ISO_MS.match(stamps["started"]) and ISO_MS.match(stamps["ended"])
    assert stamps["started"] <= stamps["ended"]
    entry = _entry(**stamps)
    assert entry["started"] == stamps["started"] and entry["ended"] == stamps["ended"]


def test_timer_stamps_ended_when_the_block_raises():
    timer = ev.Timer()
    with pytest.raises(RuntimeError):
        with timer:
            raise RuntimeError("boom")
    assert timer.ended is not None and timer.started <= timer.ended


def test_timer_without_with():
    timer = ev.Timer().start()
    assert timer.ended is None
    assert timer.stamps()["ended"] is not None


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


def test_scrub_passes_clean_values_through():
    value = {"evidence": [_entry()], "changed": True}
    assert ev.scrub(value, [SECRET, "", None]) is value
    assert ev.scrub(value, []) is value


def test_scrub_raises_when_a_secret_is_nested_anywhere():
    value = {"evidence": [_entry(details={"note": "key=%s" % SECRET})]}
    with pytest.raises(ev.EvidenceError) as caught:
        ev.scrub(value, ["other", SECRET])
    assert SECRET not in str(caught.value)
    assert "secret #2" in str(caught.value)


def test_scrub_finds_a_secret_that_json_escaping_changed():
    value = {"details": {"blob": PEM}}
    with pytest.raises(ev.EvidenceError):
        ev.scrub(value, PEM)


def test_scrub_accepts_a_single_string():
    with pytest.raises(ev.EvidenceError):
        ev.scrub(["a", SECRET], SECRET)

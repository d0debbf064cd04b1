# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import json
import os
import re
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _report as report

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evidence_synth as synth  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env():
    with synth.isolated_env():
        yield


def step(identity, event, name, started, ended, outcome="changed", verified=None, seq=None, controls=("PR.AA-01",),
         details=None, decision=None, error=None):
    return {"type": "step", "seq": seq, "identity": identity, "event": event, "step": name, "system": "aws_iam",
            "action": "iam:X", "target": "t", "authority": "nhi.lifecycle", "decision": decision,
            "outcome": outcome, "verified": verified, "error": error, "started": started, "ended": ended,
            "details": details or {}, "controls": list(controls), "host": identity, "check_mode": False}


def ok(expect):
    return {"method": "m", "expect": expect, "result": expect, "ok": True}


def ts(seconds):
    return "2026-11-23T19:00:%06.3fZ" % seconds


def test_percentile_is_nearest_rank():
    values = [5, 1, 4, 2, 3, 6, 7, 8, 9, 10]
    assert report.percentile(values, 50) == 5
    assert report.percentile(values, 95) == 10
    assert report.percentile([3.5], 95) == 3.5
    assert report.percentile([], 50) is None
    assert report.percentile(list(range(1, 101)), 95) == 95


def test_parse_ts():
    assert report.parse_ts("2026-11-23T19:00:01.500Z") - report.parse_ts("2026-11-23T19:00:00.000Z") == 1.5
    assert report.parse_ts("not a time") is None
    assert report.parse_ts(None) is None


def build(records):
    collector = report.Collector()
    for seq, record in enumerate(records, 1):
        record.setdefault("seq", seq)
        if record["seq"] is None:
            record["seq"] = seq
        collector.add(record)
    return collector


def test_time_to_provision_and_to_revoke_follow_the_documented_definitions():
    records = [
        # provision: first record starts at 0, last successful prove_new ends at 4 -> 4 s
        step("a", "provision", "policy", ts(0), ts(0.1)),
        step("a", "provision", "mint", ts(1), ts(2)),
        step("a", "provision", "prove_new", ts(3), ts(4), verified=ok("accepted")),
        # provision that never proved the new credential: not counted
        step("b", "provision", "policy", ts(0), ts(1)),
        step("b", "provision", "prove_new", ts(1), ts(2), outcome="failed",
             verified={"method": "m", "expect": "accepted", "result": "rejected", "ok": False}),
        # rotate: deactivate starts at 10, rejection proven at 16 -> 6 s
        step("c", "rotate", "mint", ts(5), ts(6)),
        step("c", "rotate", "deactivate_old", ts(10), ts(11)),
        step("c", "rotate", "delete_old", ts(12), ts(13)),
        step("c", "rotate", "prove_old_rejected", ts(15), ts(16), verified=ok("rejected")),
        # offboard: suspend at 20, two credentials, the last proof ends at 30 -> 10 s
        step("d", "offboard", "suspend", ts(20), ts(21)),
        step("d", "offboard", "revoke", ts(22), ts(23)),
        step("d", "offboard", "prove_revoked", ts(24), ts(25), verified=ok("rejected")),
        step("d", "offboard", "prove_revoked", ts(29), ts(30), verified=ok("rejected")),
        # a "proof" that the old key still works proves nothing
        step("e", "rotate", "deactivate_old", ts(0), ts(1)),
        step("e", "rotate", "prove_old_rejected", ts(2), ts(3),
             verified={"method": "m", "expect": "rejected", "result": "accepted", "ok": False}),
    ]
    summary = build(records).summary(run_id="r")
    assert summary["time_to_provision"]["count"] == 1
    assert summary["time_to_provision"]["p50"] == 4.0
    ttr = summary["time_to_revoke"]
    assert ttr["count"] == 2 and ttr["p50"] == 6.0 and ttr["p95"] == 10.0
    assert ttr["by_event"]["rotate"]["p50"] == 6.0 and ttr["by_event"]["offboard"]["p50"] == 10.0
    assert ttr["unit"] == "seconds"


def test_failed_workflow_rate_counts_identities_per_event():
    records = [
        step("a", "rotate", "mint", ts(0), ts(1)),
        step("b", "rotate", "mint", ts(0), ts(1), outcome="failed", error="x"),
        step("b", "rotate", "store", ts(1), ts(2), outcome="failed", error="y"),
        step("c", "rotate", "mint", ts(0), ts(1)),
        step("c", "offboard", "revoke", ts(0), ts(1), outcome="failed"),
        step("d", "offboard", "revoke", ts(0), ts(1)),
    ]
    summary = build(records).summary()
    rate = summary["failed_workflow_rate"]
    assert rate["by_event"]["rotate"] == {"failed": 1, "total": 3, "rate": 0.3333}
    assert rate["by_event"]["offboard"] == {"failed": 1, "total": 2, "rate": 0.5}
    assert rate["overall"] == {"failed": 2, "total": 5, "rate": 0.4}
    assert summary["identities"] == {"count": 4, "by_event": {"rotate": 3, "offboard": 2}, "with_failures": 2}


def test_counts_drift_exceptions_ages_and_controls():
    records = [
        step("a", "reconcile", "read", ts(0), ts(1), details={"credential_age_days": 12.5, "key_id": "K1"},
             controls=("ID.AM-08", "DE.CM-09")),
        step("a", "reconcile", "read", ts(1), ts(2), details={"credential_age_days": 13.0, "key_id": "K1"},
             controls=("ID.AM-08",)),
        step("b", "reconcile", "read", ts(0), ts(1), details={"credential_age_days": 400, "key_id": "K2"},
             controls=("ID.AM-08",)),
        step("a", "reconcile", "drift", ts(2), ts(3), details={"drift_class": "credential_stale"},
             controls=("NHI7", "DE.CM-09"), outcome="failed"),
        step("b", "reconcile", "drift", ts(2), ts(3), details={"drift_class": "credential_too_old"},
             controls=("NHI7",), decision={"effect": "allow", "rule": "r", "waived_by": "EXC-1", "reason": "x"}),
    ]
    collector = build(records)
    collector.add_drift([{"identity": "a", "drift_class": "credential_stale"},      # duplicate of a record
                         {"identity": "ghost", "class": "unmanaged_identity", "detail": "not in catalog"}])
    collector.add_exceptions({"open": [{"id": "EXC-1", "identity": "b", "rule": "r", "owner": "o", "reason": "x",
                                        "expires": "2027-01-01"}, {"id": "EXC-9"}],
                              "expired": [{"id": "EXC-9", "expires": "2020-01-01"}]})
    summary = collector.summary()
    assert summary["counts"]["records"] == 5
    assert summary["counts"]["by_event_step_outcome"]["reconcile"] == {
        "read": {"changed": 3}, "drift": {"changed": 1, "failed": 1}}
    assert list(summary["counts"]["by_step"]) == ["read", "drift"]
    assert summary["drift"] == {"total": 3, "by_class": {"credential_stale": 2, "identity_unmanaged": 1}}
    exc = summary["exceptions"]
    assert exc["open_count"] == 1 and exc["expired_count"] == 1
    assert exc["open"][0]["id"] == "EXC-1" and exc["expired"][0]["id"] == "EXC-9"
    assert exc["waivers_used"] == {"EXC-1": 1}
    ages = summary["credential_age_days"]
    assert ages["count"] == 2 and ages["min"] == 13.0 and ages["max"] == 400.0
    assert {b["range"]: b["count"] for b in ages["histogram"]}["7-30"] == 1
    assert {b["range"]: b["count"] for b in ages["histogram"]}["365+"] == 1
    controls = summary["controls"]
    assert list(controls) == ["NHI7", "ID.AM-08", "DE.CM-09"]
    assert controls["ID.AM-08"]["records"] == 3 and controls["ID.AM-08"]["identities"] == 2
    assert controls["NHI7"]["by_outcome"] == {"changed": 1, "failed": 1}
    assert controls["NHI7"]["failed_seqs"] == [4]
    assert controls["NHI7"]["title"] == "Long-Lived Secrets"


def test_seal_extras_round_trip():
    collector = report.Collector()
    collector.add_drift([{"identity": "ghost", "drift_class": "identity_unmanaged"}])
    collector.add_exceptions({"open": [{"id": "E1"}], "expired": []})
    again = report.Collector()
    again.add_extras(json.loads(json.dumps(collector.extras())))
    assert again.summary()["drift"] == collector.summary()["drift"]
    assert again.summary()["exceptions"]["open"] == collector.summary()["exceptions"]["open"]


def test_html_and_markdown_escape_everything(tmp_path):
    records = [step("evil<b>", "rotate", "mint", ts(0), ts(1), error=synth.HOSTILE,
                    details={"detail": synth.HOSTILE}),
               step("evil<b>", "reconcile", "drift", ts(1), ts(2),
                    details={"drift_class": "owner_missing", "detail": synth.HOSTILE})]
    records[0]["target"] = synth.HOSTILE
    records[0]["decision"] = {"effect": "allow", "rule": "<i>rule</i>", "waived_by": None, "reason": synth.HOSTILE}
    collector = build(records)
    collector.add_exceptions({"open": [{"id": "<x>", "identity": synth.HOSTILE, "reason": synth.HOSTILE}]})
    summary = collector.summary(run_id="<run>")
    paths = report.write_reports(str(tmp_path), summary, collector)
    html = open(paths["html"], encoding="utf-8").read()
    assert "<script" not in html and "<b>" not in html and "<i>rule" not in html and "<x>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html or \
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert not re.search(r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html), "the page must not reference any URL"
    assert "<img" not in html and "<link" not in html and "<iframe" not in html and "@import" not in html
    md = open(paths["md"], encoding="utf-8").read()
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| seq |"))
    row = next(line for line in lines if line.startswith("| 1 |"))
    split = re.compile(r"(?<!\\)\|")
    assert len(split.split(row)) == len(split.split(header))  # every | inside a value is escaped
    assert "<script>" not in md
    assert "\\<script\\>" in md


def test_report_sections_and_charts(tmp_path):
    cb, _display = synth.make_callback(tmp_path, run_id="sections")
    synth.rich_run(cb)
    html = open(os.path.join(str(tmp_path), "sections", "report.html"), encoding="utf-8").read()
    for section in ("run", "metrics", "charts", "timeline", "controls", "exceptions", "drift", "verify"):
        assert '<section id="%s">' % section in html
    age_svg = html[html.index('<svg id="chart-age"'):html.index("</svg>", html.index('<svg id="chart-age"'))]
    assert age_svg.count('class="bar"') == len(report.AGE_BINS)
    ttr_svg = html[html.index('<svg id="chart-ttr"'):html.index("</svg>", html.index('<svg id="chart-ttr"'))]
    assert ttr_svg.count('class="bar"') == 10  # 7 proven rotations + 3 offboards
    assert "ci-deployer-5" in html and "scim-bot" in html
    md = open(os.path.join(str(tmp_path), "sections", "report.md"), encoding="utf-8").read()
    for heading in ("## Run", "## Summary", "## Per-identity timeline", "## Evidence by control",
                    "## Exceptions", "## Drift", "### Credential age", "### Time to revoke, slowest identities"):
        assert heading in md
    assert "**NHI7**" in md and "EXC-7" in md and "identity\\_unmanaged" in md


def test_timeline_limit_keeps_every_failed_identity():
    records = [step("id-%02d" % i, "rotate", "mint", ts(i), ts(i + 0.5), outcome="failed" if i in (3, 17) else
                    "changed") for i in range(20)]
    collector = build(records)
    context = report.build_context(collector.summary(), collector, timeline_limit=5)
    names = [i["name"] for i in context["identities"]]
    assert len(names) == 5 and "id-03" in names and "id-17" in names
    assert context["timeline_limited"] and context["timeline_total"] == 20


def test_rebuild_reproduces_the_callbacks_summary(tmp_path):
    cb, _display = synth.make_callback(tmp_path, run_id="rb")
    synth.rich_run(cb)
    directory = os.path.join(str(tmp_path), "rb")
    first = json.load(open(os.path.join(directory, "summary.json")))
    os.unlink(os.path.join(directory, "report.html"))
    result, summary, paths = report.rebuild(directory)
    assert result.ok and os.path.exists(paths["html"])
    for key in ("counts", "identities", "time_to_provision", "time_to_revoke", "failed_workflow_rate",
                "exceptions", "drift", "credential_age_days", "controls", "stats", "run_id"):
        assert summary[key] == first[key], key
    assert summary["verification"]["ok"] is True


def test_rebuild_of_a_tampered_run_says_so(tmp_path):
    cb, _display = synth.make_callback(tmp_path, run_id="bad")
    synth.rich_run(cb)
    path = os.path.join(str(tmp_path), "bad", "evidence.jsonl")
    lines = open(path, encoding="utf-8").read().splitlines(True)
    lines[9] = lines[9].replace('"changed"', '"unchanged"', 1)
    open(path, "w", encoding="utf-8").write("".join(lines))
    result, summary, paths = report.rebuild(os.path.dirname(path))
    assert not result.ok and summary["verification"]["first_bad_seq"] == 10
    assert summary["counts"]["records"] == 9
    assert "FAILED at seq 10" in open(paths["html"], encoding="utf-8").read()


@pytest.mark.parametrize("value,expected", [
    (None, "\u2014"), (0.25, "250 ms"), (1.5, "1.50 s"), (150, "2 min 30 s"), (7200, "2.0 h")])
def test_fmt_seconds(value, expected):
    assert report.fmt_seconds(value) == expected


def test_axis_scales_are_round():
    assert report._nice_scale(5, integer=True) == (6, 2)
    assert report._nice_scale(3, integer=True) == (3, 1)
    assert report._nice_scale(1.78) == (2.0, 0.5)
    assert report._nice_scale(0) == (1.0, 0.25)

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Summary metrics and the auditor's report of one run's evidence.

:class:`Collector` takes the stored records one by one (from the callback
while the run goes on, or from ``evidence.jsonl`` afterwards) and keeps what
the summary and the report need. :func:`write_reports` writes
``summary.json``, ``report.html`` and ``report.md``. The metrics are defined
in docs/evidence.md; keep the two in step.

The HTML page is self-contained: inline CSS, inline SVG charts computed here
from the data, no script and no external URL. Everything is escaped by
Jinja2's autoescape. The Markdown report carries the same content as
GitHub-flavoured tables.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import os
import re
from collections import Counter

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as _chain
from ansible_collections.nhi.lifecycle.plugins.plugin_utils._controls import control_order, describe, drift_class

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")

EVENTS_ORDER = ("provision", "rotate", "offboard", "reconcile", "adhoc")
OUTCOMES_ORDER = ("changed", "unchanged", "would_change", "failed", "skipped", "denied", "delegated")
STEPS_ORDER = ("policy", "create_identity", "update_identity", "mint", "store", "prove_new", "deactivate_old",
               "delete_old", "prove_old_rejected", "suspend", "revoke", "destroy_stored", "prove_revoked",
               "delete_identity", "read", "drift", "exceptions")
REVOKE_START_STEPS = frozenset(("deactivate_old", "suspend", "revoke"))
REVOKE_PROOF_STEPS = frozenset(("prove_old_rejected", "prove_revoked"))
REVOKE_EVENTS = ("rotate", "offboard")
AGE_BINS = ((0, 7), (7, 30), (30, 60), (60, 90), (90, 180), (180, 365), (365, None))
TTR_BARS = 30
SUCCESS = frozenset(("changed", "unchanged"))


_HOUR_BASE = {}


def parse_ts(value):
    """Epoch seconds of an ISO-8601 UTC stamp, or None.

    The stamps the modules write (``2026-11-23T19:27:03.123Z``) take a fast
    path: the epoch of their hour is cached. Anything else goes through
    ``datetime.fromisoformat``.
    """
    if value.__class__ is not str or not value:
        return None
    if len(value) == 24 and value[-1] == "Z" and value[13] == ":" and value[16] == ":" and value[19] == "." \
            and value[14:16].isdigit() and value[17:19].isdigit() and value[20:23].isdigit():
        base = _HOUR_BASE.get(value[:13])
        if base is None:
            try:
                base = datetime.datetime.strptime(value[:13], "%Y-%m-%dT%H").replace(
                    tzinfo=datetime.timezone.utc).timestamp()
            except ValueError:
                base = False
            if len(_HOUR_BASE) < 100000:
                _HOUR_BASE[value[:13]] = base
        if base is not False and value[14] < "6" and value[17] < "6":
            try:
                return base + int(value[14:16]) * 60 + float(value[17:23])
            except ValueError:  # digits that are not ASCII
                return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.timestamp()


def percentile(values, pct):
    """Nearest-rank percentile: the value at rank ceil(pct/100 * n) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(math.ceil(pct / 100.0 * len(ordered))))
    return ordered[min(rank, len(ordered)) - 1]


def distribution(values, digits=3):
    if not values:
        return {"count": 0, "min": None, "p50": None, "p95": None, "max": None}
    return {
        "count": len(values),
        "min": round(min(values), digits),
        "p50": round(percentile(values, 50), digits),
        "p95": round(percentile(values, 95), digits),
        "max": round(max(values), digits),
    }


def _proved(verified, expect):
    return isinstance(verified, dict) and verified.get("ok") is True and verified.get("expect", expect) == expect


def _sorted_counts(counter, order=()):
    keys = [k for k in order if k in counter] + sorted(k for k in counter if k not in order)
    return {k: counter[k] for k in keys}


class Collector(object):
    """Accumulates the stored records of one run for the summary and the report."""

    def __init__(self):
        self.records = 0
        self.triples = {}           # (event, step, outcome) -> records
        self.timeline = {}          # identity -> [step dict]
        self.control_failed = {}    # control -> first failed seqs
        self._interned = {}
        self.ages = {}              # (identity, key) -> days
        self.drift = []
        self.drift_seen = set()
        self.exceptions = {"open": {}, "expired": {}}
        self.waivers = Counter()
        self.check_mode = False
        self.hosts = set()
        self.playbooks = []
        self.censored = 0
        self._ttr_per_identity = None

    # -- input ---------------------------------------------------------------
    def add(self, record):
        if record.get("type", "step") != "step":
            return
        self.records += 1
        get = record.get
        event = get("event") or "adhoc"
        step = get("step") or "task"
        outcome = get("outcome") or "unknown"
        identity = get("identity") or get("host") or "?"
        triple = (event, step, outcome)
        self.triples[triple] = self.triples.get(triple, 0) + 1
        if get("check_mode"):
            self.check_mode = True
        host = get("host")
        if host is not None:
            self.hosts.add(host)
        playbook = get("playbook")
        if playbook and playbook not in self.playbooks:
            self.playbooks.append(playbook)
        decision = get("decision")
        if decision.__class__ is not dict:
            decision = {}
        waived = decision.get("waived_by")
        if waived:
            self.waivers[str(waived)] += 1
        details = get("details")
        if details.__class__ is not dict:
            details = {}
        if details.get("censored"):
            self.censored += 1
        verified = get("verified")
        if verified.__class__ is not dict:
            verified = None
        seq = get("seq")
        started, ended = get("started"), get("ended")
        controls = get("controls") or ()
        controls = self._interned.setdefault(tuple(controls), tuple(controls))
        steps = self.timeline.get(identity)
        if steps is None:
            steps = self.timeline[identity] = []
        steps.append({
            "seq": seq, "event": event, "step": step, "started": started, "ended": ended,
            "t0": parse_ts(started), "t1": parse_ts(ended),
            "rule": decision.get("rule"), "effect": decision.get("effect"), "waived_by": waived,
            "reason": decision.get("reason"), "system": get("system"), "action": get("action"),
            "target": get("target"), "authority": get("authority"), "outcome": outcome,
            "verified": verified, "error": get("error"), "controls": controls,
        })
        if outcome == "failed":
            for control in controls:
                failed = self.control_failed.setdefault(control, [])
                if len(failed) < 25:
                    failed.append(seq)
        age = details.get("credential_age_days")
        if age is not None and age.__class__ in (int, float) and math.isfinite(age):
            key = details.get("key_id") or details.get("credential_id") or details.get("accessor") or ""
            self.ages[(identity, str(key))] = float(age)
        if step == "drift":
            self.add_drift([{
                "identity": identity,
                "drift_class": details.get("drift_class") or "unclassified",
                "detail": details.get("detail") or details.get("message") or get("target"),
                "outcome": outcome,
                "remediated": details.get("remediated"),
                "seq": seq,
            }])

    def add_drift(self, items):
        for item in items or ():
            if not isinstance(item, dict):
                continue
            cls = drift_class(item.get("drift_class") or item.get("class") or item.get("kind")) or "unclassified"
            identity = item.get("identity") or item.get("name") or item.get("host") or "?"
            key = (str(identity), cls)
            if key in self.drift_seen:
                continue
            self.drift_seen.add(key)
            self.drift.append({
                "identity": str(identity),
                "drift_class": cls,
                "detail": item.get("detail") or item.get("message") or item.get("msg"),
                "outcome": item.get("outcome") or ("remediated" if item.get("remediated") else "reported"),
                "remediated": item.get("remediated"),
                "seq": item.get("seq"),
            })

    def add_exceptions(self, report):
        if not isinstance(report, dict):
            return
        for state in ("open", "expired"):
            for item in report.get(state) or ():
                if not isinstance(item, dict):
                    item = {"id": str(item)}
                ident = json.dumps(item.get("id"), sort_keys=True, default=str) if item.get("id") is not None \
                    else json.dumps(item, sort_keys=True, default=str)
                kept = {k: item.get(k) for k in ("id", "identity", "rule", "owner", "reason", "expires")}
                for extra in ("days_until_expiry", "days_since_expiry"):
                    if item.get(extra) is not None:
                        kept[extra] = item[extra]
                self.exceptions[state][ident] = kept
        # an exception reported expired is not open
        for ident in list(self.exceptions["open"]):
            if ident in self.exceptions["expired"]:
                del self.exceptions["open"][ident]

    def extras(self):
        """What the seal keeps so that the report can be rebuilt from evidence.jsonl alone."""
        return {
            "exceptions": {state: list(items.values()) for state, items in self.exceptions.items()},
            "drift": [d for d in self.drift if d.get("seq") is None],
        }

    def add_extras(self, extras):
        if not isinstance(extras, dict):
            return
        self.add_exceptions(extras.get("exceptions"))
        self.add_drift(extras.get("drift"))

    # -- metrics -------------------------------------------------------------
    def _workflows(self):
        """One pass over the timeline: workflows per (identity, event), their timings and failures,
        and which identities each control covers."""
        ttp, ttr, ttr_by_event, ttr_per_identity = [], [], {}, []
        events_ids, failed_ids = {}, {}
        control_ids, control_outcomes = {}, {}
        failed_identities = 0
        for identity, steps in self.timeline.items():
            per_event = {}
            seen_controls = set()
            any_failed = False
            for st in steps:
                ev = st["event"]
                wf = per_event.get(ev)
                if wf is None:
                    wf = per_event[ev] = [None, None, None, None, False]  # first, prove_new, revoke start, proof, failed
                started = st["t0"]
                outcome = st["outcome"]
                if started is not None and (wf[0] is None or started < wf[0]):
                    wf[0] = started
                for control in st["controls"]:
                    key = (control, outcome)
                    control_outcomes[key] = control_outcomes.get(key, 0) + 1
                seen_controls.update(st["controls"])
                if outcome == "failed":
                    wf[4] = any_failed = True
                step = st["step"]
                if ev == "provision":
                    if step == "prove_new" and outcome in SUCCESS and _proved(st["verified"], "accepted"):
                        ended = st["t1"]
                        if ended is not None and (wf[1] is None or ended > wf[1]):
                            wf[1] = ended
                elif ev in REVOKE_EVENTS:
                    if step in REVOKE_START_STEPS and started is not None:
                        if wf[2] is None or started < wf[2]:
                            wf[2] = started
                    elif step in REVOKE_PROOF_STEPS and outcome in SUCCESS and _proved(st["verified"], "rejected"):
                        ended = st["t1"]
                        if ended is not None and (wf[3] is None or ended > wf[3]):
                            wf[3] = ended
            if any_failed:
                failed_identities += 1
            for control in seen_controls:
                control_ids[control] = control_ids.get(control, 0) + 1
            for ev, (first, proven, revoke_start, revoke_proof, failed) in per_event.items():
                events_ids[ev] = events_ids.get(ev, 0) + 1
                if failed:
                    failed_ids[ev] = failed_ids.get(ev, 0) + 1
                if ev == "provision" and proven is not None and first is not None and proven >= first:
                    ttp.append(proven - first)
                if revoke_start is not None and revoke_proof is not None and revoke_proof >= revoke_start:
                    value = revoke_proof - revoke_start
                    ttr.append(value)
                    ttr_by_event.setdefault(ev, []).append(value)
                    ttr_per_identity.append((identity, ev, value))
        return {
            "ttp": ttp, "ttr": ttr, "ttr_by_event": ttr_by_event, "ttr_per_identity": ttr_per_identity,
            "events_ids": events_ids, "failed_ids": failed_ids, "failed_identities": failed_identities,
            "control_ids": control_ids, "control_outcomes": control_outcomes,
        }

    def summary(self, run_id=None, chain=None, verification=None, stats=None, playbook=None):
        wf = self._workflows()
        ttp, ttr, ttr_by_event = wf["ttp"], wf["ttr"], wf["ttr_by_event"]
        events_ids, failed_ids = wf["events_ids"], wf["failed_ids"]
        total_wf = sum(events_ids.values())
        total_failed = sum(failed_ids.values())
        failed_identities = wf["failed_identities"]
        ages = list(self.ages.values())
        histogram = []
        for low, high in AGE_BINS:
            count = sum(1 for a in ages if a >= low and (high is None or a < high))
            histogram.append({"range": "%d-%d" % (low, high) if high is not None else "%d+" % low,
                              "from": low, "to": high, "count": count})
        drift_by_class = Counter(d["drift_class"] for d in self.drift)
        by_control = {}
        for (control, outcome), n in wf["control_outcomes"].items():
            by_control.setdefault(control, Counter())[outcome] += n
        controls = {}
        for control in sorted(by_control, key=control_order):
            info = describe(control)
            outcomes = by_control[control]
            controls[control] = {
                "framework": info["framework"], "title": info["title"], "records": sum(outcomes.values()),
                "identities": wf["control_ids"].get(control, 0), "by_outcome": _sorted_counts(outcomes, OUTCOMES_ORDER),
                "failed_seqs": list(self.control_failed.get(control, ())),
            }
        by_event, by_step, by_outcome, nested = Counter(), Counter(), Counter(), {}
        for (event, step, outcome), n in self.triples.items():
            by_event[event] += n
            by_step[step] += n
            by_outcome[outcome] += n
            nested.setdefault(event, {}).setdefault(step, Counter())[outcome] += n
        ttr_dist = distribution(ttr)
        ttr_dist["unit"] = "seconds"
        ttr_dist["by_event"] = {ev: distribution(v) for ev, v in sorted(ttr_by_event.items())}
        ttp_dist = distribution(ttp)
        ttp_dist["unit"] = "seconds"
        out = {
            "run_id": run_id,
            "generated_at": _now(),
            "playbook": playbook or (self.playbooks[0] if self.playbooks else None),
            "check_mode": self.check_mode,
            "chain": dict(_CHAIN_DEFAULTS, **(chain or {})),
            "verification": dict(_VERIFICATION_DEFAULTS, **(verification or {})),
            "counts": {
                "records": self.records,
                "by_event": _sorted_counts(by_event, EVENTS_ORDER),
                "by_step": _sorted_counts(by_step, STEPS_ORDER),
                "by_outcome": _sorted_counts(by_outcome, OUTCOMES_ORDER),
                "by_event_step_outcome": {
                    ev: {st: _sorted_counts(steps[st], OUTCOMES_ORDER) for st in _sorted_counts(steps, STEPS_ORDER)}
                    for ev, steps in sorted(nested.items(), key=lambda kv: _event_rank(kv[0]))
                },
            },
            "identities": {
                "count": len(self.timeline),
                "by_event": _sorted_counts(Counter(events_ids), EVENTS_ORDER),
                "with_failures": failed_identities,
            },
            "hosts": len(self.hosts),
            "time_to_provision": ttp_dist,
            "time_to_revoke": ttr_dist,
            "failed_workflow_rate": {
                "overall": _rate(total_failed, total_wf),
                "by_event": {ev: _rate(failed_ids.get(ev, 0), n) for ev, n in
                             sorted(events_ids.items(), key=lambda kv: _event_rank(kv[0]))},
            },
            "exceptions": {
                "open": list(self.exceptions["open"].values()),
                "expired": list(self.exceptions["expired"].values()),
                "open_count": len(self.exceptions["open"]),
                "expired_count": len(self.exceptions["expired"]),
                "waivers_used": dict(sorted(self.waivers.items())),
            },
            "drift": {"total": len(self.drift), "by_class": dict(sorted(drift_by_class.items()))},
            "credential_age_days": dict(distribution(ages, 2), histogram=histogram),
            "controls": controls,
            "censored_results": self.censored,
            "stats": stats or None,
        }
        self._ttr_per_identity = wf["ttr_per_identity"]
        return out


_CHAIN_DEFAULTS = {"file": "evidence.jsonl", "count": 0, "head": None, "keyed": False, "sealed": False,
                   "first_ts": None, "last_ts": None, "merged_slices": None}
_VERIFICATION_DEFAULTS = {"ok": None, "label": None, "reason": None, "first_bad_seq": None, "hmac_checked": False,
                          "warnings": [], "method": None}


def _now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def _event_rank(event):
    return (EVENTS_ORDER.index(event) if event in EVENTS_ORDER else len(EVENTS_ORDER), event)


def _rate(failed, total):
    return {"failed": failed, "total": total, "rate": round(failed / total, 4) if total else None}


# -- presentation -------------------------------------------------------------

def fmt_seconds(value):
    if value is None:
        return "\u2014"
    if value < 1:
        return "%d ms" % round(value * 1000)
    if value < 120:
        return "%.2f s" % value
    if value < 7200:
        return "%d min %02d s" % (value // 60, value % 60)
    return "%.1f h" % (value / 3600.0)


def fmt_rate(rate):
    if not rate or rate.get("rate") is None:
        return "\u2014"
    return "%.1f%% (%d of %d)" % (rate["rate"] * 100, rate["failed"], rate["total"])


def _time_of(stamp):
    if not isinstance(stamp, str) or "T" not in stamp:
        return stamp or ""
    return stamp.split("T", 1)[1].rstrip("Z")


def _duration(step):
    start, end = step["t0"], step["t1"]
    if start is None or end is None or end < start:
        return None
    return end - start


def _nice_scale(value, ticks=4, integer=False):
    """(maximum, step) of an axis: ``ticks`` steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not value or value <= 0:
        return (ticks, 1) if integer else (1.0, 0.25)
    raw = value / float(ticks)
    exp = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        step = mult * exp
        if step >= raw and (not integer or float(step).is_integer()):
            break
    if integer:
        step = max(1, int(math.ceil(step)))
    return step * math.ceil(value / step - 1e-9), step


def age_chart(histogram, width=640, height=260):
    """Geometry of the credential-age histogram (vertical bars)."""
    left, right, top, bottom = 48, 16, 20, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    peak, tick = _nice_scale(max([b["count"] for b in histogram] or [0]), integer=True)
    n = max(len(histogram), 1)
    slot = plot_w / n
    bars = []
    for index, item in enumerate(histogram):
        h = plot_h * item["count"] / peak if peak else 0
        bars.append({
            "x": round(left + index * slot + slot * 0.12, 1), "y": round(top + plot_h - h, 1),
            "w": round(slot * 0.76, 1), "h": round(h, 1), "label": item["range"] + " d",
            "value": item["count"], "lx": round(left + index * slot + slot / 2, 1),
            "stale": item["from"] >= 90,
        })
    ticks = [{"y": round(top + plot_h - plot_h * v / peak, 1), "label": _num(v)}
             for v in [tick * i for i in range(int(round(peak / tick)) + 1)]]
    return {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
            "bottom_y": top + plot_h, "bars": bars, "ticks": ticks, "empty": not any(b["count"] for b in histogram)}


def ttr_chart(per_identity, limit=TTR_BARS, width=640):
    """Geometry of the time-to-revoke bar chart: the slowest identities, one horizontal bar each."""
    rows = sorted(per_identity, key=lambda r: (-r[2], r[0]))[:limit]
    left, right, top, row_h = 190, 70, 24, 22
    height = top + row_h * max(len(rows), 1) + 30
    plot_w = width - left - right
    peak, tick = _nice_scale(max([r[2] for r in rows] or [0]))
    bars = []
    for index, (identity, event, value) in enumerate(rows):
        w = plot_w * value / peak if peak else 0
        label = identity if len(identity) <= 26 else identity[:25] + "\u2026"
        bars.append({"identity": identity, "y": top + index * row_h + 3, "h": row_h - 6, "x": left, "w": round(max(w, 1), 1),
                     "label": label, "title": "%s (%s): %s" % (identity, event, fmt_seconds(value)),
                     "value": fmt_seconds(value), "ty": top + index * row_h + row_h / 2 + 4,
                     "vx": round(left + max(w, 1) + 6, 1), "event": event})
    ticks = [{"x": round(left + plot_w * v / peak, 1), "label": fmt_seconds(v)}
             for v in [tick * i for i in range(int(round(peak / tick)) + 1)]]
    return {"width": width, "height": height, "left": left, "top": top, "plot_w": plot_w,
            "bottom_y": top + row_h * max(len(rows), 1), "bars": bars, "ticks": ticks,
            "total": len(per_identity), "shown": len(rows), "empty": not rows}


def _num(value):
    return ("%d" % value) if float(value).is_integer() else ("%.1f" % value)


def _proof_text(verified):
    if not verified:
        return ""
    mark = "\u2713" if verified.get("ok") else "\u2717"
    return "%s %s: expected %s, got %s" % (
        mark, verified.get("method") or "?", verified.get("expect") or "?", verified.get("result") or "?")


def _decision_text(step):
    if not step.get("rule") and not step.get("effect"):
        return ""
    text = "%s (%s)" % (step.get("rule") or "?", step.get("effect") or "?")
    if step.get("waived_by"):
        text += ", waived by %s" % step["waived_by"]
    return text


_MD_SPECIAL = re.compile(r"([\\|`*_\[\]<>#])")
_WS = frozenset("\n\r\t\x0b\x0c")
_CACHE_MAX = 100000
_md_cache = {}
_h_cache = {}


def _md(value):
    """Escape a value for one GitHub-flavoured Markdown table cell (memoised: most cells repeat)."""
    if value is None:
        return ""
    text = value if value.__class__ is str else str(value)
    done = _md_cache.get(text)
    if done is None:
        done = text
        if not _WS.isdisjoint(done):
            done = " ".join(done.split())
        done = _MD_SPECIAL.sub(r"\\\1", done)
        if len(_md_cache) < _CACHE_MAX:
            _md_cache[text] = done
    return done


def _h(value):
    """HTML-escape one value (``& < > " '``, like Jinja2's autoescape); None is empty. Memoised."""
    if value is None:
        return ""
    text = value if value.__class__ is str else str(value)
    done = _h_cache.get(text)
    if done is None:
        done = html.escape(text, quote=True)
        if len(_h_cache) < _CACHE_MAX:
            _h_cache[text] = done
    return done


_MUTED_DASH = '<span class="muted">&mdash;</span>'


def _timeline_rows(steps):
    """The rows of one identity's timeline: (HTML, Markdown).

    Every value is escaped: ``_h`` for HTML (the same five characters as
    Jinja2's autoescape), ``_md`` for Markdown table cells.
    """
    html_rows, md_rows = [], []
    for st in steps:
        started, seq = st["started"], st["seq"]
        date = started[:10] if isinstance(started, str) else ""
        time_of = _time_of(started)
        duration = fmt_seconds(_duration(st))
        decided = _decision_text(st)
        verified = st["verified"]
        proof = _proof_text(verified)
        outcome, error, target = st["outcome"], st["error"], st["target"]
        cell_decided = _h(decided) if decided else _MUTED_DASH
        if decided and st["reason"]:
            cell_decided += '<br><span class="muted">%s</span>' % _h(st["reason"])
        if st["authority"]:
            cell_decided += '<br><span class="muted">authority: %s</span>' % _h(st["authority"])
        if verified:
            cell_proof = '<span class="%s">%s</span>' % (
                "verified-ok" if verified.get("ok") else "verified-bad", _h(proof))
        else:
            cell_proof = _MUTED_DASH
        h_outcome = _h(outcome)
        html_rows.append(
            '<tr%s><td>%s</td><td>%s<br>%s <span class="muted">(%s)</span></td><td>%s<br><strong>%s</strong></td>'
            '<td>%s</td><td><strong>%s</strong> &middot; <code>%s</code>%s</td>'
            '<td><span class="badge o-%s">%s</span>%s</td><td>%s</td></tr>\n' % (
                ' id="s%d"' % seq if seq.__class__ is int else "", _h(seq), _h(date), _h(time_of), _h(duration),
                _h(st["event"]), _h(st["step"]),
                cell_decided, _h(st["system"]), _h(st["action"]),
                '<br><code class="head">%s</code>' % _h(target) if target else "",
                h_outcome, h_outcome, '<div class="err">%s</div>' % _h(error) if error else "", cell_proof))
        md_rows.append("| %s | %s %s (%s) | %s | %s | %s | %s | %s | %s | %s%s | %s |\n" % (
            _md(st["seq"]), _md(date), _md(time_of), _md(duration), _md(st["event"]), _md(st["step"]),
            _md(decided), _md(st["system"]), _md(st["action"]), _md(target), _md(outcome),
            ": " + _md(error) if error else "", _md(proof)))
    return "".join(html_rows), "".join(md_rows)


def build_context(summary, collector, timeline_limit=None):
    """Everything the templates show, precomputed so the templates stay simple.

    The timeline rows are rendered here, every value escaped with
    ``html.escape`` (the rest of the page is autoescaped by Jinja2), because a
    run of 10,000 identities has 60,000 of them and per-row template logic
    would cost seconds.
    """
    names = sorted(collector.timeline)
    failed_flags = {}
    failed_names = []
    for index, name in enumerate(names):
        failed = any(st["outcome"] == "failed" for st in collector.timeline[name])
        failed_flags[name] = failed
        if failed:
            failed_names.append((name, "i%d" % index))
    shown = names
    limited = False
    if timeline_limit and len(names) > timeline_limit:
        room = max(timeline_limit - len(failed_names), 0)
        keep = set(n for n, _a in failed_names)
        keep.update([n for n in names if not failed_flags[n]][:room])
        shown = [n for n in names if n in keep]
        limited = True
    anchors = {name: "i%d" % index for index, name in enumerate(names)}
    identities = []
    for name in shown:
        steps = sorted(collector.timeline[name], key=lambda st: (st["seq"] if isinstance(st["seq"], int) else 0))
        outcomes = Counter(st["outcome"] for st in steps)
        rows_html, rows_md = _timeline_rows(steps)
        identities.append({
            "name": name, "anchor": anchors[name], "failed": failed_flags[name],
            "events": sorted({st["event"] for st in steps}, key=_event_rank),
            "outcomes": _sorted_counts(outcomes, OUTCOMES_ORDER), "count": len(steps),
            "rows_html": rows_html, "rows_md": rows_md,
        })
    per_identity = collector._ttr_per_identity
    if per_identity is None:
        collector.summary()
        per_identity = collector._ttr_per_identity
    controls = [dict(v, id=k) for k, v in summary["controls"].items()]
    return {
        "s": summary,
        "identities": identities,
        "failed_names": failed_names,
        "timeline_limited": limited,
        "timeline_total": len(names),
        "controls": controls,
        "drift_items": sorted(collector.drift, key=lambda d: (d["drift_class"], d["identity"])),
        "age_chart": age_chart(summary["credential_age_days"]["histogram"]),
        "ttr_chart": ttr_chart(per_identity),
        "open_default": len(names) <= 60,
    }


def _mdcode(value):
    """Escape a value for a code span inside a Markdown table cell."""
    if value is None:
        return ""
    return " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")


def _env(autoescape):
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape, trim_blocks=True,
                      lstrip_blocks=True, undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters["seconds"] = fmt_seconds
    env.filters["rate"] = fmt_rate
    env.filters["md"] = _md
    env.filters["mdcode"] = _mdcode
    env.filters["num"] = lambda v: "\u2014" if v is None else ("{:,}".format(v) if isinstance(v, int) else "%s" % v)
    return env


def render_html(context):
    return _env(True).get_template("report.html.j2").render(**context)


def render_md(context):
    return _env(False).get_template("report.md.j2").render(**context)


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    os.replace(tmp, path)


def write_reports(directory, summary, collector, timeline_limit=None):
    """Write summary.json, report.html and report.md into ``directory``; return their paths."""
    context = build_context(summary, collector, timeline_limit)
    paths = {
        "summary": os.path.join(directory, "summary.json"),
        "html": os.path.join(directory, "report.html"),
        "md": os.path.join(directory, "report.md"),
    }
    _write(paths["summary"], json.dumps(summary, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n")
    _write(paths["html"], render_html(context))
    _write(paths["md"], render_md(context))
    return paths


def rebuild(directory, hmac_key=None, timeline_limit=None):
    """Verify a run directory and rewrite its summary and reports from evidence.jsonl."""
    collector = Collector()
    result = _chain.VerifyResult(_chain.evidence_file(directory))
    for record in _chain.iter_verified(directory, hmac_key, True, None, result):
        if record.get("type") == _chain.SEAL:
            collector.add_extras(record.get("extras"))
        else:
            collector.add(record)
    seal = result.seal or {}
    chain_info = {
        "file": _chain.EVIDENCE_FILE, "count": result.count, "head": result.head, "keyed": result.keyed,
        "sealed": result.sealed, "first_ts": seal.get("first_ts"), "last_ts": seal.get("last_ts"),
        "merged_slices": seal.get("slices") if seal.get("merge") else None,
    }
    verification = {"ok": result.ok, "reason": result.reason, "first_bad_seq": result.first_bad_seq,
                    "hmac_checked": result.hmac_checked, "warnings": result.warnings,
                    "label": "verified", "method": "verified by nhi-evidence report"}
    stats = (seal.get("extras") or {}).get("stats") or None
    run_id = seal.get("run_id") or result.run_id
    summary = collector.summary(run_id=run_id, chain=chain_info, verification=verification, stats=stats,
                                playbook=seal.get("playbook"))
    paths = write_reports(os.path.dirname(result.path), summary, collector, timeline_limit)
    return result, summary, paths

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Build the ``evidence`` entries that modules return.

The shape is fixed by docs/architecture.md ("Module evidence entries"); the
``nhi.lifecycle.evidence`` callback chains, maps and reports them. Nothing in
an entry may be secret: :func:`scrub` is the last guard a module runs over
what it is about to return.
"""

from __future__ import annotations

import datetime
import json

EVENTS = ("provision", "rotate", "offboard", "reconcile", "adhoc")

STEPS = (
    "policy", "create_identity", "update_identity", "mint", "store", "prove_new",
    "deactivate_old", "delete_old", "prove_old_rejected", "destroy_stored", "suspend",
    "revoke", "prove_revoked", "delete_identity", "read", "drift", "exceptions",
)

OUTCOMES = ("changed", "unchanged", "would_change", "failed", "skipped", "denied", "delegated")

VERIFY_RESULTS = ("accepted", "rejected", "error")

ENTRY_KEYS = (
    "identity", "event", "step", "system", "action", "target", "authority", "decision",
    "outcome", "verified", "error", "started", "ended", "details",
)

_DECISION_KEYS = ("effect", "rule", "waived_by", "reason")


class EvidenceError(Exception):
    """An entry cannot be built as asked, or would carry secret material."""


def now_iso(dt=None):
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix: 2026-11-23T19:27:03.123Z."""
    dt = dt or datetime.datetime.now(datetime.timezone.utc)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    dt = dt.astimezone(datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def _stamp(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return now_iso(value)
    return str(value)


def _one_line(value):
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:2000]


def decision_of(decision):
    """Reduce a policy decision to the four keys an entry carries."""
    if decision is None:
        return None
    if not isinstance(decision, dict):
        raise EvidenceError("decision must be a dict or None, got %s" % type(decision).__name__)
    return {key: decision.get(key) for key in _DECISION_KEYS}


def proof(method, expect, result, detail=None):
    """The ``verified`` block: which check was run, what was expected, what happened."""
    if expect not in ("accepted", "rejected"):
        raise EvidenceError("verified.expect must be accepted or rejected, got %r" % (expect,))
    if result not in VERIFY_RESULTS:
        raise EvidenceError("verified.result must be one of %s, got %r" % (", ".join(VERIFY_RESULTS), result))
    out = {"method": method, "expect": expect, "result": result, "ok": result == expect}
    if detail:
        out["detail"] = _one_line(detail)
    return out


def entry(identity, event, step, system, action, target, authority, decision, outcome,
          verified=None, error=None, started=None, ended=None, details=None):
    """Return one evidence entry (one identity, one step) as a plain dict.

    ``started``/``ended`` may be datetimes or ISO strings; when omitted they
    are stamped now. ``error`` is folded to one line. Raises
    :class:`EvidenceError` for an unknown ``event`` or ``outcome`` so that a
    module bug shows up in its tests rather than in an auditor's report.
    """
    if event not in EVENTS:
        raise EvidenceError("unknown event %r (expected one of %s)" % (event, ", ".join(EVENTS)))
    if outcome not in OUTCOMES:
        raise EvidenceError("unknown outcome %r (expected one of %s)" % (outcome, ", ".join(OUTCOMES)))
    if not identity:
        raise EvidenceError("an evidence entry needs the identity it is about")
    if verified is not None and not isinstance(verified, dict):
        raise EvidenceError("verified must be a dict (see proof()) or None")
    stamp = now_iso()
    started = _stamp(started) or stamp
    ended = _stamp(ended) or (stamp if started <= stamp else started)
    return {
        "identity": str(identity),
        "event": event,
        "step": str(step),
        "system": str(system),
        "action": str(action),
        "target": None if target is None else str(target),
        "authority": None if authority is None else str(authority),
        "decision": decision_of(decision),
        "outcome": outcome,
        "verified": dict(verified) if verified is not None else None,
        "error": _one_line(error),
        "started": started,
        "ended": ended,
        "details": dict(details) if details else {},
    }


class Timer(object):
    """Stamp ``started`` and ``ended`` around a step.

    ::

        with Timer() as t:
            client.create_access_key(...)
        evidence.append(entry(..., **t.stamps()))

    The stamps are ISO-8601 UTC strings with milliseconds. ``ended`` is set
    when the block exits, also when it raises.
    """

    def __init__(self):
        self.started = None
        self.ended = None

    def start(self):
        self.started = now_iso()
        self.ended = None
        return self

    def stop(self):
        if self.started is None:
            self.start()
        self.ended = now_iso()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    def stamps(self):
        """``{"started": ..., "ended": ...}``, to splat into :func:`entry`."""
        if self.ended is None:
            self.stop()
        return {"started": self.started, "ended": self.ended}


def scrub(value, secrets):
    """Return ``value`` unchanged, or raise if any secret occurs in it.

    ``value`` is serialised to JSON (as the result will be); each non-empty
    string of ``secrets`` is looked for both verbatim and JSON-escaped (a PEM
    key's newlines become ``\\n``). The error never repeats the secret. Cost
    is one scan per secret, so pass the secrets of the target at hand, not
    those of a whole batch.
    """
    if not secrets:
        return value
    if isinstance(secrets, str):
        secrets = [secrets]
    blob = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    for index, secret in enumerate(secrets):
        if not isinstance(secret, str) or not secret:
            continue
        escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
        if secret in blob or escaped in blob:
            raise EvidenceError(
                "secret material (secret #%d, %d characters) would have been returned; "
                "the result was withheld" % (index + 1, len(secret)))
    return value

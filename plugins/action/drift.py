# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import os
import uuid

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nhi.lifecycle.plugins.action.plan import identities_of, plain
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, utcnow
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _drift, _runlock

try:
    import yaml
    _Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError:  # pragma: no cover - ansible-core requires PyYAML
    yaml = None

display = Display()

MAX_LINES = 200
PHASES = ("targets", "compare")


def _bool(value, default=False):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def known_owners(identities):
    """``{source: [owners] or None}``: the known_owners of each catalog file the identities come from."""
    out = {}
    for source in sorted({n.get("source") for n in identities if n.get("source")}):
        owners = None
        if yaml is not None and os.path.isfile(source):
            try:
                with open(source, "r") as handle:
                    doc = yaml.load(handle, Loader=_Loader)  # nosec B506 - a safe loader
                value = doc.get("known_owners") if isinstance(doc, dict) else None
                owners = [str(o) for o in value] if isinstance(value, list) else None
            except (OSError, yaml.YAMLError):
                owners = None
        out[source] = owners
    return out


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("phase", "plan", "reads", "previous", "remediate", "fail_on", "unused_days",
                             "disabled_policies", "discover", "rules", "exceptions", "approvals", "include_baseline",
                             "workers", "lock"))
    _requires_connection = False

    # --- who -------------------------------------------------------------------
    def _identities(self, task_vars, plan):
        names = task_vars.get("ansible_play_batch") or []
        denied = set(plan.get("denied") or [])
        identities, missing = identities_of([n for n in names if n not in denied], task_vars)
        if missing:
            raise AnsibleActionFail("%d host(s) in this play are not catalog identities (no 'nhi' variable): %s"
                                    % (len(missing), ", ".join(sorted(missing)[:10])))
        everyone = list((task_vars.get("groups") or {}).get("nhi") or [])
        catalog, _missing = identities_of(everyone, task_vars) if everyone else (identities, [])
        return identities, catalog

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        phase = args.get("phase") or "compare"
        if phase not in PHASES:
            raise AnsibleActionFail("phase must be targets or compare, got %r" % (phase,))
        plan = plain(args.get("plan") or {})
        if not isinstance(plan, dict) or "allowed" not in plan:
            raise AnsibleActionFail("plan must be the registered result of nhi.lifecycle.plan (event: reconcile)")
        identities, catalog = self._identities(task_vars, plan)
        discover = _bool(args.get("discover"), True)
        if phase == "targets":
            read = _drift.read_targets(identities, catalog, discover=discover)
            result.update(changed=False, read=read, identities=len(identities), catalog=len(catalog))
            return result
        return self._compare(result, args, plan, identities, catalog, discover)

    # --- compare ---------------------------------------------------------------
    def _compare(self, result, args, plan, identities, catalog, discover):
        remediate = _bool(args.get("remediate"))
        previous = args.get("previous")
        previous = plain(previous.get("drift") or []) if isinstance(previous, dict) else None
        fail_on = str(args.get("fail_on") or "none").lower()
        if fail_on not in _drift.FAIL_ON:
            raise AnsibleActionFail("fail_on must be one of %s, got %r" % (", ".join(_drift.FAIL_ON), fail_on))
        try:
            unused_days = int(args["unused_days"]) if args.get("unused_days") not in (None, "") else None
        except (TypeError, ValueError):
            raise AnsibleActionFail("unused_days must be a whole number of days, got %r" % (args.get("unused_days"),))
        options = {
            "unused_days": unused_days,
            "disabled_policies": plain(args.get("disabled_policies")) or list(_drift.DEFAULT_DISABLED_POLICIES),
            "discover": discover,
            "known_owners": known_owners(identities),
        }
        now = utcnow()
        found = _drift.compare(identities, plain(args.get("reads") or {}), catalog=catalog,
                               exceptions_report=plan.get("nhi_exceptions_report"), now=now, options=options)
        drift, unread = found["drift"], found["unread"]
        run_id = plan.get("run_id") or os.environ.get("NHI_RUN_ID") or "adhoc-%s" % uuid.uuid4().hex[:12]
        read_ok = [n["name"] for n in identities if n["name"] not in unread]
        planned = {"targets": {}, "evidence": [], "allowed": [], "denied": [], "decisions": {}, "remediation": {},
                   "locked": [], "lock_errors": {}}
        held = []
        if remediate and previous is None:
            approvals = plain(args.get("approvals") or [])
            if isinstance(approvals, str):
                approvals = [a.strip() for a in approvals.split(",") if a.strip()]
            try:
                planned.update(_drift.plan_remediation(
                    drift, identities, plain(args.get("rules") or []), plain(args.get("exceptions") or []),
                    approvals=approvals, now=now, run={"id": run_id, "check_mode": bool(self._task.check_mode)},
                    include_baseline=_bool(args.get("include_baseline"), True)))
            except NHIError as exc:
                raise AnsibleActionFail("the policy could not be evaluated, nothing was changed: %s" % exc)
            if _bool(args.get("lock"), True) and not self._task.check_mode and planned["allowed"]:
                try:
                    held, refused = _runlock.acquire(identities, planned["allowed"], run_id,
                                                     workers=int(args.get("workers") or 16))
                except NHIError as exc:
                    raise AnsibleActionFail("could not take the run's identity locks, nothing was changed: %s" % exc)
                if refused:
                    _runlock.withdraw(planned, refused)
        entries = _drift.evidence(drift, previous=previous, remediate=remediate and previous is None,
                                  planned=planned["remediation"], now=now)
        delegated = sorted({d["identity"] for d in drift if d.get("fix") and d["identity"] in set(read_ok)})
        gate = _drift.gate(drift, fail_on, unread=unread, errors=found["errors"])
        tally = _drift.counts(drift)
        self._show(drift, tally, unread, found["errors"], previous, planned)
        nhi_drift = [dict(d, drift_class=d["class"]) for d in drift]
        reads = args.get("reads") or {}
        read_evidence = []
        for key in sorted(reads):
            registered = reads[key]
            if isinstance(registered, dict) and not registered.get("skipped"):
                read_evidence.extend(plain(registered.get("evidence") or []))
        result.update(
            changed=False,
            event="reconcile",
            run_id=run_id,
            drift=drift,
            nhi_drift=nhi_drift,
            counts=tally,
            resolved=[p for p in previous or [] if (p["identity"], p["class"]) not in
                      {(d["identity"], d["class"]) for d in drift}] if previous is not None else [],
            evidence=planned["evidence"] + entries,
            read_evidence=read_evidence,
            targets=planned["targets"],
            remediation=planned["remediation"],
            allowed=sorted(set(read_ok) - set(planned["denied"])),
            denied=sorted(set(plan.get("denied") or []) | set(planned["denied"])),
            delegated=delegated,
            refused=[],
            locked=planned["locked"],
            lock_errors=planned["lock_errors"],
            held_locks=held,
            unread=unread,
            listing_errors=found["errors"],
            results=[{"identity": name, "failed": True, "changed": False, "msg": "not reconciled: %s" % why}
                     for name, why in sorted(unread.items())],
            gate=gate,
        )
        return result

    def _show(self, drift, tally, unread, errors, previous, planned):
        if previous is not None:
            gone = len({(p["identity"], p["class"]) for p in previous} - {(d["identity"], d["class"]) for d in drift})
            display.display("nhi.lifecycle reconcile (after remediation%s): %d drift left, %d resolved" % (
                ", check mode: nothing was changed" if self._task.check_mode else "", tally["total"], gone))
        else:
            display.display("nhi.lifecycle reconcile: %d drift%s" % (tally["total"], (" (%s)" % ", ".join(
                "%d %s" % (n, s) for s, n in tally["by_severity"].items())) if drift else ""))
        for item in drift[:MAX_LINES]:
            fix = item["remediation"]
            if planned["remediation"].get(item["identity"]) and fix != "report":
                fix = "%s (planned: %s)" % (fix, planned["remediation"][item["identity"]])
            display.display("  %-8s %-27s %s: %s -> %s" % (item["severity"], item["class"], item["identity"],
                                                           item["detail"], fix))
        if len(drift) > MAX_LINES:
            display.display("  ... and %d more (see the evidence of this run)" % (len(drift) - MAX_LINES))
        for name, why in sorted(unread.items())[:MAX_LINES]:
            display.display("  unread   %s: %s" % (name, why))
        for problem in errors:
            display.display("  listing  %s" % problem)

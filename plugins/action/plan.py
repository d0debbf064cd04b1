# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import json
import os
import uuid

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _plan, _runlock

display = Display()


def plain(value):
    """Copy inventory data into builtin types (no unsafe/tagged wrappers)."""
    if isinstance(value, dict):
        return {(str(k) if isinstance(k, str) else to_text(k)): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return to_text(value)


def identities_of(names, task_vars):
    """Read each host's ``nhi`` variable straight from the inventory.

    Going through ``hostvars[name]`` merges every variable source per host and
    costs about 0.75 ms a host; the catalog plugin sets ``nhi`` as a host
    variable, so the inventory's own copy is the authoritative one.
    """
    hostvars = task_vars.get("hostvars")
    inventory = getattr(hostvars, "_inventory", None)
    found, missing = [], []
    for name in names:
        nhi = None
        host = inventory.get_host(name) if inventory is not None else None
        if host is not None:
            nhi = host.vars.get("nhi")
        if nhi is None and hostvars is not None:
            try:
                nhi = hostvars[name].get("nhi")
            except Exception:  # pylint: disable=broad-except
                nhi = None
        if not isinstance(nhi, dict):
            missing.append(name)
            continue
        found.append(plain(nhi))
    return found, missing


def check_evidence(required):
    """Fail closed: no lifecycle action runs unless its evidence can be written."""
    if not required:
        return None
    error = os.environ.get("NHI_EVIDENCE_ERROR")
    directory = os.environ.get("NHI_EVIDENCE_DIR")
    if error:
        raise AnsibleActionFail("evidence cannot be written (%s); stopping before any system is changed" % error)
    if not directory:
        raise AnsibleActionFail(
            "the nhi.lifecycle.evidence callback is not enabled, so this run would leave no evidence; stopping "
            "before any system is changed. Enable it (callbacks_enabled = nhi.lifecycle.evidence in ansible.cfg, "
            "or ANSIBLE_CALLBACKS_ENABLED=nhi.lifecycle.evidence), or set nhi_evidence_required=false")
    probe = os.path.join(directory, ".write-probe-%d" % os.getpid())
    try:
        with open(probe, "w") as handle:
            handle.write("probe")
        os.unlink(probe)
    except OSError as exc:
        raise AnsibleActionFail("evidence cannot be written to %s (%s); stopping before any system is changed"
                                % (directory, exc.strerror or exc))
    return directory


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("event", "hosts", "rules", "exceptions", "approvals", "force", "include_baseline",
                             "evidence_required", "check_mode", "lock", "workers"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        event = args.get("event")
        if event not in ("provision", "rotate", "offboard", "reconcile"):
            raise AnsibleActionFail("event must be provision, rotate, offboard or reconcile, got %r" % (event,))
        catalog_errors = task_vars.get("nhi_catalog_errors")
        if catalog_errors:
            first = catalog_errors[0] if isinstance(catalog_errors, list) else catalog_errors
            raise AnsibleActionFail("the catalog failed validation, so nothing is changed in any system: %s"
                                    % (first if isinstance(first, str) else json.dumps(plain(first))[:2000]))
        evidence_dir = check_evidence(bool(args.get("evidence_required", True)))
        names = args.get("hosts") or task_vars.get("ansible_play_batch") or []
        identities, missing = identities_of(names, task_vars)
        if missing:
            raise AnsibleActionFail(
                "%d host(s) in this play are not catalog identities (no 'nhi' variable): %s. Run the lifecycle "
                "playbooks on an inventory from the nhi.lifecycle.catalog plugin, or narrow with --limit"
                % (len(missing), ", ".join(sorted(missing)[:10])))
        approvals = args.get("approvals") or []
        if isinstance(approvals, str):
            text = approvals.strip()
            try:
                parsed = json.loads(text) if text.startswith("[") else None
            except ValueError:
                parsed = None
            approvals = parsed if isinstance(parsed, list) else [a.strip() for a in text.split(",") if a.strip()]
        run = {"id": os.environ.get("NHI_RUN_ID") or "adhoc-%s" % uuid.uuid4().hex[:12],
               "check_mode": bool(self._task.check_mode)}
        try:
            planned = _plan.plan(identities, event, plain(args.get("rules") or []),
                                 plain(args.get("exceptions") or []), approvals=plain(approvals), run=run,
                                 options={"force": bool(args.get("force")),
                                          "include_baseline": bool(args.get("include_baseline", True))})
        except NHIError as exc:
            raise AnsibleActionFail("the policy could not be evaluated, nothing was changed: %s" % exc)
        planned["locked"], planned["lock_errors"], held = [], {}, []
        if args.get("lock", event != "reconcile") and not self._task.check_mode and planned["allowed"]:
            try:
                held, refused = _runlock.acquire(identities, planned["allowed"], run["id"],
                                                 workers=int(args.get("workers") or 16))
            except NHIError as exc:
                raise AnsibleActionFail("could not take the run's identity locks, nothing was changed: %s" % exc)
            if refused:
                _runlock.withdraw(planned, refused)
        counts = {k: len(planned[k]) for k in ("allowed", "denied", "delegated", "failed", "expired", "locked")}
        display.display("nhi.lifecycle %s: %d identities; %s" % (
            event, len(identities), ", ".join("%d %s" % (v, k) for k, v in counts.items() if v)))
        for name in planned["denied"][:50]:
            decision = planned["decisions"][name]
            display.display("  denied  %s: %s (rule %s)" % (name, decision.get("reason"), decision.get("rule")))
        result.update(
            changed=False,
            event=event,
            run_id=run["id"],
            targets=planned["targets"],
            evidence=planned["evidence"],
            allowed=planned["allowed"],
            denied=planned["denied"],
            delegated=planned["delegated"],
            refused=planned["failed"],
            locked=planned["locked"],
            lock_errors=planned["lock_errors"],
            held_locks=held,
            expired=planned["expired"],
            counts=counts,
            evidence_dir=evidence_dir,
            nhi_exceptions_report=planned["exceptions_report"],
        )
        return result

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import collections
import json
import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _runlock

display = Display()

MAX_LINES = 200


def _key(entry):
    return (entry.get("identity"), entry.get("step"), entry.get("action"), entry.get("started"))


def collect(plan, results):
    """Fold the plan and the module results into one status per identity."""
    status = collections.OrderedDict()
    expected = []

    def ident(name):
        return status.setdefault(name, {"status": "unchanged", "steps": [], "errors": []})

    for entry in plan.get("evidence") or []:
        expected.append(entry)
    for name in plan.get("allowed") or []:
        ident(name)
    for name in plan.get("denied") or []:
        ident(name)["status"] = "denied"
    for name in plan.get("delegated") or []:
        ident(name)["status"] = "delegated"
    for name in plan.get("refused") or []:
        ident(name)["status"] = "failed"
        ident(name)["errors"].append("refused: the event belongs to another system")
    for name in plan.get("locked") or []:
        ident(name)["status"] = "failed"
        ident(name)["errors"].append((plan.get("lock_errors") or {}).get(name) or "locked by another run")
    for registered in results or []:
        if not isinstance(registered, dict) or registered.get("skipped"):
            continue
        for entry in registered.get("evidence") or []:
            expected.append(entry)
            item = ident(entry.get("identity"))
            mark = {"changed": "+", "would_change": "~", "failed": "!", "unchanged": "=",
                    "skipped": "-"}.get(entry.get("outcome"), "?")
            verified = entry.get("verified") or {}
            if verified:
                mark = "\u2713" if verified.get("ok") else "\u2717"
            item["steps"].append("%s%s" % (entry.get("step"), mark))
        for res in registered.get("results") or []:
            item = ident(res.get("identity"))
            if res.get("failed"):
                item["status"] = "failed"
                item["errors"].append(res.get("msg") or "failed")
            elif res.get("changed") and item["status"] == "unchanged":
                item["status"] = "changed"
    return status, expected


def check_evidence(expected, directory):
    """Every entry a step produced must be in the run's evidence file."""
    path = os.path.join(directory, "evidence.jsonl")
    if not os.path.exists(path):
        return len(expected), "the evidence file %s does not exist" % path
    written = collections.Counter()
    with open(path, "r") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                return len(expected), "the evidence file %s has an unreadable line" % path
            if record.get("type") == "seal":
                continue
            written[_key(record)] += 1
    needed = collections.Counter(_key(e) for e in expected)
    missing = sum(max(0, n - written.get(k, 0)) for k, n in needed.items())
    if missing:
        return missing, "%d evidence entries are missing from %s" % (missing, path)
    return 0, None


def registered(task_vars, name, option, required=True):
    """A registered result, read by variable name as it is stored (no templating).

    Templating a registered result that holds the evidence of ten thousand
    identities costs seconds; the result of a module run is data, so it can be
    read as it is. A name that is not defined gives None (a task that never
    ran), unless ``required``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise AnsibleActionFail("%s: %r is not a variable name" % (option, name))
    if name not in task_vars:
        if required:
            raise AnsibleActionFail("%s: the variable %s is not defined; register the task's result under that name"
                                    % (option, name))
        return None
    value = task_vars[name]
    return value if isinstance(value, dict) else None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("event", "plan", "plan_var", "results", "result_vars", "fail_on_deny", "fail_on_error",
                             "evidence_required"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        args = self._task.args
        task_vars = task_vars or {}
        plan = args.get("plan")
        if args.get("plan_var"):
            plan = registered(task_vars, args["plan_var"], "plan_var")
        if not isinstance(plan, dict):
            raise AnsibleActionFail("outcome needs plan (the registered result of nhi.lifecycle.plan) or plan_var "
                                    "(the name of the variable that holds it)")
        results = list(args.get("results") or [])
        for name in args.get("result_vars") or []:
            results.append(registered(task_vars, name, "result_vars", required=False))
        status, expected = collect(plan, results)
        counts = collections.Counter(v["status"] for v in status.values())
        event = args.get("event") or plan.get("event") or "event"
        display.display("nhi.lifecycle %s: %s" % (
            event, ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items())) or "no identities"))
        shown = 0
        for name, item in status.items():
            if len(status) > MAX_LINES and item["status"] not in ("failed", "denied"):
                continue
            if shown >= MAX_LINES:
                break
            shown += 1
            # "<status>: [<identity>]", as Ansible prints a host's result (tools that read
            # Ansible's output, such as Molecule's idempotence report, parse it the same way).
            line = "  %s: [%s]" % (item["status"], name)
            if item["steps"]:
                line += " " + " ".join(item["steps"])
            if item["errors"]:
                line += " \u2014 " + "; ".join(item["errors"][:2])
            display.display(line)
        if plan.get("held_locks"):
            _runlock.release(plan["held_locks"], plan.get("run_id") or os.environ.get("NHI_RUN_ID"))
        directory = os.environ.get("NHI_EVIDENCE_DIR")
        missing = 0
        if args.get("evidence_required", True):
            if not directory:
                raise AnsibleActionFail("no evidence directory for this run; the evidence callback is not enabled")
            missing, problem = check_evidence(expected, directory)
            if missing:
                raise AnsibleActionFail("evidence is incomplete: %s. Treat this run as unaudited." % problem)
        failed = sorted(n for n, v in status.items() if v["status"] == "failed")
        denied = sorted(n for n, v in status.items() if v["status"] == "denied")
        result.update(changed=False, identities=dict(status), counts=dict(counts), failed_identities=failed,
                      denied_identities=denied, evidence_dir=directory, evidence_entries=len(expected))
        problems = []
        if failed and args.get("fail_on_error", True):
            problems.append("%d identities failed: %s" % (len(failed), ", ".join(failed[:20])))
        if denied and args.get("fail_on_deny", True):
            problems.append("%d identities were denied by policy: %s" % (len(denied), ", ".join(denied[:20])))
        if problems:
            result["failed"] = True
            result["msg"] = "; ".join(problems) + ". Evidence: %s" % directory
        return result

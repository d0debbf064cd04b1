# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The base every lifecycle module is built on: one target or a batch.

A module declares ``target_spec``: the options that describe one target.
Users may pass those options at the top level (one target), or a list
``targets`` whose items use the same options (a batch); top-level values are
defaults for every item. Every item is validated before anything is changed,
so bad input changes nothing in any backend. Then each target is processed on
the worker pool, and the module returns one result per target.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import sys
import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.nhi.lifecycle.plugins.module_utils._batch import DEFAULT_WORKERS, SecretGuard, run_batch
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, iso
from ansible_collections.nhi.lifecycle.plugins.module_utils._evidence import entry as evidence_entry

EVENTS = ["provision", "rotate", "offboard", "reconcile", "adhoc"]


def common_target_spec():
    """Options every target has: who it is and under which decision we act."""
    return dict(
        identity=dict(type="str"),
        event=dict(type="str", choices=EVENTS),
        decision=dict(type="dict"),
        authority=dict(type="str"),
    )


def batch_spec():
    return dict(
        targets=dict(type="list", elements="dict"),
        workers=dict(type="int", default=DEFAULT_WORKERS),
        fail_on_error=dict(type="bool", default=True),
        run_id=dict(type="str", fallback=(env_fallback, ["NHI_RUN_ID"])),
        lock=dict(type="bool", default=True),
    )


def _strip_required(spec):
    """The top-level form of the per-target options.

    ``required`` moves to the per-target validation (a batch gives the
    option in each item of ``targets`` instead). Defaults stay: they are the
    same defaults every item gets.
    """
    out = {}
    for name, opt in spec.items():
        opt = dict(opt)
        opt.pop("required", None)
        out[name] = opt
    return out


class NHIModule(object):
    """Wraps AnsibleModule with target validation, batching and reporting."""

    def __init__(self, target_spec, connection_specs=(), extra_spec=None, required_if=None,
                 mutually_exclusive=None, supports_check_mode=True, label=None, validate=None,
                 default_identity=None):
        self.target_spec = dict(common_target_spec())
        self.target_spec.update(target_spec)
        spec = {}
        for part in connection_specs:
            spec.update(part)
        spec.update(batch_spec())
        spec.update(_strip_required(self.target_spec))
        if extra_spec:
            spec.update(extra_spec)
        try:
            self.module = AnsibleModule(argument_spec=spec, supports_check_mode=supports_check_mode)
        except (ArithmeticError, TypeError) as exc:
            _fail_early("invalid input, nothing was changed: %s" % _core_input_error(exc))
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self.diff_mode = self.module._diff
        self.required_if = required_if or []
        self.mutually_exclusive = mutually_exclusive or []
        self.secrets = SecretGuard(self.module)
        self.label = label or self.module._name.split(".")[-1]
        self._validate = validate
        self._default_identity = default_identity
        self.batch = self.params.get("targets") is not None
        self.targets = self._targets()

    # --- input -------------------------------------------------------------
    def _targets(self):
        defaults = {name: self.params.get(name) for name in self.target_spec if self.params.get(name) is not None}
        raw = self.params.get("targets")
        items = raw if raw is not None else [{}]
        validator = ArgumentSpecValidator(self.target_spec, mutually_exclusive=self.mutually_exclusive,
                                          required_if=self.required_if)
        known = set(self.target_spec)
        for opt in self.target_spec.values():
            known.update(opt.get("aliases") or ())
        targets, errors = [], []
        for index, item in enumerate(items):
            where = "targets[%d]" % index if raw is not None else "module options"
            if not isinstance(item, dict):
                errors.append("%s: expected a dict, got %s" % (where, type(item).__name__))
                continue
            merged = dict(defaults)
            # None means "unset" for a known option; an unknown key stays, so that it is reported.
            merged.update({k: v for k, v in item.items() if v is not None or k not in known})
            try:
                result = validator.validate(merged)
            except (ArithmeticError, TypeError) as exc:  # see _core_input_error()
                errors.append("%s: %s" % (where, _core_input_error(exc)))
                continue
            if result.error_messages:
                name = merged.get("identity") or merged.get("name") or merged.get("user_name") or ""
                label = "%s%s" % (where, " (%s)" % name if name else "")
                errors.extend("%s: %s" % (label, msg) for msg in result.error_messages)
                continue
            target = result.validated_parameters
            try:
                _check_finite(self.target_spec, target)
                self.validate_target(target)
            except NHIError as exc:
                name = target.get("identity") or ""
                errors.append("%s%s: %s" % (where, " (%s)" % name if name else "", exc))
                continue
            if not target.get("identity"):
                target["identity"] = self.default_identity(target)
            target["_index"] = index
            targets.append(target)
        if errors:
            shown = errors[:20]
            more = len(errors) - len(shown)
            self.module.fail_json(
                msg="invalid input, nothing was changed: " + "; ".join(shown) + (" (and %d more)" % more if more else ""),
                errors=errors)
        return targets

    def validate_target(self, target):
        """Cross-field checks that the spec cannot express. Raise NHIError."""
        if self._validate:
            self._validate(target)

    def default_identity(self, target):
        return self._default_identity(target) if self._default_identity else None

    def connect(self, factory, system="backend"):
        """Build the shared clients with ``factory()``; see :meth:`fail_connect`."""
        try:
            return factory()
        except NHIError as exc:
            self.fail_connect(exc, system)

    def fail_connect(self, exc, system="backend"):
        """A backend that cannot be reached fails this module's targets only.

        In a batch with ``fail_on_error=false`` (the lifecycle roles), every
        target is reported failed with the reason and an evidence entry, and
        the play goes on for the identities of other systems. Otherwise the
        module fails as usual.
        """
        if not self.batch or self.params.get("fail_on_error"):
            self.module.fail_json(msg=str(exc), where=exc.where, hint=exc.hint)
        results = []
        for target in self.targets:
            rec = Recorder(target, self.check_mode)
            rec.add("connect", system, "connect", None, "failed", error=str(exc))
            results.append({"identity": target.get("identity"), "failed": True, "changed": False,
                            "msg": str(exc), "_evidence": rec.entries})
        self.exit(results)

    # --- run ---------------------------------------------------------------
    def run(self, fn, workers=None):
        workers = workers or self.params.get("workers") or DEFAULT_WORKERS
        results = run_batch(self.targets, fn, workers=workers, label=self.label)
        for target, result in zip(self.targets, results):
            result.setdefault("identity", target.get("identity"))
            result.setdefault("changed", False)
        return results

    def exit(self, results, **extra):
        evidence = []
        for result in results:
            evidence.extend(result.pop("_evidence", None) or result.get("evidence") or [])
            result.pop("evidence", None)
        diffs = [r.pop("diff") for r in results if r.get("diff")] if self.diff_mode else []
        for r in results:
            r.pop("diff", None)
        failed = [r for r in results if r.get("failed")]
        changed = any(r.get("changed") for r in results)
        if self.batch:
            out = dict(changed=changed, results=results, evidence=evidence,
                       summary=dict(total=len(results), changed=sum(1 for r in results if r.get("changed")),
                                    failed=len(failed)),
                       failed_identities=[r.get("identity") for r in failed])
            if diffs:
                out["diff"] = diffs
            if failed and self.params.get("fail_on_error"):
                out["msg"] = "%d of %d targets failed: %s" % (
                    len(failed), len(results), "; ".join("%s: %s" % (r.get("identity"), r.get("msg")) for r in failed[:10]))
        else:
            out = dict(results[0]) if results else {}
            out["evidence"] = evidence
            out["changed"] = changed
            if diffs:
                out["diff"] = diffs[0]
        out.update(extra)
        self._guard(out)
        if failed and (self.params.get("fail_on_error") or not self.batch):
            if not self.batch:
                out.setdefault("msg", failed[0].get("msg"))
            out.pop("failed", None)
            self.module.fail_json(**out)
        out.pop("failed", None)
        self.module.exit_json(**out)

    def _guard(self, out):
        """Last line of defence: no remembered secret may leave the module."""
        if not len(self.secrets):
            return
        blob = json.dumps(out, default=str)
        if self.secrets.leaks(blob):
            self.module.fail_json(msg="internal error: a result would have carried secret material; "
                                      "it was withheld. Please report this as a bug.",
                                  identities=[r.get("identity") for r in out.get("results", [])] or None)


def _check_finite(spec, target):
    """NaN and infinity pass Ansible's float check; a proof deadline of inf would wait forever."""
    for name, opt in spec.items():
        value = target.get(name)
        if opt.get("type") == "float" and isinstance(value, float) and not math.isfinite(value):
            raise NHIError("%s must be a finite number, got %r" % (name, value), where=name)


def _core_input_error(exc):
    """Describe the two ways ansible-core's argument checker crashes on bad input; re-raise anything else.

    * ``check_type_int("inf")`` lets OverflowError out (ansible/ansible#87253);
    * a number, a boolean or a list of scalars given for a dict option with sub-options raises TypeError in
      ``set_fallbacks`` (ansible/ansible#81631).
    Both are invalid input, and are reported as such instead of a traceback.
    """
    if isinstance(exc, ArithmeticError):
        return "an integer option cannot be infinite (%s)" % exc
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and frames[-1].name == "set_fallbacks":
        return "an option that takes a dictionary was given something else (%s)" % exc
    raise exc


def _fail_early(msg):
    """Fail like fail_json() when there is no AnsibleModule to do it (its constructor raised)."""
    # There is no AnsibleModule whose fail_json could be called, so speak the
    # module protocol by hand: one JSON object on stdout, exit status 1.
    print("\n" + json.dumps({"failed": True, "msg": msg}))  # pylint: disable=ansible-bad-function
    sys.exit(1)  # pylint: disable=ansible-bad-function


def copy_target(target):
    return copy.deepcopy({k: v for k, v in target.items() if not k.startswith("_")})


def _crash_point(step, outcome):
    """Test hook: die by SIGKILL right after ``step`` has changed something.

    Set ``NHI_TEST_CRASH_AFTER=<step>`` (for example ``store``) to simulate a
    controller that is killed mid-rotation; the crash tests then re-run the
    playbook and check that it converges. Unset, this does nothing.
    """
    wanted = os.environ.get("NHI_TEST_CRASH_AFTER")
    if wanted and wanted == step and outcome in ("changed", "unchanged"):
        os.kill(os.getpid(), signal.SIGKILL)


class Step(object):
    """What one step did; filled in by the code inside ``Recorder.step``."""

    def __init__(self, outcome):
        self.outcome = outcome
        self.verified = None
        self.details = {}
        self.target = None


class Recorder(object):
    """Collect evidence entries for one target, one per step."""

    def __init__(self, target, check_mode=False):
        self.identity = target.get("identity")
        self.event = target.get("event") or "adhoc"
        self.decision = target.get("decision")
        self.authority = target.get("authority") or "nhi.lifecycle"
        self.check_mode = check_mode
        self.entries = []

    @contextlib.contextmanager
    def step(self, step, system, action, target, details=None):
        state = Step("would_change" if self.check_mode else "changed")
        state.target = target
        if details:
            state.details.update(details)
        started = iso()
        try:
            yield state
        except NHIError as exc:
            self.add(step, system, action, state.target, "failed", verified=state.verified, error=str(exc),
                     started=started, details=state.details)
            raise
        except Exception as exc:
            self.add(step, system, action, state.target, "failed", verified=state.verified,
                     error="%s: %s" % (type(exc).__name__, exc), started=started, details=state.details)
            raise
        self.add(step, system, action, state.target, state.outcome, verified=state.verified,
                 started=started, details=state.details)
        _crash_point(step, state.outcome)

    def add(self, step, system, action, target, outcome, verified=None, error=None, started=None, details=None):
        self.entries.append(evidence_entry(
            identity=self.identity, event=self.event, step=step, system=system, action=action, target=target,
            authority=self.authority, decision=self.decision, outcome=outcome, verified=verified, error=error,
            started=started or iso(), ended=iso(), details=details or {}))


def verdict(method, expect, accepted, detail=None):
    """The ``verified`` block of an evidence entry."""
    result = "accepted" if accepted else "rejected"
    out = {"method": method, "expect": expect, "result": result, "ok": result == expect}
    if detail:
        out["detail"] = detail
    return out

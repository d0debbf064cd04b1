# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Synthetic evidence for the evidence tests, the benchmark and the report render test.

Entries follow docs/architecture.md ("Module evidence entries"). The fake
TaskResult/Task/Host/Stats objects have the attributes the callback reads,
the way ansible-core 2.19+ hands them over (``host``, ``task``, ``result``).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import random
import uuid

# What the callback exports into the controller's environment (and what the tests set).
RUN_ENV = ("NHI_EVIDENCE_DIR", "NHI_RUN_ID", "NHI_EVIDENCE_ERROR", "NHI_EVIDENCE_HMAC_KEY", "JOB_ID")


@contextlib.contextmanager
def isolated_env(names=RUN_ENV):
    """Start without the run variables and put them back as they were afterwards."""
    saved = {name: os.environ.pop(name, None) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


STEPS = {
    "provision": [
        ("policy", "nhi.lifecycle", "nhi:EvaluatePolicy", None),
        ("create_identity", "aws_iam", "iam:CreateUser", None),
        ("mint", "aws_iam", "iam:CreateAccessKey", None),
        ("store", "vault", "kv2:write(cas)", None),
        ("prove_new", "aws_sts", "sts:GetCallerIdentity", "accepted"),
    ],
    "rotate": [
        ("mint", "aws_iam", "iam:CreateAccessKey", None),
        ("store", "vault", "kv2:write(cas)", None),
        ("prove_new", "aws_sts", "sts:GetCallerIdentity", "accepted"),
        ("deactivate_old", "aws_iam", "iam:UpdateAccessKey(Inactive)", None),
        ("delete_old", "aws_iam", "iam:DeleteAccessKey", None),
        ("prove_old_rejected", "aws_sts", "sts:GetCallerIdentity", "rejected"),
    ],
    "offboard": [
        ("policy", "nhi.lifecycle", "nhi:EvaluatePolicy", None),
        ("suspend", "vault", "approle:UpdateRole(bind_secret_id)", None),
        ("revoke", "vault", "approle:DestroySecretIDAccessor", None),
        ("destroy_stored", "vault", "kv2:destroy", None),
        ("prove_revoked", "vault", "approle:Login", "rejected"),
        ("delete_identity", "vault", "approle:DeleteRole", None),
    ],
    "reconcile": [
        ("read", "aws_iam", "iam:ListAccessKeys", None),
        ("drift", "nhi.lifecycle", "nhi:Compare", None),
    ],
}

DRIFT = ["credential_stale", "stored_credential_orphaned", "identity_unmanaged", "credential_multiple_active",
         "owner_missing"]

T0 = datetime.datetime(2026, 11, 23, 19, 27, 3, 123000, tzinfo=datetime.timezone.utc)


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def decision(event, waived_by=None):
    return {"effect": "allow", "rule": "nhi.default" if not waived_by else "nhi.max_age_limit",
            "waived_by": waived_by, "reason": "no deny rule matched for %s" % event}


def workflow(identity, event, start, rng, fail_step=None, waived_by=None, age=None):
    """Entries for one identity through one event, with realistic durations."""
    out = []
    t = start
    for index, (step, system, action, expect) in enumerate(STEPS[event]):
        duration = datetime.timedelta(milliseconds=rng.randint(40, 900))
        failed = step == fail_step
        verified = None
        if expect:
            result = ("accepted" if expect == "rejected" else "rejected") if failed else expect
            verified = {"method": action, "expect": expect, "result": result, "ok": result == expect}
        details = {"key_id": "AKIA%012d" % (abs(hash(identity)) % 10 ** 12)}
        if step in ("mint", "read") and age is not None:
            details["credential_age_days"] = age
        if step == "drift":
            details["drift_class"] = rng.choice(DRIFT)
            details["detail"] = "synthetic finding for %s" % identity
        out.append({
            "identity": identity, "event": event, "step": step, "system": system, "action": action,
            "target": "arn:aws:iam::123456789012:user/nhi/%s" % identity, "authority": "nhi.lifecycle",
            "decision": decision(event, waived_by), "outcome": "failed" if failed else "changed",
            "verified": verified, "error": "synthetic failure at %s" % step if failed else None,
            "started": iso(t), "ended": iso(t + duration), "details": details,
        })
        t = t + duration + datetime.timedelta(milliseconds=rng.randint(1, 50))
        if failed:
            break
    return out


def batches(n, event="rotate", seed=7, fail_every=0, age=True):
    """Entries for ``n`` identities, grouped by step (what one run_once batch module returns)."""
    rng = random.Random(seed)
    per_identity = []
    for i in range(n):
        identity = "nhi-%05d" % i
        fail = STEPS[event][-1][0] if fail_every and i % fail_every == fail_every - 1 else None
        start = T0 + datetime.timedelta(milliseconds=i * 3)
        per_identity.append(workflow(identity, event, start, rng, fail_step=fail,
                                     age=round(rng.uniform(0, 400), 1) if age else None))
    steps = len(STEPS[event])
    return [[entries[k] for entries in per_identity if len(entries) > k] for k in range(steps)]


# -- fake ansible objects -------------------------------------------------------------------------

class FakeHost(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask(object):
    def __init__(self, name, action="nhi.lifecycle.aws_access_key", args=None, check_mode=None, no_log=False):
        self.name = name
        self.action = action
        self.resolved_action = action
        self.args = args or {}
        self.check_mode = check_mode
        self.no_log = no_log
        self._uuid = str(uuid.uuid4())

    def get_name(self):
        return self.name


class FakeResult(object):
    def __init__(self, host, task, result):
        self.host = FakeHost(host) if isinstance(host, str) else host
        self.task = task
        self.result = result


class FakePlaybook(object):
    def __init__(self, name):
        self._file_name = name


class FakePlay(object):
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeStats(object):
    def __init__(self, hosts, failed=()):
        self.processed = {h: 1 for h in hosts}
        self.ok = {h: 1 for h in hosts}
        self.changed = {h: 1 for h in hosts}
        self.failures = {h: 1 for h in failed}
        self.dark = {}
        self.skipped = {}
        self.rescued = {}
        self.ignored = {}


class FakeDisplay(object):
    def __init__(self):
        self.lines = []
        self.warnings = []
        self.verbosity = 0

    def display(self, msg, *args, **kwargs):
        self.lines.append(msg)

    def warning(self, msg, *args, **kwargs):
        self.warnings.append(msg)

    def deprecated(self, *args, **kwargs):
        pass

    def vvv(self, msg, *args, **kwargs):
        pass

    def v(self, msg, *args, **kwargs):
        pass


def make_callback(root, run_id="run-1", hmac_key_env="NHI_EVIDENCE_HMAC_KEY", timeline_limit=0):
    """A callback object with its options set the way set_options() would."""
    from ansible_collections.nhi.lifecycle.plugins.callback.evidence import CallbackModule

    display = FakeDisplay()
    cb = CallbackModule(display=display)
    cb._plugin_options = {"evidence_root": str(root), "run_id": run_id, "hmac_key_env": hmac_key_env,
                          "timeline_limit": timeline_limit}
    return cb, display


def drive_batches(cb, step_batches, playbook="rotate.yml", play="Rotate NHI credentials", host="nhi-00000"):
    """Deliver each step batch as one run_once task result, then the stats."""
    cb.v2_playbook_on_start(FakePlaybook("/work/playbooks/" + playbook))
    cb.v2_playbook_on_play_start(FakePlay(play))
    hosts = set()
    for entries in step_batches:
        task = FakeTask("nhi.lifecycle %s" % (entries[0]["step"] if entries else "?"))
        cb.v2_playbook_on_task_start(task, False)
        cb.v2_runner_on_ok(FakeResult(host, task, {"changed": True, "evidence": entries}))
        hosts.update(e["identity"] for e in entries)
    cb.v2_playbook_on_stats(FakeStats(sorted(hosts)))


HOSTILE = '<script>alert("x")</script> | `tick` *star* _under_ [link](javascript:alert(1))'


def rich_run(cb, hostile=True):
    """A run with every event, a failure, drift, exceptions and a hostile string, through the callback."""
    rng = random.Random(11)
    cb.v2_playbook_on_start(FakePlaybook("/work/playbooks/lifecycle.yml"))
    cb.v2_playbook_on_play_start(FakePlay("NHI lifecycle"))
    plan = []
    for i in range(4):
        plan.append(workflow("svc-provision-%d" % i, "provision", T0 + datetime.timedelta(seconds=i), rng,
                             age=round(rng.uniform(0, 3), 1)))
    for i in range(8):
        fail = "prove_old_rejected" if i == 5 else None
        waived = "EXC-7" if i == 2 else None
        plan.append(workflow("ci-deployer-%d" % i, "rotate", T0 + datetime.timedelta(seconds=10 + i * 2), rng,
                             fail_step=fail, waived_by=waived, age=[3, 12, 45, 75, 95, 130, 200, 420][i]))
    for i in range(3):
        plan.append(workflow("legacy-app-%d" % i, "offboard", T0 + datetime.timedelta(seconds=40 + i * 3), rng))
    for i in range(3):
        plan.append(workflow("billing-export-%d" % i, "reconcile", T0 + datetime.timedelta(seconds=60 + i), rng,
                             age=[30, 150, 500][i]))
    if hostile:
        plan[0][2]["target"] = HOSTILE
        plan[0][2]["error"] = None
        plan[6][1]["details"]["detail"] = HOSTILE
    # secret-shaped keys that must never reach a record
    plan[1][2]["details"]["secret_access_key"] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    plan[1][2]["details"]["secret_id_accessor"] = "acc-1234"
    # one run_once batch task per step position, like the roles do
    positions = max(len(p) for p in plan)
    for k in range(positions):
        task = FakeTask("nhi.lifecycle step %d" % (k + 1), args={"event": "rotate"})
        cb.v2_playbook_on_task_start(task, False)
        entries = [p[k] for p in plan if len(p) > k]
        result = {"changed": True, "evidence": entries}
        if k == 0:
            result["nhi_exceptions_report"] = {
                "open": [{"id": "EXC-7", "identity": "ci-deployer-2", "rule": "nhi.max_age_limit",
                          "owner": "team-platform", "reason": "vendor cannot rotate before the freeze ends",
                          "expires": "2026-12-31T00:00:00Z"}],
                "expired": [{"id": "EXC-3", "identity": "legacy-app-1", "rule": "nhi.prod_approval",
                             "owner": "team-data", "reason": "migration window", "expires": "2026-10-01T00:00:00Z"}],
            }
            result["nhi_drift"] = [{"identity": "shadow-user-1", "drift_class": "identity_unmanaged",
                                    "detail": "IAM user /nhi/shadow-user-1 is not in the catalog"}]
        cb.v2_runner_on_ok(FakeResult("svc-provision-0", task, result))
    # a per-item loop task, and a failed task of the collection without evidence
    task = FakeTask("nhi.lifecycle verify stores")
    cb.v2_playbook_on_task_start(task, False)
    for i in range(2):
        item = {"changed": False, "_ansible_item_label": "item-%d" % i, "evidence": [{
            "identity": "ci-deployer-%d" % i, "event": "rotate", "step": "read", "system": "vault",
            "action": "kv2:read_metadata", "target": "secret/nhi/ci-deployer-%d" % i, "authority": "nhi.lifecycle",
            "decision": None, "outcome": "unchanged", "verified": None, "error": None,
            "started": iso(T0 + datetime.timedelta(seconds=90 + i)),
            "ended": iso(T0 + datetime.timedelta(seconds=90 + i, milliseconds=80)),
            "details": {"kv_version": 3 + i}}]}
        cb.v2_runner_item_on_ok(FakeResult("svc-provision-0", task, item))
    cb.v2_runner_on_ok(FakeResult("svc-provision-0", task, {"changed": False, "results": [{}, {}]}))
    task = FakeTask("nhi.lifecycle scim service user", action="nhi.lifecycle.scim_service_user")
    cb.v2_playbook_on_task_start(task, False)
    cb.v2_runner_on_failed(FakeResult("scim-bot", task, {"failed": True, "msg": "SCIM server answered 503"}))
    hosts = sorted({e["identity"] for p in plan for e in p} | {"scim-bot"})
    cb.v2_playbook_on_stats(FakeStats(hosts, failed=["scim-bot"]))
    return plan

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: evidence
type: aggregate
short_description: Tamper-evident evidence of every lifecycle step, and the auditor's report
version_added: 0.1.0
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
description:
  - Gathers the C(evidence) entries that the nhi.lifecycle modules return, from per-host and per-item
    (loop) results alike, and writes them as one hash-chained record per identity per step to
    C(<evidence_root>/<run_id>/evidence.jsonl), flushed after every task.
  - Each record carries the SHA-256 hash of the one before it, and an HMAC-SHA256 when a key is
    configured. At the end of the run a seal record holds the count of records and the chain head,
    and the callback writes C(summary.json), C(report.html) (one self-contained page for auditors)
    and C(report.md) (the same content for pull-request comments), then prints where they are.
  - At playbook start it creates the run directory and exports E(NHI_EVIDENCE_DIR) and E(NHI_RUN_ID)
    into the controller's environment. If the directory cannot be created or written it exports
    E(NHI_EVIDENCE_ERROR) with the reason instead, and the C(nhi.lifecycle.plan) action fails closed,
    so that no lifecycle action changes any system without evidence.
  - Keys whose name looks secret (C(secret), C(password), C(token), C(private_key), ...) are dropped
    from entries before they are written, and values that Ansible masked because of C(no_log) are
    redacted. Of a result with C(no_log), only its C(evidence) key is read.
  - A task of the nhi.lifecycle collection that fails without returning evidence still gets a
    C(failed) record with its error message.
  - Verify a run with C(nhi-evidence verify DIR) or the M(nhi.lifecycle.evidence_verify) action.
requirements:
  - enable this callback with C(callbacks_enabled = nhi.lifecycle.evidence) in C(ansible.cfg) or
    E(ANSIBLE_CALLBACKS_ENABLED)
options:
  evidence_root:
    description:
      - The directory under which each run gets its own directory, named by the run id.
      - A relative path in C(ansible.cfg) is relative to that file; otherwise to the current directory.
    type: path
    default: ./evidence
    env:
      - name: NHI_EVIDENCE_ROOT
    ini:
      - section: nhi_evidence
        key: root
  run_id:
    description:
      - The id of this run, and the name of its directory under O(evidence_root).
      - When not set, the AWX/AAP job id (E(JOB_ID)) is used, and outside AWX the UTC time with a short
        random suffix, for example C(20261123T192703Z-3fa9c1).
      - Characters other than letters, digits, C(.), C(_) and C(-) are replaced by C(_).
      - Evidence is never appended to an existing run; a run id whose directory already holds
        C(evidence.jsonl) makes the callback fail closed.
    type: str
    env:
      - name: NHI_RUN_ID
  hmac_key_env:
    description:
      - The name of the environment variable that holds the HMAC key.
      - When that variable is set and not empty, every record also carries an HMAC-SHA256 over its
        canonical JSON, so that nobody without the key can rebuild the chain.
      - The key itself is never written anywhere.
    type: str
    default: NHI_EVIDENCE_HMAC_KEY
    env:
      - name: NHI_EVIDENCE_HMAC_KEY_ENV
    ini:
      - section: nhi_evidence
        key: hmac_key_env
  timeline_limit:
    description:
      - The most identities whose timeline C(report.html) and C(report.md) show. Identities with a
        failed step are always shown. V(0) shows all.
      - The default keeps the report of a 10,000-identity run at about 6 MB of HTML instead of 56 MB,
        which a browser opens. C(evidence.jsonl) and C(summary.json) always hold everything, and
        C(nhi-evidence report DIR --timeline-limit 0) rebuilds both reports with every identity.
    type: int
    default: 1000
    env:
      - name: NHI_EVIDENCE_TIMELINE_LIMIT
    ini:
      - section: nhi_evidence
        key: timeline_limit
notes:
  - A callback that raises only makes Ansible print a warning, so this callback never raises. Any
    failure to write evidence sets E(NHI_EVIDENCE_ERROR), which the C(plan) action of every later
    task turns into a failure before a change.
  - ansible-core hides the whole result of a task with C(no_log=true) from every callback, evidence
    included. Such a task of this collection gets a record that says its evidence was hidden, and the
    run's summary counts it under C(censored_results). Protect secret parameters with the modules'
    own C(no_log) options instead of C(no_log) on the task.
seealso:
  - module: nhi.lifecycle.evidence_verify
"""

import datetime
import math
import os
import re
import secrets
import time

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain
from ansible_collections.nhi.lifecycle.plugins.plugin_utils._controls import ControlMapper

ENTRY_KEYS = ("identity", "event", "step", "system", "action", "target", "authority", "decision",
              "outcome", "verified", "error", "started", "ended", "details")
_ENTRY_KEY_SET = frozenset(ENTRY_KEYS)
EVENTS = ("provision", "rotate", "offboard", "reconcile", "adhoc")
NO_LOG_MARKER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
REDACTED = "[redacted: no_log]"
COLLECTION_PREFIX = "nhi.lifecycle."

_SECRET_NAME = re.compile(
    r"secret|passw|passphrase|token|private_?key|privatekey|api_?key|bearer|session_?key|"
    r"credential_?value|signing_?key|hmac_?key|cookie|authorization",
    re.IGNORECASE)
_NOT_SECRET = frozenset((
    "secret_id_accessor", "token_accessor", "accessor", "private_key_id", "token_ttl", "token_max_ttl",
    "token_policies", "token_type", "token_period", "token_num_uses", "token_bound_cidrs",
    "token_explicit_max_ttl", "token_no_default_policy", "secret_id_ttl", "secret_id_num_uses",
    "secret_id_bound_cidrs", "password_last_used", "password_last_changed", "password_enabled",
    "secret_path", "secret_mount", "secret_name", "secret_version", "token_uri", "token_endpoint",
    "private_key_type", "secret_id_accessors",
))
_NOT_SECRET_SUFFIXES = ("_accessor", "_accessors", "_ttl", "_policies", "_bound_cidrs", "_num_uses",
                        "_age_days", "_last_used", "_last_used_date", "_version", "_path", "_mount", "_name",
                        "_count", "_arn", "_expires_at", "_created_at", "_uri", "_endpoint", "_enabled")
_RUN_ID_BAD = re.compile(r"[^A-Za-z0-9._-]")


def secret_name(name, _cache={}):  # pylint: disable=dangerous-default-value
    """True when a key's name looks like it holds secret material."""
    found = _cache.get(name)
    if found is None:
        low = str(name).lower()
        found = bool(_SECRET_NAME.search(low)) and low not in _NOT_SECRET and not low.endswith(_NOT_SECRET_SUFFIXES)
        if len(_cache) < 4096:
            _cache[name] = found
    return found


def clean(value):
    """A JSON-safe copy of ``value`` without secret-named keys and with no_log masks redacted."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key.__class__ is not str:
                key = str(key)
            if secret_name(key):
                continue
            kind = item.__class__
            if kind is str:
                out[key] = REDACTED if NO_LOG_MARKER in item else item
            elif item is None or kind is bool or kind is int:
                out[key] = item
            else:
                out[key] = clean(item)
        return out
    if isinstance(value, str):
        return REDACTED if NO_LOG_MARKER in value else value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple, set, frozenset)):
        return [clean(item) for item in value]
    return clean(str(value))


def _now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def _one_line(text, limit=2000):
    return " ".join(str(text).split())[:limit]


def _result_parts(result):
    """(host name, task, result dict) of a TaskResult from any supported ansible-core."""
    host = getattr(result, "host", None) or getattr(result, "_host", None)
    task = getattr(result, "task", None) or getattr(result, "_task", None)
    data = getattr(result, "result", None)
    if not isinstance(data, dict):
        data = getattr(result, "_result", None)
    if not isinstance(data, dict):
        data = {}
    if host is None:
        name = None
    elif hasattr(host, "get_name"):
        name = host.get_name()
    else:
        name = getattr(host, "name", None) or str(host)
    return name, task, data


def _entries_of(data):
    found = data.get("evidence")
    if isinstance(found, dict):
        return [found]
    if isinstance(found, list):
        return found
    return []


def _no_log(data):
    return bool(data.get("_ansible_no_log")) or "censored" in data


class CallbackModule(CallbackBase):
    """Write the hash-chained evidence of a run, seal it and report it."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "nhi.lifecycle.evidence"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super(CallbackModule, self).__init__(display=display)
        self.writer = None
        self.collector = None
        self.run_id = None
        self.directory = None
        self.error = None
        self.started = False
        self.playbook = None
        self.play = None
        self.task_started = {}
        self._items_seen = set()
        self._mapper = ControlMapper()
        self.sealed = None
        self.verification = None
        self.paths = None
        self.malformed = 0

    # -- options and start ----------------------------------------------------
    def _option(self, name, default=None):
        try:
            value = self.get_option(name)
        except KeyError:
            value = None
        return default if value is None else value

    def _resolve_run_id(self):
        run_id = self._option("run_id") or os.environ.get("NHI_RUN_ID") or os.environ.get("JOB_ID")
        if not run_id:
            run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
        run_id = _RUN_ID_BAD.sub("_", str(run_id).strip())[:128]
        if run_id in ("", ".", ".."):
            raise ValueError("the run id %r cannot name a directory" % run_id)
        return run_id

    def _fail_closed(self, reason):
        self.error = _one_line(reason, 500)
        os.environ["NHI_EVIDENCE_ERROR"] = self.error
        os.environ.pop("NHI_EVIDENCE_DIR", None)
        self._display.warning("nhi.lifecycle.evidence: evidence cannot be written, lifecycle actions will "
                              "refuse to change anything: %s" % self.error)

    def _start(self):
        if self.started:
            return
        self.started = True
        try:
            from ansible_collections.nhi.lifecycle.plugins.plugin_utils._report import Collector
        except Exception as exc:  # jinja2 ships with ansible-core; this guards against a broken install
            self._fail_closed("the report code cannot be loaded: %s" % exc)
            return
        self.collector = Collector()
        try:
            self.run_id = self._resolve_run_id()
            os.environ["NHI_RUN_ID"] = self.run_id
            root = self._option("evidence_root", "./evidence")
            root = os.path.abspath(os.path.expanduser(str(root)))
            self.directory = os.path.join(root, self.run_id)
            os.makedirs(self.directory, exist_ok=True)
            key_env = self._option("hmac_key_env", "NHI_EVIDENCE_HMAC_KEY")
            key = os.environ.get(key_env) if key_env else None
            path = os.path.join(self.directory, chain.EVIDENCE_FILE)
            try:
                self.writer = chain.ChainWriter(path, key=key)
            except FileExistsError:
                raise OSError("%s already exists: evidence is never appended to another run; "
                              "set a new NHI_RUN_ID" % path)
        except Exception as exc:
            where = self.directory or self._option("evidence_root", "./evidence")
            self._fail_closed("cannot create or write the evidence directory %s: %s" % (where, _exc_text(exc)))
            self.writer = None
            return
        os.environ["NHI_EVIDENCE_DIR"] = self.directory
        os.environ.pop("NHI_EVIDENCE_ERROR", None)
        self.error = None

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        if self.playbook is None and name:
            self.playbook = os.path.basename(str(name))
        self._start()

    def v2_playbook_on_play_start(self, play):
        self._start()
        try:
            self.play = play.get_name()
        except Exception:
            self.play = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.task_started[getattr(task, "_uuid", None)] = _now_iso()

    def v2_playbook_on_handler_task_start(self, task):
        self.task_started[getattr(task, "_uuid", None)] = _now_iso()

    # -- results --------------------------------------------------------------
    def v2_runner_on_ok(self, result):
        self._handle(result, failed=False, item=False)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._handle(result, failed=True, item=False)

    def v2_runner_on_unreachable(self, result):
        self._handle(result, failed=True, item=False)

    def v2_runner_item_on_ok(self, result):
        self._handle(result, failed=False, item=True)

    def v2_runner_item_on_failed(self, result):
        self._handle(result, failed=True, item=True)

    def _handle(self, result, failed, item):
        self._start()
        if self.writer is None:
            return
        try:
            host, task, data = _result_parts(result)
            self._collect(host, task, data, failed, item)
            self.writer.flush()
        except Exception as exc:
            self._fail_closed("writing evidence failed: %s" % _exc_text(exc))
            self._drop_writer()

    def _drop_writer(self):
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:
                pass
        self.writer = None

    def _collect(self, host, task, data, failed, item):
        uuid = getattr(task, "_uuid", None)
        action = getattr(task, "resolved_action", None) or getattr(task, "action", None) or ""
        ours = str(action).startswith(COLLECTION_PREFIX)
        ctx = {
            "host": host,
            "task": task.get_name() if task is not None and hasattr(task, "get_name") else None,
            "task_uuid": uuid,
            "action": action,
            "check_mode": self._check_mode(task),
            "started": self.task_started.get(uuid),
        }
        seen_key = (uuid, host)
        hidden = _no_log(data)
        recorded = 0
        for entry in _entries_of(data):
            recorded += self._record(entry, ctx, task)
        if item:
            self._items_seen.add(seen_key)
        loop_results = data.get("results") if isinstance(data.get("results"), list) else None
        if loop_results is not None and seen_key not in self._items_seen:
            for sub in loop_results:
                if isinstance(sub, dict):
                    for entry in _entries_of(sub):
                        recorded += self._record(entry, ctx, task)
                    if not _no_log(sub):
                        self._extras(sub)
        if not hidden:
            self._extras(data)
        if recorded or not ours:
            return
        if failed:
            if loop_results is not None and seen_key in self._items_seen:
                return  # the items already told what failed
            msg = "the output was hidden by no_log" if hidden else _one_line(
                data.get("msg") or data.get("reason") or data.get("exception") or "the task failed")
            self._synthetic(ctx, task, data, "failed", msg)
        elif hidden and loop_results is None:
            self._synthetic(ctx, task, data, "changed" if data.get("changed") else "unchanged",
                            "evidence hidden: the task has no_log=true, so ansible-core withheld its result "
                            "(evidence included) from every callback", censored=True)

    def _synthetic(self, ctx, task, data, outcome, error, censored=False):
        args = getattr(task, "args", None) or {}
        details = {"censored": True} if censored else {}
        label = data.get("_ansible_item_label") if not _no_log(data) else None
        if label is not None:
            details["item"] = _one_line(label, 200)
        entry = {
            "identity": ctx["host"], "event": self._event_of(args), "step": "task",
            "system": "nhi.lifecycle", "action": ctx["action"], "target": None, "authority": None,
            "decision": None, "outcome": outcome, "verified": None, "error": error,
            "started": ctx["started"] or _now_iso(), "ended": _now_iso(), "details": details,
        }
        self._record(entry, ctx, task)

    def _event_of(self, args):
        event = args.get("event") if isinstance(args, dict) else None
        if isinstance(event, str) and event in EVENTS:
            return event
        for name in (self.play or "", self.playbook or ""):
            low = name.lower()
            for candidate in EVENTS[:4]:
                if candidate in low:
                    return candidate
        return "adhoc"

    def _check_mode(self, task):
        value = getattr(task, "check_mode", None)
        if isinstance(value, bool):
            return value
        try:
            return bool(context.CLIARGS.get("check", False))
        except Exception:
            return False

    def _record(self, entry, ctx, task):
        if not isinstance(entry, dict):
            self.malformed += 1
            self._display.warning("nhi.lifecycle.evidence: ignored an evidence entry that is not a dict "
                                  "(task %s, host %s)" % (ctx["task"], ctx["host"]))
            return 0
        record = clean(entry)
        missing = _ENTRY_KEY_SET.difference(record)
        for key in missing:
            record[key] = None
        if not record["identity"]:
            record["identity"] = ctx["host"]
        if record["event"] not in EVENTS:
            record["event"] = self._event_of(getattr(task, "args", None) or {})
        if not record["step"]:
            record["step"] = "task"
        if not record["outcome"]:
            record["outcome"] = "failed" if record.get("error") else "changed"
        if not isinstance(record["details"], dict):
            record["details"] = {} if record["details"] is None else {"value": record["details"]}
        if not record["started"]:
            record["started"] = ctx["started"] or _now_iso()
        if not record["ended"]:
            record["ended"] = _now_iso()
        drift = record["details"].get("drift_class") if record["step"] == "drift" else None
        record.update({
            "type": chain.STEP,
            "run_id": self.run_id,
            "playbook": self.playbook,
            "play": self.play,
            "task": ctx["task"],
            "task_uuid": ctx["task_uuid"],
            "host": ctx["host"],
            "check_mode": ctx["check_mode"],
            "controls": self._mapper(record["event"], record["step"], drift, record["outcome"]),
        })
        stored = self.writer.append(record)
        self.collector.add(stored)
        return 1

    def _extras(self, data):
        report = data.get("nhi_exceptions_report")
        if isinstance(report, dict):
            self.collector.add_exceptions(clean(report))
        drift = data.get("nhi_drift")
        if isinstance(drift, list):
            self.collector.add_drift(clean(drift))

    # -- the end --------------------------------------------------------------
    def v2_playbook_on_stats(self, stats):
        self._start()
        if self.writer is None:
            self._display.warning("nhi.lifecycle.evidence: no evidence was written for this run: %s"
                                  % (self.error or "the evidence directory could not be prepared"))
            return
        try:
            totals, hosts = self._stats(stats)
            extras = self.collector.extras()
            extras["stats"] = totals
            self.sealed = self.writer.seal(self.run_id, hosts=hosts, playbook=self.playbook, extras=extras,
                                           malformed_entries=self.malformed)
        except Exception as exc:
            self._fail_closed("sealing the evidence failed: %s" % _exc_text(exc))
            self._drop_writer()
            return
        writer = self.writer
        self.writer = None
        try:
            intact = writer.read_back()
            self.verification = {
                "ok": intact, "label": "sealed and read back intact", "first_bad_seq": None,
                "hmac_checked": False, "warnings": [],
                "reason": None if intact else "the file on disk differs from the chain that was written",
                "method": "read back after sealing: byte for byte the chain as written; "
                          "nhi-evidence verify checks it independently",
            }
            if not intact:
                self._display.warning("nhi.lifecycle.evidence: %s changed while it was written; run "
                                      "nhi-evidence verify on it" % writer.path)
            from ansible_collections.nhi.lifecycle.plugins.plugin_utils._report import write_reports
            chain_info = {
                "file": chain.EVIDENCE_FILE, "count": writer.count, "head": self.sealed["head"],
                "keyed": writer.key is not None, "sealed": True,
                "first_ts": self.sealed["first_ts"], "last_ts": self.sealed["last_ts"], "merged_slices": None,
            }
            summary = self.collector.summary(run_id=self.run_id, chain=chain_info, verification=self.verification,
                                             stats=totals, playbook=self.playbook)
            limit = self._option("timeline_limit", 1000)
            self.paths = write_reports(self.directory, summary, self.collector, limit or None)
        except Exception as exc:
            self._display.warning("nhi.lifecycle.evidence: the evidence is sealed in %s but the report could not "
                                  "be written: %s" % (self.directory, _exc_text(exc)))
            return
        self._display.display("nhi.lifecycle evidence: %d records, chain head %s%s" % (
            writer.count, self.sealed["head"], " (HMAC-SHA256)" if writer.key is not None else ""))
        self._display.display("nhi.lifecycle evidence report: %s" % self.paths["html"])

    @staticmethod
    def _stats(stats):
        totals = {}
        hosts = sorted(getattr(stats, "processed", {}) or {})
        for attr, label in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"), ("dark", "unreachable"),
                            ("skipped", "skipped"), ("rescued", "rescued"), ("ignored", "ignored")):
            table = getattr(stats, attr, None)
            if isinstance(table, dict):
                totals[label] = sum(v for v in table.values() if isinstance(v, int))
        return totals, hosts


def _exc_text(exc):
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    filename = getattr(exc, "filename", None)
    if filename and str(filename) not in text:
        text = "%s: %s" % (text, filename)
    return _one_line(text, 300)

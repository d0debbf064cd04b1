# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Run one piece of work for many identities in one module run.

Ansible spends 0.2 to 0.4 s of CPU per module run per host, so the lifecycle
modules take a list of targets and work through it here: a bounded thread
pool, a request budget per provider and account, per-target isolation (one
failing or slow target never hides or stalls the others) and progress that a
person can follow on a terminal.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

DEFAULT_WORKERS = 8
MAX_WORKERS = 64


class RequestBudget(object):
    """A token bucket with additive-increase, multiplicative-decrease.

    ``rate`` is the starting number of requests per second (None: no limit
    until the provider pushes back). ``throttled()`` halves the rate,
    ``ok()`` creeps it back up towards ``max_rate``. One budget is kept per
    provider and account or project, and every worker of that provider draws
    from it, so the whole batch backs off together instead of each thread
    hammering a throttled API on its own.
    """

    def __init__(self, name, rate=None, max_rate=None, min_rate=0.5, burst=None):
        self.name = name
        self.max_rate = max_rate or rate
        self.rate = rate
        self.min_rate = min_rate
        self.burst = burst or (max(1.0, rate) if rate else None)
        self._tokens = self.burst or 0.0
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self.throttle_events = 0
        self.requests = 0

    def acquire(self):
        while True:
            with self._lock:
                self.requests += 1
                if not self.rate:
                    return 0.0
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return 0.0
                wait = (1.0 - self._tokens) / self.rate
                self.requests -= 1
            time.sleep(min(wait, 1.0))

    def throttled(self):
        with self._lock:
            self.throttle_events += 1
            base = self.rate or 20.0
            self.rate = max(self.min_rate, base / 2.0)
            if self.burst is None or self.burst > max(1.0, self.rate):
                self.burst = max(1.0, self.rate)
            self._tokens = min(self._tokens, self.burst)

    def ok(self):
        with self._lock:
            if self.rate and self.max_rate and self.rate < self.max_rate:
                self.rate = min(self.max_rate, self.rate + 0.1)
            elif self.rate and not self.max_rate and self.throttle_events:
                self.rate = self.rate + 0.1

    def stats(self):
        return {"name": self.name, "requests": self.requests, "throttled": self.throttle_events,
                "rate": self.rate}


_BUDGETS = {}
_BUDGETS_LOCK = threading.Lock()


def budget(name, rate=None, max_rate=None):
    """Return the process-wide budget called ``name`` (created on first use)."""
    with _BUDGETS_LOCK:
        found = _BUDGETS.get(name)
        if found is None:
            found = _BUDGETS[name] = RequestBudget(name, rate=rate, max_rate=max_rate)
        return found


class Progress(object):
    """Done / failed / rate on the controlling terminal, and nowhere else.

    Module stdout is Ansible's protocol channel, so progress goes to
    ``/dev/tty`` and only when a person is watching: not in CI, not when
    ``NHI_PROGRESS=0``, not when there is no terminal (AWX, cron, pipes).
    """

    def __init__(self, total, label, min_total=50, interval=1.0):
        self.total = total
        self.label = label
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._interval = interval
        self._last = 0.0
        self._lock = threading.Lock()
        self._tty = None
        if total >= min_total and self.enabled():
            try:
                self._tty = open("/dev/tty", "w")
            except OSError:
                self._tty = None

    @staticmethod
    def enabled():
        setting = os.environ.get("NHI_PROGRESS", "auto").lower()
        if setting in ("0", "false", "no", "off"):
            return False
        if setting in ("1", "true", "yes", "on", "always"):
            return True
        return not os.environ.get("CI") and os.path.exists("/dev/tty")

    def tick(self, failed=False):
        with self._lock:
            self.done += 1
            if failed:
                self.failed += 1
            now = time.monotonic()
            if self._tty and (now - self._last >= self._interval or self.done == self.total):
                self._last = now
                self._write(now)

    def _write(self, now):
        elapsed = max(now - self.started, 1e-6)
        line = "\r[nhi.lifecycle] %s: %d/%d done, %d failed, %.1f/s" % (
            self.label, self.done, self.total, self.failed, self.done / elapsed)
        try:
            self._tty.write(line + ("\n" if self.done == self.total else ""))
            self._tty.flush()
        except OSError:
            self._tty = None

    def close(self):
        if self._tty:
            try:
                self._tty.close()
            except OSError:
                pass
            self._tty = None


def _run_one(fn, target):
    try:
        result = fn(target)
        if result is None:
            result = {}
        result.setdefault("failed", False)
        return result
    except NHIError as exc:
        return {"failed": True, "msg": str(exc), "error": exc.message, "where": exc.where, "hint": exc.hint}
    except Exception as exc:  # pylint: disable=broad-except
        # One target's unexpected error must never hide the other targets'
        # results: report it against this target only.
        return {"failed": True, "msg": "unexpected %s: %s" % (type(exc).__name__, exc)}


def run_batch(targets, fn, workers=DEFAULT_WORKERS, label="batch", key="identity"):
    """Apply ``fn`` to every target on a bounded pool; return results in order.

    Each result is a dict and carries ``failed``; an exception raised for one
    target becomes that target's failed result.
    """
    total = len(targets)
    results = [None] * total
    if total == 0:
        return results
    workers = max(1, min(int(workers or DEFAULT_WORKERS), MAX_WORKERS, total))
    progress = Progress(total, label)
    try:
        if workers == 1:
            for index, target in enumerate(targets):
                results[index] = _run_one(fn, target)
                progress.tick(results[index]["failed"])
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nhi") as pool:
                futures = {pool.submit(_run_one, fn, target): index for index, target in enumerate(targets)}
                for future in as_completed(futures):
                    index = futures[future]
                    results[index] = future.result()
                    progress.tick(results[index]["failed"])
    finally:
        progress.close()
    for index, target in enumerate(targets):
        if isinstance(target, dict) and key in target:
            results[index].setdefault(key, target[key])
    return results


# --- secret guard -----------------------------------------------------------

_TOKEN_RE = re.compile(r"[A-Za-z0-9+/=._:-]{12,}")
_PART_RE = re.compile(r"[A-Za-z0-9+/_-]{12,}")


class SecretGuard(object):
    """Remember minted secrets and prove none of them reaches a result.

    Ansible's own ``no_log_values`` scrubbing costs O(strings x secrets), which
    does not scale to a batch of thousands. The guard keeps the secrets in a
    set and checks the tokens of the serialised result against it, which is
    linear; small batches also get the exact substring check. The first
    ``NO_LOG_CAP`` secrets also go to ``no_log_values``, so that a
    single-target run gets Ansible's own masking as well.
    """

    SMALL = 200
    # Ansible's remove_values() costs O(strings x no_log values): measured,
    # 200 secrets in a 200-target result add ~3 s to a module run. Beyond
    # this many, the guard's own linear check carries the protection.
    NO_LOG_CAP = 20

    def __init__(self, module=None):
        self._secrets = set()
        self._count = 0
        self._lock = threading.Lock()
        self._module = module

    def add(self, value):
        if not value or not isinstance(value, str):
            return
        with self._lock:
            if value in self._secrets:
                return
            self._count += 1
            self._secrets.add(value)
            for line in value.splitlines():
                line = line.strip()
                if len(line) >= 24 and not line.startswith("-----"):
                    self._secrets.add(line)
            if self._module is not None and self._count <= self.NO_LOG_CAP:
                self._module.no_log_values.add(value)

    def __len__(self):
        return self._count

    def leaks(self, blob):
        """Return how many remembered secrets occur in the text ``blob``."""
        if not self._secrets:
            return 0
        if self._count <= self.SMALL:
            return sum(1 for secret in self._secrets if secret in blob)
        # Two C-level passes: whole tokens, then their parts split at = : .
        # Secrets shorter than 12 characters are not minted by any issuer.
        tokens = set(_TOKEN_RE.findall(blob))
        tokens.update(_PART_RE.findall(blob))
        return len(tokens & self._secrets)

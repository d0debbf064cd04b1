# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import threading
import time

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _batch
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError


def test_results_come_back_in_order_with_identity():
    targets = [{"identity": "id-%d" % i, "n": i} for i in range(50)]
    results = _batch.run_batch(targets, lambda t: {"square": t["n"] ** 2}, workers=8)
    assert [r["square"] for r in results] == [i * i for i in range(50)]
    assert [r["identity"] for r in results] == ["id-%d" % i for i in range(50)]
    assert not any(r["failed"] for r in results)


def test_one_failing_target_never_hides_the_others():
    def fn(t):
        if t["n"] == 3:
            raise NHIError("boom", where="target 3", hint="fix it")
        if t["n"] == 4:
            raise ValueError("unexpected")
        return {"ok": True}

    results = _batch.run_batch([{"identity": str(i), "n": i} for i in range(6)], fn, workers=3)
    assert [r["failed"] for r in results] == [False, False, False, True, True, False]
    assert "boom" in results[3]["msg"] and "target 3" in results[3]["msg"] and "fix it" in results[3]["msg"]
    assert results[4]["msg"].startswith("unexpected ValueError")


def test_pool_is_bounded():
    active, peak, lock = [0], [0], threading.Lock()

    def fn(_t):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        with lock:
            active[0] -= 1
        return {}

    _batch.run_batch([{"identity": str(i)} for i in range(40)], fn, workers=4)
    assert 1 < peak[0] <= 4


def test_a_slow_target_does_not_stall_the_rest():
    done = []

    def fn(t):
        if t["identity"] == "slow":
            time.sleep(0.5)
        done.append(t["identity"])
        return {}

    targets = [{"identity": "slow"}] + [{"identity": str(i)} for i in range(20)]
    _batch.run_batch(targets, fn, workers=4)
    assert done[-1] == "slow"


def test_budget_limits_rate_and_backs_off():
    bucket = _batch.RequestBudget("test", rate=50, max_rate=50)
    start = time.monotonic()
    for _request in range(60):
        bucket.acquire()
    elapsed = time.monotonic() - start
    assert elapsed >= 0.15  # 60 requests at 50/s with a burst of 50
    bucket.throttled()
    assert bucket.rate == 25 and bucket.throttle_events == 1
    for _success in range(5):
        bucket.ok()
    assert 25 < bucket.rate <= 50


def test_shared_budget_by_name():
    assert _batch.budget("gcp:p1", rate=10) is _batch.budget("gcp:p1")
    assert _batch.budget("gcp:p1") is not _batch.budget("gcp:p2", rate=10)


def test_progress_is_quiet_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("NHI_PROGRESS", raising=False)
    assert _batch.Progress.enabled() is False
    monkeypatch.setenv("NHI_PROGRESS", "0")
    monkeypatch.delenv("CI")
    assert _batch.Progress.enabled() is False


class FakeModule(object):
    def __init__(self):
        self.no_log_values = set()


def test_secret_guard_small_and_large():
    module = FakeModule()
    guard = _batch.SecretGuard(module)
    guard.add("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert guard.leaks('{"ok": "nothing here"}') == 0
    assert guard.leaks('{"x": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}') == 1
    assert "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" in module.no_log_values
    big = _batch.SecretGuard(module)
    secrets = ["s3cr3t-%032d" % i for i in range(300)]
    for s in secrets:
        big.add(s)
    assert len(module.no_log_values) <= _batch.SecretGuard.NO_LOG_CAP + 1
    assert big.leaks('{"a": "clean", "b": "AKIA0000"}') == 0
    assert big.leaks('{"a": "prefix %s suffix"}' % secrets[250]) == 1
    assert big.leaks('{"a": "k=%s"}' % secrets[7]) == 1


def test_secret_guard_catches_pem_lines():
    guard = _batch.SecretGuard()
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n"
    guard.add(pem)
    assert guard.leaks("leaked MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7 here") == 1


@pytest.mark.parametrize("workers", [1, 64, 1000])
def test_worker_counts_are_clamped(workers):
    results = _batch.run_batch([{"identity": "a"}, {"identity": "b"}], lambda t: {"v": 1}, workers=workers)
    assert [r["v"] for r in results] == [1, 1]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The lease lock against an in-memory KV v2 that enforces check-and-set like Vault."""

from __future__ import annotations

import datetime
import os

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _lock
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, iso, utcnow


class KV(object):
    """Just the calls LeaseLock makes, with Vault's cas semantics (0 = only if absent)."""

    def __init__(self):
        self.data = {}   # path -> (version, data or None)
        self.calls = []
        self.forbid_metadata_delete = False

    def kv_read(self, mount, path, version=None):
        self.calls.append("read")
        entry = self.data.get((mount, path))
        if entry is None:
            return None, None
        return (dict(entry[1]) if entry[1] else None), {"version": entry[0]}

    def kv_write(self, mount, path, data, cas=None):
        self.calls.append("write")
        current = self.data.get((mount, path), (0, None))[0]
        if cas is not None and cas != current:
            raise Conflict("check-and-set failed")
        self.data[(mount, path)] = (current + 1, dict(data))
        return current + 1

    def kv_delete_all(self, mount, path):
        self.calls.append("delete")
        if self.forbid_metadata_delete:
            raise NHIError("permission denied", status=403)
        self.data.pop((mount, path), None)

    def kv_delete_latest(self, mount, path):
        self.calls.append("soft-delete")
        if (mount, path) in self.data:
            self.soft_delete(path, mount)

    def soft_delete(self, path, mount="secret"):
        version, _data = self.data[(mount, path)]
        self.data[(mount, path)] = (version, None)


def lock(kv, run_id, **kw):
    return _lock.LeaseLock(kv, run_id=run_id, controller_pid=os.getpid(), **kw)


def test_a_free_lock_is_one_write_and_a_release_one_delete():
    kv = KV()
    mine = lock(kv, "run-1")
    assert mine.acquire("etl") is True
    assert kv.calls == ["write"]
    assert kv.data[("secret", "nhi-locks/etl")][1]["run_id"] == "run-1"
    mine.release("etl")
    assert kv.calls == ["write", "delete"] and kv.data == {}


def test_a_live_lock_of_another_run_is_refused_and_left_alone():
    kv = KV()
    lock(kv, "run-1").acquire("etl")
    other = lock(kv, "run-2")
    with pytest.raises(Conflict, match="being changed by run run-1"):
        other.acquire("etl")
    assert kv.data[("secret", "nhi-locks/etl")][1]["run_id"] == "run-1"
    other.release("etl")  # not its lock: read, and not deleted
    assert ("secret", "nhi-locks/etl") in kv.data


def test_the_same_run_takes_its_own_lock_again_without_writing():
    kv = KV()
    mine = lock(kv, "run-1")
    mine.acquire("etl")
    assert lock(kv, "run-1").acquire("etl") is False
    assert kv.calls == ["write", "write", "read"]


def test_a_stale_lock_is_taken_over_with_cas_on_the_version_read():
    kv = KV()
    stale = {"run_id": "dead-run", "host": "elsewhere", "pid": 1, "expires": iso(utcnow() - datetime.timedelta(1))}
    kv.data[("secret", "nhi-locks/etl")] = (3, stale)
    assert lock(kv, "run-2").acquire("etl") is True
    assert kv.data[("secret", "nhi-locks/etl")][0] == 4
    assert kv.data[("secret", "nhi-locks/etl")][1]["run_id"] == "run-2"


def test_an_old_soft_deleted_lock_is_free():
    kv = KV()
    lock(kv, "run-1").acquire("etl")
    kv.soft_delete("nhi-locks/etl")
    assert lock(kv, "run-2").acquire("etl") is True


def test_a_lock_of_a_dead_process_on_this_host_is_stale():
    kv = KV()
    dead = lock(kv, "run-1")
    dead.pid = 2 ** 22 + 12345  # beyond pid_max: no such process
    dead.acquire("etl")
    assert lock(kv, "run-2").acquire("etl") is True


def test_release_past_the_lease_reads_first_and_keeps_a_takeover():
    kv = KV()
    mine = lock(kv, "run-1")
    mine.acquire("etl")
    expired = iso(utcnow() - datetime.timedelta(seconds=5))
    # Another run took the lock over after this run's lease ran out.
    kv.data[("secret", "nhi-locks/etl")] = (2, {"run_id": "run-2", "host": "h", "pid": 1,
                                                "expires": iso(utcnow() + datetime.timedelta(minutes=30))})
    mine.release("etl", expires=expired)
    assert kv.data[("secret", "nhi-locks/etl")][1]["run_id"] == "run-2"
    assert kv.calls[-1] == "read"


def test_locked_wraps_a_target_and_reports_a_refusal():
    kv = KV()
    lock(kv, "run-1").acquire("busy")
    run = _lock.locked(lock(kv, "run-2"), lambda t: {"identity": t["identity"], "changed": True})
    assert run({"identity": "free"}) == {"identity": "free", "changed": True}
    assert ("secret", "nhi-locks/free") not in kv.data
    refused = run({"identity": "busy"})
    assert refused["failed"] and refused["locked"] and "run-1" in refused["msg"]


def test_without_delete_on_the_lock_metadata_a_release_soft_deletes_and_the_lock_is_free():
    kv = KV()
    kv.forbid_metadata_delete = True
    first = lock(kv, "run-1")
    first.acquire("etl")
    first.release("etl")
    assert kv.calls == ["write", "delete", "soft-delete"]
    assert kv.data[("secret", "nhi-locks/etl")][1] is None
    # Another host (so no pid check): the soft-deleted lock is free, taken with cas on its version.
    second = lock(kv, "run-2")
    second.host = "another-host"
    assert second.acquire("etl") is True
    assert kv.data[("secret", "nhi-locks/etl")][1]["run_id"] == "run-2"

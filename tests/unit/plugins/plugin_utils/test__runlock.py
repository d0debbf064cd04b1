# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The run locks that plan takes and outcome releases, against the check-and-set KV of test__lock.py."""

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _runlock

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils"))
from test__lock import KV  # noqa: E402

IDENTITIES = [{"name": "app-a", "store": {"mount": "secret"}}, {"name": "app-b", "store": {"mount": "kv-team"}},
              {"name": "app-c"}]


@pytest.fixture
def kv(monkeypatch):
    store = KV()
    made = []

    def connect(options, pool_size=8):
        made.append(options)
        return store

    monkeypatch.setattr(_runlock._vault, "VaultConnection", connect)
    monkeypatch.setenv("NHI_CONTROLLER_PID", str(os.getpid()))  # the holder of a lock is this live process
    store.options_seen = made
    return store


def test_each_allowed_identity_is_locked_on_its_own_store_mount(kv):
    held, refused = _runlock.acquire(IDENTITIES, ["app-a", "app-b", "app-c"], run_id="run-1", workers=2)
    assert refused == {}
    assert sorted((h["identity"], h["mount"]) for h in held) == [
        ("app-a", "secret"), ("app-b", "kv-team"), ("app-c", "secret")]
    assert all(h["expires"] for h in held)
    assert sorted(mount for mount, _path in kv.data) == ["kv-team", "secret", "secret"]
    assert kv.calls.count("write") == 3


def test_an_identity_held_by_another_live_run_is_refused_with_the_reason(kv):
    _runlock.acquire(IDENTITIES, ["app-a"], run_id="run-1", workers=1)
    held, refused = _runlock.acquire(IDENTITIES, ["app-a", "app-c"], run_id="run-2", workers=1)
    assert [h["identity"] for h in held] == ["app-c"]
    assert list(refused) == ["app-a"] and "run-1" in refused["app-a"]


def test_release_deletes_what_the_run_took_and_nothing_else(kv):
    _runlock.acquire(IDENTITIES, ["app-b"], run_id="other", workers=1)
    held, _refused = _runlock.acquire(IDENTITIES, ["app-a", "app-c"], run_id="run-1", workers=2)
    _runlock.release(held, run_id="run-1", workers=2)
    # only app-b's lock is left: the other run holds it
    assert [(mount, path.rsplit("/", 1)[-1]) for mount, path in kv.data] == [("kv-team", "app-b")]


def test_release_without_vault_leaves_the_leases_to_expire(monkeypatch):
    def unreachable(options, pool_size=8):
        raise NHIError("cannot connect to Vault")

    monkeypatch.setattr(_runlock._vault, "VaultConnection", unreachable)
    _runlock.release([{"identity": "app-a", "mount": "secret", "expires": None}], run_id="run-1")


def test_the_controller_reads_vault_from_the_environment(kv, monkeypatch):
    monkeypatch.setenv("VAULT_ADDR", "https://vault.example:8200")
    monkeypatch.setenv("VAULT_NAMESPACE", "team")
    _runlock.acquire(IDENTITIES, ["app-a"], run_id="run-1", workers=1)
    options = kv.options_seen[-1]
    assert options["vault_url"] == "https://vault.example:8200" and options["vault_namespace"] == "team"
    assert options["vault_validate_certs"] is None  # VaultConnection then honours VAULT_SKIP_VERIFY


def test_withdraw_takes_locked_identities_out_of_the_plan():
    planned = {"allowed": ["app-a", "app-b"], "targets": {
        "aws_access_key": [{"identity": "app-a"}, {"identity": "app-b"}],
        "vault_approle": [{"identity": "app-a"}]}}
    _runlock.withdraw(planned, {"app-a": "locked by run run-9"})
    assert planned["allowed"] == ["app-b"]
    assert planned["locked"] == ["app-a"] and planned["lock_errors"] == {"app-a": "locked by run run-9"}
    assert planned["targets"] == {"aws_access_key": [{"identity": "app-b"}]}

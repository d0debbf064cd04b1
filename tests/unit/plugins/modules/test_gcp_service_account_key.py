# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""gcp_service_account_key against the in-process GCP stand-in and an in-memory KV v2."""

from __future__ import annotations

import json
import secrets

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("google.auth")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_key as mod  # noqa: E402

from gcp_scim_fakes import AccountEnv, gcp_standin, run_module  # noqa: E402

PROJECT = "unit-project"
STORE = {"mount": "secret", "path": "nhi/unit/key"}


@pytest.fixture(scope="module")
def standin():
    with gcp_standin() as served:
        yield served


@pytest.fixture
def env(standin, monkeypatch):
    e = AccountEnv(standin, monkeypatch, PROJECT)
    e.args = e.args(store=STORE, proof_deadline=2)
    e.keys = lambda: list(e.session.get("%s/v1/%s/keys" % (e.url, e.name),
                                        params={"keyTypes": "USER_MANAGED"}).json().get("keys", []))
    e.key_ids = lambda: sorted(k["name"].rsplit("/", 1)[-1] for k in e.keys())
    return e


def _steps(result):
    return [(e["step"], e["outcome"]) for e in result["evidence"]]


def _private_key(vault):
    return json.loads(vault.latest("secret", STORE["path"])["private_key_json"])["private_key"]


def _assert_no_secret(result, vault):
    blob = json.dumps(result)
    for line in _private_key(vault).splitlines():
        if len(line) > 20 and not line.startswith("-----"):
            assert line not in blob


def test_check_mode_writes_nothing(env, capsys):
    result = run_module(mod, env.args, capsys, check_mode=True)
    assert result["changed"] is True and result["action"] == "minted"
    assert env.keys() == [] and env.vault.secrets == {}
    assert ("mint", "would_change") in _steps(result)


def test_mint_store_prove_then_idempotent(env, capsys):
    result = run_module(mod, env.args, capsys)
    assert result["changed"] and result["action"] == "minted"
    assert env.key_ids() == [result["key_id"]]
    stored = env.vault.latest("secret", STORE["path"])
    assert stored["key_id"] == result["key_id"]
    assert stored["client_email"] == result["account_email"]
    assert env.vault.secrets[("secret", STORE["path"])]["custom"]["key_id"] == result["key_id"]
    assert "private_key_json" not in env.vault.secrets[("secret", STORE["path"])]["custom"]
    steps = [step for step, _outcome in _steps(result)]
    assert steps[:4] == ["read", "mint", "store", "prove_new"]
    proof = [e for e in result["evidence"] if e["step"] == "prove_new"][0]["verified"]
    assert proof["method"] == "oauth2:jwt-bearer" and proof["result"] == "accepted" and proof["ok"]
    _assert_no_secret(result, env.vault)
    again = run_module(mod, env.args, capsys)
    assert again["changed"] is False and again["action"] == "unchanged"
    assert again["key_id"] == result["key_id"]


def test_rotation_proves_old_rejected_and_destroys_old_version(env, capsys):
    first = run_module(mod, env.args, capsys)
    old_info = json.loads(env.vault.latest("secret", STORE["path"])["private_key_json"])
    rotated = run_module(mod, dict(env.args, state="rotated", force=True), capsys, diff=True)
    assert rotated["action"] == "rotated" and rotated["key_id"] != first["key_id"]
    assert env.key_ids() == [rotated["key_id"]]
    steps = [step for step, _outcome in _steps(rotated)]
    assert steps == ["read", "mint", "store", "prove_new", "deactivate_old", "delete_old", "prove_old_rejected",
                     "destroy_stored"]
    old_proof = [e for e in rotated["evidence"] if e["step"] == "prove_old_rejected"][0]["verified"]
    assert old_proof == dict(old_proof, method="oauth2:jwt-bearer", expect="rejected", result="rejected", ok=True)
    assert env.vault.kv_read("secret", STORE["path"], version=1)[0] is None  # destroyed
    assert rotated["diff"]["before"]["stored_key_id"] == first["key_id"]
    # independent check: the old key file no longer gets a token, the new one does
    conn = _gcp.GCPConnection({"gcp_endpoint": env.url, "gcp_access_token": "x"})
    assert conn.prove_key(old_info)[0] is False
    assert conn.prove_key(json.loads(env.vault.latest("secret", STORE["path"])["private_key_json"]))[0] is True
    _assert_no_secret(rotated, env.vault)
    not_due = run_module(mod, dict(env.args, state="rotated"), capsys)
    assert not_due["changed"] is False


def test_interrupted_rotation_resumes(env, capsys):
    run_module(mod, env.args, capsys)
    # the rotation stops after the new key is stored and proven: disabling the old key fails
    env.session.post(env.url + "/_standin/faults", json={"status": 403, "count": 1, "path": ":disable",
                                                         "message": "injected"})
    broken = run_module(mod, dict(env.args, state="rotated", force=True, gcp_retries=0), capsys)
    assert broken["failed"] is True
    assert len(env.key_ids()) == 2
    resumed = run_module(mod, env.args, capsys)
    assert resumed["action"] == "resumed"
    assert env.key_ids() == [resumed["key_id"]] == [env.vault.latest("secret", STORE["path"])["key_id"]]
    assert ("prove_old_rejected", "unchanged") in _steps(resumed)


def test_store_failure_rolls_back_the_minted_key(env, capsys):
    env.vault.fail_writes = 1
    result = run_module(mod, env.args, capsys)
    assert result["failed"] is True
    assert env.keys() == []
    rollback = [e for e in result["evidence"] if e["step"] == "rollback"]
    assert rollback and rollback[0]["outcome"] == "changed"


def test_ten_key_limit_removes_a_disabled_spare_never_an_enabled_key(env, capsys):
    for index in range(10):
        body = env.session.post("%s/v1/%s/keys" % (env.url, env.name), json={}).json()
        if index < 9:
            env.session.post("%s/v1/%s:disable" % (env.url, body["name"]), json={})
    result = run_module(mod, env.args, capsys)
    assert result["action"] == "rotated"  # the untracked keys were removed after the new one worked
    assert env.key_ids() == [result["key_id"]]
    first_delete = [e for e in result["evidence"] if e["step"] == "delete_old"][0]
    mint = [i for i, e in enumerate(result["evidence"]) if e["step"] == "mint"][0]
    assert result["evidence"].index(first_delete) < mint  # a disabled spare made room first


def test_ten_enabled_unknown_keys_is_refused(env, capsys):
    for _index in range(10):
        env.session.post("%s/v1/%s/keys" % (env.url, env.name), json={})
    result = run_module(mod, env.args, capsys)
    assert result["failed"] is True and "limit is 10" in result["msg"]
    assert len(env.key_ids()) == 10


def test_disabled_then_absent(env, capsys):
    minted = run_module(mod, env.args, capsys)
    disabled = run_module(mod, dict(env.args, state="disabled"), capsys)
    assert disabled["action"] == "disabled"
    proof = [e for e in disabled["evidence"] if e["step"] == "prove_revoked"][0]["verified"]
    assert proof["result"] == "rejected" and proof["ok"]
    assert all(k.get("disabled") for k in env.keys())
    assert run_module(mod, dict(env.args, state="disabled"), capsys)["changed"] is False
    absent = run_module(mod, dict(env.args, state="absent"), capsys)
    assert absent["action"] == "deleted" and env.keys() == [] and env.vault.secrets == {}
    assert minted["key_id"] not in json.dumps(env.vault.secrets)
    assert run_module(mod, dict(env.args, state="absent"), capsys)["changed"] is False


def test_batch_validates_everything_first(env, capsys):
    args = dict(env.args)
    args.pop("account_id")
    args["targets"] = [{"account_id": env.account_id}, {"account_id": "x-" + env.account_id,
                                                        "store": {"path": "/abs"}}]
    result = run_module(mod, args, capsys)
    assert result["failed"] is True and "nothing was changed" in result["msg"]
    assert env.keys() == [] and env.vault.secrets == {}


def test_batch(env, standin, capsys):
    url, token, session = standin
    other = "svc-%s" % secrets.token_hex(4)
    session.post("%s/v1/projects/%s/serviceAccounts" % (url, PROJECT), json={"accountId": other})
    args = dict(env.args)
    args.pop("account_id")
    args.pop("store")
    args["targets"] = [{"account_id": env.account_id, "store": {"path": "nhi/unit/a"}},
                       {"account_id": other, "store": {"path": "nhi/unit/b"}},
                       {"account_id": "svc-missing-one", "store": {"path": "nhi/unit/c"}}]
    args["fail_on_error"] = False
    result = run_module(mod, args, capsys)
    assert result["summary"] == {"total": 3, "changed": 2, "failed": 1}
    assert result["failed_identities"] == ["svc-missing-one"]
    assert "does not exist" in result["results"][2]["msg"]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""gcp_service_account_key_info against the in-process GCP IAM stand-in and an in-memory KV v2."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_key_info as mod  # noqa: E402

from gcp_scim_fakes import AccountEnv, gcp_standin, run_module  # noqa: E402

PROJECT = "unit-project"
KEY_KEYS = {"key_id", "disabled", "created", "age_days", "key_type"}


@pytest.fixture(scope="module")
def standin():
    with gcp_standin() as served:
        yield served


@pytest.fixture
def env(standin, monkeypatch):
    e = AccountEnv(standin, monkeypatch, PROJECT)
    e.args = e.args()
    return e


def _key(env, disabled=False):
    """Mint a key on the stand-in; returns (key_id, the key file text that GCP hands out once)."""
    r = env.session.post("%s/v1/%s/keys" % (env.url, env.name), json={})
    assert r.status_code == 200, r.text
    body = r.json()
    if disabled:
        assert env.session.post("%s/v1/%s:disable" % (env.url, body["name"]), json={}).ok
    return body["name"].rsplit("/", 1)[-1], base64.b64decode(body["privateKeyData"]).decode()


def _store(env, path, key_id, key_file, minted_at="2026-11-23T19:00:00.000Z"):
    env.vault.kv_write("secret", path, {"private_key_json": key_file, "key_id": key_id})
    env.vault.kv_update_metadata("secret", path, custom_metadata={
        "key_id": key_id, "minted_at": minted_at, "nhi_identity": env.account_id})


def _assert_no_key_material(result, *key_files):
    blob = json.dumps(result)
    assert "PRIVATE KEY" not in blob and "privateKeyData" not in blob
    for text in key_files:
        private = json.loads(text)["private_key"]
        assert all(line not in blob for line in private.splitlines()[1:-1])


def test_lists_user_managed_keys_with_state_and_age(env, capsys):
    live_id, live_file = _key(env)
    off_id, off_file = _key(env, disabled=True)
    result = run_module(mod, env.args, capsys)
    assert "failed" not in result and result["changed"] is False and "stored" not in result
    assert (result["identity"], result["account_email"], result["exists"]) == (env.account_id, env.email, True)
    assert all(set(k) == KEY_KEYS and k["key_type"] == "USER_MANAGED" for k in result["account_keys"])
    states = {k["key_id"]: k["disabled"] for k in result["account_keys"]}
    assert states == {live_id: False, off_id: True} and result["active_keys"] == 1
    assert all(0 <= k["age_days"] < 0.01 and k["created"].endswith("Z") for k in result["account_keys"])
    (entry,) = result["evidence"]
    assert (entry["step"], entry["system"], entry["action"], entry["outcome"], entry["event"]) == (
        "read", "gcp_iam", "iam.serviceAccountKeys.list", "unchanged", "reconcile")
    assert entry["target"] == env.name and entry["details"] == {"exists": True, "keys": 2}
    _assert_no_key_material(result, live_file, off_file)


def test_key_types_selects_system_managed_keys_which_are_never_active(env, capsys):
    _key(env)
    both = run_module(mod, dict(env.args, key_types=["USER_MANAGED", "SYSTEM_MANAGED"]), capsys)
    assert sorted(k["key_type"] for k in both["account_keys"]) == ["SYSTEM_MANAGED", "USER_MANAGED"]
    assert both["active_keys"] == 1
    system = run_module(mod, dict(env.args, key_types=["SYSTEM_MANAGED"]), capsys)
    assert [k["key_type"] for k in system["account_keys"]] == ["SYSTEM_MANAGED"] and system["active_keys"] == 0
    bad = run_module(mod, dict(env.args, key_types=["ALL"]), capsys)
    assert bad["failed"] is True and "key_types" in bad["msg"] and "ALL" in bad["msg"]


def test_stored_key_comes_from_metadata_only(env, capsys, monkeypatch):
    key_id, key_file = _key(env)
    _key(env)  # a second, untracked key
    _store(env, "nhi/unit/%s" % env.account_id, key_id, key_file)
    monkeypatch.setattr(env.vault, "kv_read", lambda *a, **k: pytest.fail("the stored secret itself was read"))
    result = run_module(mod, dict(env.args, store={"path": "nhi/unit/%s" % env.account_id}), capsys)
    assert result["stored"] == {"mount": "secret", "path": "nhi/unit/%s" % env.account_id, "version": 1,
                                "key_id": key_id, "present": True, "minted_at": "2026-11-23T19:00:00.000Z"}
    assert result["active_keys"] == 2
    assert result["evidence"][0]["details"]["stored_key_id"] == key_id
    _assert_no_key_material(result, key_file)
    assert key_file not in json.dumps(result)


def test_a_stored_key_that_is_gone_from_the_account_is_not_present(env, capsys):
    key_id, key_file = _key(env)
    _store(env, "nhi/unit/old", key_id, key_file)
    assert env.session.delete("%s/v1/%s/keys/%s" % (env.url, env.name, key_id)).ok
    result = run_module(mod, dict(env.args, store={"path": "nhi/unit/old"}), capsys)
    assert result["stored"]["key_id"] == key_id and result["stored"]["present"] is False
    assert result["account_keys"] == [] and result["active_keys"] == 0
    nothing = run_module(mod, dict(env.args, store={"mount": "kv", "path": "nhi/unit/never"}), capsys)
    assert nothing["stored"] == {"mount": "kv", "path": "nhi/unit/never", "version": None, "key_id": None,
                                 "present": False, "minted_at": None}
    assert "stored_key_id" not in nothing["evidence"][0]["details"]
    _assert_no_key_material(result, key_file)


def test_a_missing_account_is_reported_with_the_stored_key_it_left_behind(env, capsys):
    key_id, key_file = _key(env)
    _store(env, "nhi/unit/orphan", key_id, key_file)
    args = dict(env.args, account_id="svc-deleted-one", store={"path": "nhi/unit/orphan"})
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert (result["exists"], result["account_keys"], result["active_keys"]) == (False, [], 0)
    assert result["account_email"] == "svc-deleted-one@%s.iam.gserviceaccount.com" % PROJECT
    assert result["stored"]["key_id"] == key_id and result["stored"]["present"] is False
    assert result["evidence"][0]["details"]["exists"] is False


def test_email_form_and_per_target_project(env, capsys):
    _key(env)
    by_email = run_module(mod, dict(env.args, account_id=env.email), capsys)
    assert by_email["identity"] == env.account_id and by_email["account_email"] == env.email
    assert by_email["exists"] is True and by_email["active_keys"] == 1
    elsewhere = run_module(mod, dict(env.args, project="other-project"), capsys)
    assert elsewhere["account_email"] == "%s@other-project.iam.gserviceaccount.com" % env.account_id
    assert elsewhere["exists"] is False


def test_vault_is_only_contacted_when_a_store_is_given(env, capsys, monkeypatch):
    def unreachable(*_args, **_kwargs):
        raise NHIError("no Vault address was given", where="vault_url / VAULT_ADDR",
                       hint="set vault_url or export VAULT_ADDR=https://vault.example.com:8200")

    monkeypatch.setattr(_vault, "client", unreachable)
    _key(env)
    assert run_module(mod, env.args, capsys)["active_keys"] == 1
    result = run_module(mod, dict(env.args, store={"path": "nhi/unit/x"}), capsys)
    assert result["failed"] is True and result["msg"].startswith("no Vault address was given")
    assert result["where"] == "vault_url / VAULT_ADDR"


@pytest.mark.parametrize("args,expected", [
    ({"account_id": None}, "missing required arguments: account_id"),
    ({"store": {"path": "/abs"}}, "malformed KV path '/abs' \u2014 at store.path"),
    ({"store": {"path": "nhi/../x"}}, "malformed KV path 'nhi/../x' \u2014 at store.path"),
    ({"store": {"mount": "kv"}}, "missing required arguments: path found in store"),
    ({"account_id": None, "targets": [{"account_id": "svc-fine-one"}, {"store": {"path": "x"}}]},
     "targets[1]: missing required arguments: account_id"),
])
def test_bad_input_reads_nothing(env, capsys, monkeypatch, args, expected):
    monkeypatch.setattr(env.vault, "kv_metadata", lambda *a, **k: pytest.fail("metadata read despite bad input"))
    result = run_module(mod, dict(env.args, **args), capsys)
    assert result["failed"] is True and expected in result["msg"]
    assert "account_keys" not in result and "results" not in result


def test_batch_isolates_a_failing_account(env, standin, capsys):
    url, _token, session = standin
    other = "svc-%s" % secrets.token_hex(4)
    assert session.post("%s/v1/projects/%s/serviceAccounts" % (url, PROJECT), json={"accountId": other}).ok
    key_id, key_file = _key(env)
    _store(env, "nhi/unit/a", key_id, key_file)
    session.post(url + "/_standin/faults", json={"status": 403, "count": 1, "path": "%s@" % other,
                                                 "message": "caller lacks iam.serviceAccountKeys.list"})
    args = dict(env.args, gcp_retries=0, fail_on_error=False)
    args.pop("account_id")
    args["targets"] = [{"account_id": env.account_id, "store": {"path": "nhi/unit/a"}}, {"account_id": other},
                       {"account_id": "svc-gone-away"}]
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert result["summary"] == {"total": 3, "changed": 0, "failed": 1} and result["failed_identities"] == [other]
    first, denied, gone = result["results"]
    assert first["stored"]["present"] is True and first["active_keys"] == 1
    assert "GCP denied the call (caller lacks iam.serviceAccountKeys.list)" in denied["msg"]
    assert denied["msg"].startswith("listing the keys of projects/%s/serviceAccounts/%s@" % (PROJECT, other))
    assert gone["exists"] is False
    _assert_no_key_material(result, key_file)


def test_a_malformed_account_id_is_bad_input(env, capsys):
    result = run_module(mod, dict(env.args, account_id="../%s" % env.account_id), capsys)
    assert result.get("failed") is True and "invalid input" in result["msg"]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""vault_token: the pure helpers, and the state machine against an in-memory Vault."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError
from ansible_collections.nhi.lifecycle.plugins.modules import vault_token as mod

from vault_fakes import FakeVault, assert_no_secret, run_module, step_names  # noqa: E402

STORE = {"mount": "secret", "path": "nhi/unit/tok"}
BASE = {"policies": ["Metrics"], "ttl": "1h", "store": STORE, "proof_deadline": 0}


@pytest.fixture
def fake(monkeypatch):
    return FakeVault().install(monkeypatch)


def stored(fake):
    return fake.latest(STORE["path"])


def test_wanted_policies_match_what_vault_reports():
    assert mod.wanted_policies({"policies": ["B", " a "]}) == ["a", "b", "default"]
    assert mod.wanted_policies({"policies": ["a"], "no_default_policy": True}) == ["a"]
    assert mod.wanted_policies({"policies": None}) is None


def test_create_params():
    params = mod.create_params({"identity": "mon", "policies": ["a"], "ttl": "1h", "explicit_max_ttl": 7200,
                                "display_name": "mon", "renewable": False, "meta": {"team": 7},
                                "no_default_policy": False}, "run-1")
    assert params == {"meta": {"team": "7", "nhi_identity": "mon", "run_id": "run-1"}, "renewable": False,
                      "no_default_policy": False, "policies": ["a"], "ttl": "3600s",
                      "explicit_max_ttl": "7200s", "display_name": "mon"}


def test_token_created_and_view():
    info = {"accessor": "acc", "policies": ["default", "a"], "creation_time": 1795462612,
            "expire_time": "2026-11-23T20:36:52.972832278Z", "id": ""}
    assert mod.token_created(info) == datetime.datetime(2026, 11, 23, 19, 36, 52, tzinfo=datetime.timezone.utc)
    view = mod.token_view(info)
    assert view["expire_time"] == "2026-11-23T20:36:52.972Z" and view["policies"] == ["a", "default"]
    assert "id" not in view and mod.token_view(None) is None


def test_stored_metadata_never_holds_the_token():
    meta = mod.stored_metadata({"token": "hvs.secret", "accessor": "acc", "identity": "x", "run_id": None})
    assert "hvs.secret" not in meta.values()
    assert meta == {"nhi_identity": "x", "kind": "vault_token", "accessor": "acc"}


@pytest.mark.parametrize("args,field", [
    ({"store": None}, "store"),
    ({"state": "absent", "store": None}, "accessor / store"),
    ({"accessor": "abc"}, "accessor"),
    ({"ttl": "forever"}, "ttl"),
    ({"max_age_days": 0}, "max_age_days"),
])
def test_bad_input_changes_nothing(fake, capsys, args, field):
    params = dict(BASE)
    params.update(args)
    params = {k: v for k, v in params.items() if v is not None}
    result = run_module(mod, params, capsys)
    assert result["msg"].startswith("invalid input, nothing was changed: ") and field in result["msg"]
    assert fake.mutations() == []


def test_check_mode_changes_nothing(fake, capsys):
    result = run_module(mod, BASE, capsys, check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "created" and fake.mutations() == []
    assert result["diff"]["after"]["stored_accessor"] == mod.NEW


def test_create_stores_and_proves(fake, capsys):
    result = run_module(mod, BASE, capsys)
    data = stored(fake)
    assert result["action"] == "created" and result["accessor"] == data["accessor"]
    assert result["policies"] == ["default", "metrics"]
    assert [c[0] for c in fake.mutations()] == ["token_create", "kv_write", "kv_update_metadata"]
    assert fake.names().index("lookup_self") > fake.names().index("kv_write")
    assert fake.tokens[data["accessor"]]["meta"]["nhi_identity"] == STORE["path"]
    custom = fake.kv[("secret", STORE["path"])]["custom"]
    assert custom["accessor"] == data["accessor"] and data["token"] not in custom.values()
    assert_no_secret(result, data["token"])


def test_present_is_idempotent_and_replaces_on_other_policies(fake, capsys):
    run_module(mod, BASE, capsys)
    first = stored(fake)
    fake.calls.clear()
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "unchanged" and fake.mutations() == []
    result = run_module(mod, dict(BASE, policies=["metrics", "logs"]), capsys)
    assert result["action"] == "replaced"
    assert first["accessor"] not in fake.tokens
    assert ("lookup_self", first["token"]) in fake.calls
    assert_no_secret(result, first["token"], stored(fake)["token"])


def test_store_failure_revokes_the_new_token(fake, capsys):
    fake.fail["kv_write"] = Conflict("storing the credential: check-and-set failed")
    result = run_module(mod, BASE, capsys)
    assert result["failed"] and "check-and-set" in result["msg"]
    assert fake.tokens == {}
    assert [e["outcome"] for e in result["evidence"] if e["step"] == "rollback"] == ["changed"]


def test_rotation_order(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    fake.calls.clear()
    result = run_module(mod, dict(BASE, state="rotated", force=True), capsys)
    new = stored(fake)
    calls = [c for c in fake.calls if c[0] != "kv_update_metadata"]
    assert [c[0] for c in calls] == ["token_create", "kv_write", "lookup_self", "token_revoke", "lookup_self",
                                     "kv_destroy_versions"]
    assert calls[2] == ("lookup_self", new["token"]) and calls[4] == ("lookup_self", old["token"])
    assert step_names(result) == ["read", "mint", "store", "prove_new", "delete_old", "prove_old_rejected",
                                  "destroy_stored"]
    assert result["stored"]["version"] == 2


def test_rotation_waits_for_age(fake, capsys):
    token, accessor = fake.add_token(["default", "metrics"], age_days=10)
    fake.put(STORE["path"], {"token": token, "accessor": accessor, "identity": STORE["path"]})
    young = run_module(mod, dict(BASE, state="rotated", max_age_days=30), capsys)
    assert young["action"] in ("unchanged", "resumed") and accessor in fake.tokens
    result = run_module(mod, dict(BASE, state="rotated", max_age_days=7), capsys)
    assert result["action"] == "rotated" and accessor not in fake.tokens


def test_resume_revokes_the_token_of_the_previous_version(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    token, accessor = fake.add_token(["default", "metrics"])
    fake.put(STORE["path"], {"token": token, "accessor": accessor, "identity": STORE["path"]})  # crash here
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "resumed"
    assert old["accessor"] not in fake.tokens and accessor in fake.tokens
    assert ("kv_destroy_versions", (STORE["path"], [1])) in fake.calls


def test_absent_by_store_and_by_accessor(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    result = run_module(mod, {"state": "absent", "store": STORE, "proof_deadline": 0}, capsys)
    assert result["action"] == "revoked" and old["accessor"] not in fake.tokens and stored(fake) is None
    proof = [e for e in result["evidence"] if e["step"] == "prove_revoked"][0]
    assert proof["verified"]["ok"] and proof["verified"]["method"] == "token:lookup-self"
    accessor = fake.add_token()[1]
    result = run_module(mod, {"state": "absent", "accessor": accessor, "proof_deadline": 0}, capsys)
    assert result["action"] == "revoked" and accessor not in fake.tokens
    proof = [e for e in result["evidence"] if e["step"] == "prove_revoked"][0]
    assert proof["verified"]["method"] == "token:lookup-accessor" and proof["verified"]["ok"]
    assert run_module(mod, {"state": "absent", "accessor": accessor}, capsys)["action"] == "unchanged"


def test_partially_stored_keeps_the_token_and_the_next_run_repairs_the_metadata(fake, capsys):
    fake.fail["kv_update_metadata"] = NHIError("updating the secret's metadata: Vault is sealed or down")
    result = run_module(mod, BASE, capsys)
    assert result["failed"] and "custom metadata is not" in result["msg"]
    data = stored(fake)
    assert data["accessor"] in fake.tokens and "token_revoke" not in fake.names()
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "resumed"
    assert fake.kv[("secret", STORE["path"])]["custom"]["accessor"] == data["accessor"]
    assert run_module(mod, BASE, capsys)["action"] == "unchanged"

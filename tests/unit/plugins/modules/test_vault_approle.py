# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""vault_approle: the pure helpers, and the state machine against an in-memory Vault."""

from __future__ import annotations

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError
from ansible_collections.nhi.lifecycle.plugins.modules import vault_approle as mod

from vault_fakes import FakeVault, assert_no_secret, run_module, step_names, steps  # noqa: E402

STORE = {"mount": "secret", "path": "nhi/unit/app"}
BASE = {"role_name": "app", "token_policies": ["p1"], "token_ttl": "1h", "store": STORE, "proof_deadline": 0}


@pytest.fixture
def fake(monkeypatch):
    return FakeVault().install(monkeypatch)


def stored(fake):
    return fake.latest(STORE["path"])


# --- _vault helpers used by the module ----------------------------------------------

@pytest.mark.parametrize("value,seconds", [
    (None, None), (0, 0), (3600, 3600), ("3600", 3600), ("90s", 90), ("15m", 900), ("1h", 3600),
    ("1h30m", 5400), ("7d", 604800), ("1d12h", 129600), ("500ms", 0), (" 2H ", 7200), (1.5, 1),
])
def test_duration_seconds(value, seconds):
    assert _vault.duration_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "1x", "h", "-5", "1h 30m", "5m1", True, -1])
def test_duration_seconds_rejects(value):
    with pytest.raises(NHIError) as info:
        _vault.duration_seconds(value, where="token_ttl")
    assert "token_ttl" in str(info.value)


def test_check_cidrs():
    _vault.check_cidrs(["10.0.0.0/8", "127.0.0.1", "::1"], "token_bound_cidrs")
    with pytest.raises(NHIError, match="prefix length"):
        _vault.check_cidrs(["10.0.0.1"], "secret_id_bound_cidrs", require_prefix=True)
    with pytest.raises(NHIError, match="not an IP address"):
        _vault.check_cidrs(["10.0.0.300/8"], "token_bound_cidrs")


def test_vault_message_drops_hvac_url_tail():
    exc = Exception("invalid role or secret ID, on post http://127.0.0.1:8200/v1/auth/approle/login")
    assert _vault.vault_message(exc) == "invalid role or secret ID"
    exc = Exception("1 error occurred:\n\t* failed to find accessor entry\n\n, on post http://x/v1/y")
    assert _vault.vault_message(exc) == "failed to find accessor entry"


def test_call_error_does_not_read_every_400_as_a_cas_conflict():
    hvac_exc = pytest.importorskip("hvac.exceptions")
    err = _vault._call_error(hvac_exc.InvalidRequest("role name cascade is invalid"), "writing", "w")
    assert not isinstance(err, Conflict) and "cascade" in str(err)


# --- pure helpers ---------------------------------------------------------------------

def test_desired_role_normalises_like_vault():
    want = mod.desired_role({"token_policies": ["b", " a ", "a"], "token_ttl": "1h", "token_max_ttl": None,
                             "secret_id_ttl": "0", "secret_id_num_uses": 3, "secret_id_bound_cidrs": None,
                             "token_bound_cidrs": ["10.0.0.0/8"]})
    assert want == {"token_policies": ["a", "b"], "token_ttl": 3600, "secret_id_ttl": 0, "secret_id_num_uses": 3,
                    "token_bound_cidrs": ["10.0.0.0/8"]}


def test_role_compare_is_idempotent_against_vaults_answer():
    answer = {"token_policies": ["b", "a"], "token_ttl": 3600, "token_max_ttl": 0, "secret_id_ttl": 0,
              "secret_id_num_uses": 0, "secret_id_bound_cidrs": None, "token_bound_cidrs": [], "bind_secret_id": True}
    want = mod.desired_role({"token_policies": ["a", "b"], "token_ttl": "60m", "secret_id_bound_cidrs": []})
    assert mod.role_changes(mod.role_view(answer), want) == {}
    want = mod.desired_role({"token_policies": ["a"], "token_ttl": 7200})
    assert mod.role_changes(mod.role_view(answer), want) == {
        "token_policies": [["a", "b"], ["a"]], "token_ttl": [3600, 7200]}


@pytest.mark.parametrize("method,role,expected", [
    ("auto", {}, "login"), ("auto", {"secret_id_num_uses": 1}, "lookup"),
    ("auto", {"secret_id_bound_cidrs": ["10.0.0.0/8"]}, "lookup"), ("login", {"secret_id_num_uses": 1}, "login"),
    ("lookup", {}, "lookup"),
])
def test_choose_proof(method, role, expected):
    assert mod.choose_proof(method, role) == expected


def test_summarize():
    assert mod.summarize("created", "minted") == "created"
    assert mod.summarize("updated", "rotated") == "rotated"
    assert mod.summarize("updated", "unchanged") == "updated"
    assert mod.summarize(None, None) == "unchanged"


def test_stored_metadata_never_holds_the_secret_id_or_role_id():
    meta = mod.stored_metadata({"role_id": "rid", "secret_id": "sid", "secret_id_accessor": "acc",
                                "identity": "app", "role_name": "app", "mount": "approle", "minted_at": "t",
                                "expires_at": None, "run_id": "r"})
    assert "sid" not in meta.values() and "rid" not in meta.values()
    assert meta["secret_id_accessor"] == "acc" and "expires_at" not in meta


# --- input validation ------------------------------------------------------------------

@pytest.mark.parametrize("args,field", [
    ({"token_ttl": "1 hour"}, "token_ttl"),
    ({"token_ttl": "2h", "token_max_ttl": "1h"}, "token_ttl"),
    ({"secret_id_bound_cidrs": ["10.0.0.1"]}, "secret_id_bound_cidrs"),
    ({"state": "rotated", "store": None}, "store"),
    ({"store": {"path": "../x"}}, "store.path"),
    ({"role_name": "a/b"}, "role_name"),
    ({"max_age_days": 0}, "max_age_days"),
])
def test_bad_input_changes_nothing(fake, capsys, args, field):
    params = dict(BASE)
    params.update(args)
    params = {k: v for k, v in params.items() if v is not None}
    result = run_module(mod, params, capsys)
    assert result["failed"] and result["msg"].startswith("invalid input, nothing was changed: ")
    assert field in result["msg"]
    assert fake.mutations() == []


def test_batch_validation_names_the_item(fake, capsys):
    result = run_module(mod, {"targets": [{"role_name": "ok", "store": STORE},
                                          {"role_name": "bad", "token_ttl": "soon"}]}, capsys)
    assert "targets[1]" in result["msg"] and "token_ttl" in result["msg"]
    assert fake.mutations() == []


# --- the state machine ------------------------------------------------------------------

def test_check_mode_changes_nothing(fake, capsys):
    result = run_module(mod, BASE, capsys, check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "created"
    assert fake.mutations() == []
    assert result["diff"]["before"]["role"] is None
    assert result["diff"]["after"]["stored_secret_id_accessor"] == mod.NEW


def test_create_mints_stores_and_proves(fake, capsys):
    result = run_module(mod, BASE, capsys)
    data = stored(fake)
    assert result["changed"] and result["action"] == "created"
    assert [c[0] for c in fake.mutations()] == ["write_role", "generate", "kv_write", "kv_update_metadata"]
    assert ("kv_write", (STORE["path"], 0)) in fake.calls
    assert fake.names().index("login") > fake.names().index("kv_write")
    assert data["role_id"] == result["role_id"] and data["secret_id_accessor"] == result["secret_id_accessor"]
    assert result["secret_id_accessors"] == [data["secret_id_accessor"]]
    assert ("prove_new", "unchanged") in steps(result)
    prove = [e for e in result["evidence"] if e["step"] == "prove_new"][0]
    assert prove["verified"]["ok"] is True and prove["verified"]["method"] == "approle:login"
    custom = fake.kv[("secret", STORE["path"])]["custom"]
    assert data["secret_id"] not in custom.values() and data["role_id"] not in custom.values()
    assert custom["secret_id_accessor"] == data["secret_id_accessor"] and custom["kind"] == "vault_approle"
    assert_no_secret(result, data["secret_id"])


def test_present_is_idempotent(fake, capsys):
    run_module(mod, BASE, capsys)
    fake.calls.clear()
    result = run_module(mod, BASE, capsys)
    assert not result["changed"] and result["action"] == "unchanged"
    assert fake.mutations() == []
    assert steps(result) == [("read", "unchanged")]


def test_role_update_sends_only_what_differs(fake, capsys):
    run_module(mod, BASE, capsys)
    fake.calls.clear()
    params = dict(BASE, token_ttl="2h")
    result = run_module(mod, params, capsys)
    assert result["action"] == "updated"
    assert fake.mutations() == [("write_role", ("app", ["token_ttl"]))]
    assert result["role"]["token_ttl"] == 7200


def test_store_failure_destroys_the_minted_secret_id(fake, capsys):
    fake.fail["kv_write"] = Conflict("storing the credential: check-and-set failed")
    result = run_module(mod, BASE, capsys)
    assert result["failed"] and "check-and-set" in result["msg"]
    role = fake.roles[("approle", "app")]
    assert role["secret_ids"] == {}
    minted = [c[1] for c in fake.calls if c[0] == "generate"]
    assert ("destroy_accessor", minted[0]) in fake.calls
    rollback = [e for e in result["evidence"] if e["step"] == "rollback"]
    assert rollback and rollback[0]["outcome"] == "changed"
    assert stored(fake) is None


def test_rotation_order_and_cleanup(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    untracked = fake.add_secret_id("app")[1]
    fake.calls.clear()
    result = run_module(mod, dict(BASE, state="rotated", force=True), capsys)
    new = stored(fake)
    assert result["action"] == "rotated" and new["secret_id_accessor"] != old["secret_id_accessor"]
    calls = [c for c in fake.calls if c[0] != "kv_update_metadata"]
    assert [c[0] for c in calls] == ["generate", "kv_write", "login", "destroy_accessor", "login",
                                     "destroy_accessor", "kv_destroy_versions"]
    assert calls[2] == ("login", new["secret_id"])
    assert calls[3] == ("destroy_accessor", old["secret_id_accessor"])
    assert calls[4] == ("login", old["secret_id"])  # the old one, proven rejected
    assert ("destroy_accessor", untracked) in fake.calls
    assert fake.approle_list_accessors(None, "approle", "app") == [new["secret_id_accessor"]]
    assert ("kv_destroy_versions", (STORE["path"], [1])) in fake.calls
    assert step_names(result) == ["read", "mint", "store", "prove_new", "delete_old", "prove_old_rejected",
                                  "delete_old", "prove_old_rejected", "destroy_stored"]
    assert_no_secret(result, old["secret_id"], new["secret_id"])


def test_rotation_is_skipped_when_young(fake, capsys):
    run_module(mod, BASE, capsys)
    fake.calls.clear()
    result = run_module(mod, dict(BASE, state="rotated", max_age_days=30), capsys)
    assert result["action"] == "unchanged" and fake.mutations() == []


def test_rotation_when_old(fake, capsys):
    fake.add_role("app", token_policies=["p1"], token_ttl=3600)
    sid, acc = fake.add_secret_id("app", age_days=40)
    fake.put(STORE["path"], {"role_id": fake.roles[("approle", "app")]["role_id"], "secret_id": sid,
                             "secret_id_accessor": acc, "identity": "app", "role_name": "app", "mount": "approle"})
    result = run_module(mod, dict(BASE, state="rotated", max_age_days=30), capsys)
    assert result["action"] == "rotated" and ("destroy_accessor", acc) in fake.calls


def test_new_secret_id_that_fails_its_proof_keeps_the_old_one(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    original_generate = fake.approle_generate_secret_id

    def generate(conn, mount, name, metadata=None):
        out = original_generate(conn, mount, name, metadata)
        fake.reject_login.add(out["secret_id"])
        return out

    fake.approle_generate_secret_id = generate
    _vault.approle_generate_secret_id = generate  # monkeypatch restores it
    result = run_module(mod, dict(BASE, state="rotated", force=True), capsys)
    assert result["failed"] and "should have been accepted" in result["msg"]
    assert old["secret_id_accessor"] in fake.roles[("approle", "app")]["secret_ids"]
    assert "kv_destroy_versions" not in fake.names()


def test_resume_after_a_crash_after_store(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    role = fake.roles[("approle", "app")]
    sid, acc = fake.add_secret_id("app", metadata={"nhi_identity": "app"})
    fake.put(STORE["path"], {"role_id": role["role_id"], "secret_id": sid, "secret_id_accessor": acc,
                             "identity": "app", "role_name": "app", "mount": "approle"})  # metadata not updated
    fake.calls.clear()
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "resumed"
    assert sorted(role["secret_ids"]) == [acc]
    assert ("destroy_accessor", old["secret_id_accessor"]) in fake.calls
    assert ("login", old["secret_id"]) in fake.calls
    assert ("kv_destroy_versions", (STORE["path"], [1])) in fake.calls
    assert fake.kv[("secret", STORE["path"])]["custom"]["secret_id_accessor"] == acc
    fake.calls.clear()
    assert run_module(mod, BASE, capsys)["action"] == "unchanged"


def test_present_destroys_only_its_own_strays(fake, capsys):
    run_module(mod, BASE, capsys)
    _s1, ours = fake.add_secret_id("app", metadata={"nhi_identity": "app"})  # minted by a run that crashed
    _s2, foreign = fake.add_secret_id("app")  # someone else's
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "resumed"
    left = sorted(fake.roles[("approle", "app")]["secret_ids"])
    assert ours not in left and foreign in left
    result = run_module(mod, dict(BASE, state="rotated"), capsys)
    assert foreign not in fake.roles[("approle", "app")]["secret_ids"]


def test_overlap_keeps_the_old_secret_id(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    result = run_module(mod, dict(BASE, state="rotated", force=True, overlap_hours=2), capsys)
    assert result["action"] == "rotated"
    assert old["secret_id_accessor"] in fake.roles[("approle", "app")]["secret_ids"]
    result = run_module(mod, dict(BASE, overlap_hours=2), capsys)
    assert result["action"] == "unchanged"  # the overlap has not elapsed
    assert old["secret_id_accessor"] in fake.roles[("approle", "app")]["secret_ids"]
    result = run_module(mod, BASE, capsys)  # without the overlap: finished now
    assert result["action"] == "resumed"
    assert old["secret_id_accessor"] not in fake.roles[("approle", "app")]["secret_ids"]


def test_lookup_proof_when_uses_are_limited(fake, capsys):
    result = run_module(mod, dict(BASE, secret_id_num_uses=1), capsys)
    assert "login" not in fake.names() and "lookup" in fake.names()
    prove = [e for e in result["evidence"] if e["step"] == "prove_new"][0]
    assert prove["verified"]["method"] == "approle:secret-id/lookup"


def test_expired_secret_id_is_replaced(fake, capsys):
    fake.add_role("app", token_policies=["p1"], token_ttl=3600)
    sid, acc = fake.add_secret_id("app", age_days=2, ttl=3600)
    fake.put(STORE["path"], {"role_id": fake.roles[("approle", "app")]["role_id"], "secret_id": sid,
                             "secret_id_accessor": acc})
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "minted" and ("destroy_accessor", acc) in fake.calls
    assert stored(fake)["secret_id_accessor"] != acc


def test_absent_revokes_proves_and_deletes(fake, capsys):
    run_module(mod, BASE, capsys)
    old = stored(fake)
    fake.add_secret_id("app")
    fake.calls.clear()
    result = run_module(mod, dict(BASE, state="absent"), capsys, check_mode=True)
    assert result["changed"] and fake.mutations() == []
    result = run_module(mod, dict(BASE, state="absent"), capsys)
    assert result["action"] == "deleted"
    names = fake.names()
    assert names.count("destroy_accessor") == 2
    assert names.index("login") < names.index("delete_role") < names.index("kv_delete_all")
    proof = [e for e in result["evidence"] if e["step"] == "prove_revoked"][0]
    assert proof["verified"] == {"method": "approle:login", "expect": "rejected", "result": "rejected", "ok": True,
                                 "detail": "invalid role or secret ID"}
    assert ("approle", "app") not in fake.roles and stored(fake) is None
    assert_no_secret(result, old["secret_id"])
    assert run_module(mod, dict(BASE, state="absent"), capsys)["action"] == "unchanged"


def test_batch_isolates_failures(fake, capsys):
    fake.fail["generate"] = NHIError("minting a secret_id: Vault refused the request: boom")
    result = run_module(mod, {"workers": 1, "fail_on_error": False, "targets": [
        dict(BASE, role_name="a", store={"path": "nhi/unit/a"}),
        dict(BASE, role_name="b", store={"path": "nhi/unit/b"})]}, capsys)
    assert result["summary"] == {"total": 2, "changed": 2, "failed": 1}
    assert result["failed_identities"] == ["a"]
    assert fake.latest("nhi/unit/b") is not None and fake.latest("nhi/unit/a") is None


def test_partially_stored_keeps_the_secret_id_and_the_next_run_repairs_the_metadata(fake, capsys):
    fake.fail["kv_update_metadata"] = NHIError("updating the secret's metadata: Vault is sealed or down")
    result = run_module(mod, BASE, capsys)
    assert result["failed"] and "custom metadata is not" in result["msg"]
    data = stored(fake)
    assert data and list(fake.roles[("approle", "app")]["secret_ids"]) == [data["secret_id_accessor"]]
    assert "destroy_accessor" not in fake.names()
    result = run_module(mod, BASE, capsys)
    assert result["action"] == "resumed"
    assert fake.kv[("secret", STORE["path"])]["custom"]["secret_id_accessor"] == data["secret_id_accessor"]
    assert run_module(mod, BASE, capsys)["action"] == "unchanged"

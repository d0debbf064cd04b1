# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""aws_access_key against moto's in-process IAM/STS and the in-memory Vault of ``vault_fakes``.

The key proof: ``AWSConnection.prove_key`` signs an STS GetCallerIdentity by
hand and POSTs it over ``requests``, which has no endpoint to reach under
in-process moto. ``aws_fakes.MotoAWS`` replaces it with a proof decided from
moto's IAM state: a key is accepted iff it exists, is ``Active`` and the secret
given is its secret (what real STS does). So "the new key works" and "the old
key is rejected" are checked against IAM, and every proof is logged in
``aws.proofs``. Outcomes are read back from moto (``aws.keys``,
``aws.secret_of``) and from the FakeVault, never taken from the module's result.
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict
from ansible_collections.nhi.lifecycle.plugins.modules import aws_access_key as mod

pytest.importorskip("moto")  # requirements/test.txt

from aws_fakes import evidence_for  # noqa: E402
from vault_fakes import FakeVault, assert_no_secret, run_module, step_names, steps  # noqa: E402

STORE = {"mount": "secret", "path": "nhi/unit/svc"}
BASE = {"user_name": "svc", "store": STORE, "proof_deadline": 0}


@pytest.fixture(name="aws")
def aws_with_svc(aws):
    """conftest's moto, with the IAM user ``svc``."""
    aws.user("svc")
    return aws


@pytest.fixture
def vault(monkeypatch):
    return FakeVault().install(monkeypatch)


def stored(vault, path=STORE["path"]):
    return vault.latest(path)


def store_writes(vault, path=STORE["path"]):
    """The Vault writes made to the credential's path (not to the identity lock)."""
    return [c for c in vault.mutations() if path in (c[1] if isinstance(c[1], str) else c[1][0])]


def age(aws, key_id, **delta):
    """Make a key older in moto, as if it had been created ``delta`` ago."""
    aws.backend().access_keys[key_id].create_date -= datetime.timedelta(**delta)


def alive_at_most(calls, start):
    """The largest number of keys the user had while ``calls`` ran, starting from ``start`` keys."""
    alive = peak = start
    for name in calls:
        alive += {"CreateAccessKey": 1, "DeleteAccessKey": -1}.get(name, 0)
        peak = max(peak, alive)
    return peak


def test_present_mints_one_key_and_stores_it(aws, vault, capsys):
    result = run_module(mod, BASE, capsys)
    assert result["changed"] is True and result["action"] == "minted"
    keys = aws.keys("svc")
    assert len(keys) == 1
    (key_id, status), = keys.items()
    assert status == "Active"
    data = stored(vault)
    assert data["access_key_id"] == key_id == result["access_key_id"]
    assert data["secret_access_key"] == aws.secret_of(key_id)
    assert data["identity"] == "svc" and data["user_name"] == "svc"
    custom = vault.kv[("secret", STORE["path"])]["custom"]
    assert custom["access_key_id"] == key_id and custom["kind"] == "aws_access_key"
    assert data["secret_access_key"] not in custom.values()
    assert result["stored"] == {"mount": "secret", "path": STORE["path"], "version": 1}
    assert [k["access_key_id"] for k in result["access_keys"]] == [key_id]
    assert step_names(result) == ["read", "mint", "store", "prove_new"]
    assert aws.proofs == [(key_id, True)]
    assert evidence_for(result, "prove_new")[0]["verified"]["ok"] is True
    assert_no_secret(result, data["secret_access_key"])
    assert not [k for k in vault.kv if k[1].startswith("nhi-locks/")]  # the identity lock was released


def test_present_again_is_unchanged(aws, vault, capsys):
    first = run_module(mod, BASE, capsys)
    aws.calls.clear()
    vault.calls.clear()
    again = run_module(mod, BASE, capsys)
    assert again["changed"] is False and again["action"] == "unchanged"
    assert again["access_key_id"] == first["access_key_id"]
    assert aws.mutations() == [] and store_writes(vault) == []
    assert aws.keys("svc") == {first["access_key_id"]: "Active"}
    assert_no_secret(again, stored(vault)["secret_access_key"])


def test_forced_rotation_leaves_only_the_new_stored_key(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old = stored(vault)
    aws.proofs.clear()
    result = run_module(mod, dict(BASE, state="rotated", force=True), capsys, diff=True)
    assert result["changed"] is True and result["action"] == "rotated"
    new = stored(vault)
    assert new["access_key_id"] != old["access_key_id"]
    assert aws.keys("svc") == {new["access_key_id"]: "Active"}
    assert old["access_key_id"] not in aws.backend().access_keys
    assert new["secret_access_key"] == aws.secret_of(new["access_key_id"])
    assert result["access_key_id"] == new["access_key_id"]
    assert result["stored"]["version"] == 2
    # The old version in the store is destroyed, not just superseded.
    data, meta = vault.kv_read("secret", STORE["path"], version=1)
    assert data is None and meta["destroyed"] is True
    assert step_names(result) == ["read", "mint", "store", "prove_new", "deactivate_old", "delete_old",
                                  "prove_old_rejected", "destroy_stored"]
    assert aws.proofs == [(new["access_key_id"], True), (old["access_key_id"], False)]
    rejected = evidence_for(result, "prove_old_rejected")[0]["verified"]
    assert (rejected["expect"], rejected["result"], rejected["ok"]) == ("rejected", "rejected", True)
    assert result["diff"]["before"]["stored_key_id"] == old["access_key_id"]
    assert result["diff"]["after"]["stored_key_id"] == new["access_key_id"]
    assert_no_secret(result, old["secret_access_key"], new["secret_access_key"])


def test_rotation_that_is_not_due_changes_nothing(aws, vault, capsys):
    first = run_module(mod, BASE, capsys)
    aws.calls.clear()
    vault.calls.clear()
    result = run_module(mod, dict(BASE, state="rotated", max_age_days=30), capsys)
    assert result["changed"] is False and result["action"] == "unchanged"
    assert aws.mutations() == [] and store_writes(vault) == []
    assert aws.keys("svc") == {first["access_key_id"]: "Active"}


def test_rotation_when_the_key_is_older_than_max_age(aws, vault, capsys):
    first = run_module(mod, BASE, capsys)
    age(aws, first["access_key_id"], days=31)
    result = run_module(mod, dict(BASE, state="rotated", max_age_days=30), capsys)
    assert result["action"] == "rotated"
    new_id = stored(vault)["access_key_id"]
    assert new_id != first["access_key_id"]
    assert aws.keys("svc") == {new_id: "Active"}
    assert evidence_for(result, "read")[0]["details"]["credential_age_days"] >= 31


def test_overlap_keeps_the_old_key_working_until_it_elapses(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old = stored(vault)
    result = run_module(mod, dict(BASE, state="rotated", force=True, overlap_hours=2), capsys)
    assert result["action"] == "rotated"
    new = stored(vault)
    assert new["access_key_id"] != old["access_key_id"]
    assert aws.keys("svc") == {old["access_key_id"]: "Active", new["access_key_id"]: "Active"}
    assert evidence_for(result, "deactivate_old")[0]["outcome"] == "skipped"
    assert result["access_key_id"] == new["access_key_id"]

    aws.calls.clear()
    early = run_module(mod, dict(BASE, state="rotated", overlap_hours=2), capsys)
    assert early["changed"] is False and aws.mutations() == []
    assert len(aws.keys("svc")) == 2

    age(aws, new["access_key_id"], hours=3)
    aws.proofs.clear()
    late = run_module(mod, dict(BASE, state="rotated", overlap_hours=2), capsys)
    assert late["changed"] is True and late["action"] == "resumed"
    assert aws.keys("svc") == {new["access_key_id"]: "Active"}
    assert aws.proofs == [(new["access_key_id"], True), (old["access_key_id"], False)]
    assert vault.kv_read("secret", STORE["path"], version=1)[1]["destroyed"] is True
    assert_no_secret(late, old["secret_access_key"], new["secret_access_key"])


def test_rotation_at_the_two_key_limit_with_an_inactive_key(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old_id = stored(vault)["access_key_id"]
    stray_id, stray_secret = aws.key("svc", status="Inactive")
    assert len(aws.keys("svc")) == 2  # AWS's limit: there is no room for a third key
    aws.calls.clear()
    result = run_module(mod, dict(BASE, state="rotated", force=True), capsys)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True
    new_id = stored(vault)["access_key_id"]
    assert new_id not in (old_id, stray_id)
    assert aws.keys("svc") == {new_id: "Active"}
    assert alive_at_most(aws.calls, start=2) <= 2
    deleted = [e["details"]["key_id"] for e in evidence_for(result, "delete_old")]
    assert sorted(deleted) == sorted([stray_id, old_id])
    names = step_names(result)
    first_delete = [i for i, e in enumerate(result["evidence"]) if e["step"] == "delete_old"][0]
    assert result["evidence"][first_delete]["details"]["key_id"] == stray_id
    assert first_delete < names.index("mint")
    assert_no_secret(result, stray_secret, stored(vault)["secret_access_key"])


def test_present_with_two_keys_nothing_stores_makes_room_first(aws, vault, capsys):
    active_id, _secret = aws.key("svc")
    inactive_id, _secret = aws.key("svc", status="Inactive")
    aws.calls.clear()
    result = run_module(mod, BASE, capsys)
    assert result.get("failed") is not True, result.get("msg")
    new_id = stored(vault)["access_key_id"]
    assert new_id not in (active_id, inactive_id)
    assert aws.keys("svc") == {new_id: "Active"}
    assert alive_at_most(aws.calls, start=2) <= 2
    # The inactive key makes room before the mint; the active one goes only after the new key is proven.
    order = [(e["step"], e["details"].get("key_id")) for e in result["evidence"]
             if e["step"] in ("delete_old", "mint", "prove_new")]
    assert order == [("delete_old", inactive_id), ("mint", new_id), ("prove_new", new_id),
                     ("delete_old", active_id)]


def test_absent_deletes_every_key_and_the_stored_secret(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old = stored(vault)
    other_id, _secret = aws.key("svc", status="Inactive")
    aws.proofs.clear()
    result = run_module(mod, dict(BASE, state="absent"), capsys)
    assert result["changed"] is True and result["action"] == "deleted"
    assert aws.keys("svc") == {}
    assert ("secret", STORE["path"]) not in vault.kv
    assert result["access_key_id"] is None and result["access_keys"] == []
    assert aws.proofs == [(old["access_key_id"], False)]
    proofs = {e["details"]["key_id"]: e["verified"] for e in evidence_for(result, "prove_old_rejected")}
    assert proofs[old["access_key_id"]]["method"] == "sts:GetCallerIdentity" and proofs[old["access_key_id"]]["ok"]
    assert proofs[other_id]["method"] == "iam:ListAccessKeys" and proofs[other_id]["ok"]
    assert evidence_for(result, "destroy_stored", "kv2:delete-metadata")
    assert_no_secret(result, old["secret_access_key"])

    aws.calls.clear()
    again = run_module(mod, dict(BASE, state="absent"), capsys)
    assert again["changed"] is False and aws.mutations() == []


def test_check_mode_mints_stores_and_deletes_nothing(aws, vault, capsys):
    aws.calls.clear()
    result = run_module(mod, BASE, capsys, check_mode=True)
    assert result["changed"] is True and result["action"] == "minted"
    assert aws.keys("svc") == {} and aws.mutations() == []
    assert vault.kv == {} and vault.mutations() == []
    assert ("mint", "would_change") in steps(result)

    run_module(mod, BASE, capsys)
    before_keys, before_store = aws.keys("svc"), stored(vault)
    aws.calls.clear()
    vault.calls.clear()
    for state in ("rotated", "absent"):
        result = run_module(mod, dict(BASE, state=state, force=True), capsys, check_mode=True)
        assert result["changed"] is True
    assert aws.mutations() == [] and vault.mutations() == []
    assert aws.keys("svc") == before_keys and stored(vault) == before_store


def test_store_failure_rolls_back_the_minted_key(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old = stored(vault)
    # lock=false: with the identity lock on, the first kv_write is the lock's and FakeVault.fail fires once.
    vault.fail["kv_write"] = Conflict("storing the credential: the stored secret changed under us "
                                      "(check-and-set failed)")
    result = run_module(mod, dict(BASE, state="rotated", force=True, lock=False), capsys)
    assert result["failed"] is True and "check-and-set" in result["msg"]
    rollback = evidence_for(result, "rollback")
    assert len(rollback) == 1 and rollback[0]["outcome"] == "changed"
    minted = evidence_for(result, "mint")[0]["details"]["key_id"]
    assert rollback[0]["details"]["key_id"] == minted != old["access_key_id"]
    assert aws.keys("svc") == {old["access_key_id"]: "Active"}  # no extra key left; the working one untouched
    assert minted not in aws.backend().access_keys
    assert stored(vault) == old and vault.kv[("secret", STORE["path"])]["current"] == 1
    assert_no_secret(result, old["secret_access_key"])


def test_stored_key_deleted_out_of_band_is_replaced(aws, vault, capsys):
    run_module(mod, BASE, capsys)
    old_id = stored(vault)["access_key_id"]
    aws.iam.delete_access_key(UserName="svc", AccessKeyId=old_id)
    result = run_module(mod, BASE, capsys)
    assert result["changed"] is True and result["action"] == "minted"
    new = stored(vault)
    assert new["access_key_id"] != old_id
    assert aws.keys("svc") == {new["access_key_id"]: "Active"}
    assert vault.kv_read("secret", STORE["path"], version=1)[1]["destroyed"] is True


def test_missing_user(aws, vault, capsys):
    result = run_module(mod, dict(BASE, user_name="ghost"), capsys)
    assert result["failed"] is True and "IAM user 'ghost' does not exist" in result["msg"]
    assert vault.kv == {}
    # Offboarding a user that is already gone still removes the stored copy, after proving it rejected.
    vault.put(STORE["path"], {"access_key_id": "AKIAGHOSTGHOSTGHOST1", "secret_access_key": "ghost-secret-value"})
    gone = run_module(mod, dict(BASE, user_name="ghost", state="absent"), capsys)
    assert gone.get("failed") is not True, gone.get("msg")
    assert ("secret", STORE["path"]) not in vault.kv
    assert aws.proofs == [("AKIAGHOSTGHOSTGHOST1", False)]
    assert_no_secret(gone, "ghost-secret-value")


def test_inactive_deactivates_every_key_without_touching_the_store(aws, vault, capsys):
    k1, _s = aws.key("svc")
    k2, _s = aws.key("svc")
    result = run_module(mod, {"user_name": "svc", "state": "inactive"}, capsys)
    assert result["changed"] is True and result["action"] == "deactivated"
    assert aws.keys("svc") == {k1: "Inactive", k2: "Inactive"}
    assert vault.calls == []
    assert result["access_key_id"] is None and "stored" not in result
    assert sorted(e["details"]["key_id"] for e in evidence_for(result, "deactivate_old")) == sorted([k1, k2])


def test_batch_one_failure_does_not_stop_the_others(aws, vault, capsys):
    aws.user("svc-b")
    targets = [{"user_name": "svc", "store": {"path": "nhi/unit/a"}},
               {"user_name": "ghost", "store": {"path": "nhi/unit/ghost"}},
               {"user_name": "svc-b", "store": {"path": "nhi/unit/b"}}]
    result = run_module(mod, {"targets": targets, "fail_on_error": False, "proof_deadline": 0}, capsys)
    assert [r["identity"] for r in result["results"]] == ["svc", "ghost", "svc-b"]
    assert result["summary"] == {"total": 3, "changed": 2, "failed": 1}
    assert result["failed_identities"] == ["ghost"]
    secrets = []
    for user, path in (("svc", "nhi/unit/a"), ("svc-b", "nhi/unit/b")):
        data = stored(vault, path)
        assert aws.keys(user) == {data["access_key_id"]: "Active"}
        secrets.append(data["secret_access_key"])
    assert stored(vault, "nhi/unit/ghost") is None
    assert_no_secret(result, *secrets)

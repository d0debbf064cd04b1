# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""credential_verify against an in-memory KV v2, with every proof answered from fake backend state.

The module reads the credential from the fake KV store and dispatches it to the prover of its kind. The
network-facing provers are replaced so that their verdict follows the fakes: an AppRole secret_id is accepted
while the fake role still has it, a Vault token while the fake still knows it, an AWS key while the fake IAM
still has it active, and a GCP key file while the fake account still has that key id with that private key.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _gcp, _proofs, _vault
from ansible_collections.nhi.lifecycle.plugins.modules import credential_verify as mod

from vault_fakes import FakeVault, assert_no_secret, run_module  # noqa: E402

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY1"
GCP_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7fakekeymaterial0123456789"


class FakeAWS(object):
    """What STS GetCallerIdentity would answer: a key works while it is Active in the fake IAM."""

    def __init__(self):
        self.keys = {}   # access key id -> {"secret": str, "active": bool, "user": str}
        self.asked = []

    def prove_key(self, access_key_id, secret_access_key, session_token=None):
        self.asked.append(access_key_id)
        key = self.keys.get(access_key_id)
        if key and key["active"] and key["secret"] == secret_access_key:
            return True, "arn:aws:iam::123456789012:user/nhi/%s" % key["user"]
        return False, "InvalidClientTokenId"


class FakeGCP(object):
    """What the OAuth JWT-bearer exchange would answer: a key file works while its key is enabled."""

    def __init__(self):
        self.keys = {}   # key id -> {"private_key": str, "enabled": bool}
        self.asked = []

    def prove_key(self, info, scopes=_gcp.SCOPES):
        self.asked.append(info["private_key_id"])
        key = self.keys.get(info["private_key_id"])
        if key and key["enabled"] and key["private_key"] == info["private_key"]:
            return True, "access token issued to %s" % info["client_email"]
        return False, "token endpoint refused the grant: invalid_grant: Invalid JWT Signature."


@pytest.fixture
def env(monkeypatch):
    vault = FakeVault().install(monkeypatch)
    aws, gcp = FakeAWS(), FakeGCP()
    monkeypatch.setattr(_aws, "client", lambda *a, **k: aws)
    monkeypatch.setattr(_gcp, "client", lambda *a, **k: gcp)
    proofs = []

    def prove_approle(conn, data, mount="approle"):
        assert conn is vault
        used = data.get("mount") or mount
        proofs.append(("approle", used, data["secret_id"]))
        for (role_mount, _name), role in vault.roles.items():
            if role_mount != used or role["role_id"] != data["role_id"]:
                continue
            for accessor, info in role["secret_ids"].items():
                if info["secret_id"] == data["secret_id"] and not _vault.secret_id_expired(info):
                    return True, "login ok (accessor %s)" % accessor
        return False, "login refused (HTTP 400)"

    def prove_vault_token(conn, data):
        assert conn is vault
        proofs.append(("token", None, data["token"]))
        return vault.token_lookup_self(conn, data["token"])

    monkeypatch.setattr(_proofs, "prove_approle", prove_approle)
    monkeypatch.setattr(_proofs, "prove_vault_token", prove_vault_token)

    class Env(object):
        pass

    e = Env()
    e.vault, e.aws, e.gcp, e.proofs = vault, aws, gcp, proofs
    return e


def _approle(env, path="nhi/dev/etl-loader", role="etl-loader", mount="approle", store_mount=True):
    """A role with one secret_id, stored the way vault_approle stores it; returns (secret_id, accessor)."""
    found = env.vault.roles.get((mount, role)) or env.vault.add_role(role, mount=mount)
    secret_id, accessor = env.vault.add_secret_id(role, mount=mount)
    data = {"role_id": found["role_id"], "secret_id": secret_id, "secret_id_accessor": accessor, "role_name": role}
    if store_mount:
        data["mount"] = mount
    env.vault.put(path, data)
    return secret_id, accessor


def _revoke(env, accessor, role="etl-loader", mount="approle"):
    env.vault.roles[(mount, role)]["secret_ids"].pop(accessor)


def _gcp_key(env, path, key_id, enabled=True):
    private = "-----BEGIN PRIVATE KEY-----\n%s%s\n-----END PRIVATE KEY-----\n" % (GCP_KEY_BODY, key_id)
    env.gcp.keys[key_id] = {"private_key": private, "enabled": enabled}
    key_file = {"type": "service_account", "project_id": "unit-project", "private_key_id": key_id,
                "private_key": private, "client_email": "svc-unit@unit-project.iam.gserviceaccount.com",
                "token_uri": "http://127.0.0.1:1/token"}
    env.vault.put(path, {"private_key_json": json.dumps(key_file), "key_id": key_id})
    return private


def test_a_working_approle_secret_id_is_accepted(env, capsys):
    secret_id, accessor = _approle(env)
    result = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}}, capsys)
    assert "failed" not in result and result["changed"] is False
    assert (result["identity"], result["kind"], result["verdict"], result["ok"]) == (
        "etl-loader", "vault_approle", "accepted", True)
    assert result["credential_id"] == accessor and result["detail"] == "login ok (accessor %s)" % accessor
    (entry,) = result["evidence"]
    assert (entry["step"], entry["system"], entry["action"], entry["outcome"]) == (
        "prove_new", "vault", "vault:auth/approle/login", "unchanged")
    assert entry["target"] == "vault:secret/nhi/dev/etl-loader#%s" % accessor
    assert entry["verified"] == dict(entry["verified"], method="vault:auth/approle/login", expect="accepted",
                                     result="accepted", ok=True)
    assert env.proofs == [("approle", "approle", secret_id)]  # the stored secret_id was the one tried
    assert_no_secret(result, secret_id)
    assert env.vault.mutations() == []


def test_a_revoked_secret_id_is_rejected_and_that_can_be_the_expectation(env, capsys):
    secret_id, accessor = _approle(env)
    _revoke(env, accessor)
    args = {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "expect": "rejected"}
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert (result["verdict"], result["ok"], result["detail"]) == ("rejected", True, "login refused (HTTP 400)")
    (entry,) = result["evidence"]
    assert entry["step"] == "prove_old_rejected" and entry["outcome"] == "unchanged"
    assert entry["verified"]["expect"] == "rejected" and entry["verified"]["result"] == "rejected"
    assert_no_secret(result, secret_id)


@pytest.mark.parametrize("revoked,expect,got", [(True, "accepted", "rejected"), (False, "rejected", "accepted")])
def test_a_verdict_other_than_expected_fails_with_a_clear_message(env, capsys, revoked, expect, got):
    secret_id, accessor = _approle(env)
    if revoked:
        _revoke(env, accessor)
    args = {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "expect": expect, "proof_deadline": 0}
    result = run_module(mod, args, capsys)
    assert result["failed"] is True
    assert result["msg"] == "the credential was %s but should have been %s \u2014 at identity etl-loader" % (
        got, expect)
    assert result["verdict"] == got and result["ok"] is False
    (entry,) = result["evidence"]
    assert entry["outcome"] == "failed" and entry["verified"]["ok"] is False and "should have been" in entry["error"]
    assert_no_secret(result, secret_id)


def test_check_mode_still_proves_and_changes_nothing(env, capsys):
    secret_id, accessor = _approle(env)
    result = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}}, capsys,
                        check_mode=True)
    assert result["changed"] is False and result["verdict"] == "accepted" and result["ok"] is True
    assert result["evidence"][0]["outcome"] == "unchanged"
    assert env.proofs == [("approle", "approle", secret_id)]
    _revoke(env, accessor)
    rejected = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "proof_deadline": 0},
                          capsys, check_mode=True)
    assert rejected["failed"] is True and rejected["verdict"] == "rejected"
    assert env.vault.mutations() == []


def test_an_older_version_is_proven_with_its_own_credential(env, capsys):
    old_sid, old_acc = _approle(env)
    new_sid, new_acc = _approle(env)  # version 2 of the same store
    _revoke(env, old_acc)
    old = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "version": 1,
                           "expect": "rejected"}, capsys)
    assert old["credential_id"] == old_acc and old["verdict"] == "rejected" and old["ok"] is True
    assert old["evidence"][0]["target"] == "vault:secret/nhi/dev/etl-loader@v1#%s" % old_acc
    new = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}}, capsys)
    assert new["credential_id"] == new_acc and new["verdict"] == "accepted"
    assert [p[2] for p in env.proofs] == [old_sid, new_sid]
    assert_no_secret(old, old_sid, new_sid)
    assert_no_secret(new, old_sid, new_sid)


def test_approle_mount_is_used_when_the_store_does_not_name_one(env, capsys):
    secret_id, _accessor = _approle(env, mount="approle-ci", store_mount=False)
    args = {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "proof_deadline": 0}
    wrong = run_module(mod, args, capsys)
    assert wrong["failed"] is True and wrong["verdict"] == "rejected"
    right = run_module(mod, dict(args, approle_mount="approle-ci"), capsys)
    assert right["verdict"] == "accepted" and "failed" not in right
    assert [p[1] for p in env.proofs] == ["approle", "approle-ci"]
    assert_no_secret(right, secret_id)


def test_vault_token_accepted_then_rejected_after_revocation(env, capsys):
    token, accessor = env.vault.add_token(policies=["nhi-reader"])
    env.vault.put("nhi/dev/reporter", {"token": token, "accessor": accessor}, mount="kv")
    args = {"kind": "vault_token", "store": {"mount": "kv", "path": "nhi/dev/reporter"}, "proof_deadline": 0}
    live = run_module(mod, args, capsys)
    assert (live["verdict"], live["ok"], live["credential_id"]) == ("accepted", True, accessor)
    assert live["evidence"][0]["action"] == "vault:auth/token/lookup-self" and live["identity"] == "reporter"
    env.vault.token_revoke_accessor(None, accessor)
    revoked = run_module(mod, dict(args, expect="rejected"), capsys)
    assert (revoked["verdict"], revoked["ok"], revoked["detail"]) == ("rejected", True, "permission denied")
    assert env.proofs == [("token", None, token), ("token", None, token)]
    assert_no_secret(live, token)
    assert_no_secret(revoked, token)


def test_aws_key_is_proven_through_the_connection_and_follows_iam_state(env, capsys):
    env.aws.keys["AKIAUNITTEST00000001"] = {"secret": AWS_SECRET, "active": True, "user": "ci-deployer"}
    env.vault.put("nhi/dev/ci-deployer", {"access_key_id": "AKIAUNITTEST00000001", "secret_access_key": AWS_SECRET})
    args = {"kind": "aws_access_key", "store": {"path": "nhi/dev/ci-deployer"}, "proof_deadline": 0,
            "aws_region": "us-east-1"}
    live = run_module(mod, args, capsys)
    assert (live["verdict"], live["credential_id"]) == ("accepted", "AKIAUNITTEST00000001")
    assert live["detail"] == "arn:aws:iam::123456789012:user/nhi/ci-deployer"
    assert live["evidence"][0]["system"] == "aws_sts" and live["evidence"][0]["action"] == "sts:GetCallerIdentity"
    env.aws.keys["AKIAUNITTEST00000001"]["active"] = False
    dead = run_module(mod, args, capsys)
    assert dead["failed"] is True and dead["verdict"] == "rejected" and dead["detail"] == "InvalidClientTokenId"
    assert env.aws.asked == ["AKIAUNITTEST00000001", "AKIAUNITTEST00000001"]
    assert_no_secret(live, AWS_SECRET)
    assert_no_secret(dead, AWS_SECRET)


def test_gcp_key_file_is_proven_and_no_key_material_is_returned(env, capsys):
    private = _gcp_key(env, "nhi/dev/svc-unit", "0123456789abcdef0123456789abcdef01234567")
    args = {"kind": "gcp_service_account_key", "store": {"path": "nhi/dev/svc-unit"}, "proof_deadline": 0}
    live = run_module(mod, args, capsys)
    assert (live["verdict"], live["credential_id"]) == ("accepted", "0123456789abcdef0123456789abcdef01234567")
    assert live["evidence"][0]["system"] == "gcp_oauth" and live["evidence"][0]["action"] == "oauth2:jwt-bearer"
    assert live["detail"] == "access token issued to svc-unit@unit-project.iam.gserviceaccount.com"
    env.gcp.keys["0123456789abcdef0123456789abcdef01234567"]["enabled"] = False
    dead = run_module(mod, dict(args, expect="rejected"), capsys)
    assert dead["verdict"] == "rejected" and dead["ok"] is True
    for result in (live, dead):
        blob = json.dumps(result)
        assert "PRIVATE KEY" not in blob and GCP_KEY_BODY not in blob
        assert_no_secret(result, private, env.vault.latest("nhi/dev/svc-unit")["private_key_json"])


@pytest.mark.parametrize("version,where", [(None, "store secret/nhi/dev/nothing"),
                                           (3, "store secret/nhi/dev/nothing version 3")])
def test_no_stored_credential_fails_and_says_where(env, capsys, version, where):
    args = {"kind": "vault_token", "store": {"path": "nhi/dev/nothing"}}
    if version:
        env.vault.put("nhi/dev/nothing", {"token": "hvs.some-other-token-value"})
        args["version"] = version
    result = run_module(mod, args, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("no vault_token credential is stored there (missing, deleted or destroyed)")
    assert "at %s \u2014" % where in result["msg"] and "provision the identity first" in result["msg"]
    assert "verdict" not in result and result["evidence"][0]["outcome"] == "failed"
    assert env.proofs == []


def test_a_destroyed_version_or_a_record_without_the_secret_field_is_not_proven(env, capsys):
    _approle(env)
    env.vault.kv_destroy_versions("secret", "nhi/dev/etl-loader", [1])
    env.vault.put("nhi/dev/half", {"role_id": "r", "secret_id_accessor": "a"})
    for store in ({"path": "nhi/dev/etl-loader"}, {"path": "nhi/dev/half"}):
        result = run_module(mod, {"kind": "vault_approle", "store": store}, capsys)
        assert result["failed"] is True and "no vault_approle credential is stored there" in result["msg"]
    assert env.proofs == []


def test_batch_one_failing_identity_does_not_stop_the_others(env, capsys):
    sid_a, acc_a = _approle(env, path="nhi/dev/a", role="a")
    sid_b, acc_b = _approle(env, path="nhi/dev/b", role="b")
    sid_c, _acc_c = _approle(env, path="nhi/dev/c", role="c")
    _revoke(env, acc_b, role="b")
    token, tok_acc = env.vault.add_token()
    env.vault.put("nhi/dev/t", {"token": token, "accessor": tok_acc})
    targets = [{"store": {"path": "nhi/dev/a"}}, {"store": {"path": "nhi/dev/b"}},
               {"store": {"path": "nhi/dev/c"}, "identity": "see"},
               {"store": {"path": "nhi/dev/t"}, "kind": "vault_token"}]
    args = {"kind": "vault_approle", "targets": targets, "proof_deadline": 0, "fail_on_error": False}
    result = run_module(mod, args, capsys)
    assert "failed" not in result and result["changed"] is False
    assert result["summary"] == {"total": 4, "changed": 0, "failed": 1} and result["failed_identities"] == ["b"]
    by_id = {r["identity"]: r for r in result["results"]}
    assert [r["identity"] for r in result["results"]] == ["a", "b", "see", "t"]
    assert [by_id[i]["verdict"] for i in ("a", "b", "see", "t")] == ["accepted", "rejected", "accepted", "accepted"]
    assert by_id["b"]["msg"] == "the credential was rejected but should have been accepted \u2014 at identity b"
    assert by_id["a"]["credential_id"] == acc_a and by_id["t"]["kind"] == "vault_token"
    assert sorted(e["identity"] for e in result["evidence"]) == ["a", "b", "see", "t"]
    strict = run_module(mod, dict(args, fail_on_error=True), capsys)
    assert strict["failed"] is True
    assert strict["msg"].startswith("1 of 4 targets failed: b: the credential was rejected")
    assert [r["verdict"] for r in strict["results"]] == ["accepted", "rejected", "accepted", "accepted"]
    for out in (result, strict):
        assert_no_secret(out, sid_a, sid_b, sid_c, token)


@pytest.mark.parametrize("args,expected", [
    ({"kind": "vault_token", "store": {"path": "x"}, "version": 0}, "versions are numbered from 1 \u2014 at version"),
    ({"kind": "vault_token", "store": {"path": "x"}, "proof_deadline": -1}, "proof_deadline cannot be negative"),
    ({"kind": "vault_token", "store": {"path": "/abs"}}, "malformed KV path '/abs' \u2014 at store.path"),
    ({"kind": "vault_token", "store": {"path": "x", "mount": "a/../b"}},
     "malformed KV path 'a/../b' \u2014 at store.mount"),
    ({"store": {"path": "x"}}, "missing required arguments: kind"),
    ({"kind": "vault_token", "targets": [{"store": {"path": "ok"}}, {"store": {"path": "../up"}}]},
     "targets[1]: malformed KV path '../up'"),
])
def test_bad_input_proves_nothing(env, capsys, args, expected):
    env.vault.put("ok", {"token": "hvs.a-token-that-must-not-be-tried"})
    result = run_module(mod, args, capsys)
    assert result["failed"] is True and result["msg"].startswith("invalid input, nothing was changed: ")
    assert expected in result["msg"]
    assert env.proofs == []


def test_an_eventually_consistent_backend_is_polled_until_the_expected_verdict(env, capsys, monkeypatch):
    secret_id, accessor = _approle(env)
    pending = {accessor: env.vault.roles[("approle", "etl-loader")]["secret_ids"].pop(accessor)}
    real = _proofs.prove_approle

    def propagating(conn, data, mount="approle"):
        answer = real(conn, data, mount)
        env.vault.roles[("approle", "etl-loader")]["secret_ids"].update(pending)  # visible from the next call on
        return answer

    monkeypatch.setattr(_proofs, "prove_approle", propagating)
    result = run_module(mod, {"kind": "vault_approle", "store": {"path": "nhi/dev/etl-loader"}, "proof_deadline": 5},
                        capsys)
    assert result["verdict"] == "accepted" and "failed" not in result
    assert [p[2] for p in env.proofs] == [secret_id, secret_id]


def test_a_prover_that_echoes_the_secret_is_withheld(env, capsys, monkeypatch):
    token, accessor = env.vault.add_token()
    env.vault.put("nhi/dev/leaky", {"token": token, "accessor": accessor})
    monkeypatch.setattr(_proofs, "prove_vault_token", lambda conn, data: (True, "accepted %s" % data["token"]))
    result = run_module(mod, {"kind": "vault_token", "store": {"path": "nhi/dev/leaky"}}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("internal error: a result would have carried secret material; it was withheld")
    assert "verdict" not in result and "evidence" not in result
    assert_no_secret(result, token)


def test_an_incomplete_gcp_key_file_is_reported_as_damaged(env, capsys, monkeypatch):
    pytest.importorskip("google.auth")
    real = _gcp.GCPConnection({"gcp_access_token": "unit-admin-token", "gcp_endpoint": "http://127.0.0.1:1"})
    monkeypatch.setattr(_gcp, "client", lambda *a, **k: real)
    key_file = {"type": "service_account", "private_key_id": "k-incomplete", "client_email": "svc@p.iam.x",
                "private_key": "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----\n" % GCP_KEY_BODY}
    env.vault.put("nhi/dev/damaged", {"private_key_json": json.dumps(key_file), "key_id": "k-incomplete"})
    result = run_module(mod, {"kind": "gcp_service_account_key", "store": {"path": "nhi/dev/damaged"}}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("the stored key file of key k-incomplete cannot be read")
    assert "rotate with force=true" in result["msg"] and result["credential_id"] == "k-incomplete"
    assert result["evidence"][0]["outcome"] == "failed" and "cannot be read" in result["evidence"][0]["error"]
    assert GCP_KEY_BODY not in json.dumps(result)


def test_a_gcp_key_file_that_is_not_json_is_reported_as_damaged(env, capsys):
    env.vault.put("nhi/dev/garbled", {"private_key_json": "{not json %s" % GCP_KEY_BODY, "key_id": "k-garbled"})
    result = run_module(mod, {"kind": "gcp_service_account_key", "store": {"path": "nhi/dev/garbled"}}, capsys)
    assert result["failed"] is True and GCP_KEY_BODY not in json.dumps(result)
    assert "nhi/dev/garbled" in result["msg"] and "stored key file cannot be read" in result["msg"]
    assert result["evidence"] and result["evidence"][0]["outcome"] == "failed"

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""vault_kv_secret_info against an in-memory KV v2: metadata of one secret, a batch, or a listed folder."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.modules import vault_kv_secret_info as mod

from vault_fakes import FakeVault, assert_no_secret, run_module  # noqa: E402

PATH = "nhi/dev/etl-loader"
SECRET = "planted-secret-value-5f1c9e2a7b"
OLD_SECRET = "planted-old-secret-value-0d3b44"
METADATA_KEYS = {"exists", "live", "current_version", "oldest_version", "created_time", "updated_time", "age_days",
                 "custom_metadata", "max_versions", "cas_required", "delete_version_after", "versions"}


@pytest.fixture
def fake(monkeypatch):
    return FakeVault().install(monkeypatch)


def test_single_read_returns_every_documented_metadata_key_and_no_value(fake, capsys):
    fake.put(PATH, {"password": OLD_SECRET}, custom={"nhi_identity": "etl-loader", "kind": "vault_approle"})
    fake.put(PATH, {"password": SECRET, "nested": {"deep": SECRET}})
    fake.kv[("secret", PATH)]["max_versions"] = 5
    result = run_module(mod, {"path": PATH}, capsys)
    assert METADATA_KEYS <= set(result)
    assert (result["identity"], result["mount"], result["path"]) == ("secret/" + PATH, "secret", PATH)
    assert result["exists"] is True and result["live"] is True and result["current_version"] == 2
    assert result["custom_metadata"] == {"nhi_identity": "etl-loader", "kind": "vault_approle"}
    assert result["max_versions"] == 5 and result["cas_required"] is False and result["oldest_version"] == 0
    assert result["delete_version_after"] == "0s"
    assert result["created_time"] == "2026-01-01T00:00:00.000Z" and result["updated_time"] == "2026-01-02T00:00:00.000Z"
    assert [v["version"] for v in result["versions"]] == [1, 2]
    assert all(set(v) == {"version", "created_time", "deletion_time", "destroyed"} for v in result["versions"])
    assert result["versions"][1]["deletion_time"] is None and result["versions"][1]["destroyed"] is False
    assert 0 <= result["age_days"] < 0.01
    assert result["changed"] is False and result["evidence"] == [] and "failed" not in result
    assert_no_secret(result, SECRET, OLD_SECRET)
    assert fake.mutations() == []


def test_a_deleted_or_destroyed_latest_version_exists_but_is_not_live(fake, capsys):
    fake.put(PATH, {"password": OLD_SECRET})
    fake.put(PATH, {"password": SECRET})
    fake.kv_delete_latest("secret", PATH)
    deleted = run_module(mod, {"path": PATH}, capsys)
    assert deleted["exists"] is True and deleted["live"] is False and deleted["current_version"] == 2
    assert deleted["versions"][1]["deletion_time"] == "2026-01-01T00:00:00.000Z"
    assert deleted["versions"][0]["deletion_time"] is None
    fake.kv_destroy_versions("secret", PATH, [1])
    destroyed = run_module(mod, {"path": PATH}, capsys)
    assert [v["destroyed"] for v in destroyed["versions"]] == [True, False] and destroyed["live"] is False
    assert_no_secret(destroyed, SECRET, OLD_SECRET)


def test_a_latest_version_scheduled_for_deletion_is_still_live():
    """delete_version_after gives every version a deletion_time in the future."""
    view = mod.metadata_view({"current_version": 1, "created_time": "2026-11-01T00:00:00.123456789Z",
                              "updated_time": "2026-11-01T00:00:00.123456789Z", "delete_version_after": "720h0m0s",
                              "versions": {"1": {"created_time": "2026-11-01T00:00:00.123456789Z",
                                                 "deletion_time": "2099-01-01T00:00:00.123456789Z",
                                                 "destroyed": False}}})
    assert view["live"] is True and view["versions"][0]["deletion_time"] == "2099-01-01T00:00:00.123Z"


def test_a_missing_secret_is_reported_not_failed(fake, capsys):
    result = run_module(mod, {"path": "nhi/dev/never-written"}, capsys)
    assert "failed" not in result and result["changed"] is False
    assert result["exists"] is False and result["live"] is False
    assert result["current_version"] is None and result["age_days"] is None and result["created_time"] is None
    assert result["versions"] == [] and result["custom_metadata"] == {}


def test_other_mount_explicit_identity_and_check_mode(fake, capsys):
    fake.put(PATH, {"password": SECRET}, mount="kv-team", custom={"owner": "team"})
    fake.put(PATH, {"password": "value-in-the-default-mount-99"})
    args = {"path": PATH, "mount": "kv-team", "identity": "etl-loader"}
    result = run_module(mod, args, capsys, check_mode=True)
    assert (result["identity"], result["mount"]) == ("etl-loader", "kv-team")
    assert result["custom_metadata"] == {"owner": "team"} and result["current_version"] == 1
    assert result["changed"] is False and fake.mutations() == []
    assert_no_secret(result, SECRET, "value-in-the-default-mount-99")


def test_batch_reads_each_target_and_counts(fake, capsys):
    fake.put("nhi/dev/a", {"k": SECRET}, custom={"nhi_identity": "a"})
    fake.put("nhi/dev/b", {"k": SECRET})
    fake.put("nhi/dev/b", {"k": SECRET})
    result = run_module(mod, {"targets": [{"path": "nhi/dev/a"}, {"path": "nhi/dev/b", "identity": "bee"},
                                          {"path": "nhi/dev/gone"}]}, capsys)
    assert result["summary"] == {"total": 3, "changed": 0, "failed": 0} and result["failed_identities"] == []
    assert [r["identity"] for r in result["results"]] == ["secret/nhi/dev/a", "bee", "secret/nhi/dev/gone"]
    assert [r["current_version"] for r in result["results"]] == [1, 2, None]
    assert [r["exists"] for r in result["results"]] == [True, True, False]
    assert result["results"][0]["custom_metadata"] == {"nhi_identity": "a"}
    assert result["changed"] is False and result["evidence"] == [] and "secrets" not in result
    assert_no_secret(result, SECRET)


def test_batch_target_read_error_fails_that_target_only(fake, capsys, monkeypatch):
    fake.put("nhi/dev/a", {"k": SECRET})
    fake.put("nhi/dev/b", {"k": SECRET})
    real = fake.kv_metadata

    def metadata(mount, path):
        if path == "nhi/dev/b":
            raise NHIError("reading the secret's metadata: permission denied", where="vault kv %s/%s" % (mount, path))
        return real(mount, path)

    monkeypatch.setattr(fake, "kv_metadata", metadata)
    args = {"targets": [{"path": "nhi/dev/a"}, {"path": "nhi/dev/b"}], "fail_on_error": False}
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert result["summary"] == {"total": 2, "changed": 0, "failed": 1}
    assert result["failed_identities"] == ["secret/nhi/dev/b"]
    assert result["results"][0]["exists"] is True
    assert "permission denied" in result["results"][1]["msg"] and "nhi/dev/b" in result["results"][1]["msg"]
    strict = run_module(mod, dict(args, fail_on_error=True), capsys)
    assert strict["failed"] is True and strict["msg"].startswith("1 of 2 targets failed: secret/nhi/dev/b: ")


def test_listing_form_returns_metadata_only_sorted_and_excludes(fake, capsys):
    fake.put("nhi/dev/zeta", {"k": SECRET}, custom={"nhi_identity": "zeta"})
    fake.put("nhi/dev/alpha", {"k": SECRET}, custom={"nhi_identity": "alpha"})
    fake.put("nhi/dev/team/mid", {"k": SECRET, "also": OLD_SECRET})
    fake.put("nhi/dev/team/covered", {"k": SECRET})
    fake.put("nhi/prod/other", {"k": SECRET})
    fake.kv_delete_latest("secret", "nhi/dev/team/mid")
    fake.calls.clear()
    result = run_module(mod, {"path_prefix": "nhi/dev/", "exclude": ["/nhi/dev/team/covered/"]}, capsys)
    assert [s["path"] for s in result["secrets"]] == ["nhi/dev/alpha", "nhi/dev/team/mid", "nhi/dev/zeta"]
    assert (result["listed"], result["excluded"]) == (4, 1)
    for secret in result["secrets"]:
        assert set(secret) == METADATA_KEYS | {"mount", "path"} and secret["mount"] == "secret"
    assert result["secrets"][0]["custom_metadata"] == {"nhi_identity": "alpha"}
    assert result["secrets"][1]["exists"] is True and result["secrets"][1]["live"] is False
    assert result["changed"] is False and result["evidence"] == []
    assert "results" not in result and "path" not in result
    assert_no_secret(result, SECRET, OLD_SECRET)
    assert fake.mutations() == []


def test_listing_max_keys_is_a_ceiling_not_an_exact_count(fake, capsys):
    for n in range(3):
        fake.put("nhi/dev/s%d" % n, {"k": SECRET})
    assert run_module(mod, {"path_prefix": "nhi/dev", "max_keys": 3}, capsys)["listed"] == 3
    result = run_module(mod, {"path_prefix": "nhi/dev", "max_keys": 2}, capsys)
    assert result["failed"] is True and "secrets" not in result
    assert result["msg"].startswith("more than 2 secrets under secret/nhi/dev")
    assert result["where"] == "vault kv secret/nhi/dev" and "raise max_keys" in result["hint"]


def test_listing_fails_with_the_paths_whose_metadata_could_not_be_read(fake, capsys, monkeypatch):
    fake.put("nhi/dev/ok", {"k": SECRET})
    fake.put("nhi/dev/locked", {"k": SECRET})
    real = fake.kv_metadata

    def metadata(mount, path):
        if path.endswith("locked"):
            raise NHIError("reading the secret's metadata: permission denied")
        return real(mount, path)

    monkeypatch.setattr(fake, "kv_metadata", metadata)
    result = run_module(mod, {"path_prefix": "nhi/dev"}, capsys)
    assert result["failed"] is True
    assert result["msg"] == ("reading the metadata of 1 of 2 listed secrets failed: "
                             "secret/nhi/dev/locked: reading the secret's metadata: permission denied")
    assert_no_secret(result, SECRET)


def test_path_or_targets_take_precedence_over_path_prefix(fake, capsys):
    fake.put(PATH, {"k": SECRET})
    fake.put("nhi/dev/other", {"k": SECRET})
    single = run_module(mod, {"path": PATH, "path_prefix": "nhi/dev"}, capsys)
    assert single["path"] == PATH and "secrets" not in single and "listed" not in single
    batch = run_module(mod, {"targets": [{"path": PATH}], "path_prefix": "nhi/dev"}, capsys)
    assert [r["path"] for r in batch["results"]] == [PATH] and "secrets" not in batch
    assert not [c for c in fake.calls if c[0] == "kv_list"]


@pytest.mark.parametrize("args,expected", [
    ({"path": "/abs/path"}, "malformed KV path '/abs/path' \u2014 at path"),
    ({"path": "nhi/../root"}, "malformed KV path 'nhi/../root' \u2014 at path"),
    ({"path": "nhi//dev"}, "malformed KV path 'nhi//dev' \u2014 at path"),
    ({"path": "x", "mount": ""}, "malformed KV mount '' \u2014 at mount"),
    ({"targets": [{"path": "ok/one"}, {"path": "../up"}]}, "targets[1]: malformed KV path '../up'"),
    ({"targets": [{"path": "ok/one"}, {"mount": "secret"}]}, "targets[1]: path is required \u2014 at path"),
])
def test_bad_input_names_the_field_and_reads_nothing(fake, capsys, monkeypatch, args, expected):
    fake.put("ok/one", {"k": SECRET})
    monkeypatch.setattr(fake, "kv_metadata", lambda *a, **k: pytest.fail("metadata was read despite bad input"))
    result = run_module(mod, args, capsys)
    assert result["failed"] is True and result["msg"].startswith("invalid input, nothing was changed: ")
    assert expected in result["msg"]


@pytest.mark.parametrize("args,expected,where", [
    ({"path_prefix": "../etc"}, "malformed KV path_prefix '../etc'", "path_prefix"),
    ({"path_prefix": "/"}, "malformed KV path_prefix '/'", "path_prefix"),
    ({"path_prefix": "nhi/dev", "mount": "/secret"}, "malformed KV mount '/secret'", "mount"),
])
def test_bad_listing_input_fails_before_listing(fake, capsys, args, expected, where):
    result = run_module(mod, args, capsys)
    assert result["failed"] is True and result["msg"].startswith(expected)
    assert result["where"] == where and "relative path" in result["hint"]
    assert fake.calls == []


def test_unreachable_vault_is_a_readable_failure(capsys, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise NHIError("Vault rejected the token (invalid, expired or revoked)", where="vault_token / VAULT_TOKEN",
                       hint="log in again and export a fresh VAULT_TOKEN")

    monkeypatch.setattr(_vault, "client", refuse)
    result = run_module(mod, {"path": PATH}, capsys)
    assert result["failed"] is True and result["msg"].startswith("Vault rejected the token")
    assert result["where"] == "vault_token / VAULT_TOKEN" and "fresh VAULT_TOKEN" in result["hint"]
    assert "unit-test-token" not in json.dumps(result)


@pytest.mark.parametrize("path", ["nhi/./dev", "nhi/dev/.", "nhi/dev\n"])
def test_dot_segments_and_control_characters_are_refused_like_vault_kv_secret(fake, capsys, path):
    assert _vault.malformed_path(path)
    result = run_module(mod, {"path": path}, capsys)
    assert result.get("failed") is True and "malformed KV path" in result["msg"]

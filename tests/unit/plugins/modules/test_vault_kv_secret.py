# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""vault_kv_secret and vault_kv_secret_info against an in-memory KV v2."""

from __future__ import annotations

import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.modules import vault_kv_secret as mod
from ansible_collections.nhi.lifecycle.plugins.modules import vault_kv_secret_info as info_mod

from vault_fakes import FakeVault, run_module  # noqa: E402

PATH = "apps/unit/db"
SECRET = "correct-horse-battery-staple"


@pytest.fixture
def fake(monkeypatch):
    return FakeVault().install(monkeypatch)


def test_masking_shows_keys_and_changes_only():
    assert mod.masked({"b": 1, "a": "x"}) == {"a": mod.HIDDEN, "b": mod.HIDDEN}
    assert mod.masked(None) is None
    assert mod.masked_after({"a": "1", "b": "2"}, {"a": "1", "b": "3", "c": "4"}) == {
        "a": mod.HIDDEN, "b": mod.CHANGED, "c": mod.CHANGED}


def test_latest_state():
    assert mod.latest_state(None) == (None, False)
    assert mod.latest_state({"current_version": 2, "versions": {"2": {"deletion_time": ""}}}) == (2, True)
    assert mod.latest_state({"current_version": 2, "versions": {"2": {"deletion_time": "2026"}}}) == (2, False)
    assert mod.latest_state({"current_version": 0, "versions": {}}) == (0, False)
    # delete_version_after only schedules the deletion
    scheduled = {"deletion_time": "2099-01-01T00:00:00.123456789Z", "destroyed": False}
    assert mod.latest_state({"current_version": 3, "versions": {"3": scheduled}}) == (3, True)


def test_leaves_and_metadata_strings():
    assert sorted(mod.leaves({"a": "x", "b": [1, "y", {"c": "z"}]})) == ["x", "y", "z"]
    assert mod.metadata_strings({"n": 5, "none": None}) == {"n": "5", "none": ""}


def test_check_mode_then_apply_then_idempotent(fake, capsys):
    args = {"path": PATH, "data": {"user": "app", "password": SECRET}, "custom_metadata": {"owner": "t"},
            "max_versions": 3}
    result = run_module(mod, args, capsys, check_mode=True, diff=True)
    assert result["changed"] and result["action"] == "created" and fake.mutations() == []
    result = run_module(mod, args, capsys, diff=True)
    assert result["action"] == "created" and result["version"] == 1
    assert result["data_keys"] == ["password", "user"]
    assert fake.latest(PATH) == {"user": "app", "password": SECRET}
    assert fake.kv[("secret", PATH)]["custom"] == {"owner": "t"} and fake.kv[("secret", PATH)]["max_versions"] == 3
    assert ("kv_write", (PATH, 0)) in fake.calls
    assert SECRET not in json.dumps(result)
    fake.calls.clear()
    result = run_module(mod, args, capsys, diff=True)
    assert not result["changed"] and result["action"] == "unchanged" and fake.mutations() == []


def test_update_writes_with_cas_of_the_version_read_and_diff_hides_values(fake, capsys):
    fake.put(PATH, {"user": "app", "password": "old-value-123456"})
    result = run_module(mod, {"path": PATH, "data": {"user": "app", "password": SECRET}}, capsys, diff=True)
    assert result["action"] == "updated" and ("kv_write", (PATH, 1)) in fake.calls
    assert result["diff"]["before"]["keys"] == {"password": mod.HIDDEN, "user": mod.HIDDEN}
    assert result["diff"]["after"]["keys"] == {"password": mod.CHANGED, "user": mod.HIDDEN}
    blob = json.dumps(result)
    assert SECRET not in blob and "old-value-123456" not in blob


def test_explicit_cas_conflict_is_a_clear_error(fake, capsys):
    fake.put(PATH, {"password": "first-value-000"})
    result = run_module(mod, {"path": PATH, "data": {"password": SECRET}, "cas": 0}, capsys)
    assert result["failed"] and "check-and-set" in result["msg"]
    assert fake.latest(PATH) == {"password": "first-value-000"}


def test_metadata_only(fake, capsys):
    fake.put(PATH, {"a": "b"})
    result = run_module(mod, {"path": PATH, "custom_metadata": {"owner": "x"}}, capsys)
    assert result["action"] == "metadata" and fake.mutations() == [("kv_patch_metadata",
                                                                    (PATH, ["custom_metadata"]))]
    assert run_module(mod, {"path": PATH, "custom_metadata": {"owner": "x"}}, capsys)["action"] == "unchanged"


def test_absent_soft_deletes_once(fake, capsys):
    fake.put(PATH, {"a": "b"})
    result = run_module(mod, {"path": PATH, "state": "absent"}, capsys)
    assert result["action"] == "deleted" and fake.latest(PATH) is None
    assert run_module(mod, {"path": PATH, "state": "absent"}, capsys)["action"] == "unchanged"
    # a deleted latest version is rewritten by present
    result = run_module(mod, {"path": PATH, "data": {"a": "b"}}, capsys)
    assert result["action"] == "created" and result["version"] == 2


def test_destroyed_versions_and_all(fake, capsys):
    for value in ("1", "2", "3"):
        fake.put(PATH, {"v": value})
    result = run_module(mod, {"path": PATH, "state": "destroyed", "versions": [1, 2, 9]}, capsys)
    assert result["action"] == "destroyed" and ("kv_destroy_versions", (PATH, [1, 2])) in fake.calls
    assert run_module(mod, {"path": PATH, "state": "destroyed", "versions": [1]}, capsys)["action"] == "unchanged"
    result = run_module(mod, {"path": PATH, "state": "destroyed"}, capsys)
    assert result["action"] == "destroyed" and ("secret", PATH) not in fake.kv
    assert run_module(mod, {"path": PATH, "state": "destroyed"}, capsys)["action"] == "unchanged"


@pytest.mark.parametrize("args,field", [
    ({"path": "/abs"}, "path"), ({"path": "a/../b"}, "path"), ({"path": "x", "mount": ""}, "mount"),
    ({"path": "x", "versions": [1]}, "versions"), ({"path": "x", "state": "absent", "data": {"a": 1}}, "data"),
    ({"path": "x", "cas": -1}, "cas"),
])
def test_bad_input(fake, capsys, args, field):
    result = run_module(mod, args, capsys)
    assert result["msg"].startswith("invalid input, nothing was changed: ") and field in result["msg"]
    assert fake.mutations() == []


def test_batch_data_is_masked_in_the_invocation(fake, capsys):
    result = run_module(mod, {"targets": [{"path": "a/one", "data": {"k": SECRET}},
                                          {"path": "a/two", "data": {"k": "another-secret-value-42"}}]}, capsys)
    assert result["summary"]["changed"] == 2
    blob = json.dumps(result)
    assert SECRET not in blob and "another-secret-value-42" not in blob
    assert fake.latest("a/one") == {"k": SECRET}


def test_info_returns_metadata_only(fake, capsys):
    fake.put(PATH, {"password": SECRET}, custom={"owner": "t"})
    fake.put(PATH, {"password": SECRET + "2"})
    result = run_module(info_mod, {"path": PATH}, capsys)
    assert result["exists"] and result["live"] and result["current_version"] == 2
    assert [v["version"] for v in result["versions"]] == [1, 2]
    assert result["custom_metadata"] == {"owner": "t"} and result["age_days"] is not None
    assert SECRET not in json.dumps(result) and fake.mutations() == []
    assert run_module(info_mod, {"path": "nope/x"}, capsys)["exists"] is False


def test_info_lists_a_folder_recursively_and_reads_only_what_is_not_excluded(fake, capsys):
    fake.put("nhi/dev/a", {"k": SECRET}, custom={"nhi_identity": "a"})
    fake.put("nhi/dev/team/b", {"k": SECRET}, custom={"nhi_identity": "b"})
    fake.put("nhi/dev/team/deep/c", {"k": SECRET})
    fake.put("nhi/devices/x", {"k": SECRET})
    fake.put("nhi/dev/a", {"k": SECRET}, mount="other")
    result = run_module(info_mod, {"path_prefix": "nhi/dev/", "exclude": ["nhi/dev/a"]}, capsys)
    assert [s["path"] for s in result["secrets"]] == ["nhi/dev/team/b", "nhi/dev/team/deep/c"]
    assert (result["listed"], result["excluded"], result["changed"]) == (3, 1, False)
    assert result["secrets"][0]["custom_metadata"] == {"nhi_identity": "b"} and result["secrets"][0]["mount"] == "secret"
    assert SECRET not in json.dumps(result) and fake.mutations() == []
    assert sorted(d for n, d in fake.calls if n == "kv_list") == ["nhi/dev", "nhi/dev/team", "nhi/dev/team/deep"]


def test_info_listing_an_empty_folder_and_a_bad_prefix(fake, capsys):
    assert run_module(info_mod, {"path_prefix": "nothing/here"}, capsys)["secrets"] == []
    result = run_module(info_mod, {"path_prefix": "../etc"}, capsys)
    assert result["failed"] and "malformed KV path_prefix" in result["msg"]
    result = run_module(info_mod, {"mount": "secret"}, capsys)
    assert result["failed"] and "path is required" in result["msg"]


def test_info_listing_refuses_more_than_max_keys(fake, capsys):
    for n in range(4):
        fake.put("nhi/dev/s%d" % n, {"k": "v"})
    result = run_module(info_mod, {"path_prefix": "nhi/dev", "max_keys": 3}, capsys)
    assert result["failed"] and "more than 3 secrets" in result["msg"] and "narrower" in result["hint"]


def test_info_metadata_view_of_a_deleted_latest():
    view = info_mod.metadata_view({"current_version": 1, "versions": {"1": {
        "created_time": "2026-11-23T19:36:44.258353727Z", "deletion_time": "2026-11-24T00:00:00Z",
        "destroyed": False}}})
    assert view["exists"] and not view["live"]
    assert view["versions"][0]["created_time"] == "2026-11-23T19:36:44.258Z"

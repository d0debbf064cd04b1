# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""aws_access_key_info against moto's in-process IAM/STS and the in-memory Vault of ``vault_fakes``.

Keys are seeded with boto3 directly, and the result is compared with what
boto3 lists (``aws_fakes.MotoAWS``). The stored key id must come from the
secret's custom metadata: the FakeVault's ``kv_read`` is made to fail, so a read
of the secret itself would show.
"""

from __future__ import annotations

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import iso
from ansible_collections.nhi.lifecycle.plugins.modules import aws_access_key_info as mod

pytest.importorskip("moto")  # requirements/test.txt

from vault_fakes import FakeVault, assert_no_secret, run_module  # noqa: E402

STORE = {"mount": "secret", "path": "nhi/unit/svc"}


@pytest.fixture(name="aws")
def aws_with_svc(aws):
    """conftest's moto, with the IAM user ``svc``."""
    aws.user("svc")
    return aws


@pytest.fixture
def vault(monkeypatch):
    fake = FakeVault().install(monkeypatch)

    def no_secret_reads(*_args, **_kwargs):
        raise AssertionError("aws_access_key_info read the secret itself")

    monkeypatch.setattr(fake, "kv_read", no_secret_reads)
    return fake


def iam_keys(aws, user):
    return {k["AccessKeyId"]: k for k in aws.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def test_keys_match_iam_and_carry_no_secret(aws, vault, capsys):
    active_id, active_secret = aws.key("svc")
    inactive_id, inactive_secret = aws.key("svc", status="Inactive")
    aws.calls.clear()
    result = run_module(mod, {"user_name": "svc"}, capsys)
    assert result["changed"] is False and result.get("failed") is not True
    assert result["user_exists"] is True and result["user_name"] == "svc"
    listed = iam_keys(aws, "svc")
    assert sorted(k["access_key_id"] for k in result["access_keys"]) == sorted([active_id, inactive_id])
    for view in result["access_keys"]:
        key = listed[view["access_key_id"]]
        assert view["status"] == key["Status"]
        assert view["created"] == iso(key["CreateDate"])
        assert 0 <= view["age_days"] < 1
        assert view["last_used"] is None  # moto never records a use here
        assert "stored" not in view
    assert "stored_key_id" not in result
    assert aws.mutations() == []
    assert_no_secret(result, active_secret, inactive_secret)


def test_stored_key_is_marked_from_the_custom_metadata(aws, vault, capsys):
    stored_id, stored_secret = aws.key("svc")
    other_id, _other_secret = aws.key("svc")
    vault.put(STORE["path"], {"access_key_id": "AKIAOLDOLDOLDOLDOLD1", "secret_access_key": "old-secret-value"})
    vault.put(STORE["path"], {"access_key_id": stored_id, "secret_access_key": stored_secret},
              custom={"access_key_id": stored_id, "kind": "aws_access_key"})
    result = run_module(mod, {"user_name": "svc", "store": STORE}, capsys)
    assert result["stored_key_id"] == stored_id
    assert result["stored_version"] == 2
    assert {k["access_key_id"]: k["stored"] for k in result["access_keys"]} == {stored_id: True, other_id: False}
    assert_no_secret(result, stored_secret, "old-secret-value")


def test_a_stored_key_that_iam_no_longer_has_marks_nothing(aws, vault, capsys):
    key_id, _secret = aws.key("svc")
    gone = "AKIAGONEGONEGONEGONE"
    vault.put(STORE["path"], {"access_key_id": gone}, custom={"access_key_id": gone})
    result = run_module(mod, {"user_name": "svc", "store": STORE}, capsys)
    assert result["stored_key_id"] == gone
    assert [(k["access_key_id"], k["stored"]) for k in result["access_keys"]] == [(key_id, False)]

    empty = run_module(mod, {"user_name": "svc", "store": {"path": "nhi/unit/nothing"}}, capsys)
    assert empty["stored_key_id"] is None and empty["stored_version"] is None
    assert [k["stored"] for k in empty["access_keys"]] == [False]


def test_missing_user_is_reported_not_failed(aws, vault, capsys):
    result = run_module(mod, {"user_name": "ghost"}, capsys)
    assert result.get("failed") is not True
    assert result["user_exists"] is False and result["access_keys"] == []
    no_keys = run_module(mod, {"user_name": "svc"}, capsys)
    assert no_keys["user_exists"] is True and no_keys["access_keys"] == []


def test_include_last_used_costs_one_call_per_key(aws, vault, capsys):
    aws.key("svc")
    aws.key("svc")
    aws.calls.clear()
    with_use = run_module(mod, {"user_name": "svc"}, capsys)
    assert aws.calls.count("GetAccessKeyLastUsed") == 2
    assert all("last_used" in k for k in with_use["access_keys"])
    aws.calls.clear()
    without = run_module(mod, {"user_name": "svc", "include_last_used": False}, capsys)
    assert "GetAccessKeyLastUsed" not in aws.calls
    assert all("last_used" not in k for k in without["access_keys"])
    assert [k["access_key_id"] for k in without["access_keys"]] == [k["access_key_id"] for k in with_use["access_keys"]]


def test_batch_reads_each_target(aws, vault, capsys):
    aws.user("svc-b")
    key_a, secret_a = aws.key("svc")
    key_b, secret_b = aws.key("svc-b")
    vault.put("nhi/unit/a", {"access_key_id": key_a, "secret_access_key": secret_a}, custom={"access_key_id": key_a})
    targets = [{"user_name": "svc", "store": {"path": "nhi/unit/a"}}, {"user_name": "ghost"}, {"user_name": "svc-b"}]
    result = run_module(mod, {"targets": targets}, capsys)
    assert result.get("failed") is not True
    assert result["summary"] == {"total": 3, "changed": 0, "failed": 0} and result["failed_identities"] == []
    by_id = {r["identity"]: r for r in result["results"]}
    assert by_id["svc"]["stored_key_id"] == key_a and by_id["svc"]["access_keys"][0]["stored"] is True
    assert by_id["ghost"]["user_exists"] is False
    assert [k["access_key_id"] for k in by_id["svc-b"]["access_keys"]] == [key_b]
    assert "stored_key_id" not in by_id["svc-b"]
    assert_no_secret(result, secret_a, secret_b)


def test_bad_store_path_is_refused_before_any_call(aws, vault, capsys):
    aws.calls.clear()
    result = run_module(mod, {"user_name": "svc", "store": {"path": "../other"}}, capsys)
    assert result["failed"] is True and result["msg"].startswith("invalid input, nothing was changed")
    assert "malformed KV path" in result["msg"]
    assert aws.calls == []

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""vault_approle_info against an in-memory Vault."""

from __future__ import annotations

import datetime
import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.modules import vault_approle_info as mod

from vault_fakes import FakeVault, run_module  # noqa: E402


@pytest.fixture
def fake(monkeypatch):
    return FakeVault().install(monkeypatch)


def test_secret_id_view():
    now = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)
    view = mod.secret_id_view("acc", {"creation_time": "2026-11-21T00:00:00.123456789Z",
                                      "expiration_time": "0001-01-01T00:00:00Z", "metadata": {"a": "b"},
                                      "secret_id_num_uses": 0}, now)
    assert view["age_days"] == 2.0 and view["expires"] is None and not view["expired"]
    assert view["created"] == "2026-11-21T00:00:00.123Z"
    assert mod.secret_id_view("acc", None, now) == {"secret_id_accessor": "acc"}


def test_one_role_with_ages_and_no_secrets(fake, capsys):
    fake.add_role("app", token_policies=["p"])
    old_sid, old = fake.add_secret_id("app", age_days=10)
    new_sid, new = fake.add_secret_id("app", age_days=1, metadata={"nhi_identity": "app"})
    result = run_module(mod, {"role_name": "app"}, capsys)
    assert result["exists"] and len(result["roles"]) == 1
    role = result["roles"][0]
    assert role["secret_id_count"] == 2 and [s["secret_id_accessor"] for s in role["secret_ids"]] == [old, new]
    assert 9.9 < role["secret_ids"][0]["age_days"] < 10.1
    assert role["secret_ids"][1]["metadata"] == {"nhi_identity": "app"}
    blob = json.dumps(result)
    assert old_sid not in blob and new_sid not in blob
    assert result["evidence"][0]["details"]["credential_age_days"] >= 9.9
    assert fake.mutations() == []


def test_missing_role_and_all_roles(fake, capsys):
    result = run_module(mod, {"role_name": "nope"}, capsys)
    assert result["exists"] is False and result["roles"] == []
    for name in ("b", "a", "c"):
        fake.add_role(name)
    result = run_module(mod, {"include_secret_ids": False}, capsys)
    assert [r["role_name"] for r in result["roles"]] == ["a", "b", "c"] and result["evidence"] == []

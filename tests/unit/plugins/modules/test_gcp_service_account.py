# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""gcp_service_account and the two GCP _info modules against the in-process stand-in."""

from __future__ import annotations

import json
import secrets

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account as sa_mod  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_info as info_mod  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_key as key_mod  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_key_info as key_info_mod  # noqa: E402

from gcp_scim_fakes import FakeVault, gcp_standin, run_module  # noqa: E402

PROJECT = "unit-project"


@pytest.fixture(scope="module")
def standin():
    with gcp_standin() as served:
        yield served


@pytest.fixture
def args(standin):
    url, token, _session = standin
    return {"gcp_endpoint": url, "gcp_access_token": token, "gcp_project": PROJECT,
            "account_id": "svc-%s" % secrets.token_hex(4)}


def _get(standin, account_id):
    url, _token, session = standin
    email = "%s@%s.iam.gserviceaccount.com" % (account_id, PROJECT)
    r = session.get("%s/v1/projects/%s/serviceAccounts/%s" % (url, PROJECT, email))
    return r.json() if r.status_code == 200 else None


def test_lifecycle(standin, args, capsys):
    check = run_module(sa_mod, dict(args, display_name="Unit"), capsys, check_mode=True)
    assert check["changed"] and check["action"] == "created" and _get(standin, args["account_id"]) is None
    created = run_module(sa_mod, dict(args, display_name="Unit", description="d"), capsys, diff=True)
    assert created["action"] == "created" and created["account"]["display_name"] == "Unit"
    assert created["diff"]["before"] == {} and created["diff"]["after"]["description"] == "d"
    assert _get(standin, args["account_id"])["displayName"] == "Unit"
    assert run_module(sa_mod, dict(args, display_name="Unit", description="d"), capsys)["changed"] is False
    updated = run_module(sa_mod, dict(args, display_name="Unit 2"), capsys)
    assert updated["action"] == "updated" and _get(standin, args["account_id"])["displayName"] == "Unit 2"
    assert _get(standin, args["account_id"])["description"] == "d"
    disabled = run_module(sa_mod, dict(args, state="disabled"), capsys)
    assert disabled["action"] == "disabled" and _get(standin, args["account_id"])["disabled"] is True
    suspend = [e for e in disabled["evidence"] if e["step"] == "suspend"][0]
    assert suspend["verified"]["ok"] is True
    enabled = run_module(sa_mod, args, capsys)
    assert enabled["action"] == "enabled" and not _get(standin, args["account_id"]).get("disabled")
    gone = run_module(sa_mod, dict(args, state="absent"), capsys)
    assert gone["action"] == "deleted" and _get(standin, args["account_id"]) is None
    assert [e for e in gone["evidence"] if e["step"] == "delete_identity"][0]["verified"]["ok"] is True
    assert run_module(sa_mod, dict(args, state="absent"), capsys)["changed"] is False
    assert run_module(sa_mod, dict(args, state="disabled"), capsys)["changed"] is False


def test_bad_account_id_changes_nothing(args, capsys):
    result = run_module(sa_mod, dict(args, account_id="Not_Valid"), capsys)
    assert result["failed"] and "nothing was changed" in result["msg"]


def test_info_modules_never_return_key_material(standin, args, capsys, monkeypatch):
    fake = FakeVault()
    monkeypatch.setattr(_vault, "client", lambda *a, **k: fake)
    run_module(sa_mod, args, capsys)
    store = {"path": "nhi/unit/%s" % args["account_id"]}
    minted = run_module(key_mod, dict(args, store=store, proof_deadline=2), capsys)
    info = run_module(info_mod, args, capsys)
    assert info["exists"] is True
    (account,) = info["accounts"]
    assert account["active_keys"] == 1 and account["keys"][0]["key_id"] == minted["key_id"]
    listing = run_module(info_mod, {k: v for k, v in args.items() if k != "account_id"}, capsys)
    assert args["account_id"] in [a["account_id"] for a in listing["accounts"]]
    keys = run_module(key_info_mod, dict(args, store=store, key_types=["USER_MANAGED", "SYSTEM_MANAGED"]), capsys)
    assert keys["active_keys"] == 1 and len(keys["account_keys"]) == 2
    assert keys["stored"]["key_id"] == minted["key_id"] and keys["stored"]["present"] is True
    private = json.loads(fake.latest("secret", store["path"])["private_key_json"])["private_key"]
    for result in (info, listing, keys):
        blob = json.dumps(result)
        assert "PRIVATE KEY" not in blob
        assert all(line not in blob for line in private.splitlines()[1:-1])
    missing = run_module(key_info_mod, dict(args, account_id="svc-not-there"), capsys)
    assert missing["exists"] is False and missing["account_keys"] == []

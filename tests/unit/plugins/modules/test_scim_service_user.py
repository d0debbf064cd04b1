# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""scim_service_user and scim_service_user_info against a real scim2-server and an in-memory KV v2."""

from __future__ import annotations

import json
import secrets

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import scim_service_user as mod  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import scim_service_user_info as info_mod  # noqa: E402

from gcp_scim_fakes import FakeVault, run_module, scim2_server  # noqa: E402


@pytest.fixture(scope="module")
def scim_server():
    with scim2_server() as (url, token, session):
        session.post(url + "/Groups", data=json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                       "displayName": "robots"}))
        yield url, token, session


@pytest.fixture
def env(scim_server, monkeypatch):
    url, token, session = scim_server
    fake = FakeVault()
    monkeypatch.setattr(_vault, "client", lambda *a, **k: fake)
    name = "svc-%s" % secrets.token_hex(4)
    args = {"scim_base_url": url, "scim_token": token, "user_name": name,
            "store": {"path": "nhi/unit/%s" % name}}
    return args, fake, session, url


def _user(session, url, name):
    found = session.get(url + "/Users", params={"filter": 'userName eq "%s"' % name}).json()["Resources"]
    return found[0] if found else None


def test_provision_disable_delete(env, capsys):
    args, fake, session, url = env
    check = run_module(mod, dict(args, groups=["robots"]), capsys, check_mode=True)
    assert check["changed"] and _user(session, url, args["user_name"]) is None and fake.secrets == {}
    made = run_module(mod, dict(args, groups=["robots"], display_name="Robot"), capsys)
    assert made["action"] == "created" and made["user"]["groups"] == ["robots"]
    stored = fake.latest("secret", args["store"]["path"])
    assert stored["user_id"] == made["user"]["id"] and len(stored["password"]) >= 40
    assert fake.secrets[("secret", args["store"]["path"])]["custom"]["credential_state"] == "active"
    assert stored["password"] not in json.dumps(made)
    assert [e["step"] for e in made["evidence"]] == ["read", "create_identity", "update_identity", "store", "mint",
                                                     "prove_new"]
    again = run_module(mod, dict(args, groups=["robots"], display_name="Robot"), capsys)
    assert again["changed"] is False
    rotated = run_module(mod, dict(args, state="rotated", force=True), capsys)
    assert rotated["action"] == "rotated" and fake.latest("secret", args["store"]["path"])["password"] != stored["password"]
    assert fake.kv_read("secret", args["store"]["path"], version=1)[0] is None
    disabled = run_module(mod, dict(args, state="disabled"), capsys)
    proof = [e for e in disabled["evidence"] if e["step"] == "prove_revoked"][0]["verified"]
    assert proof["method"] == "scim:GET active=false" and proof["result"] == "rejected" and proof["ok"]
    assert "authenticates no user" in proof["detail"]
    assert _user(session, url, args["user_name"])["active"] is False
    info = run_module(info_mod, {"scim_base_url": url, "scim_token": args["scim_token"],
                                 "user_name": args["user_name"]}, capsys)
    assert info["exists"] and info["users"][0]["active"] is False and info["users"][0]["groups"] == ["robots"]
    gone = run_module(mod, dict(args, state="absent"), capsys)
    assert gone["action"] == "deleted" and _user(session, url, args["user_name"]) is None and fake.secrets == {}
    group = session.get(url + "/Groups", params={"filter": 'displayName eq "robots"'}).json()["Resources"][0]
    assert made["user"]["id"] not in json.dumps(group.get("members") or [])
    assert run_module(mod, dict(args, state="absent"), capsys)["changed"] is False


def test_pending_credential_is_set_again(env, capsys):
    args, fake, session, url = env
    run_module(mod, args, capsys)
    path = args["store"]["path"]
    # a run that stored a new credential and stopped before setting it on the service
    entry = fake.secrets[("secret", path)]
    entry["custom"]["credential_state"] = "pending"
    resumed = run_module(mod, args, capsys)
    assert resumed["action"] == "resumed" and entry["custom"]["credential_state"] == "active"
    assert [e["step"] for e in resumed["evidence"]][-2:] == ["mint", "prove_new"]


def test_missing_group_fails_and_creates_nothing_more(env, capsys):
    args, fake, session, url = env
    result = run_module(mod, dict(args, groups=["no-such-group"]), capsys)
    assert result["failed"] and "does not exist" in result["msg"]
    assert fake.secrets == {}

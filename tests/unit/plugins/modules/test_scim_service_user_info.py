# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""scim_service_user_info against a real scim2-server."""

from __future__ import annotations

import json
import secrets
import socket

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _scim  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.modules import scim_service_user_info as mod  # noqa: E402

from gcp_scim_fakes import run_module, scim2_server  # noqa: E402

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
USER_KEYS = {"id", "user_name", "display_name", "external_id", "active", "emails", "created", "last_modified",
             "age_days", "groups"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scim_server():
    with scim2_server() as served:
        yield served


@pytest.fixture
def scim(scim_server, monkeypatch):
    # _scim.client() caches connections by id() of the options dict; in-process runs can reuse an id.
    monkeypatch.setattr(_scim, "_CONNECTIONS", {})
    url, token, session = scim_server

    class Scim(object):
        pass

    s = Scim()
    s.url, s.token, s.session = url, token, session
    s.prefix = "svc-%s-" % secrets.token_hex(3)
    s.args = {"scim_base_url": url, "scim_token": token, "scim_retries": 0}

    def user(suffix, **attributes):
        body = {"schemas": [USER_SCHEMA], "userName": s.prefix + suffix}
        body.update(attributes)
        r = session.post(url + "/Users", data=json.dumps(body))
        assert r.status_code == 201, r.text
        return r.json()

    def group(name, *members):
        body = {"schemas": [GROUP_SCHEMA], "displayName": s.prefix + name,
                "members": [{"value": m["id"]} for m in members]}
        r = session.post(url + "/Groups", data=json.dumps(body))
        assert r.status_code == 201, r.text
        return r.json()

    s.user, s.group = user, group
    return s


def test_one_user_with_groups_and_no_password(scim, capsys):
    password = "planted-Password-%s" % secrets.token_hex(8)
    made = scim.user("reporting", displayName="Reporting robot", externalId="ext-1", password=password,
                     emails=[{"value": "robot@example.com", "primary": True}])
    scim.group("zeta-readers", made)
    scim.group("alpha-writers", made)
    result = run_module(mod, dict(scim.args, user_name=scim.prefix + "reporting"), capsys)
    assert "failed" not in result and result["changed"] is False
    assert result["identity"] == scim.prefix + "reporting" and result["exists"] is True
    (user,) = result["users"]
    assert set(user) == USER_KEYS
    assert (user["id"], user["user_name"], user["display_name"], user["external_id"]) == (
        made["id"], scim.prefix + "reporting", "Reporting robot", "ext-1")
    assert user["active"] is True and user["emails"] == ["robot@example.com"]
    assert user["groups"] == [scim.prefix + "alpha-writers", scim.prefix + "zeta-readers"]
    assert user["created"] and 0 <= user["age_days"] < 0.01
    assert password not in json.dumps(result) and "password" not in json.dumps(result).lower()


def test_a_password_that_a_service_sends_anyway_is_dropped(scim, capsys, monkeypatch):
    password = "echoed-Password-%s" % secrets.token_hex(8)
    scim.user("leaky", password=password)
    real = _scim.SCIMConnection.call

    def echoing(self, method, path, what, **kwargs):
        answer = real(self, method, path, what, **kwargs)
        if path == "Users":
            for user in answer.get("Resources") or []:
                user["password"] = password  # a service that breaks RFC 7643 ("returned": "never")
        return answer

    monkeypatch.setattr(_scim.SCIMConnection, "call", echoing)
    for args in ({"user_name": scim.prefix + "leaky"}, {"filter": 'userName sw "%s"' % scim.prefix}):
        result = run_module(mod, dict(scim.args, **args), capsys)
        assert [u["user_name"] for u in result["users"]] == [scim.prefix + "leaky"]
        assert set(result["users"][0]) == USER_KEYS and password not in json.dumps(result)


def test_the_read_is_recorded_with_the_quoted_filter(scim, capsys):
    scim.user("evidence")
    result = run_module(mod, dict(scim.args, user_name=scim.prefix + "evidence"), capsys)
    (entry,) = result["evidence"]
    assert (entry["step"], entry["system"], entry["outcome"], entry["event"]) == (
        "read", "scim", "unchanged", "reconcile")
    assert entry["action"] == "scim:GET /Users?filter" and entry["target"] == "scim:%s/Users" % scim.url
    assert entry["details"] == {"filter": 'userName eq "%sevidence"' % scim.prefix, "users": 1}


def test_a_missing_user_and_a_name_that_tries_to_widen_the_filter(scim, capsys):
    scim.user("present")
    missing = run_module(mod, dict(scim.args, user_name=scim.prefix + "absent"), capsys)
    assert "failed" not in missing and missing["exists"] is False and missing["users"] == []
    assert missing["evidence"][0]["details"]["users"] == 0
    sneaky = 'nobody" or userName sw "%s' % scim.prefix
    widened = run_module(mod, dict(scim.args, user_name=sneaky), capsys)
    assert widened["exists"] is False and widened["users"] == []
    assert widened["evidence"][0]["details"]["filter"] == "userName eq %s" % json.dumps(sneaky)


def test_filter_form_returns_every_match_without_exists(scim, capsys):
    one = scim.user("one")
    two = scim.user("two", active=False)
    scim.user("other-prefix-not-matched", userName="zz-%s" % secrets.token_hex(3))
    flt = 'userName sw "%s"' % scim.prefix
    result = run_module(mod, dict(scim.args, filter=flt, include_groups=False), capsys)
    assert "exists" not in result and result["identity"] == "scim"
    assert sorted(u["id"] for u in result["users"]) == sorted([one["id"], two["id"]])
    assert all("groups" not in u for u in result["users"])
    assert {u["id"]: u["active"] for u in result["users"]} == {one["id"]: True, two["id"]: False}
    assert result["evidence"][0]["details"] == {"filter": flt, "users": 2}


def test_user_name_wins_over_filter(scim, capsys):
    scim.user("chosen")
    scim.user("ignored")
    result = run_module(mod, dict(scim.args, user_name=scim.prefix + "chosen", filter='userName sw "%s"' % scim.prefix),
                        capsys)
    assert result["exists"] is True and [u["user_name"] for u in result["users"]] == [scim.prefix + "chosen"]


def test_no_filter_reads_every_user(scim, capsys):
    made = [scim.user("all-%d" % n)["id"] for n in range(3)]
    result = run_module(mod, dict(scim.args, include_groups=False), capsys)
    assert set(made) <= set(u["id"] for u in result["users"])
    (entry,) = result["evidence"]
    assert entry["action"] == "scim:GET /Users" and entry["details"]["filter"] is None
    assert entry["details"]["users"] == len(result["users"])


def test_batch_isolates_an_unreachable_service(scim, capsys):
    scim.user("batch")
    dead = "http://127.0.0.1:%d" % _free_port()
    args = dict(scim.args, fail_on_error=False, targets=[
        {"user_name": scim.prefix + "batch"},
        {"user_name": scim.prefix + "batch", "base_url": dead, "identity": "gone"},
        {"user_name": scim.prefix + "nobody"}])
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert result["summary"] == {"total": 3, "changed": 0, "failed": 1} and result["failed_identities"] == ["gone"]
    found, unreachable, nobody = result["results"]
    assert found["exists"] is True and nobody["exists"] is False
    assert unreachable["msg"].startswith(
        "looking up SCIM user '%sbatch': cannot connect to the SCIM service" % scim.prefix)
    assert "scim_base_url" in unreachable["msg"]
    failed = [e for e in result["evidence"] if e["outcome"] == "failed"]
    assert len(failed) == 1 and failed[0]["identity"] == "gone" and failed[0]["target"] == "scim:%s/Users" % dead
    strict = run_module(mod, dict(args, fail_on_error=True), capsys)
    assert strict["failed"] is True and strict["msg"].startswith("1 of 3 targets failed: gone: ")


def test_a_rejected_token_is_readable_and_not_echoed(scim, capsys):
    result = run_module(mod, dict(scim.args, scim_token="wrong-token-value-123", user_name="x"), capsys)
    assert result["failed"] is True
    assert "the SCIM service rejected the automation's token" in result["msg"]
    assert "wrong-token-value-123" not in json.dumps(result) and scim.token not in json.dumps(result)


@pytest.mark.parametrize("args,msg,where", [
    ({}, "no SCIM base URL was given", "scim_base_url / NHI_SCIM_URL"),
    ({"scim_base_url": "ftp://scim.example.com"}, "the SCIM base URL 'ftp://scim.example.com' is not an http(s) URL",
     "scim_base_url"),
    ({"scim_base_url": "http://127.0.0.1:1", "scim_token": None}, "no SCIM bearer token was given",
     "scim_token / NHI_SCIM_TOKEN"),
])
def test_connection_options_are_checked_before_any_call(scim, capsys, monkeypatch, args, msg, where):
    for name in ("NHI_SCIM_URL", "NHI_SCIM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    base = {"scim_token": "t0ken-for-the-test"}
    base.update(args)
    result = run_module(mod, dict(base, user_name="svc-x"), capsys)
    assert result["failed"] is True and result["msg"].startswith(msg) and result["where"] == where
    assert "evidence" not in result


def test_a_malformed_base_url_fails_only_its_own_target(scim, capsys):
    scim.user("isolated")
    args = dict(scim.args, fail_on_error=False, targets=[
        {"user_name": scim.prefix + "isolated"}, {"user_name": "svc-x", "base_url": "ftp://scim.example.com"}])
    result = run_module(mod, args, capsys)
    assert result["failed_identities"] == ["svc-x"]
    assert result["results"][0]["exists"] is True

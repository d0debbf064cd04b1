# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""gcp_service_account_info against the in-process GCP IAM stand-in."""

from __future__ import annotations

import json
import secrets

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.modules import gcp_service_account_info as mod  # noqa: E402

from gcp_scim_fakes import gcp_standin, run_module  # noqa: E402

ACCOUNT_KEYS = {"email", "account_id", "project", "unique_id", "display_name", "description", "disabled", "keys",
                "active_keys", "oldest_key_age_days"}
KEY_KEYS = {"key_id", "disabled", "created", "age_days", "key_type"}


@pytest.fixture(scope="module")
def standin():
    with gcp_standin(with_server=True) as served:
        yield served


class Project(object):
    """A fresh project on the stand-in, so that a listing sees only this test's accounts."""

    def __init__(self, standin):
        self.url, self.token, self.session, self.server = standin
        self.project = "p-%s" % secrets.token_hex(4)
        self.args = {"gcp_endpoint": self.url, "gcp_access_token": self.token, "gcp_project": self.project}

    def account(self, account_id=None, **fields):
        account_id = account_id or "svc-%s" % secrets.token_hex(4)
        r = self.session.post("%s/v1/projects/%s/serviceAccounts" % (self.url, self.project),
                              json={"accountId": account_id, "serviceAccount": fields})
        assert r.status_code == 200, r.text
        return r.json()

    def key(self, account, disabled=False):
        r = self.session.post("%s/v1/%s/keys" % (self.url, account["name"]), json={})
        assert r.status_code == 200, r.text
        body = r.json()
        if disabled:
            assert self.session.post("%s/v1/%s:disable" % (self.url, body["name"]), json={}).ok
        return body

    def clone(self, account, account_id):
        """Another account like ``account``, put straight into the stand-in's state (no HTTP round trip)."""
        state = self.server.state
        email = "%s@%s.iam.gserviceaccount.com" % (account_id, self.project)
        with state.lock:
            copy = dict(state.accounts[account["email"]], email=email, keys={},
                        name="projects/%s/serviceAccounts/%s" % (self.project, email),
                        uniqueId=str(100000000000000000000 + len(state.accounts)))
            state.accounts[email] = copy
        return email

    def fault(self, **fault):
        assert self.session.post(self.url + "/_standin/faults", json=fault).ok


@pytest.fixture
def gcp(standin):
    return Project(standin)


def test_one_account_with_its_keys_and_no_key_material(gcp, capsys):
    account = gcp.account("svc-reader", displayName="Reader", description="reads things")
    first = gcp.key(account)
    second = gcp.key(account, disabled=True)
    result = run_module(mod, dict(gcp.args, account_id="svc-reader"), capsys)
    assert "failed" not in result and result["changed"] is False
    assert (result["identity"], result["project"], result["exists"]) == ("svc-reader", gcp.project, True)
    (view,) = result["accounts"]
    assert set(view) == ACCOUNT_KEYS
    assert view["email"] == "svc-reader@%s.iam.gserviceaccount.com" % gcp.project
    assert (view["account_id"], view["project"], view["unique_id"]) == ("svc-reader", gcp.project, account["uniqueId"])
    assert (view["display_name"], view["description"], view["disabled"]) == ("Reader", "reads things", False)
    assert sorted(k["key_id"] for k in view["keys"]) == sorted(k["name"].rsplit("/", 1)[-1] for k in (first, second))
    assert all(set(k) == KEY_KEYS and k["key_type"] == "USER_MANAGED" for k in view["keys"])
    assert sorted(k["disabled"] for k in view["keys"]) == [False, True] and view["active_keys"] == 1
    assert 0 <= view["oldest_key_age_days"] < 0.01
    blob = json.dumps(result)
    for minted in (first, second):
        assert minted["privateKeyData"] not in blob
    assert "PRIVATE KEY" not in blob and "privateKeyData" not in blob


def test_the_read_is_recorded_as_evidence(gcp, capsys):
    gcp.account("svc-evidence")
    result = run_module(mod, dict(gcp.args, account_id="svc-evidence"), capsys)
    (entry,) = result["evidence"]
    assert (entry["identity"], entry["event"], entry["step"], entry["system"], entry["outcome"]) == (
        "svc-evidence", "reconcile", "read", "gcp_iam", "unchanged")
    assert entry["action"] == "iam.serviceAccounts.get"
    assert entry["target"] == "projects/%s/serviceAccounts/svc-evidence@%s.iam.gserviceaccount.com" % (
        gcp.project, gcp.project)
    assert entry["details"] == {"exists": True}
    event = run_module(mod, dict(gcp.args, account_id="svc-evidence", event="offboard"), capsys)
    assert event["evidence"][0]["event"] == "offboard"


def test_an_account_named_by_email_and_a_missing_one(gcp, capsys):
    gcp.account("svc-by-email")
    email = "svc-by-email@%s.iam.gserviceaccount.com" % gcp.project
    found = run_module(mod, dict(gcp.args, account_id=email), capsys)
    assert found["identity"] == "svc-by-email" and found["exists"] is True
    assert found["accounts"][0]["email"] == email
    missing = run_module(mod, dict(gcp.args, account_id="svc-not-there"), capsys)
    assert "failed" not in missing and missing["exists"] is False and missing["accounts"] == []
    assert missing["evidence"][0]["details"] == {"exists": False} and missing["evidence"][0]["outcome"] == "unchanged"


def test_include_keys_false_makes_no_key_calls(gcp, capsys):
    account = gcp.account("svc-nokeys")
    gcp.key(account)
    gcp.fault(status=500, count=1, path="/keys", message="key listing must not be called")
    result = run_module(mod, dict(gcp.args, account_id="svc-nokeys", include_keys=False, gcp_retries=0), capsys)
    assert "failed" not in result
    (view,) = result["accounts"]
    assert set(view) == ACCOUNT_KEYS - {"keys", "active_keys", "oldest_key_age_days"}
    # the injected fault is still queued: no key listing was made
    with_keys = run_module(mod, dict(gcp.args, account_id="svc-nokeys", gcp_retries=0), capsys)
    assert with_keys["failed"] is True and "key listing must not be called" in with_keys["msg"]


def test_listing_a_project_returns_every_account_across_pages(gcp, capsys):
    first = gcp.account("svc-000")
    made = sorted([first["email"]] + [gcp.clone(first, "svc-%03d" % n) for n in range(1, 101)])
    result = run_module(mod, dict(gcp.args, include_keys=False), capsys)
    assert "exists" not in result and result["identity"] == gcp.project and result["project"] == gcp.project
    assert sorted(a["email"] for a in result["accounts"]) == made
    (entry,) = result["evidence"]
    assert entry["action"] == "iam.serviceAccounts.list" and entry["target"] == "projects/%s" % gcp.project
    assert entry["details"] == {"accounts": 101}


def test_listing_with_keys_reports_disabled_accounts(gcp, capsys):
    quiet = gcp.account("svc-quiet")
    busy = gcp.account("svc-busy")
    gcp.key(busy)
    gcp.key(busy)
    assert gcp.session.post("%s/v1/%s:disable" % (gcp.url, quiet["name"]), json={}).ok
    result = run_module(mod, gcp.args, capsys)
    views = {a["account_id"]: a for a in result["accounts"]}
    assert sorted(views) == ["svc-busy", "svc-quiet"]
    assert views["svc-quiet"]["disabled"] is True and views["svc-quiet"]["keys"] == []
    assert views["svc-quiet"]["active_keys"] == 0 and views["svc-quiet"]["oldest_key_age_days"] is None
    assert views["svc-busy"]["active_keys"] == 2 and views["svc-busy"]["disabled"] is False


def test_batch_with_per_target_projects_and_one_failure(gcp, standin, capsys):
    other = Project(standin)
    gcp.account("svc-here")
    other.account("svc-there")
    gcp.fault(status=403, count=1, path="svc-denied", message="caller lacks iam.serviceAccounts.get")
    args = dict(gcp.args, targets=[{"account_id": "svc-here"}, {"account_id": "svc-there", "project": other.project},
                                   {"account_id": "svc-denied"}, {"project": other.project, "include_keys": False}],
                fail_on_error=False, gcp_retries=0)
    result = run_module(mod, args, capsys)
    assert "failed" not in result
    assert result["summary"] == {"total": 4, "changed": 0, "failed": 1}
    assert result["failed_identities"] == ["svc-denied"]
    here, there, denied, listing = result["results"]
    assert here["exists"] is True and here["project"] == gcp.project
    assert there["exists"] is True and there["project"] == other.project
    assert listing["identity"] == other.project and [a["account_id"] for a in listing["accounts"]] == ["svc-there"]
    assert denied["msg"].startswith("reading service account projects/%s/serviceAccounts/svc-denied@" % gcp.project)
    assert "GCP denied the call (caller lacks iam.serviceAccounts.get)" in denied["msg"]
    assert "roles/iam.serviceAccountAdmin" in denied["msg"]
    assert [e["outcome"] for e in result["evidence"]].count("failed") == 1


def test_a_rejected_automation_token_is_a_readable_failure(gcp, capsys):
    gcp.account("svc-token")
    result = run_module(mod, dict(gcp.args, account_id="svc-token", gcp_access_token="not-the-admin-token"), capsys)
    assert result["failed"] is True
    assert "GCP rejected the automation's credentials" in result["msg"] and "gcp_access_token" in result["msg"]
    assert "not-the-admin-token" not in json.dumps(result)
    assert result["evidence"][0]["outcome"] == "failed"


def test_no_project_anywhere_fails_before_any_call(gcp, capsys, monkeypatch):
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    args = {k: v for k, v in gcp.args.items() if k != "gcp_project"}
    result = run_module(mod, dict(args, account_id="svc-anything"), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("no GCP project to read \u2014 at project / gcp_project")
    assert result["where"] == "project / gcp_project" and "GOOGLE_CLOUD_PROJECT" in result["hint"]
    bad = run_module(mod, dict(gcp.args, gcp_project="Not_A_Project"), capsys)
    assert bad["failed"] is True and bad["msg"].startswith("project 'Not_A_Project' is not a GCP project id")


def test_a_project_with_dot_dot_segments_is_refused(gcp, capsys):
    gcp.account("svc-elsewhere")
    result = run_module(mod, dict(gcp.args, project="x/../%s" % gcp.project), capsys)
    assert result.get("failed") is True and "invalid input" in result["msg"]
    assert "svc-elsewhere" not in json.dumps(result.get("accounts"))

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _plan

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def ident(name="ci", kind="aws_iam_user", env="dev", **extra):
    nhi = {"name": name, "kind": kind, "owner": "team-a", "purpose": "p", "environment": env,
           "store": {"mount": "secret", "path": "nhi/%s/%s" % (env, name)},
           "authority": {"create": "nhi.lifecycle", "rotate": "nhi.lifecycle", "suspend": "nhi.lifecycle",
                         "delete": "nhi.lifecycle"},
           "rotation": {"max_age_days": 30, "overlap_hours": 0}, "offboard": {"mode": "delete"},
           "on_foreign_authority": "skip", "temporary": False, "expires_at": None,
           "aws": {"user_name": name, "path": "/nhi/"},
           "vault": {"role_name": name, "mount": "approle", "token_policies": ["default"]},
           "gcp": {"project": "p1", "account_id": "acct-" + name},
           "scim": {"user_name": name}}
    nhi.update(extra)
    return nhi


def test_provision_targets_in_order_and_carry_the_decision():
    out = _plan.plan([ident()], "provision", [], [], now=NOW)
    assert out["allowed"] == ["ci"]
    users, keys = out["targets"]["aws_iam_user"], out["targets"]["aws_access_key"]
    assert users[0]["state"] == "present" and users[0]["tags"]["owner"] == "team-a"
    assert keys[0]["store"] == {"mount": "secret", "path": "nhi/dev/ci"} and keys[0]["max_age_days"] == 30
    assert keys[0]["decision"]["effect"] == "allow" and keys[0]["event"] == "provision"
    [policy] = out["evidence"]
    assert policy["step"] == "policy" and policy["decision"]["rule"]


def test_offboard_suspends_revokes_then_deletes():
    out = _plan.plan([ident()], "offboard", [], [], now=NOW)
    assert set(out["targets"]) == {"aws_iam_user_suspend", "aws_access_key", "aws_iam_user_delete"}
    assert out["targets"]["aws_access_key"][0]["state"] == "absent"


def test_offboard_keeps_suspended_when_the_catalog_says_so():
    out = _plan.plan([ident(offboard={"mode": "suspend"})], "offboard", [], [], now=NOW)
    assert "aws_iam_user_delete" not in out["targets"]


def test_a_deny_gives_no_targets():
    rule = {"id": "no-ci", "events": ["rotate"], "condition": "identity.name == 'ci'", "effect": "deny",
            "reason": "frozen"}
    out = _plan.plan([ident(), ident("other")], "rotate", [rule], [], now=NOW)
    assert out["denied"] == ["ci"] and out["allowed"] == ["other"]
    assert [t["identity"] for t in out["targets"]["aws_access_key"]] == ["other"]
    denied = [e for e in out["evidence"] if e["identity"] == "ci"][0]
    assert denied["outcome"] == "denied" and denied["decision"]["rule"] == "no-ci"


def test_an_unexpired_exception_waives_a_deny_and_an_expired_one_does_not():
    rule = {"id": "no-ci", "events": ["rotate"], "condition": "identity.name == 'ci'", "effect": "deny",
            "reason": "frozen"}
    live = {"id": "EXC-1", "identity": "ci", "rule": "no-ci", "owner": "sec", "reason": "r",
            "expires": "2026-12-01T00:00:00Z"}
    out = _plan.plan([ident()], "rotate", [rule], [live], now=NOW)
    assert out["allowed"] == ["ci"] and out["decisions"]["ci"]["waived_by"] == "EXC-1"
    dead = dict(live, expires="2026-11-01T00:00:00Z")
    out = _plan.plan([ident()], "rotate", [rule], [dead], now=NOW)
    assert out["denied"] == ["ci"]
    assert [e["id"] for e in out["exceptions_report"]["expired"]] == ["EXC-1"]


def test_prod_needs_an_approval_reference():
    out = _plan.plan([ident(env="prod")], "rotate", [], [], now=NOW)
    assert out["denied"] == ["ci"]
    assert out["decisions"]["ci"]["rule"].startswith("nhi.baseline.")
    out = _plan.plan([ident(env="prod")], "rotate", [], [], approvals=["CHG-1"], now=NOW)
    assert out["allowed"] == ["ci"]


def test_foreign_authority_is_delegated_or_refused():
    nhi = ident(authority={"create": "terraform", "rotate": "nhi.lifecycle", "suspend": "okta", "delete": "okta"})
    out = _plan.plan([nhi], "provision", [], [], now=NOW)
    assert out["delegated"] == ["ci"] and out["targets"] == {}
    refused = dict(nhi, on_foreign_authority="fail")
    out = _plan.plan([refused], "provision", [], [], now=NOW)
    assert out["failed"] == ["ci"] and out["targets"] == {}


def test_offboard_with_foreign_delete_only_suspends_and_revokes():
    nhi = ident(authority={"create": "nhi.lifecycle", "rotate": "nhi.lifecycle", "suspend": "nhi.lifecycle",
                           "delete": "okta"})
    out = _plan.plan([nhi], "offboard", [], [], now=NOW)
    assert "aws_iam_user_delete" not in out["targets"] and "aws_access_key" in out["targets"]


def test_expired_temporary_identity_is_offboarded_by_rotate():
    nhi = ident(temporary=True, expires_at="2026-11-01T00:00:00Z")
    out = _plan.plan([nhi], "rotate", [], [], now=NOW)
    assert out["expired"] == ["ci"]
    assert out["targets"]["aws_access_key"][0]["state"] == "absent"
    assert out["targets"]["aws_access_key"][0]["event"] == "offboard"


def test_temporary_approle_gets_a_secret_id_ttl():
    nhi = ident("etl", kind="vault_approle", temporary=True, expires_at="2026-11-23T13:00:00Z")
    out = _plan.plan([nhi], "provision", [], [], now=NOW)
    assert out["targets"]["vault_approle"][0]["secret_id_ttl"] == "3600s"


@pytest.mark.parametrize("kind,lists", [
    ("vault_approle", {"vault_approle"}),
    ("gcp_service_account", {"gcp_service_account", "gcp_service_account_key"}),
    ("scim_service_user", {"scim_service_user"}),
])
def test_every_kind_has_provision_targets(kind, lists):
    out = _plan.plan([ident(kind=kind)], "provision", [], [], now=NOW)
    assert set(out["targets"]) == lists


def test_bad_rules_stop_the_plan():
    with pytest.raises(NHIError):
        _plan.plan([ident()], "rotate", [{"id": "x", "events": ["rotate"], "condition": "((", "effect": "deny",
                                          "reason": "r"}], [], now=NOW)

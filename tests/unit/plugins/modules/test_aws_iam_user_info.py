# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""aws_iam_user_info against moto's in-process IAM/STS.

The users are seeded with boto3 directly (not with aws_iam_user), and what the
module returns is compared with what boto3 reads back (``aws_fakes.MotoAWS``).
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.modules import aws_iam_user_info as mod

pytest.importorskip("moto")  # requirements/test.txt

from aws_fakes import POLICY_DOC, run_module  # noqa: E402
from vault_fakes import assert_no_secret  # noqa: E402

PASSWORD = "Unit-test-Passw0rd!"


def seed_full_user(aws, name="svc", path="/nhi/"):
    arn = aws.policy("deployer-%s" % name)
    aws.user(name, path=path, tags={"owner": "team-a", "managed-by": "nhi.lifecycle"})
    aws.iam.attach_user_policy(UserName=name, PolicyArn=arn)
    aws.iam.put_user_policy(UserName=name, PolicyName="read", PolicyDocument=json.dumps(POLICY_DOC))
    aws.iam.create_login_profile(UserName=name, Password=PASSWORD)
    _key_id, secret = aws.key(name)
    return arn, secret


def test_single_user_matches_iam_and_carries_no_secret(aws, capsys):
    arn, secret = seed_full_user(aws)
    aws.calls.clear()
    result = run_module(mod, {"user_name": "svc"}, capsys)
    assert result["changed"] is False and result.get("failed") is not True
    view = aws.view("svc")
    assert result["user"] == view
    assert view["managed_policies"] == [arn] and view["inline_policies"] == ["read"]
    assert view["tags"] == {"owner": "team-a", "managed-by": "nhi.lifecycle"} and view["path"] == "/nhi/"
    assert aws.mutations() == []
    assert_no_secret(result, secret, PASSWORD)


def test_missing_user_is_null_not_an_error(aws, capsys):
    result = run_module(mod, {"user_name": "ghost"}, capsys)
    assert result.get("failed") is not True
    assert result["changed"] is False
    assert "user" in result and result["user"] is None


@pytest.mark.parametrize("how", ["policy", "tag"])
def test_suspension_is_read_from_the_policy_or_the_tag(aws, capsys, how):
    aws.user("svc")
    if how == "policy":
        aws.iam.put_user_policy(UserName="svc", PolicyName="nhi-suspended", PolicyDocument=json.dumps(POLICY_DOC))
    else:
        aws.iam.tag_user(UserName="svc", Tags=[{"Key": "nhi:state", "Value": "suspended"}])
    result = run_module(mod, {"user_name": "svc"}, capsys)
    assert result["user"]["suspended"] is True
    assert result["user"] == aws.view("svc")


def test_listing_returns_the_users_under_the_prefix(aws, capsys):
    _arn, secret = seed_full_user(aws, "svc-a", path="/nhi/")
    aws.user("svc-b", path="/nhi/team/")
    aws.user("human", path="/people/")
    aws.user("root-level")
    result = run_module(mod, {"path_prefix": "/nhi/"}, capsys)
    assert result["changed"] is False
    expected = [{"user_name": u["UserName"], "path": u["Path"], "arn": u["Arn"], "created": u["CreateDate"].isoformat()}
                for u in aws.iam.list_users(PathPrefix="/nhi/")["Users"]]
    assert sorted(result["users"], key=lambda u: u["user_name"]) == sorted(expected, key=lambda u: u["user_name"])
    assert sorted(u["user_name"] for u in result["users"]) == ["svc-a", "svc-b"]
    assert_no_secret(result, secret, PASSWORD)

    everyone = run_module(mod, {}, capsys)
    assert sorted(u["user_name"] for u in everyone["users"]) == ["human", "root-level", "svc-a", "svc-b"]
    nobody = run_module(mod, {"path_prefix": "/nothing-here/"}, capsys)
    assert nobody["users"] == []


def test_batch_reads_each_target(aws, capsys):
    seed_full_user(aws, "svc-a")
    aws.user("svc-b")
    targets = [{"user_name": "svc-a"}, {"user_name": "ghost"}, {"user_name": "svc-b"}]
    result = run_module(mod, {"targets": targets}, capsys)
    assert result.get("failed") is not True
    assert [r["identity"] for r in result["results"]] == ["svc-a", "ghost", "svc-b"]
    by_id = {r["identity"]: r for r in result["results"]}
    assert by_id["svc-a"]["user"] == aws.view("svc-a")
    assert by_id["svc-b"]["user"] == aws.view("svc-b")
    assert by_id["ghost"]["user"] is None
    assert result["summary"] == {"total": 3, "changed": 0, "failed": 0}
    assert result["failed_identities"] == []


def test_batch_item_without_user_name_fails_alone(aws, capsys):
    aws.user("svc")
    targets = [{"identity": "nameless"}, {"user_name": "svc"}]
    result = run_module(mod, {"targets": targets, "fail_on_error": False}, capsys)
    assert result["failed_identities"] == ["nameless"]
    by_id = {r["identity"]: r for r in result["results"]}
    assert "user_name is required" in by_id["nameless"]["msg"]
    assert by_id["svc"]["user"] == aws.view("svc")
    assert result["summary"] == {"total": 2, "changed": 0, "failed": 1}


def test_check_mode_reads_the_same(aws, capsys):
    seed_full_user(aws)
    aws.calls.clear()
    result = run_module(mod, {"user_name": "svc"}, capsys, check_mode=True)
    assert result["user"] == aws.view("svc")
    assert aws.mutations() == []

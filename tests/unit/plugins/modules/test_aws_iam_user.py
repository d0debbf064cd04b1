# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""aws_iam_user against moto's in-process IAM/STS.

Every assertion about the outcome reads IAM back through boto3 (``MotoAWS.view``,
``keys``, ...) instead of trusting what the module says it did; ``MotoAWS.calls``
logs every API operation sent, so "wrote nothing" is checked against the calls
themselves. See ``aws_fakes`` for the environment, the call log and the shim that
turns in-process moto's ``NotImplementedError`` into the HTTP 501 an endpoint answers.
"""

from __future__ import annotations

import json

import pytest

from ansible_collections.nhi.lifecycle.plugins.modules import aws_iam_user as mod

pytest.importorskip("moto")  # requirements/test.txt

from aws_fakes import ACCOUNT, POLICY_DOC, evidence_for, run_module  # noqa: E402
from vault_fakes import step_names, steps  # noqa: E402

OTHER_DOC = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}


def inline_doc(aws, user, name):
    doc = aws.iam.get_user_policy(UserName=user, PolicyName=name)["PolicyDocument"]
    return json.loads(doc) if isinstance(doc, str) else doc


def test_create_with_tags_and_policies_matches_iam(aws, capsys):
    arn = aws.policy("deployer")
    result = run_module(mod, {"user_name": "ci-deployer", "path": "/nhi/", "tags": {"owner": "team-a", "purpose": "ci"},
                              "managed_policies": [arn], "inline_policies": {"read-artifacts": POLICY_DOC}}, capsys)
    assert result["changed"] is True and result["action"] == "created"
    view = aws.view("ci-deployer")
    assert result["user"] == view
    assert view["path"] == "/nhi/" and view["arn"] == "arn:aws:iam::%s:user/nhi/ci-deployer" % ACCOUNT
    assert view["tags"] == {"owner": "team-a", "purpose": "ci", "managed-by": "nhi.lifecycle",
                            "nhi:identity": "ci-deployer", "nhi:state": "active"}
    assert view["managed_policies"] == [arn] and view["inline_policies"] == ["read-artifacts"]
    assert view["suspended"] is False and view["permissions_boundary"] is None
    assert inline_doc(aws, "ci-deployer", "read-artifacts") == POLICY_DOC
    assert steps(result) == [("create_identity", "changed"), ("update_identity", "changed"),
                             ("update_identity", "changed")]
    assert [e["action"] for e in result["evidence"]] == ["iam:CreateUser", "iam:AttachUserPolicy",
                                                         "iam:PutUserPolicy"]
    assert all(e["identity"] == "ci-deployer" for e in result["evidence"])


@pytest.mark.parametrize("as_json_string", [False, True])
def test_second_run_is_unchanged_and_writes_nothing(aws, capsys, as_json_string):
    arn = aws.policy("deployer")
    # IAM hands the document back with its own key order; a JSON string in another order is the same policy.
    doc = json.dumps(POLICY_DOC, indent=2) if as_json_string else POLICY_DOC
    args = {"user_name": "svc", "tags": {"owner": "team-a"}, "managed_policies": [arn],
            "inline_policies": {"read": doc}}
    run_module(mod, args, capsys)
    aws.calls.clear()
    again = run_module(mod, args, capsys)
    assert again["changed"] is False and again["action"] == "unchanged"
    assert aws.mutations() == []
    assert "GetUser" in aws.calls  # it did read IAM
    assert again["evidence"] == []
    assert again["user"] == aws.view("svc")


def test_check_mode_changes_nothing(aws, capsys):
    arn = aws.policy("deployer")
    aws.calls.clear()
    result = run_module(mod, {"user_name": "svc", "tags": {"owner": "a"}, "managed_policies": [arn],
                              "inline_policies": {"read": POLICY_DOC}}, capsys, check_mode=True)
    assert result["changed"] is True and result["action"] == "created"
    assert result["user"] is None
    assert not aws.user_exists("svc")
    assert aws.mutations() == []
    assert steps(result) == [("create_identity", "would_change"), ("update_identity", "would_change"),
                             ("update_identity", "would_change")]

    # An existing user with keys and a console password: suspending or deleting it in check mode touches nothing.
    run_module(mod, {"user_name": "svc", "tags": {"owner": "a"}}, capsys)
    key_id, _secret = aws.key("svc")
    aws.iam.create_login_profile(UserName="svc", Password="Unit-test-Passw0rd!")
    before = aws.view("svc")
    aws.calls.clear()
    for state in ("disabled", "absent"):
        result = run_module(mod, {"user_name": "svc", "state": state}, capsys, check_mode=True)
        assert result["changed"] is True
        assert result["user"] == before
        assert all(outcome in ("would_change", "skipped") for _step, outcome in steps(result))
    assert aws.mutations() == []
    assert aws.view("svc") == before
    assert aws.keys("svc") == {key_id: "Active"}
    assert aws.has_login_profile("svc")


def test_update_tags_and_policies_with_purge(aws, capsys):
    p1, p2 = aws.policy("p1"), aws.policy("p2")
    run_module(mod, {"user_name": "svc", "tags": {"owner": "a", "purpose": "b"}, "managed_policies": [p1],
                     "inline_policies": {"one": POLICY_DOC, "two": POLICY_DOC}}, capsys)
    aws.iam.tag_user(UserName="svc", Tags=[{"Key": "added-by-hand", "Value": "x"}])
    result = run_module(mod, {"user_name": "svc", "tags": {"owner": "c", "team": "x"}, "managed_policies": [p2],
                              "inline_policies": {"one": OTHER_DOC, "three": POLICY_DOC}}, capsys)
    assert result["changed"] is True and result["action"] == "updated"
    view = aws.view("svc")
    assert result["user"] == view
    assert view["tags"] == {"owner": "c", "team": "x", "managed-by": "nhi.lifecycle", "nhi:identity": "svc",
                            "nhi:state": "active"}
    assert view["managed_policies"] == [p2]
    assert view["inline_policies"] == ["one", "three"]
    assert inline_doc(aws, "svc", "one") == OTHER_DOC
    # Detaching is not deleting: the managed policy itself is still there.
    assert aws.iam.get_policy(PolicyArn=p1)["Policy"]["AttachmentCount"] == 0
    tag_step = evidence_for(result, "update_identity", "iam:TagUser")[0]
    assert tag_step["details"] == {"tags_set": ["owner", "team"], "tags_removed": ["added-by-hand", "purpose"]}

    # Without tags (and without policies) nothing is purged: the run is a no-op.
    aws.calls.clear()
    bare = run_module(mod, {"user_name": "svc"}, capsys)
    assert bare["changed"] is False and aws.mutations() == []
    assert aws.view("svc") == view


def test_purge_policies_false_keeps_what_is_not_listed(aws, capsys):
    p1, p2 = aws.policy("p1"), aws.policy("p2")
    run_module(mod, {"user_name": "svc", "managed_policies": [p1], "inline_policies": {"one": POLICY_DOC}}, capsys)
    result = run_module(mod, {"user_name": "svc", "managed_policies": [p2], "inline_policies": {"two": OTHER_DOC},
                              "purge_policies": False}, capsys)
    assert result["action"] == "updated"
    view = aws.view("svc")
    assert result["user"] == view
    assert view["managed_policies"] == sorted([p1, p2])
    assert view["inline_policies"] == ["one", "two"]


def test_disabled_suspends_then_present_lifts_the_suspension(aws, capsys):
    arn = aws.policy("deployer")
    run_module(mod, {"user_name": "svc", "tags": {"owner": "team-a"}, "managed_policies": [arn]}, capsys)
    k1, _s1 = aws.key("svc")
    k2, _s2 = aws.key("svc")
    aws.iam.create_login_profile(UserName="svc", Password="Unit-test-Passw0rd!")

    result = run_module(mod, {"user_name": "svc", "state": "disabled"}, capsys)
    assert result["changed"] is True and result["action"] == "suspended"
    view = aws.view("svc")
    assert result["user"] == view
    assert view["suspended"] is True
    assert "nhi-suspended" in view["inline_policies"]
    deny = inline_doc(aws, "svc", "nhi-suspended")["Statement"]
    assert deny == [{"Sid": "NhiSuspended", "Effect": "Deny", "Action": "*", "Resource": "*"}]
    assert view["tags"]["nhi:state"] == "suspended"
    assert view["tags"]["owner"] == "team-a"  # suspending does not strip the owner
    assert view["managed_policies"] == [arn]
    assert aws.keys("svc") == {k1: "Inactive", k2: "Inactive"}
    assert not aws.has_login_profile("svc")
    suspend = [e["action"] for e in evidence_for(result, "suspend")]
    assert sorted(suspend) == sorted(["iam:PutUserPolicy", "iam:UpdateAccessKey", "iam:UpdateAccessKey",
                                      "iam:DeleteLoginProfile"])

    aws.calls.clear()
    again = run_module(mod, {"user_name": "svc", "state": "disabled"}, capsys)
    assert again["changed"] is False and again["action"] == "unchanged"
    assert aws.mutations() == []

    lifted = run_module(mod, {"user_name": "svc"}, capsys)
    assert lifted["changed"] is True and lifted["action"] == "updated"
    view = aws.view("svc")
    assert lifted["user"] == view
    assert view["suspended"] is False
    assert "nhi-suspended" not in view["inline_policies"]
    assert view["tags"]["nhi:state"] == "active" and view["tags"]["owner"] == "team-a"
    lift = evidence_for(lifted, "update_identity", "iam:DeleteUserPolicy")
    assert [e["details"] for e in lift] == [{"policy": "nhi-suspended", "reason": "suspension lifted"}]


def _suspended_without_deny_policy(aws, capsys):
    """A user tagged nhi:state=suspended whose deny-all policy is gone.

    Reached by drift (someone deletes the policy) or by a run of state=disabled that stops after TagUser and
    before PutUserPolicy: ensure() tags first, then writes the policy.
    """
    run_module(mod, {"user_name": "svc"}, capsys)
    run_module(mod, {"user_name": "svc", "state": "disabled"}, capsys)
    aws.iam.delete_user_policy(UserName="svc", PolicyName="nhi-suspended")
    assert aws.view("svc")["tags"]["nhi:state"] == "suspended"


def test_disabled_restores_a_missing_deny_policy(aws, capsys):
    _suspended_without_deny_policy(aws, capsys)
    result = run_module(mod, {"user_name": "svc", "state": "disabled"}, capsys)
    assert result.get("failed") is not True
    assert "nhi-suspended" in aws.view("svc")["inline_policies"]


def test_present_lifts_a_suspension_whose_deny_policy_is_gone(aws, capsys):
    _suspended_without_deny_policy(aws, capsys)
    result = run_module(mod, {"user_name": "svc"}, capsys)
    assert result.get("failed") is not True, result.get("msg")
    assert aws.view("svc")["suspended"] is False


def test_disabling_a_missing_user_does_not_create_it(aws, capsys):
    aws.calls.clear()
    result = run_module(mod, {"user_name": "ghost", "state": "disabled"}, capsys)
    assert result["changed"] is False and result["action"] == "unchanged" and result["user"] is None
    assert not aws.user_exists("ghost")
    assert aws.mutations() == []
    assert steps(result) == [("suspend", "unchanged")]


def test_absent_sweeps_everything_then_deletes_the_user(aws, capsys):
    arn = aws.policy("deployer")
    run_module(mod, {"user_name": "svc", "managed_policies": [arn], "inline_policies": {"read": POLICY_DOC}}, capsys)
    k1, _s = aws.key("svc")
    k2, _s = aws.key("svc", status="Inactive")
    aws.iam.create_login_profile(UserName="svc", Password="Unit-test-Passw0rd!")
    aws.iam.create_group(GroupName="deployers")
    aws.iam.add_user_to_group(GroupName="deployers", UserName="svc")
    serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName="svc-mfa")["VirtualMFADevice"]["SerialNumber"]
    aws.iam.enable_mfa_device(UserName="svc", SerialNumber=serial, AuthenticationCode1="123456",
                              AuthenticationCode2="654321")
    aws.iam.upload_ssh_public_key(UserName="svc", SSHPublicKeyBody="ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 unit")

    result = run_module(mod, {"user_name": "svc", "state": "absent"}, capsys)
    assert result["changed"] is True and result["action"] == "deleted"
    assert result["user"] is None
    assert aws.view("svc") is None
    assert k1 not in aws.backend().access_keys and k2 not in aws.backend().access_keys
    assert aws.iam.get_group(GroupName="deployers")["Users"] == []
    assert aws.iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    assert aws.iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []

    actions = [(e["step"], e["action"], e["outcome"]) for e in result["evidence"]]
    assert actions == [
        ("revoke", "iam:DeleteAccessKey", "changed"),
        ("revoke", "iam:DeleteAccessKey", "changed"),
        ("revoke", "iam:DeleteLoginProfile", "changed"),
        ("revoke", "iam:DeactivateMFADevice", "changed"),
        ("revoke", "iam:DeleteSSHPublicKey", "changed"),
        ("revoke", "iam:ListServiceSpecificCredentials", "skipped"),
        ("update_identity", "iam:DeleteUserPolicy", "changed"),
        ("update_identity", "iam:DetachUserPolicy", "changed"),
        ("update_identity", "iam:RemoveUserFromGroup", "changed"),
        ("delete_identity", "iam:DeleteUser", "changed"),
    ]
    assert sorted(e["details"]["key_id"] for e in evidence_for(result, "revoke", "iam:DeleteAccessKey")) == sorted(
        [k1, k2])

    aws.calls.clear()
    again = run_module(mod, {"user_name": "svc", "state": "absent"}, capsys)
    assert again["changed"] is False and again["action"] == "unchanged"
    assert aws.mutations() == [] and again["evidence"] == []


@pytest.mark.parametrize("args,where", [
    ({"user_name": "svc", "inline_policies": {"p": "{not json"}}, "inline_policies.p"),
    ({"user_name": "svc", "inline_policies": {"p": {"Version": "2012-10-17"}}}, "has no Statement"),
    ({"user_name": "svc", "managed_policies": ["deployer"]}, "is not a policy ARN"),
    ({"user_name": "svc", "path": "nhi"}, "must start and end with '/'"),
    ({"user_name": "bad name!"}, "is not an IAM user name"),
])
def test_bad_input_is_refused_before_any_aws_call(aws, capsys, args, where):
    aws.calls.clear()
    result = run_module(mod, args, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("invalid input, nothing was changed") and where in result["msg"]
    assert aws.calls == []
    assert not aws.user_exists("svc")


def test_reserved_inline_policy_name_fails_clearly(aws, capsys):
    run_module(mod, {"user_name": "svc"}, capsys)
    before = aws.view("svc")
    result = run_module(mod, {"user_name": "svc", "inline_policies": {"nhi-suspended": POLICY_DOC}}, capsys)
    assert result["failed"] is True
    assert "'nhi-suspended' is reserved" in result["msg"] and "inline_policies" in result["msg"]
    assert aws.view("svc") == before


def test_reserved_inline_policy_name_creates_nothing(aws, capsys):
    arn = aws.policy("deployer")
    result = run_module(mod, {"user_name": "svc", "managed_policies": [arn],
                              "inline_policies": {"nhi-suspended": POLICY_DOC}}, capsys)
    assert result["failed"] is True
    assert not aws.user_exists("svc")


def test_batch_reports_each_identity_and_one_failure_does_not_stop_the_others(aws, capsys):
    missing = "arn:aws:iam::%s:policy/does-not-exist" % ACCOUNT
    targets = [{"user_name": "svc-a", "tags": {"owner": "a"}},
               {"user_name": "svc-bad", "managed_policies": [missing]},
               {"user_name": "svc-b", "tags": {"owner": "b"}}]
    result = run_module(mod, {"targets": targets, "fail_on_error": False, "path": "/nhi/"}, capsys)
    assert result.get("failed") is not True
    assert [r["identity"] for r in result["results"]] == ["svc-a", "svc-bad", "svc-b"]
    assert result["summary"] == {"total": 3, "changed": 2, "failed": 1}
    assert result["failed_identities"] == ["svc-bad"]
    by_id = {r["identity"]: r for r in result["results"]}
    for name in ("svc-a", "svc-b"):
        assert by_id[name]["action"] == "created" and by_id[name]["user"] == aws.view(name)
        assert aws.view(name)["path"] == "/nhi/"  # the top-level option is every item's default
    assert by_id["svc-bad"]["failed"] is True and "does-not-exist" in by_id["svc-bad"]["msg"]
    failed_steps = [e for e in result["evidence"] if e["outcome"] == "failed"]
    assert [(e["identity"], e["action"]) for e in failed_steps] == [("svc-bad", "iam:AttachUserPolicy")]
    assert sorted(set(e["identity"] for e in result["evidence"])) == ["svc-a", "svc-b", "svc-bad"]


def test_batch_with_fail_on_error_fails_the_task_but_works_every_target(aws, capsys):
    missing = "arn:aws:iam::%s:policy/does-not-exist" % ACCOUNT
    targets = [{"user_name": "svc-bad", "managed_policies": [missing]}, {"user_name": "svc-ok"}]
    result = run_module(mod, {"targets": targets}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("1 of 2 targets failed: svc-bad")
    assert result["failed_identities"] == ["svc-bad"]
    assert aws.view("svc-ok") is not None


def test_batch_with_one_invalid_item_changes_nothing(aws, capsys):
    aws.calls.clear()
    targets = [{"user_name": "svc-ok"}, {"user_name": "not a name"}]
    result = run_module(mod, {"targets": targets}, capsys)
    assert result["failed"] is True and "targets[1]" in result["msg"]
    assert aws.calls == []
    assert not aws.user_exists("svc-ok")


def test_diff_shows_before_and_after(aws, capsys):
    run_module(mod, {"user_name": "svc", "tags": {"owner": "a"}}, capsys)
    before = aws.view("svc")
    result = run_module(mod, {"user_name": "svc", "tags": {"owner": "b"}}, capsys, diff=True)
    assert result["diff"]["before"] == before
    assert result["diff"]["after"] == aws.view("svc")
    assert result["diff"]["after"]["tags"]["owner"] == "b"
    assert step_names(result) == ["update_identity"]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""aws_iam_user and aws_access_key against moto_server (auth enforced) and OpenBao.

Every outcome is checked with independent clients (raw boto3 and hvac),
never with the module under test.
"""
from __future__ import annotations

import json

import botocore.exceptions
import pytest
import yaml


def write_playbook(tmp_path, name, tasks):
    path = tmp_path / name
    path.write_text(yaml.safe_dump([{"name": name, "hosts": "localhost", "gather_facts": False,
                                     "tasks": tasks}], sort_keys=False))
    return path


def key_works(aws_client_factory, key_id, secret):
    sts = aws_client_factory("sts", aws_access_key_id=key_id, aws_secret_access_key=secret)
    try:
        sts.get_caller_identity()
        return True
    except botocore.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] in ("InvalidClientTokenId", "SignatureDoesNotMatch")
        return False


def stored(vault, path, version=None):
    response = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", version=version,
                                                       raise_on_deleted_version=True)
    return response["data"]["data"]


def user_task(user, state="present", **extra):
    args = {"user_name": user, "state": state, "path": "/nhi-test/", "tags": {"owner": "team-test"}}
    args.update(extra)
    return {"name": "user %s %s" % (user, state), "nhi.lifecycle.aws_iam_user": args, "register": "user_result"}


def key_task(user, path, state="present", **extra):
    args = {"user_name": user, "state": state, "store": {"path": path}, "proof_deadline": 5}
    args.update(extra)
    return {"name": "key %s %s" % (user, state), "nhi.lifecycle.aws_access_key": args, "register": "key_result"}


def test_check_mode_changes_nothing_then_apply_then_idempotent(tmp_path, run_playbook, iam, vault, unique_name):
    user = unique_name("chk")
    path = "nhi/test/%s" % user
    pb = write_playbook(tmp_path, "create.yml", [user_task(user), key_task(user, path)])
    run_playbook(pb, check=True, diff=True).check()
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)
    assert vault.secrets.kv.v2.read_secret_metadata  # client is live
    with pytest.raises(Exception):
        stored(vault, path)

    first = run_playbook(pb).check()
    assert "changed=2" in first.stdout
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(keys) == 1 and keys[0]["Status"] == "Active"
    assert stored(vault, path)["access_key_id"] == keys[0]["AccessKeyId"]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert tags["owner"] == "team-test" and tags["managed-by"] == "nhi.lifecycle"

    second = run_playbook(pb).check()
    assert "changed=0" in second.stdout
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        keys[0]["AccessKeyId"]]


def reports_one_active_key():
    """An assert task: the result names exactly one key, Active, and it is the stored one (what IAM holds is
    checked against the store by the test itself)."""
    return {"name": "the result reports the keys after the change", "ansible.builtin.assert": {"that": [
        "key_result.access_key_id is string",
        "key_result.access_keys | map(attribute='access_key_id') | list == [key_result.access_key_id]",
        "key_result.access_keys[0].status == 'Active'",
        "key_result.stored.version is number"]}}


def test_minted_key_works_and_rotated_out_key_is_rejected(tmp_path, run_playbook, iam, vault, unique_name,
                                                          aws_client_factory):
    user = unique_name("rot")
    path = "nhi/test/%s" % user
    run_playbook(write_playbook(tmp_path, "mint.yml", [user_task(user), key_task(user, path),
                                                       reports_one_active_key()])).check()
    old = stored(vault, path)
    assert key_works(aws_client_factory, old["access_key_id"], old["secret_access_key"])

    run_playbook(write_playbook(tmp_path, "rotate.yml", [key_task(user, path, state="rotated", force=True),
                                                         reports_one_active_key()])).check()
    new = stored(vault, path)
    assert new["access_key_id"] != old["access_key_id"]
    assert key_works(aws_client_factory, new["access_key_id"], new["secret_access_key"])
    assert not key_works(aws_client_factory, old["access_key_id"], old["secret_access_key"])
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [new["access_key_id"]]
    # the old secret is destroyed in the store, not just superseded
    meta = vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["custom_metadata"]["access_key_id"] == new["access_key_id"]

    # not due and not forced: nothing changes
    again = run_playbook(write_playbook(tmp_path, "rotate2.yml", [key_task(user, path, state="rotated")])).check()
    assert "changed=0" in again.stdout


def test_two_keys_one_inactive_rotates_within_the_limit(tmp_path, run_playbook, iam, vault, unique_name,
                                                        aws_client_factory):
    user = unique_name("two")
    path = "nhi/test/%s" % user
    run_playbook(write_playbook(tmp_path, "mint.yml", [user_task(user), key_task(user, path)])).check()
    old = stored(vault, path)
    extra = iam.create_access_key(UserName=user)["AccessKey"]
    iam.update_access_key(UserName=user, AccessKeyId=extra["AccessKeyId"], Status="Inactive")
    assert len(iam.list_access_keys(UserName=user)["AccessKeyMetadata"]) == 2

    run_playbook(write_playbook(tmp_path, "rotate.yml", [key_task(user, path, state="rotated", force=True)])).check()
    new = stored(vault, path)
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(new["access_key_id"], "Active")]
    assert new["access_key_id"] not in (old["access_key_id"], extra["AccessKeyId"])
    assert key_works(aws_client_factory, new["access_key_id"], new["secret_access_key"])
    assert not key_works(aws_client_factory, old["access_key_id"], old["secret_access_key"])
    assert not key_works(aws_client_factory, extra["AccessKeyId"], extra["SecretAccessKey"])


def test_untracked_active_key_is_removed_only_after_the_stored_one_is_proven(tmp_path, run_playbook, iam, vault,
                                                                             unique_name, aws_client_factory):
    user = unique_name("orph")
    path = "nhi/test/%s" % user
    run_playbook(write_playbook(tmp_path, "mint.yml", [user_task(user), key_task(user, path)])).check()
    orphan = iam.create_access_key(UserName=user)["AccessKey"]
    run = run_playbook(write_playbook(tmp_path, "again.yml", [key_task(user, path, state="rotated")])).check()
    assert "changed=1" in run.stdout
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [stored(vault, path)["access_key_id"]]
    assert not key_works(aws_client_factory, orphan["AccessKeyId"], orphan["SecretAccessKey"])


def test_store_failure_rolls_back_the_minted_key(tmp_path, run_playbook, iam, vault, unique_name):
    user = unique_name("ro")
    path = "nhi/test/%s" % user
    run_playbook(write_playbook(tmp_path, "user.yml", [user_task(user)])).check()
    vault.sys.create_or_update_policy(name="nhi-read-only-%s" % user, policy=(
        'path "secret/data/nhi/test/*" { capabilities = ["read"] }\n'
        'path "secret/metadata/nhi/test/*" { capabilities = ["read"] }\n'))
    token = vault.auth.token.create(policies=["nhi-read-only-%s" % user], ttl="10m")["auth"]["client_token"]
    run = run_playbook(write_playbook(tmp_path, "key.yml", [key_task(user, path)]), env={"VAULT_TOKEN": token})
    run.check(rc=2)
    assert "permission denied" in run.stdout
    assert iam.list_access_keys(UserName=user)["AccessKeyMetadata"] == []


def test_bad_input_is_explained_and_changes_nothing(tmp_path, run_playbook, iam, unique_name):
    user = unique_name("bad")
    run = run_playbook(write_playbook(tmp_path, "bad.yml", [
        {"name": "batch with one malformed target", "nhi.lifecycle.aws_access_key": {
            "targets": [{"user_name": user, "store": {"path": "nhi/test/ok"}},
                        {"user_name": user, "store": {"path": "../escape"}}]}}]))
    run.check(rc=2)
    assert "invalid input, nothing was changed" in run.stdout and "targets[1]" in run.stdout
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)

    unknown = run_playbook(write_playbook(tmp_path, "unknown.yml", [key_task(unique_name("ghost"), "nhi/test/g")]))
    unknown.check(rc=2)
    assert "does not exist" in unknown.stdout and "create it first" in unknown.stdout


@pytest.mark.parametrize("env,needle", [
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach the AWS endpoint"),
    ({"AWS_SECRET_ACCESS_KEY": "wrong"}, "AWS rejected the credentials"),
    ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"}, "no AWS region"),
    ({"VAULT_ADDR": "http://127.0.0.1:9"}, "cannot connect to Vault"),
    ({"VAULT_TOKEN": "bogus"}, "Vault rejected the token"),
])
def test_bad_connection_input_is_one_line(tmp_path, run_playbook, unique_name, env, needle):
    task = key_task(unique_name("c"), "nhi/test/c", aws_max_attempts=1, vault_retries=0)
    pb = write_playbook(tmp_path, "conn.yml", [task])
    run = run_playbook(pb, env=env)
    run.check(rc=2)
    assert needle in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_user_disabled_then_absent_cleans_up_in_order(tmp_path, run_playbook, iam, vault, unique_name,
                                                      aws_client_factory):
    user = unique_name("off")
    path = "nhi/test/%s" % user
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    make = [user_task(user, inline_policies={"read": policy}), key_task(user, path)]
    run_playbook(write_playbook(tmp_path, "mk.yml", make)).check()
    iam.create_login_profile(UserName=user, Password="Zz-1-not-a-real-password!")
    # Suspended without restating its tags (as the module's example does): the owner tag stays.
    disable = {"name": "suspend", "nhi.lifecycle.aws_iam_user": {"user_name": user, "state": "disabled"}}
    run_playbook(write_playbook(tmp_path, "dis.yml", [disable])).check()
    assert "nhi-suspended" in iam.list_user_policies(UserName=user)["PolicyNames"]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    assert tags["owner"] == "team-test" and tags["nhi:state"] == "suspended", tags
    assert all(k["Status"] == "Inactive" for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"])
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=user)

    secret = stored(vault, path)
    remove = [key_task(user, path, state="absent"), user_task(user, state="absent")]
    run_playbook(write_playbook(tmp_path, "rm.yml", remove)).check()
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)
    assert not key_works(aws_client_factory, secret["access_key_id"], secret["secret_access_key"])
    with pytest.raises(Exception):
        stored(vault, path)
    again = run_playbook(write_playbook(tmp_path, "rm2.yml", remove)).check()
    assert "changed=0" in again.stdout


def _user_as_iam_holds_it(iam, user):
    """The module's view of a user, read with raw boto3."""
    got = iam.get_user(UserName=user)["User"]
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=user)["Tags"]}
    inline = sorted(iam.list_user_policies(UserName=user)["PolicyNames"])
    return {"user_name": user, "arn": got["Arn"], "path": got["Path"], "tags": tags,
            "managed_policies": sorted(p["PolicyArn"] for p in
                                       iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]),
            "inline_policies": inline,
            "permissions_boundary": (got.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
            "suspended": "nhi-suspended" in inline or tags.get("nhi:state") == "suspended"}


def test_returned_user_is_what_iam_holds_after_every_kind_of_change(tmp_path, run_playbook, iam, unique_name):
    """aws_iam_user derives the user it returns from the writes it made (no second read): after a create,
    tag and policy changes, a purge, a suspension and its lifting, that view must equal IAM's own."""
    user = unique_name("view")
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    arns = [iam.create_policy(PolicyName=unique_name("pol"), PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
            for _index in range(2)]
    out = tmp_path / "user.json"
    save = {"name": "save", "ansible.builtin.copy": {
        "content": "{{ user_result.user | to_json }}", "dest": str(out), "mode": "0600"}}
    steps = [
        ("create", dict(managed_policies=[arns[0]], inline_policies={"read": doc}), "created"),
        ("retag and add", dict(tags={"owner": "team-other", "cost": "7"}, managed_policies=arns,
                               inline_policies={"read": doc, "write": doc}), "updated"),
        ("purge", dict(tags={"owner": "team-other"}, managed_policies=[arns[1]], inline_policies={"write": doc},
                       purge_policies=True), "updated"),
        ("suspend", dict(state="disabled"), "suspended"),
        ("lift", dict(), "updated"),
    ]
    for label, extra, action in steps:
        task = user_task(user, **extra)
        assert_action = {"name": "action", "ansible.builtin.assert": {"that": ["user_result.action == %r" % action]}}
        run_playbook(write_playbook(tmp_path, "%s.yml" % label.replace(" ", "-"), [task, assert_action, save])).check()
        returned = json.loads(out.read_text())
        returned.pop("created")
        assert returned == _user_as_iam_holds_it(iam, user), label

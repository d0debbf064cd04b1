# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The playbooks run with exactly the permissions documented in docs/permissions/, and no more.

AWS: an IAM user holding only docs/permissions/iam-policy.json (moto checks
credentials and actions once the backend script has turned enforcement on).
moto matches IAM actions against the resource "*" only, so the policy's
Resource scoping is replaced by "*" here: what moto proves is the action list
(docs/permissions/README.md says what was and was not enforced).
Vault: a non-root OpenBao token holding only docs/permissions/vault-policy.hcl
(plus "default"); OpenBao enforces the policy in full.
"""

from __future__ import annotations

import copy
import json
import pathlib
import re
import uuid

import botocore.exceptions
import hvac
import hvac.exceptions
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
IAM_POLICY = ROOT / "docs" / "permissions" / "iam-policy.json"
VAULT_POLICY = ROOT / "docs" / "permissions" / "vault-policy.hcl"
PREFIX = "nhi/least-privilege"   # under the policy's secret/*/nhi/* paths


def _aws_actions_in_code():
    """Every IAM and STS action the collection's own credentials call, read from plugins/."""
    import botocore.session  # pylint: disable=import-outside-toplevel

    session = botocore.session.get_session()
    mapping = {"iam": session.create_client("iam", region_name="us-east-1").meta.method_to_api_mapping,
               "sts": session.create_client("sts", region_name="us-east-1").meta.method_to_api_mapping}
    found = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for service in ("iam", "sts"):
            for method in re.findall(r"\b%s\.([a-z_]+)\b" % service, text):
                if method in mapping[service]:
                    found.add("%s:%s" % (service, mapping[service][method]))
        for method in re.findall(r"iam\.get_paginator\(\"([a-z_]+)\"\)", text):
            found.add("iam:%s" % mapping["iam"][method])
    return found


def test_the_iam_policy_lists_exactly_the_calls_in_the_code():
    documented = {a for s in json.loads(IAM_POLICY.read_text())["Statement"] for a in s["Action"]}
    called = _aws_actions_in_code()
    assert called - documented == set(), "called but not in docs/permissions/iam-policy.json"
    assert documented - called == set(), "in docs/permissions/iam-policy.json but never called"


def _catalog(tmp_path, aws_name, role_name):
    inv = tmp_path / ("inventory-%s" % aws_name)
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "lp.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "owner": "team-least-privilege",
                     "store": {"mount": "secret", "path_prefix": PREFIX}},
        "identities": [
            {"name": aws_name, "kind": "aws_iam_user", "purpose": "least privilege",
             "aws": {"path": "/nhi/", "tags": {"team": "lp"}}},
            {"name": role_name, "kind": "vault_approle", "purpose": "least privilege",
             "vault": {"token_policies": ["default"], "token_ttl": "1h"}},
        ]}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({"nhi_policy_rules": [],
                                                                          "nhi_exceptions": []}))
    return inv


def _as_moto_policy(document, drop=()):
    """The documented policy, with Resource "*" (moto's only IAM resource) and without the ``drop`` actions."""
    doc = copy.deepcopy(document)
    for statement in doc["Statement"]:
        statement["Resource"] = "*"
        statement["Action"] = [a for a in statement["Action"] if a not in drop]
    doc["Statement"] = [s for s in doc["Statement"] if s["Action"]]
    return doc


@pytest.fixture
def automation(iam, vault, aws_client_factory):
    """Make ``(env, cleanup)`` for an AWS user and a Vault token holding only the documented permissions."""
    made = []

    def make(drop=()):
        suffix = uuid.uuid4().hex[:8]
        user = "nhi-automation-%s" % suffix
        iam.create_user(UserName=user, Path="/automation/")
        iam.put_user_policy(UserName=user, PolicyName="nhi-lifecycle",
                            PolicyDocument=json.dumps(_as_moto_policy(json.loads(IAM_POLICY.read_text()), drop)))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        policy = "nhi-lifecycle-lp-%s" % suffix
        vault.sys.create_or_update_policy(name=policy, policy=VAULT_POLICY.read_text())
        token = vault.auth.token.create(policies=[policy, "default"], ttl="30m")["auth"]
        made.append((user, key["AccessKeyId"], policy, token["accessor"]))
        assert "root" not in token["policies"], token["policies"]
        # The automation's key is what the run will use: prove moto knows it and enforces its policy.
        own = aws_client_factory("iam", aws_access_key_id=key["AccessKeyId"],
                                 aws_secret_access_key=key["SecretAccessKey"])
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            own.list_roles()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
        # And OpenBao enforces the token's policy: nothing outside the documented paths.
        limited = hvac.Client(url=vault.url, token=token["client_token"], timeout=30)
        with pytest.raises(hvac.exceptions.Forbidden):
            limited.secrets.kv.v2.create_or_update_secret(path="outside-nhi/%s" % suffix, secret={"x": "y"},
                                                          mount_point="secret")
        with pytest.raises(hvac.exceptions.Forbidden):
            limited.sys.list_policies()
        with pytest.raises(hvac.exceptions.Forbidden):
            limited.auth.token.create(policies=["default"])
        return {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                "VAULT_TOKEN": token["client_token"], "BAO_TOKEN": token["client_token"]}

    yield make
    for user, key_id, policy, accessor in made:
        try:
            vault.auth.token.revoke_accessor(accessor)
        except Exception:  # pylint: disable=broad-except
            pass
        vault.sys.delete_policy(name=policy)
        iam.delete_access_key(UserName=user, AccessKeyId=key_id)
        iam.delete_user_policy(UserName=user, PolicyName="nhi-lifecycle")
        iam.delete_user(UserName=user)


def _stored(vault, name):
    try:
        meta = vault.secrets.kv.v2.read_secret_metadata(path="%s/%s" % (PREFIX, name), mount_point="secret")
    except Exception:  # pylint: disable=broad-except
        return None
    return meta["data"]["current_version"]


def test_the_documented_permissions_are_enough_for_every_playbook(tmp_path, run_playbook, automation, iam, vault,
                                                                  unique_name, aws_client_factory):
    env = automation()
    aws_name, role_name = unique_name("lp-aws"), unique_name("lp-role")
    inv = _catalog(tmp_path, aws_name, role_name)

    run_playbook("playbooks/provision.yml", inventory=inv, env=env).check()
    assert iam.get_user(UserName=aws_name)["User"]["Path"] == "/nhi/"
    # The run released its locks (deleted them, which the policy allows), rather than leaving them to expire.
    for name in (aws_name, role_name):
        with pytest.raises(Exception):
            vault.secrets.kv.v2.read_secret_metadata(path="nhi-locks/%s" % name, mount_point="secret")
    first = vault.secrets.kv.v2.read_secret_version(path="%s/%s" % (PREFIX, aws_name), mount_point="secret",
                                                    raise_on_deleted_version=True)["data"]["data"]
    assert vault.auth.approle.read_role(role_name)["data"]["token_policies"] == ["default"]

    rotated = run_playbook("playbooks/rotate.yml", inventory=inv, env=env,
                           extra_vars={"nhi_rotate_force": True}).check()
    assert "2 changed" in rotated.stdout or "changed=" in rotated.stdout
    second = vault.secrets.kv.v2.read_secret_version(path="%s/%s" % (PREFIX, aws_name), mount_point="secret",
                                                     raise_on_deleted_version=True)["data"]["data"]
    assert second["access_key_id"] != first["access_key_id"]
    keys = iam.list_access_keys(UserName=aws_name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [second["access_key_id"]]

    run_playbook("playbooks/offboard.yml", inventory=inv, env=env).check()
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=aws_name)
    assert _stored(vault, aws_name) is None and _stored(vault, role_name) is None
    with pytest.raises(Exception):
        vault.auth.approle.read_role(role_name)

    if (ROOT / "playbooks" / "reconcile.yml").is_file():
        run_playbook("playbooks/reconcile.yml", inventory=inv, env=env).check()


@pytest.mark.parametrize("playbook,dropped", [
    ("playbooks/provision.yml", "iam:CreateUser"),
    ("playbooks/rotate.yml", "iam:CreateAccessKey"),
])
def test_a_missing_permission_fails_clearly_and_changes_nothing(tmp_path, run_playbook, automation, iam, vault,
                                                                unique_name, playbook, dropped):
    aws_name, role_name = unique_name("lp-deny"), unique_name("lp-deny-role")
    inv = _catalog(tmp_path, aws_name, role_name)
    before_keys = before_version = None
    if playbook.endswith("rotate.yml"):
        run_playbook("playbooks/provision.yml", inventory=inv, env=automation()).check()
        before_keys = iam.list_access_keys(UserName=aws_name)["AccessKeyMetadata"]
        before_version = _stored(vault, aws_name)

    run = run_playbook(playbook, inventory=inv, env=automation(drop=[dropped]),
                       extra_vars={"nhi_rotate_force": True})
    assert run.rc != 0
    assert "AWS denied the call" in run.stdout and dropped in run.stdout, run.stdout[-4000:]
    failed = [r for r in run.evidence_records() if r.get("identity") == aws_name and r.get("outcome") == "failed"]
    assert failed and any(dropped in (r.get("error") or "") for r in failed), failed

    if before_keys is None:
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=aws_name)
        assert _stored(vault, aws_name) is None
    else:
        assert iam.list_access_keys(UserName=aws_name)["AccessKeyMetadata"] == before_keys
        assert _stored(vault, aws_name) == before_version
    # The other identity (AppRole) is not held back by the AWS failure.
    assert vault.auth.approle.read_role(role_name)

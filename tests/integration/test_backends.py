# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The local backends are up, real, and enforce authentication.

If these fail, every other integration test is meaningless: a moto that
accepts any key would let a "prove the old key is rejected" step pass for the
wrong reason.
"""

from __future__ import annotations

import botocore.exceptions
import hvac
import hvac.exceptions
import pytest
import requests


# ------------------------------------------------------------------ moto (AWS IAM/STS)

def test_moto_accepts_the_admin_key(sts, backends):
    ident = sts.get_caller_identity()
    assert ident["Arn"].endswith(":user/nhi-admin")
    assert backends["AWS_ACCESS_KEY_ID"].startswith(("AKIA", "ASIA"))


def test_moto_rejects_a_made_up_key(aws_client_factory):
    sts = aws_client_factory(
        "sts", aws_access_key_id="AKIAMADEUP0000000000", aws_secret_access_key="not-a-real-secret-key"
    )
    with pytest.raises(botocore.exceptions.ClientError) as err:
        sts.get_caller_identity()
    assert err.value.response["Error"]["Code"] in ("InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied")


def test_moto_rejects_a_wrong_secret_for_a_real_key_id(aws_client_factory, backends):
    iam = aws_client_factory(
        "iam", aws_access_key_id=backends["AWS_ACCESS_KEY_ID"], aws_secret_access_key="wrong-secret-for-this-key"
    )
    with pytest.raises(botocore.exceptions.ClientError) as err:
        iam.list_users()
    assert err.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidClientTokenId")


def test_moto_key_lifecycle_is_enforced(iam, aws_client_factory, unique_name):
    """A fresh key authenticates; once deleted, it is rejected."""
    user = unique_name("bk")
    iam.create_user(UserName=user)
    try:
        key = iam.create_access_key(UserName=user)["AccessKey"]
        sts = aws_client_factory(
            "sts", aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"]
        )
        assert sts.get_caller_identity()["Arn"].endswith(":user/" + user)
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        with pytest.raises(botocore.exceptions.ClientError) as err:
            sts.get_caller_identity()
        assert err.value.response["Error"]["Code"] == "InvalidClientTokenId"
    finally:
        for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
            iam.delete_access_key(UserName=user, AccessKeyId=k["AccessKeyId"])
        iam.delete_user(UserName=user)


# ------------------------------------------------------------------ OpenBao (Vault API)

def test_openbao_kv2_round_trip(vault, unique_name):
    path = "nhi-backend-check/" + unique_name("kv")
    first = vault.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": "one"}, mount_point="secret")
    assert first["data"]["version"] == 1
    # check-and-set: writing with a stale version must fail
    with pytest.raises(hvac.exceptions.InvalidRequest):
        vault.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": "x"}, cas=0, mount_point="secret")
    second = vault.secrets.kv.v2.create_or_update_secret(path=path, secret={"value": "two"}, cas=1, mount_point="secret")
    assert second["data"]["version"] == 2
    read = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"value": "two"}
    assert read["data"]["metadata"]["version"] == 2
    vault.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")
    with pytest.raises(hvac.exceptions.InvalidPath):
        vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)


def test_openbao_approle_enabled_and_usable(vault, backends, unique_name):
    auths = vault.sys.list_auth_methods()
    auths = auths.get("data", auths)
    assert auths["approle/"]["type"] == "approle"

    role = unique_name("role")
    vault.auth.approle.create_or_update_approle(role_name=role, token_policies=["default"], token_ttl="5m")
    try:
        role_id = vault.auth.approle.read_role_id(role_name=role)["data"]["role_id"]
        secret_id = vault.auth.approle.generate_secret_id(role_name=role)["data"]["secret_id"]
        login = hvac.Client(url=backends["VAULT_ADDR"], timeout=30)
        resp = login.auth.approle.login(role_id=role_id, secret_id=secret_id, use_token=False)
        assert resp["auth"]["client_token"]
        assert "default" in resp["auth"]["policies"]
        with pytest.raises(hvac.exceptions.InvalidRequest):
            login.auth.approle.login(role_id=role_id, secret_id="not-the-secret-id", use_token=False)
    finally:
        vault.auth.approle.delete_role(role_name=role)


def test_openbao_rejects_a_wrong_token(backends):
    client = hvac.Client(url=backends["VAULT_ADDR"], token="s.not-a-real-token", timeout=30)
    assert not client.is_authenticated()


# ------------------------------------------------------------------ scim2-server

def test_scim_rejects_a_request_without_the_bearer_token(scim_url):
    resp = requests.get(scim_url + "/Users", timeout=30)
    assert resp.status_code == 401


def test_scim_rejects_a_wrong_bearer_token(scim_url):
    resp = requests.get(scim_url + "/Users", headers={"Authorization": "Bearer not-the-token"}, timeout=30)
    assert resp.status_code == 401


def test_scim_accepts_the_bearer_token_and_stores_users(scim, unique_name):
    resp = scim.get("/Users")
    assert resp.status_code == 200, resp.text
    assert "urn:ietf:params:scim:api:messages:2.0:ListResponse" in resp.json()["schemas"]

    user_name = unique_name("svc")
    created = scim.post(
        "/Users",
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": True},
        headers={"Content-Type": "application/scim+json"},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    try:
        found = scim.get("/Users", params={"filter": 'userName eq "%s"' % user_name})
        assert found.status_code == 200, found.text
        assert [r["id"] for r in found.json().get("Resources", [])] == [user_id]
    finally:
        assert scim.delete("/Users/" + user_id).status_code == 204
    assert scim.get("/Users/" + user_id).status_code == 404

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The aws_access_keys lookup, with its real option definitions, against moto's in-process IAM.

(The integration tests run the same reads against moto_server.)
"""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.errors import AnsibleError

from ansible_collections.nhi.lifecycle.plugins.doc_fragments import aws as aws_fragment
from ansible_collections.nhi.lifecycle.plugins.lookup import aws_access_keys

from fragments import configured_lookup  # noqa: E402

moto = pytest.importorskip("moto")


@pytest.fixture
def iam(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with moto.mock_aws():
        yield boto3.client("iam", region_name="us-east-1")


@pytest.fixture
def lookup():
    plugin, doc = configured_lookup(aws_access_keys, "nhi.lifecycle.aws", aws_fragment)
    assert "aws_region" in doc["options"]
    return plugin


def test_one_list_of_keys_per_user_in_the_order_asked_and_no_secret(iam, lookup):
    iam.create_user(UserName="svc-a")
    iam.create_user(UserName="svc-b")
    a1 = iam.create_access_key(UserName="svc-a")["AccessKey"]
    a2 = iam.create_access_key(UserName="svc-a")["AccessKey"]
    iam.update_access_key(UserName="svc-a", AccessKeyId=a2["AccessKeyId"], Status="Inactive")
    out = lookup.run(["svc-b", "svc-a"], variables={})
    assert out[0] == []
    assert sorted((k["access_key_id"], k["status"]) for k in out[1]) == sorted(
        [(a1["AccessKeyId"], "Active"), (a2["AccessKeyId"], "Inactive")])
    assert all(k["age_days"] is not None and k["age_days"] < 1 and k["created"].endswith("Z") for k in out[1])
    assert all("last_used" in k for k in out[1])  # include_last_used defaults to true
    blob = json.dumps(out)
    assert a1["SecretAccessKey"] not in blob and a2["SecretAccessKey"] not in blob


def test_last_use_is_looked_up_only_when_asked(iam, lookup):
    iam.create_user(UserName="svc-a")
    iam.create_access_key(UserName="svc-a")
    (keys,) = lookup.run(["svc-a"], variables={}, include_last_used=False)
    assert len(keys) == 1 and "last_used" not in keys[0]


def test_a_missing_user_is_an_error_that_names_it(iam, lookup):
    with pytest.raises(AnsibleError) as info:
        lookup.run(["no-such-user"], variables={})
    assert "nhi.lifecycle.aws_access_keys" in str(info.value) and "'no-such-user' does not exist" in str(info.value)


def test_without_a_region_the_error_says_how_to_set_one(iam, lookup, monkeypatch):
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(AnsibleError, match="no AWS region is set"):
        lookup.run(["svc-a"], variables={})

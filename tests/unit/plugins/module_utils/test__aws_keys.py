# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""read_keys, shared by aws_access_key_info and the aws_access_keys lookup, against moto's in-process IAM."""

from __future__ import annotations

import boto3
import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._aws_keys import read_keys
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

moto = pytest.importorskip("moto")


class Conn(object):
    def __init__(self, iam):
        self.iam = iam


@pytest.fixture
def iam(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        yield boto3.client("iam", region_name="us-east-1")


def test_a_missing_user_is_not_an_error_but_does_not_exist(iam):
    assert read_keys(Conn(iam), "nobody", include_last_used=True) == (False, [])


def test_key_views_carry_no_secret_and_last_use_only_when_asked(iam):
    iam.create_user(UserName="svc")
    made = iam.create_access_key(UserName="svc")["AccessKey"]
    exists, views = read_keys(Conn(iam), "svc", include_last_used=False)
    assert exists and [v["access_key_id"] for v in views] == [made["AccessKeyId"]]
    assert set(views[0]) == {"access_key_id", "status", "created", "age_days"}
    _exists, views = read_keys(Conn(iam), "svc", include_last_used=True)
    assert set(views[0]) == {"access_key_id", "status", "created", "age_days", "last_used"}
    assert made["SecretAccessKey"] not in repr(views)


def test_other_errors_are_translated_not_swallowed(iam):
    class Denied(object):
        def list_access_keys(self, **kwargs):
            raise iam.exceptions.ServiceFailureException(
                {"Error": {"Code": "ServiceFailure", "Message": "boom"}}, "ListAccessKeys")

    with pytest.raises(NHIError) as info:
        read_keys(Conn(Denied()), "svc", include_last_used=False)
    assert "listing the keys of 'svc'" in str(info.value)

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import botocore.exceptions
import botocore.parsers
import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, NotFound


def client_error(code, status=400, message="msg"):
    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_gone_is_not_found():
    assert isinstance(_aws.translate(client_error("NoSuchEntity", 404), "reading"), NotFound)


@pytest.mark.parametrize("code,needle", [
    ("AccessDenied", "denied"),
    ("InvalidClientTokenId", "rejected the credentials"),
    ("Throttling", "throttling"),
])
def test_client_errors_read_well(code, needle):
    err = _aws.translate(client_error(code), "creating a key")
    assert needle in str(err).lower() and str(err).startswith("creating a key")
    assert err.hint


def test_missing_region_is_one_line():
    err = _aws.translate(botocore.exceptions.NoRegionError(), "creating the client")
    assert "region" in str(err) and "\n" not in str(err) and err.where == "aws_region / AWS_REGION"


def test_unreachable_endpoint():
    err = _aws.translate(botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "x")
    assert "cannot reach" in str(err) and err.retryable


def test_not_implemented_detection():
    assert _aws.is_not_implemented(botocore.parsers.ResponseParserError("bad xml"))
    assert _aws.is_not_implemented(client_error("InternalFailure", 500))
    assert not _aws.is_not_implemented(client_error("NoSuchEntity", 404))


def test_connection_without_region_fails_clearly(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    with pytest.raises(NHIError) as info:
        _aws.AWSConnection({"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "x"})
    assert "no AWS region" in str(info.value)


def test_clients_are_built_once_and_shared():
    conn = _aws.AWSConnection({"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "x",
                               "aws_region": "us-east-1", "aws_endpoint_url": "http://127.0.0.1:1"})
    assert conn.iam is conn.iam and conn.sts is conn.sts
    assert conn.config.retries["mode"] == "adaptive"
    assert conn.config.connect_timeout == 15 and conn.config.read_timeout == 15

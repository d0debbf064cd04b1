# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import hvac.exceptions
import pytest
import requests

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, NotFound


@pytest.mark.parametrize("exc,cls,needle", [
    (hvac.exceptions.InvalidPath(), NotFound, "not found"),
    (hvac.exceptions.Forbidden(), NHIError, "permission denied"),
    (hvac.exceptions.Unauthorized(), NHIError, "rejected the credentials"),
    (hvac.exceptions.VaultDown(), NHIError, "sealed"),
    (hvac.exceptions.InvalidRequest("check-and-set parameter did not match the current version"), Conflict,
     "check-and-set"),
    (requests.exceptions.SSLError("bad cert"), NHIError, "TLS verification"),
    (requests.exceptions.ConnectionError("refused"), NHIError, "cannot connect"),
    (requests.exceptions.ReadTimeout("slow"), NHIError, "did not answer in time"),
])
def test_translate(exc, cls, needle):
    err = _vault.translate(exc, "storing the credential", where="vault kv secret/x")
    assert isinstance(err, cls)
    assert needle in str(err) and "vault kv secret/x" in str(err)


@pytest.mark.parametrize("options,needle", [
    ({}, "no Vault address"),
    ({"vault_url": "vault.example.com"}, "not an http(s) URL"),
    ({"vault_url": "http://127.0.0.1:1"}, "no Vault token"),
])
def test_connection_input_errors(options, needle):
    with pytest.raises(NHIError) as info:
        _vault.VaultConnection(options)
    assert needle in str(info.value)


def test_unreachable_vault_is_one_line():
    with pytest.raises(NHIError) as info:
        _vault.VaultConnection({"vault_url": "http://127.0.0.1:1", "vault_token": "t", "vault_retries": 0,
                                "vault_timeout": 2})
    assert "cannot connect to Vault" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("store", [{"path": "/abs"}, {"path": "a/../b"}, {"path": ""}, {"path": "a//b"},
                                   {"path": "ok", "mount": "../x"}])
def test_malformed_store_paths(store):
    with pytest.raises(NHIError) as info:
        _vault.check_store(store)
    assert "store" in str(info.value)


def test_good_store_path():
    _vault.check_store({"mount": "secret", "path": "nhi/dev/ci-deployer"})


def test_session_retries_429_and_5xx_with_backoff():
    session = _vault._session({"vault_retries": 4}, 8)
    retry = session.get_adapter("https://x").max_retries
    assert 429 in retry.status_forcelist and 503 in retry.status_forcelist
    assert retry.respect_retry_after_header and retry.backoff_factor > 0
    # After a read error (reset, read timeout) only harmless requests are replayed:
    # a mint, a login or a KV data write that reached the server never is.
    from urllib3.exceptions import MaxRetryError, ProtocolError  # pylint: disable=import-outside-toplevel
    lost = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    for method, url in (("GET", "/v1/secret/data/x"), ("LIST", "/v1/auth/approle/role"),
                        ("POST", "/v1/secret/metadata/nhi/x"), ("POST", "/v1/secret/destroy/nhi/x"),
                        ("POST", "/v1/auth/approle/role/r/secret-id-accessor/destroy")):
        assert retry.increment(method, url, error=lost).read == retry.read - 1, (method, url)
    for method, url in (("POST", "/v1/secret/data/nhi/x"), ("POST", "/v1/auth/approle/role/r/secret-id"),
                        ("POST", "/v1/auth/token/create-orphan"), ("POST", "/v1/auth/approle/login")):
        with pytest.raises(MaxRetryError):
            retry.increment(method, url, error=lost)

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


@pytest.mark.parametrize("option, skip, verify", [
    (None, None, True), (None, "", True), (None, "false", True), (None, "0", True),
    (None, "true", False), (None, "1", False), (None, "TRUE", False), (None, " yes ", False),
    (True, "true", True),   # an explicit option wins over the environment
    (False, None, False), (False, "false", False),
])
def test_validate_certs_falls_back_to_vault_skip_verify(option, skip, verify):
    environ = {} if skip is None else {"VAULT_SKIP_VERIFY": skip}
    assert _vault.validate_certs(option, environ) is verify


def test_connection_verifies_unless_told_not_to(monkeypatch):
    options = {"vault_url": "https://127.0.0.1:1", "vault_token": "t"}
    monkeypatch.setattr(_vault.VaultConnection, "_authenticate", lambda self: None)  # no server here
    monkeypatch.delenv("VAULT_SKIP_VERIFY", raising=False)
    assert _vault.VaultConnection(dict(options)).session.verify is True
    monkeypatch.setenv("VAULT_SKIP_VERIFY", "true")
    assert _vault.VaultConnection(dict(options)).session.verify is False
    assert _vault.VaultConnection(dict(options, vault_validate_certs=True)).session.verify is True


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


class _FakeKV(object):
    """KV v2 with versions; ``lose`` answers of writes are lost after (``after``) or before the write lands."""

    def __init__(self, lose=0, after=True):
        self.versions = {}
        self.lose = lose
        self.after = after
        self.writes = 0

    def create_or_update_secret(self, path, secret, cas=None, mount_point=None):
        self.writes += 1
        current = max(self.versions) if self.versions else 0
        if self.lose and not self.after:
            self.lose -= 1
            raise requests.exceptions.ConnectionError("reset before the write")
        if cas is not None and cas != current:
            raise hvac.exceptions.InvalidRequest("check-and-set parameter did not match the current version")
        self.versions[current + 1] = dict(secret)
        if self.lose:
            self.lose -= 1
            raise requests.exceptions.ReadTimeout("answer lost")
        return {"data": {"version": current + 1}}

    def read_secret_metadata(self, path, mount_point=None):
        if not self.versions:
            raise hvac.exceptions.InvalidPath()
        return {"data": {"current_version": max(self.versions)}}

    def read_secret_version(self, path, mount_point=None, version=None, raise_on_deleted_version=False):
        version = version or max(self.versions)
        return {"data": {"data": self.versions[version], "metadata": {"version": version}}}


class _Adapter(object):
    """The raw POSTs (KV metadata): recorded, or refused with ``refuse``."""

    def __init__(self):
        self.posts = []
        self.refuse = None

    def post(self, url, json=None):
        if self.refuse is not None:
            raise self.refuse
        self.posts.append((url, json))


def _conn(kv):
    conn = object.__new__(_vault.VaultConnection)

    class Client(object):
        pass

    conn.client = Client()
    conn.client.adapter = kv.adapter = getattr(kv, "adapter", None) or _Adapter()
    conn.client.secrets = Client()
    conn.client.secrets.kv = Client()
    conn.client.secrets.kv.v2 = kv
    return conn


def test_a_cas_write_whose_answer_was_lost_is_found_landed():
    kv = _FakeKV(lose=1, after=True)
    assert _conn(kv).kv_write("secret", "p", {"k": "v"}, cas=0) == 1
    assert kv.writes == 1 and kv.versions == {1: {"k": "v"}}


def test_a_cas_write_lost_before_it_landed_is_sent_again():
    kv = _FakeKV(lose=1, after=False)
    assert _conn(kv).kv_write("secret", "p", {"k": "v"}, cas=0) == 1
    assert kv.writes == 2 and kv.versions == {1: {"k": "v"}}


def test_a_lost_cas_write_that_someone_else_won_is_a_conflict():
    kv = _FakeKV(lose=1, after=False)
    kv.versions[1] = {"k": "theirs"}
    with pytest.raises(Conflict):
        _conn(kv).kv_write("secret", "p", {"k": "v"}, cas=0)
    assert kv.versions == {1: {"k": "theirs"}}


def test_a_write_without_cas_is_never_sent_twice():
    kv = _FakeKV(lose=1, after=False)
    with pytest.raises(NHIError):
        _conn(kv).kv_write("secret", "p", {"k": "v"})
    assert kv.writes == 1


def test_metadata_that_fails_after_the_data_landed_is_partially_stored():
    kv = _FakeKV()
    conn = _conn(kv)
    kv.adapter.refuse = hvac.exceptions.VaultDown("sealed")
    with pytest.raises(_vault.PartiallyStored) as info:
        _vault.store_credential(conn, {"path": "p"}, {"k": "v"}, {"id": "x"}, cas=0)
    assert info.value.version == 1 and kv.versions == {1: {"k": "v"}}


def test_stored_metadata_sends_only_its_own_fields():
    """Not delete_version_after or max_versions: Vault keeps what an operator set."""
    kv = _FakeKV()
    _vault.store_credential(_conn(kv), {"mount": "kv", "path": "nhi/p"}, {"k": "v"}, {"id": "x", "gone": None}, cas=0)
    assert kv.adapter.posts == [("/v1/kv/metadata/nhi/p", {"custom_metadata": {"id": "x"}})]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The provers: accepted, rejected, or "could not ask" (an error), never a guess.

Vault's answers come from a small stateful stand-in for its HTTP API (which
secret ids and tokens exist), so a verdict follows from the state, not from a
canned reply. The integration tests prove the same against OpenBao.
"""

from __future__ import annotations

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _proofs
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError


class Response(object):
    def __init__(self, status, body=None):
        self.status_code = status
        self._body = body

    def json(self):
        return self._body


class VaultHTTP(object):
    """auth/<mount>/login, auth/token/lookup-self and revoke-self over live secret ids and tokens."""

    def __init__(self):
        self.secret_ids = {("approle", "role-1"): {"sid-live"}}
        self.tokens = {"hvs.live": "acc-1"}
        self.requests = []
        self.status_override = None
        self.raise_exc = None

    def request(self, method, url, json=None, headers=None, timeout=None, verify=None):
        self.requests.append({"method": method, "url": url, "json": json, "headers": dict(headers or {}),
                              "timeout": timeout, "verify": verify})
        if self.raise_exc:
            raise self.raise_exc
        if self.status_override:
            return Response(self.status_override, {})
        path = url.split("/v1/", 1)[1]
        token = (headers or {}).get("X-Vault-Token")
        if path.endswith("/login"):
            mount = path.split("/")[1]
            if json["secret_id"] in self.secret_ids.get((mount, json["role_id"]), set()):
                self.tokens["hvs.minted"] = "acc-minted"
                return Response(200, {"auth": {"client_token": "hvs.minted", "policies": ["default", "app"]}})
            return Response(400, {"errors": ["invalid role or secret ID"]})
        if path == "auth/token/lookup-self":
            if token in self.tokens:
                return Response(200, {"data": {"accessor": self.tokens[token]}})
            return Response(403, {"errors": ["permission denied"]})
        if path == "auth/token/revoke-self":
            self.tokens.pop(token, None)
            return Response(204)
        return Response(404)


class Vault(object):
    def __init__(self, namespace=None):
        self.url = "https://vault.test:8200/"
        self.options = {"vault_namespace": namespace}
        self.timeout = 7
        self.verify = "/etc/ca.pem"
        self.session = VaultHTTP()


def test_an_approle_login_that_works_is_accepted_and_its_token_revoked():
    vault = Vault()
    accepted, detail = _proofs.prove_approle(vault, {"role_id": "role-1", "secret_id": "sid-live"})
    assert accepted is True and "default,app" in detail
    assert "hvs.minted" not in vault.session.tokens  # no live token left behind by the proof
    login, revoke = vault.session.requests
    assert login["url"] == "https://vault.test:8200/v1/auth/approle/login"
    assert revoke["headers"]["X-Vault-Token"] == "hvs.minted"
    assert login["timeout"] == 7 and login["verify"] == "/etc/ca.pem"


def test_a_destroyed_secret_id_is_rejected_and_the_mount_is_honoured():
    vault = Vault()
    vault.session.secret_ids[("team-approle", "role-1")] = {"sid-other"}
    accepted, detail = _proofs.prove_approle(vault, {"role_id": "role-1", "secret_id": "sid-gone",
                                                     "mount": "team-approle"})
    assert accepted is False and "HTTP 400" in detail
    assert vault.session.requests[0]["url"].endswith("/v1/auth/team-approle/login")
    assert len(vault.session.requests) == 1  # nothing to revoke


def test_a_live_token_is_accepted_and_a_revoked_one_rejected():
    vault = Vault()
    assert _proofs.prove_vault_token(vault, {"token": "hvs.live"}) == (True, "token accepted, accessor=acc-1")
    accepted, detail = _proofs.prove_vault_token(vault, {"token": "hvs.revoked"})
    assert accepted is False and "HTTP 403" in detail


def test_the_namespace_goes_with_every_proof():
    vault = Vault(namespace="team-a")
    _proofs.prove_vault_token(vault, {"token": "hvs.live"})
    assert vault.session.requests[0]["headers"]["X-Vault-Namespace"] == "team-a"


@pytest.mark.parametrize("prove, data", [
    (_proofs.prove_approle, {"role_id": "role-1", "secret_id": "sid-live"}),
    (_proofs.prove_vault_token, {"token": "hvs.live"}),
])
def test_a_server_error_is_not_a_rejection(prove, data):
    vault = Vault()
    vault.session.status_override = 503
    with pytest.raises(NHIError) as info:
        prove(vault, data)
    assert "HTTP 503" in str(info.value) and info.value.retryable


def test_an_unreachable_vault_is_not_a_rejection():
    vault = Vault()
    vault.session.raise_exc = ConnectionError("refused")
    with pytest.raises(NHIError) as info:
        _proofs.prove_vault_token(vault, {"token": "hvs.live"})
    assert "cannot reach Vault" in str(info.value) and "hvs.live" not in str(info.value)


def test_an_aws_key_is_proven_by_the_shared_connection_with_its_session_token():
    seen = []

    class AWS(object):
        def prove_key(self, key_id, secret, session_token=None):
            seen.append((key_id, secret, session_token))
            return key_id == "AKIALIVE", "sts answered"

    assert _proofs.prove_aws_key(AWS(), {"access_key_id": "AKIALIVE", "secret_access_key": "s"}) == (
        True, "sts answered")
    assert _proofs.prove_aws_key(AWS(), {"access_key_id": "AKIAGONE", "secret_access_key": "s",
                                         "session_token": "t"})[0] is False
    assert seen == [("AKIALIVE", "s", None), ("AKIAGONE", "s", "t")]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The GCP connector: names, error mapping, retries, budget, proofs."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("google.auth")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _batch, _gcp  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, NotFound  # noqa: E402

STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "..", "backends", "gcp_iam.py")


@pytest.fixture(scope="module")
def standin():
    spec = importlib.util.spec_from_file_location("nhi_gcp_iam_standin_utils", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    token = secrets.token_urlsafe(16)
    server, url = module.serve_in_thread(token)
    yield url, token
    server.shutdown()
    server.server_close()


def _response(status, body):
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return response


def test_names():
    assert _gcp.account_email("ci-deployer", "p1") == "ci-deployer@p1.iam.gserviceaccount.com"
    assert _gcp.account_email("a@b.iam.gserviceaccount.com", "p1") == "a@b.iam.gserviceaccount.com"
    assert _gcp.account_name("ci-deployer", "p1") == "projects/p1/serviceAccounts/ci-deployer@p1.iam.gserviceaccount.com"
    assert _gcp.key_id_of("projects/p/serviceAccounts/a/keys/abc") == "abc"


@pytest.mark.parametrize("status,reason,cls,retryable", [
    (404, "NOT_FOUND", NotFound, False),
    (409, "ALREADY_EXISTS", Conflict, False),
    (409, "ABORTED", Conflict, False),
    (400, "FAILED_PRECONDITION", NHIError, False),
    (401, "UNAUTHENTICATED", NHIError, False),
    (403, "PERMISSION_DENIED", NHIError, False),
    (429, "RESOURCE_EXHAUSTED", NHIError, True),
    (503, "UNAVAILABLE", NHIError, True),
])
def test_error_mapping(status, reason, cls, retryable):
    err = _gcp.error_from_response(_response(status, {"error": {"code": status, "message": "m", "status": reason}}),
                                   "doing it", where="here")
    assert err.__class__ is cls and err.status == status and err.reason == reason and err.retryable is retryable
    assert "doing it" in str(err) and "here" in str(err)
    if status in (401, 403, 429):
        assert err.hint


def test_error_mapping_of_oauth_and_html_bodies():
    err = _gcp.error_from_response(_response(400, {"error": "invalid_grant", "error_description": "bad"}), "x")
    assert err.reason == "invalid_grant" and "bad" in str(err)
    err = _gcp.error_from_response(_response(502, b"<html>Bad gateway</html>"), "x")
    assert err.retryable and "Bad gateway" in str(err)


def test_auth_kind_is_inferred():
    conn = _gcp.GCPConnection({"gcp_access_token": "t", "gcp_endpoint": "http://127.0.0.1:9"})
    assert conn.auth_kind == "access_token" and conn.endpoint == "http://127.0.0.1:9"
    with pytest.raises(NHIError, match="not an http"):
        _gcp.GCPConnection({"gcp_access_token": "t", "gcp_endpoint": "iam.example"})
    with pytest.raises(NHIError, match="needs a token"):
        _gcp.GCPConnection({"gcp_auth_kind": "access_token"})
    with pytest.raises(NHIError) as info:
        _gcp.GCPConnection({"gcp_credentials_file": "/nonexistent/key.json"})
    assert "credentials" in str(info.value)


def test_throttling_halves_the_project_budget_and_retries(standin):
    url, token = standin
    conn = _gcp.GCPConnection({"gcp_access_token": token, "gcp_endpoint": url, "gcp_retries": 3})
    project = "budget-%s" % secrets.token_hex(3)
    budget = conn.budget(project)
    assert budget.rate == _gcp.WRITE_RATE
    requests.post(url + "/_standin/faults", headers={"Authorization": "Bearer " + token},
                  json={"status": 429, "count": 1, "path": project})
    created = conn.create_account(project, "svc-throttled")
    assert created["email"].startswith("svc-throttled@")
    assert budget.throttle_events == 1 and budget.rate == _gcp.WRITE_RATE / 2
    assert _batch.budget("gcp:%s" % project) is budget


def test_a_mint_is_not_replayed_on_a_server_error(standin):
    url, token = standin
    conn = _gcp.GCPConnection({"gcp_access_token": token, "gcp_endpoint": url, "gcp_retries": 3})
    conn.create_account("retry-project", "svc-no-replay")
    requests.post(url + "/_standin/faults", headers={"Authorization": "Bearer " + token},
                  json={"status": 500, "count": 1, "method": "POST", "path": "svc-no-replay"})
    with pytest.raises(NHIError) as info:
        conn.create_key("retry-project", "svc-no-replay")
    assert info.value.status == 500 and info.value.retryable
    assert conn.list_keys("retry-project", "svc-no-replay") == []


def test_prove_key(standin):
    url, token = standin
    conn = _gcp.GCPConnection({"gcp_access_token": token, "gcp_endpoint": url})
    conn.create_account("proof-project", "svc-proof")
    created = conn.create_key("proof-project", "svc-proof")
    text, info = _gcp.parse_key_file(created["privateKeyData"])
    assert json.loads(text) == info
    accepted, detail = conn.prove_key(info)
    assert accepted is True and "svc-proof@" in detail and token not in detail
    conn.set_key_enabled("proof-project", created["name"], False)
    accepted, detail = conn.prove_key(info)
    assert accepted is False and "invalid_grant" in detail
    assert conn.delete_key("proof-project", created["name"]) is True
    assert conn.delete_key("proof-project", created["name"]) is False
    unreachable = _gcp.GCPConnection({"gcp_access_token": token, "gcp_endpoint": url,
                                      "gcp_token_uri": "http://127.0.0.1:9/token", "gcp_retries": 0,
                                      "gcp_timeout": 2})
    with pytest.raises(NHIError, match="cannot reach the token endpoint"):
        unreachable.prove_key(info)


def test_parse_key_file_refuses_non_json():
    with pytest.raises(NHIError, match="not a JSON key file"):
        _gcp.parse_key_file("bm90IGpzb24=")

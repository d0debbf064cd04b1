# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The retry policy of the GCP and SCIM connectors, over real sockets.

The echo backend of tests/faults stands behind the fault proxy, which
resets connections (RST, no answer) for the requests a rule picks. The
backend records what reaches it, so each test shows both what the client
replayed and what the backend saw.
"""

from __future__ import annotations

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp, _http, _scim  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError  # noqa: E402
from ansible_collections.nhi.lifecycle.tests.faults import echo  # noqa: E402
from ansible_collections.nhi.lifecycle.tests.faults.proxy import FaultProxy  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    server = echo.serve(deletes=True)
    yield server
    echo.stop(server)


def seen(backend):
    """What reached the backend: (method, path without the query)."""
    return [(method, path.split("?", 1)[0]) for method, path in backend.seen]


@pytest.fixture
def resets(backend):
    """``resets(method, count, kind="reset")``: a proxy that breaks the first ``count`` requests of ``method``.

    ``reset`` drops the request before the backend sees it; ``reset_after``
    passes it on and drops the answer.
    """
    backend.seen.clear()
    backend.deleted.clear()
    running = []

    def start(method, count, kind="reset"):
        proxy = FaultProxy("http://127.0.0.1:%d" % backend.server_address[1],
                           {"rules": [{"name": "reset", "method": method, "rate": 1, "kinds": [kind],
                                       "limit": count}]}, seed=1).start()
        running.append(proxy)
        return proxy

    yield start
    for proxy in running:
        proxy.stop()


def test_a_post_is_only_retried_on_statuses_that_mean_not_processed():
    retry = _http.retry(3)
    assert retry.is_retry("POST", 429) and retry.is_retry("POST", 503)
    assert not retry.is_retry("POST", 500) and not retry.is_retry("POST", 502)
    assert retry.is_retry("GET", 500) and retry.is_retry("DELETE", 502) and retry.is_retry("PATCH", 429)
    assert retry.respect_retry_after_header and retry.read == 3


def _session(retries=3):
    return _http.mount(requests.Session(), retries, 2)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_idempotent_request_is_replayed_after_a_reset(resets, backend, method):
    proxy = resets(method, 2)
    answer = _session().request(method, proxy.url + "/v1/thing", json={"a": 1}, timeout=5)
    assert answer.status_code == 201
    assert proxy.stats()["injected"]["reset"] == 2
    assert seen(backend) == [(method, "/v1/thing")]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_create_or_a_patch_is_never_replayed_after_a_reset(resets, backend, method):
    proxy = resets(method, 1)
    with pytest.raises(requests.exceptions.ConnectionError):
        _session().request(method, proxy.url + "/v1/thing", json={"a": 1}, timeout=5)
    assert proxy.stats()["requests"] == 1 and seen(backend) == []


def test_resets_beyond_the_retries_fail_cleanly(resets, backend):
    proxy = resets("GET", 5)
    with pytest.raises(requests.exceptions.ConnectionError):
        _session(retries=2).get(proxy.url + "/v1/thing", timeout=5)
    assert proxy.stats()["injected"]["reset"] == 3 and seen(backend) == []


def test_the_scim_connector_reads_through_resets(resets, backend):
    proxy = resets("GET", 2)
    conn = _scim.SCIMConnection({"scim_base_url": proxy.url + "/scim/v2", "scim_token": "t", "scim_retries": 3,
                                 "scim_timeout": 5})
    assert conn.find_user("svc-a") is None
    assert seen(backend) == [("GET", "/scim/v2/Users")] and proxy.stats()["injected"]["reset"] == 2


def test_the_gcp_connector_reads_through_resets_and_never_replays_a_mint(resets, backend):
    proxy = resets("GET", 2)
    conn = _gcp.GCPConnection({"gcp_access_token": "t", "gcp_endpoint": proxy.url, "gcp_retries": 3,
                               "gcp_timeout": 5})
    assert conn.list_keys("p", "sa@p.iam.gserviceaccount.com") == []
    assert seen(backend) == [("GET", "/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys")]
    proxy.stop()

    minting = resets("POST", 1)
    conn = _gcp.GCPConnection({"gcp_access_token": "t", "gcp_endpoint": minting.url, "gcp_retries": 3,
                               "gcp_timeout": 5})
    with pytest.raises(NHIError) as info:
        conn.create_key("p", "sa@p.iam.gserviceaccount.com")
    assert "cannot connect" in str(info.value) or "connection" in str(info.value).lower()
    assert minting.stats()["requests"] == 1 and not [s for s in seen(backend) if s[0] == "POST"]


KEY = "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/k1"


def _gcp_conn(proxy):
    return _gcp.GCPConnection({"gcp_access_token": "t", "gcp_endpoint": proxy.url, "gcp_retries": 3,
                               "gcp_timeout": 5})


def test_a_delete_whose_answer_was_lost_counts_as_deleted_not_already_gone(resets, backend):
    """The first DELETE lands and its answer is lost; the replay finds the key gone (404)."""
    proxy = resets("DELETE", 1, kind="reset_after")
    assert _gcp_conn(proxy).delete_key("p", KEY) is True
    assert seen(backend) == [("DELETE", "/v1/" + KEY)] * 2 and proxy.stats()["injected"]["reset_after"] == 1

    proxy.stop()
    scim = resets("DELETE", 1, kind="reset_after")
    conn = _scim.SCIMConnection({"scim_base_url": scim.url + "/v2", "scim_token": "t", "scim_timeout": 5})
    conn._config = {"patch": True, "etag": False, "filter": True, "change_password": False}
    assert conn.delete_user({"id": "u1"}) is True
    assert seen(backend).count(("DELETE", "/v2/Users/u1")) == 2


def test_a_delete_of_what_is_already_gone_still_says_so(resets, backend):
    proxy = resets("GET", 0)
    conn = _gcp_conn(proxy)
    assert conn.delete_key("p", KEY) is True
    assert conn.delete_key("p", KEY) is False  # 404, and no answer was lost


def _after(*errors):
    """A response whose earlier attempts failed with ``errors``, as urllib3 records them."""
    from urllib3.util.retry import RequestHistory  # pylint: disable=import-outside-toplevel

    response = requests.Response()
    response.status_code = 404
    response.raw = type("Raw", (), {"retries": _http.retry(3).new(
        history=tuple(RequestHistory("DELETE", "/x", error, None, None) for error in errors))})()
    return response


def test_only_an_attempt_that_was_sent_counts_as_a_lost_answer():
    from urllib3.exceptions import NewConnectionError, ProtocolError, ReadTimeoutError  # pylint: disable=C0415

    sent = [ProtocolError("Connection aborted.", ConnectionResetError()), ReadTimeoutError(None, "/x", "slow")]
    for error in sent:
        assert _http.deleted_on_a_lost_attempt("DELETE", _after(error))
    refused = NewConnectionError(None, "refused")  # nothing was sent
    assert not _http.deleted_on_a_lost_attempt("DELETE", _after(refused))
    assert not _http.deleted_on_a_lost_attempt("DELETE", _after())
    assert not _http.deleted_on_a_lost_attempt("GET", _after(sent[0]))

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
    server = echo.serve()
    yield server
    echo.stop(server)


def seen(backend):
    """What reached the backend: (method, path without the query)."""
    return [(method, path.split("?", 1)[0]) for method, path in backend.seen]


@pytest.fixture
def resets(backend):
    """``resets(method, count)``: the proxy's URL; it resets the first ``count`` requests of ``method``."""
    backend.seen.clear()
    running = []

    def start(method, count):
        proxy = FaultProxy("http://127.0.0.1:%d" % backend.server_address[1],
                           {"rules": [{"name": "reset", "method": method, "rate": 1, "kinds": ["reset"],
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

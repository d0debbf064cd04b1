# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The fault-injection proxy (tests/faults/proxy.py) against a local echo backend."""
from __future__ import annotations

import http.client
import json
import pathlib
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
_COLLECTIONS = str(ROOT / ".run" / "collections")
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.nhi.lifecycle.tests.faults import echo as echo_backend  # noqa: E402
from ansible_collections.nhi.lifecycle.tests.faults.proxy import (  # noqa: E402
    ConfigError,
    FaultProxy,
)


@pytest.fixture(scope="module")
def echo():
    server = echo_backend.serve()
    yield server
    echo_backend.stop(server)


@pytest.fixture
def proxy(echo):
    echo.seen.clear()
    with FaultProxy("http://127.0.0.1:%d" % echo.server_address[1], seed=1) as running:
        yield running


def request(proxy, method, path, body=None, headers=None, timeout=5):
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_passes_method_path_headers_and_body_through_unchanged(proxy, echo):
    body = bytes(range(256)) + "caf\u00e9 \u2603".encode()
    headers = {"Host": "signed.example:1234", "Authorization": "AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=ab",
               "X-Amz-Date": "20261123T000000Z", "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
               "X-Custom": "a  spaced,value;q=1"}
    status, answer_headers, data = request(proxy, "POST", "/a/b?x=1&y=%2F", body=body, headers=headers)
    assert status == 201 and answer_headers["X-Echo"] == "yes"
    got = json.loads(data)
    assert got["method"] == "POST" and got["path"] == "/a/b?x=1&y=%2F"
    assert got["body"].encode("latin-1") == body
    sent = {k.lower(): v for k, v in got["headers"]}
    assert sent["host"] == "signed.example:1234", "Host must reach the backend as the client signed it"
    for name, value in headers.items():
        if name != "Host":
            assert sent[name.lower()] == value, name
    assert proxy.stats()["forwarded"] == 1 and proxy.stats()["injected_total"] == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "LIST", "HEAD"])
def test_every_method_is_forwarded(proxy, echo, method):
    status, _headers, data = request(proxy, method, "/v1/secret/metadata/x")
    assert status == 201
    assert echo.seen[-1] == (method, "/v1/secret/metadata/x")
    if method == "HEAD":
        assert data == b""


def test_chunked_bodies_are_forwarded_whole(proxy):
    conn = http.client.HTTPConnection(proxy.host, proxy.port, timeout=5)
    conn.request("POST", "/chunked", body=iter([b"abc", b"defg"]), headers={"Transfer-Encoding": "chunked"},
                 encode_chunked=True)
    got = json.loads(conn.getresponse().read())
    conn.close()
    assert got["body"] == "abcdefg"


@pytest.mark.parametrize("kind,status", [("429", 429), ("500", 500), ("503", 503)])
def test_status_faults_carry_retry_after_and_a_body_the_client_understands(proxy, echo, kind, status):
    proxy.configure({"rate": 1.0, "kinds": [kind], "retry_after": 2})
    code, headers, data = request(proxy, "POST", "/", body=b"Action=CreateAccessKey&UserName=u",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert code == status
    assert headers.get("Retry-After") == ("2" if kind in ("429", "503") else None)
    assert b"<Code>" in data and b"<ErrorResponse>" in data  # AWS query style, so botocore reads the code
    code, _headers, data = request(proxy, "GET", "/v1/secret/data/x")
    assert code == status and "errors" in json.loads(data)  # Vault style
    assert echo.seen == [], "a status fault must not reach the backend"
    assert proxy.stats()["injected"][kind] == 2


def test_reset_closes_without_an_answer_and_never_reaches_the_backend(proxy, echo):
    proxy.configure({"rate": 1.0, "kinds": ["reset"]})
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
        request(proxy, "GET", "/x")
    assert echo.seen == []
    assert proxy.stats()["injected"]["reset"] == 1


def test_reset_after_reaches_the_backend_then_loses_the_answer(proxy, echo):
    proxy.configure({"rate": 1.0, "kinds": ["reset_after"]})
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine)):
        request(proxy, "POST", "/mint", body=b"x")
    assert echo.seen == [("POST", "/mint")]


def test_stall_outlasts_the_client_timeout(proxy, echo):
    proxy.configure({"rate": 1.0, "kinds": ["stall"], "stall_seconds": 3})
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        request(proxy, "GET", "/x", timeout=0.5)
    assert 0.4 < time.monotonic() - started < 2.5
    assert echo.seen == []


def test_slow_adds_latency_and_then_answers(proxy, echo):
    proxy.configure({"rate": 1.0, "kinds": ["slow"], "slow_seconds": 0.4})
    started = time.monotonic()
    status, _headers, _data = request(proxy, "GET", "/x")
    assert status == 201 and time.monotonic() - started >= 0.35
    assert proxy.stats()["injected"]["slow"] == 1 and proxy.stats()["forwarded"] == 1


def test_rules_match_by_method_path_and_body_first_match_wins(proxy, echo):
    proxy.configure({"rules": [
        {"name": "shield", "path": "^/v1/secret/data/nhi-locks/", "rate": 0},
        {"name": "mint", "method": "post", "body": "Action=CreateAccessKey", "rate": 1, "kinds": ["503"]},
        {"name": "kv", "method": "POST", "path": "^/v1/secret/data/", "rate": 1, "kinds": ["429"]},
    ]})
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert request(proxy, "POST", "/", b"Action=CreateAccessKey&UserName=u", form)[0] == 503
    assert request(proxy, "POST", "/", b"Action=ListAccessKeys&UserName=u", form)[0] == 201
    assert request(proxy, "POST", "/v1/secret/data/nhi/x", b"{}")[0] == 429
    assert request(proxy, "GET", "/v1/secret/data/nhi/x")[0] == 201  # method does not match "kv"
    assert request(proxy, "POST", "/v1/secret/data/nhi-locks/x", b"{}")[0] == 201  # shielded
    stats = proxy.stats()
    assert stats["by_rule"]["mint"]["503"] == 1 and stats["by_rule"]["kv"]["429"] == 1
    assert stats["injected_total"] == 2 and stats["requests"] == 5


def test_limit_caps_a_rule(proxy):
    proxy.configure({"rules": [{"name": "once", "rate": 1, "kinds": ["500"], "limit": 1}]})
    assert [request(proxy, "GET", "/x")[0] for _unused in range(3)] == [500, 201, 201]


def test_the_same_seed_gives_the_same_faults(echo):
    upstream = "http://127.0.0.1:%d" % echo.server_address[1]
    config = {"rate": 0.5, "kinds": {"429": 1, "500": 2, "503": 1}}
    runs = []
    for _unused in range(2):
        with FaultProxy(upstream, config, seed=42) as running:
            runs.append([request(running, "GET", "/x")[0] for _unused in range(40)])
    assert runs[0] == runs[1]
    assert 5 < sum(1 for s in runs[0] if s != 201) < 35
    with FaultProxy(upstream, config, seed=43) as running:
        assert [request(running, "GET", "/x")[0] for _unused in range(40)] != runs[0]


def test_the_rate_is_honoured(proxy):
    proxy.configure({"rate": 0.1, "kinds": ["503"]}, seed=7)
    statuses = [request(proxy, "GET", "/x")[0] for _unused in range(300)]
    assert 15 <= statuses.count(503) <= 50


def test_control_endpoints(proxy, echo):
    status, _h, data = request(proxy, "POST", "/_faults/config",
                               body=json.dumps({"rate": 1, "kinds": ["500"]}).encode())
    assert status == 200 and json.loads(data)["ok"] is True
    assert request(proxy, "GET", "/x")[0] == 500
    stats = json.loads(request(proxy, "GET", "/_faults/stats")[2])
    assert stats["injected"]["500"] == 1 and stats["injected_total"] == 1 and stats["requests"] == 1
    assert request(proxy, "POST", "/_faults/config", body=b'{"rate": 2}')[0] == 400
    assert request(proxy, "POST", "/_faults/config", body=b'{"kinds": ["teapot"], "rate": 1}')[0] == 400
    assert request(proxy, "POST", "/_faults/reset")[0] == 200
    assert json.loads(request(proxy, "GET", "/_faults/stats")[2])["requests"] == 0
    assert request(proxy, "GET", "/_faults/nope")[0] == 404
    assert echo.seen == [], "control requests are never forwarded"


@pytest.mark.parametrize("config,needle", [
    ({"rate": -0.1}, "between 0 and 1"),
    ({"rules": [{"rate": 1, "kinds": []}]}, "non-empty"),
    ({"rules": [{"rate": 1, "kinds": {"503": 0}}]}, "every weight is 0"),
    ({"rules": [{"path": "("}]}, "invalid regex"),
    ({"rules": [{"color": "red"}]}, "unknown keys"),
    ({"bogus": 1}, "unknown top-level"),
    ({"rules": [{"limit": -1}]}, "limit"),
])
def test_bad_configurations_are_refused(config, needle):
    with pytest.raises(ConfigError) as info:
        FaultProxy("http://127.0.0.1:9", config)
    assert needle in str(info.value)


def test_an_unreachable_backend_is_a_502(echo):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with FaultProxy("http://127.0.0.1:%d" % port) as running:
        assert request(running, "GET", "/x")[0] == 502
        assert running.stats()["upstream_errors"] == 1


def test_runs_as_a_process_and_prints_its_port(echo, tmp_path):
    config = tmp_path / "faults.json"
    config.write_text(json.dumps({"rate": 1, "kinds": ["503"]}))
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faults" / "proxy.py"), "--listen", "127.0.0.1:0",
                             "--upstream", "http://127.0.0.1:%d" % echo.server_address[1], "--config", str(config)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT ")
        port = int(line.split()[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/x")
        assert conn.getresponse().status == 503
        conn.close()
    finally:
        proc.terminate()
        out, _err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert json.loads(out.strip().splitlines()[-1])["injected"]["503"] == 1

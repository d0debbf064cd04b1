# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The GCP IAM stand-in, checked with google-auth exactly as the modules use it."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("google.auth")

import google.auth.exceptions  # noqa: E402
import google.auth.transport.requests  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STANDIN = os.path.join(HERE, "..", "..", "backends", "gcp_iam.py")
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _load():
    spec = importlib.util.spec_from_file_location("nhi_gcp_iam_standin", STANDIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gcp_iam = _load()


@pytest.fixture(scope="module")
def standin():
    token = secrets.token_urlsafe(16)
    server, url = gcp_iam.serve_in_thread(token)
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    yield url, session
    server.shutdown()
    server.server_close()


def _account(url, session, account_id, project="test-project"):
    r = session.post("%s/v1/projects/%s/serviceAccounts" % (url, project), json={"accountId": account_id})
    assert r.status_code == 200, r.text
    return r.json()


def _key(url, session, account):
    r = session.post("%s/v1/%s/keys" % (url, account["name"]), json={})
    assert r.status_code == 200, r.text
    body = r.json()
    info = json.loads(base64.b64decode(body["privateKeyData"]))
    return body, info


def _token(info):
    creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    creds.refresh(google.auth.transport.requests.Request(requests.Session()))
    return creds.token


def test_minted_key_file_obtains_a_token(standin):
    url, session = standin
    account = _account(url, session, "svc-token-ok")
    body, info = _key(url, session, account)
    assert body["privateKeyType"] == "TYPE_GOOGLE_CREDENTIALS_FILE"
    assert body["keyAlgorithm"] == "KEY_ALG_RSA_2048" and body["keyType"] == "USER_MANAGED"
    assert info["type"] == "service_account" and info["client_email"] == account["email"]
    assert info["private_key_id"] == body["name"].rsplit("/", 1)[-1]
    assert info["token_uri"] == url + "/token"
    token = _token(info)
    assert token
    # the issued token works as a bearer on the API
    r = requests.get("%s/v1/%s" % (url, account["name"]), headers={"Authorization": "Bearer " + token})
    assert r.status_code == 200 and r.json()["email"] == account["email"]


def test_deleted_key_is_rejected(standin):
    url, session = standin
    account = _account(url, session, "svc-token-del")
    body, info = _key(url, session, account)
    token = _token(info)
    assert session.delete("%s/v1/%s" % (url, body["name"])).status_code == 200
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        _token(info)
    r = requests.get("%s/v1/%s" % (url, account["name"]), headers={"Authorization": "Bearer " + token})
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    assert session.get("%s/v1/%s" % (url, body["name"])).status_code == 404


def test_disabled_key_and_disabled_account_are_rejected(standin):
    url, session = standin
    account = _account(url, session, "svc-token-dis")
    body, info = _key(url, session, account)
    assert session.post("%s/v1/%s:disable" % (url, body["name"]), json={}).status_code == 200
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        _token(info)
    assert session.post("%s/v1/%s:enable" % (url, body["name"]), json={}).status_code == 200
    assert _token(info)
    assert session.post("%s/v1/%s:disable" % (url, account["name"]), json={}).status_code == 200
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        _token(info)
    assert session.delete("%s/v1/%s" % (url, account["name"])).status_code == 200
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        _token(info)


def test_forged_signature_and_wrong_audience_are_rejected(standin):
    url, session = standin
    account = _account(url, session, "svc-token-forge")
    body, info = _key(url, session, account)
    _other_body, other = _key(url, session, account)
    forged = dict(info, private_key=other["private_key"])  # kid of key 1, signed with key 2
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        _token(forged)
    creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    creds._make_authorization_grant_assertion = lambda: _assertion(info, aud=url + "/token")
    with pytest.raises(google.auth.exceptions.RefreshError, match="audience"):
        creds.refresh(google.auth.transport.requests.Request(requests.Session()))


def _assertion(info, aud):
    from google.auth import crypt, jwt
    now = int(time.time())
    signer = crypt.RSASigner.from_service_account_info(info)
    return jwt.encode(signer, {"iss": info["client_email"], "aud": aud, "iat": now, "exp": now + 3600, "scope": ""})


def test_api_shapes_and_errors(standin):
    url, session = standin
    base = "%s/v1/projects/test-project/serviceAccounts" % url
    account = _account(url, session, "svc-shapes")
    dup = session.post(base, json={"accountId": "svc-shapes"})
    assert dup.status_code == 409 and dup.json()["error"]["status"] == "ALREADY_EXISTS"
    bad = session.post(base, json={"accountId": "No"})
    assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"
    missing = session.get(base + "/nobody@test-project.iam.gserviceaccount.com")
    assert missing.status_code == 404 and missing.json()["error"] == {
        "code": 404, "message": "Unknown service account", "status": "NOT_FOUND"}
    assert requests.get(base).status_code == 401
    got = session.get("%s/v1/%s" % (url, account["name"]))
    assert got.headers["ETag"] == '"%s"' % got.json()["etag"]
    patched = session.patch("%s/v1/%s" % (url, account["name"]),
                            json={"serviceAccount": {"displayName": "Shapes", "etag": account["etag"]},
                                  "updateMask": "displayName"})
    assert patched.status_code == 200 and patched.json()["displayName"] == "Shapes"
    assert patched.json()["etag"] != account["etag"]
    stale = session.patch("%s/v1/%s" % (url, account["name"]),
                          json={"serviceAccount": {"displayName": "X", "etag": account["etag"]},
                                "updateMask": "displayName"})
    assert stale.status_code == 409 and stale.json()["error"]["status"] == "ABORTED"
    by_id = session.get("%s/v1/projects/-/serviceAccounts/%s" % (url, account["uniqueId"]))
    assert by_id.status_code == 200
    listed = session.get(base).json()["accounts"]
    assert account["email"] in [a["email"] for a in listed]
    keys = session.get("%s/v1/%s/keys" % (url, account["name"])).json()["keys"]
    assert [k["keyType"] for k in keys] == ["SYSTEM_MANAGED"]
    assert session.get("%s/v1/%s/keys" % (url, account["name"]), params={"keyTypes": "USER_MANAGED"}).json() == {}


def test_ten_user_managed_keys_at_most(standin):
    url, session = standin
    account = _account(url, session, "svc-ten-keys")
    for _index in range(10):
        _key(url, session, account)
    r = session.post("%s/v1/%s/keys" % (url, account["name"]), json={})
    assert r.status_code == 400 and r.json()["error"]["status"] == "FAILED_PRECONDITION"


def test_injected_faults(standin):
    url, session = standin
    assert session.post(url + "/_standin/faults", json={"status": 429, "count": 2, "path": "svc-faults"}).ok
    base = "%s/v1/projects/test-project/serviceAccounts" % url
    r = session.get(base + "/svc-faults@test-project.iam.gserviceaccount.com")
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert session.get(base + "/svc-faults@test-project.iam.gserviceaccount.com").status_code == 429
    assert session.get(base + "/svc-faults@test-project.iam.gserviceaccount.com").status_code == 404


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_command_line_start_health_and_stop(tmp_path):
    port = _free_port()
    state = tmp_path / "state.json"
    env = dict(os.environ, NHI_GCP_ADMIN_TOKEN="t0ken-for-the-cli-test")
    proc = subprocess.Popen([sys.executable, STANDIN, "--host", "127.0.0.1", "--port", str(port),
                             "--state-file", str(state)], env=env, stderr=subprocess.PIPE)
    try:
        url = "http://127.0.0.1:%d" % port
        for _attempt in range(100):
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        r = requests.post(url + "/v1/projects/test-project/serviceAccounts", json={"accountId": "svc-cli-one"},
                          headers={"Authorization": "Bearer t0ken-for-the-cli-test"})
        assert r.status_code == 200
        assert "svc-cli-one@test-project.iam.gserviceaccount.com" in json.loads(state.read_text())["accounts"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        proc.stderr.close()


def test_refuses_non_loopback():
    with pytest.raises(SystemExit):
        gcp_iam.main(["--host", "0.0.0.0", "--port", "1"])

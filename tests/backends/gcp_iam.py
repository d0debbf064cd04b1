# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""A loopback stand-in for the GCP IAM v1 API and Google's OAuth token endpoint.

GCP IAM has no emulator (nothing like moto or OpenBao exists for it), so the
tests of nhi.lifecycle run against this small server instead. It is test
infrastructure, not product, and it only ever listens on loopback.

What it implements, shaped after ``iam.v1.json`` of google-api-python-client
(same paths, field names and error bodies):

* ``projects.serviceAccounts``: create, get, list, patch, delete, disable,
  enable. Accounts carry an ``etag`` (also sent as the ``ETag`` header);
  a patch whose ``serviceAccount.etag`` is stale gets 409 ABORTED.
* ``projects.serviceAccounts.keys``: create, get, list (``keyTypes``),
  delete, disable, enable. ``create`` returns ``privateKeyData``: the base64
  of a real service-account JSON key file with a freshly generated RSA-2048
  private key, whose ``token_uri`` points at this server's ``/token``. Each
  account also lists one SYSTEM_MANAGED key, as in GCP. At most 10
  user-managed keys per account (disabled ones count): the 11th gets
  400 FAILED_PRECONDITION, like GCP.
* ``POST /token``: the OAuth 2.0 JWT-bearer grant exactly as google-auth's
  ``service_account.Credentials`` sends it. The RS256 signature is really
  verified with the public key of the key named by the JWT header ``kid``;
  ``iss`` must be that key's account, ``aud`` must be
  ``https://oauth2.googleapis.com/token`` (google-auth always sends that
  audience), ``iat``/``exp`` must be a short-lived window around now.
  Deleted or disabled keys, and keys of disabled or deleted accounts, get
  ``400 {"error": "invalid_grant", ...}``.
* Bearer auth on the API: the static admin token (``--admin-token``, or the
  environment variable ``NHI_GCP_ADMIN_TOKEN`` or ``NHI_GCP_ACCESS_TOKEN``)
  or an access token issued by ``/token``. There is no IAM policy model:
  any valid token may call any method. Unlike GCP, tokens issued to a key
  stop working as soon as that key or its account is disabled or deleted.
* ``GET /health`` and ``GET /`` answer 200 without auth.
* ``POST /_standin/faults`` (admin token) queues injected failures, e.g.
  ``{"status": 429, "count": 2, "method": "POST", "path": ":disable"}``,
  for the tests of retries and throttling.

Run it as ``python tests/backends/gcp_iam.py --host 127.0.0.1 --port N``
(``--state-file FILE`` keeps accounts and public keys across restarts;
private keys are never kept). Stop it with SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_USER_KEYS = 10
TOKEN_LIFETIME = 3599
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300
ACCOUNT_ID_RE = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")
PROJECT_RE = re.compile(r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
STATUS_OF = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
             409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def b64url_decode(text):
    text = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text.encode("ascii"))


class ApiError(Exception):
    def __init__(self, code, message, status=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_OF.get(code, "UNKNOWN")

    def body(self):
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


class GrantError(Exception):
    """An OAuth error: ``{"error": ..., "error_description": ...}``."""

    def __init__(self, error, description, code=400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.code = code


class State(object):
    """Accounts, keys and issued tokens, behind one lock."""

    def __init__(self, path=None):
        self.lock = threading.RLock()
        self.path = path
        self.accounts = {}      # email -> account dict (with "keys": {key_id: key dict})
        self.tokens = {}        # access token -> {"email", "key_id", "exp"}
        self.faults = []        # injected failures
        self.counter = 0
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                saved = json.load(fh)
            self.accounts = saved.get("accounts", {})
            self.counter = saved.get("counter", 0)

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"accounts": self.accounts, "counter": self.counter}, fh)
        os.replace(tmp, self.path)

    def next_etag(self):
        self.counter += 1
        return base64.b64encode(("v%012d" % self.counter).encode()).decode()

    # --- lookups ---------------------------------------------------------
    def find_account(self, project, ident):
        ident = urllib.parse.unquote(ident)
        for account in self.accounts.values():
            if project not in ("-", account["projectId"]):
                continue
            if ident in (account["email"], account["uniqueId"]):
                return account
        raise ApiError(404, "Unknown service account", "NOT_FOUND")

    def find_key(self, account, key_id):
        key = account["keys"].get(key_id)
        if key is None or key.get("deleted"):
            raise ApiError(404, "Unknown service account key", "NOT_FOUND")
        return key


def account_view(account):
    out = {k: account[k] for k in ("name", "projectId", "uniqueId", "email", "oauth2ClientId", "etag")}
    for field in ("displayName", "description"):
        if account.get(field):
            out[field] = account[field]
    if account.get("disabled"):
        out["disabled"] = True
    return out


def key_view(key, public=False):
    out = {k: key[k] for k in ("name", "validAfterTime", "validBeforeTime", "keyAlgorithm", "keyOrigin", "keyType")}
    if key.get("disabled"):
        out["disabled"] = True
        out["disableReason"] = "SERVICE_ACCOUNT_KEY_DISABLE_REASON_USER_INITIATED"
    if public and key.get("public_pem"):
        out["publicKeyData"] = base64.b64encode(key["public_pem"].encode()).decode()
    return out


class Handler(BaseHTTPRequestHandler):
    server_version = "gcp-iam-standin/1"
    protocol_version = "HTTP/1.1"

    # --- plumbing --------------------------------------------------------
    def log_message(self, fmt, *args):  # one line per request, never a body or a token
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def _body(self):
        """The request body, read once (always read, so that keep-alive stays in step)."""
        if getattr(self, "_raw", None) is None:
            length = int(self.headers.get("Content-Length") or 0)
            self._raw = self.rfile.read(length) if length else b""
        return self._raw

    def _json_body(self):
        raw = self._body()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Invalid JSON payload received.")
        if not isinstance(value, dict):
            raise ApiError(400, "Invalid JSON payload received. Expected an object.")
        return value

    def _send(self, code, payload, headers=None):
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method):
        state = self.server.state
        self._raw = None
        self._body()
        parsed = urllib.parse.urlsplit(self.path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        try:
            if method == "GET" and path in ("/", "/health"):
                self._body()
                return self._send(200, {"status": "ok", "service": "gcp-iam-standin"})
            if method == "POST" and path == "/token":
                return self._token()
            self._authorize()
            if method == "POST" and path == "/_standin/faults":
                with state.lock:
                    state.faults.append(self._json_body())
                return self._send(200, {})
            self._inject(method, path)
            code, payload, headers = self._api(method, path, query)
            return self._send(code, payload, headers)
        except ApiError as exc:
            headers = {"Retry-After": "1"} if exc.code == 429 else None
            return self._send(exc.code, exc.body(), headers)
        except GrantError as exc:
            return self._send(exc.code, {"error": exc.error, "error_description": exc.description})

    def do_GET(self):  # noqa: N802 (http.server naming)
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PATCH(self):  # noqa: N802
        self._dispatch("PATCH")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    # --- auth ------------------------------------------------------------
    def _authorize(self):
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            self._body()
            raise ApiError(401, "Request is missing required authentication credential. Expected OAuth 2 access "
                                "token, login cookie or other valid authentication credential.", "UNAUTHENTICATED")
        token = header[len("Bearer "):].strip()
        if secrets.compare_digest(token, self.server.admin_token):
            return
        state = self.server.state
        with state.lock:
            issued = state.tokens.get(token)
            valid = issued is not None and issued["exp"] > time.time()
            if valid:
                account = state.accounts.get(issued["email"])
                key = (account or {}).get("keys", {}).get(issued["key_id"])
                valid = bool(account and not account.get("disabled") and key and not key.get("deleted")
                             and not key.get("disabled"))
        if not valid:
            self._body()
            raise ApiError(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                "login cookie or other valid authentication credential.", "UNAUTHENTICATED")

    def _inject(self, method, path):
        state = self.server.state
        with state.lock:
            for fault in state.faults:
                if fault.get("method", method) == method and fault.get("path", "") in path:
                    fault["count"] = int(fault.get("count", 1)) - 1
                    if fault["count"] <= 0:
                        state.faults.remove(fault)
                    self._body()
                    raise ApiError(int(fault.get("status", 503)), fault.get("message", "injected failure"))

    # --- the OAuth token endpoint ------------------------------------------
    def _token(self):
        form = urllib.parse.parse_qs(self._body().decode("utf-8", "replace"))
        grant = (form.get("grant_type") or [""])[0]
        if grant != JWT_BEARER:
            raise GrantError("unsupported_grant_type", "Invalid grant_type: %s" % grant)
        assertion = (form.get("assertion") or [""])[0]
        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(sig_b64)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise GrantError("invalid_grant", "Invalid JWT: the assertion is not a signed JWT.")
        if header.get("alg") != "RS256":
            raise GrantError("invalid_grant", "Invalid JWT: alg must be RS256.")
        state = self.server.state
        with state.lock:
            account = state.accounts.get(claims.get("iss") or "")
            if account is None:
                raise GrantError("invalid_grant", "Invalid grant: account not found")
            key = account["keys"].get(header.get("kid") or "")
            if key is None or key.get("deleted") or key.get("keyType") != "USER_MANAGED":
                raise GrantError("invalid_grant", "Invalid JWT Signature.")
            public_pem = key["public_pem"]
            key_disabled = bool(key.get("disabled"))
            account_disabled = bool(account.get("disabled"))
        public_key = serialization.load_pem_public_key(public_pem.encode())
        try:
            public_key.verify(signature, ("%s.%s" % (head_b64, claims_b64)).encode("ascii"),
                              padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise GrantError("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise GrantError("invalid_grant", "Invalid JWT: audience must be %s." % GOOGLE_TOKEN_AUDIENCE)
        if claims.get("sub") not in (None, claims.get("iss")):
            raise GrantError("unauthorized_client", "Client is unauthorized to retrieve access tokens using this "
                                                    "method, or client not authorized for any of the scopes requested.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if (not isinstance(iat, (int, float)) or not isinstance(exp, (int, float)) or exp <= now - CLOCK_SKEW
                or iat > now + CLOCK_SKEW or exp - iat > MAX_ASSERTION_LIFETIME or exp <= iat):
            raise GrantError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                                              "reasonable timeframe. Check your iat and exp values in the JWT claim.")
        if account_disabled:
            raise GrantError("invalid_grant", "Invalid grant: account disabled")
        if key_disabled:
            raise GrantError("invalid_grant", "Invalid JWT Signature.")
        token = "ya29.standin-" + secrets.token_urlsafe(32)
        with state.lock:
            state.tokens = {t: v for t, v in state.tokens.items() if v["exp"] > now}
            state.tokens[token] = {"email": claims["iss"], "key_id": header["kid"], "exp": now + TOKEN_LIFETIME}
        return self._send(200, {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"})

    # --- the IAM API -------------------------------------------------------
    def _api(self, method, path, query):
        match = re.match(r"^/v1/projects/([^/]+)/serviceAccounts(?:/([^/:]+))?(/keys(?:/([^/:]+))?)?(?::(\w+))?$",
                         path)
        if not match:
            self._body()
            raise ApiError(404, "The requested URL %s was not found on this server." % path, "NOT_FOUND")
        project, account_ident, keys, key_id, verb = match.groups()
        if project != "-" and not PROJECT_RE.match(project):
            self._body()
            raise ApiError(400, "Invalid project id %r." % project)
        state = self.server.state
        with state.lock:
            if account_ident is None:
                if keys or key_id:
                    raise ApiError(404, "The requested URL %s was not found on this server." % path, "NOT_FOUND")
                if method == "POST" and verb is None:
                    return self._create_account(project)
                if method == "GET" and verb is None:
                    return self._list_accounts(project, query)
            else:
                account = state.find_account(project, account_ident)
                if not keys:
                    return self._account_method(method, verb, account)
                if key_id is None:
                    if method == "POST" and verb is None:
                        return self._create_key(account)
                    if method == "GET" and verb is None:
                        return self._list_keys(account, query)
                else:
                    key = state.find_key(account, key_id)
                    return self._key_method(method, verb, account, key, query)
        self._body()
        raise ApiError(404, "Method %s %s is not implemented by the stand-in." % (method, path), "NOT_FOUND")

    def _create_account(self, project):
        state = self.server.state
        body = self._json_body()
        account_id = body.get("accountId") or ""
        if not ACCOUNT_ID_RE.match(account_id):
            raise ApiError(400, "Invalid accountId: %r. It must be 6-30 characters, start with a lower case letter "
                                "and match [a-z]([-a-z0-9]*[a-z0-9])." % account_id)
        sa = body.get("serviceAccount") or {}
        display, description = sa.get("displayName") or "", sa.get("description") or ""
        if len(display.encode()) > 100 or len(description.encode()) > 256:
            raise ApiError(400, "displayName is limited to 100 bytes and description to 256 bytes.")
        email = "%s@%s.iam.gserviceaccount.com" % (account_id, project)
        if email in state.accounts:
            raise ApiError(409, "Service account %s already exists within project projects/%s." % (account_id, project),
                           "ALREADY_EXISTS")
        unique_id = str(100000000000000000000 + secrets.randbelow(899999999999999999999))
        state.accounts[email] = {
            "name": "projects/%s/serviceAccounts/%s" % (project, email), "projectId": project,
            "uniqueId": unique_id, "email": email, "oauth2ClientId": unique_id, "displayName": display,
            "description": description, "disabled": False, "etag": state.next_etag(),
            "keys": {}, "system_key": secrets.token_hex(20), "created": rfc3339(now_utc()),
        }
        state.save()
        account = state.accounts[email]
        return 200, account_view(account), {"ETag": '"%s"' % account["etag"]}

    def _list_accounts(self, project, query):
        self._body()
        state = self.server.state
        found = sorted((a for a in state.accounts.values() if project in ("-", a["projectId"])),
                       key=lambda a: a["email"])
        size = int((query.get("pageSize") or ["100"])[0] or 100)
        size = max(1, min(size, 100))
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        page = found[start:start + size]
        out = {"accounts": [account_view(a) for a in page]} if page else {}
        if start + size < len(found):
            out["nextPageToken"] = str(start + size)
        return 200, out, None

    def _account_method(self, method, verb, account):
        state = self.server.state
        etag_header = {"ETag": '"%s"' % account["etag"]}
        if method == "GET" and verb is None:
            self._body()
            return 200, account_view(account), etag_header
        if method in ("PATCH", "PUT") and verb is None:
            body = self._json_body()
            if method == "PUT":
                sa, mask = body, "displayName,description"
            else:
                sa, mask = body.get("serviceAccount") or {}, body.get("updateMask") or ""
            if not mask:
                raise ApiError(400, "updateMask is required.")
            if sa.get("etag") and sa["etag"] != account["etag"]:
                raise ApiError(409, "There were concurrent policy changes. Please retry the whole read-modify-write "
                                    "with exponential backoff.", "ABORTED")
            fields = {"display_name": "displayName", "displayName": "displayName",
                      "description": "description"}
            for name in [m.strip() for m in mask.split(",") if m.strip()]:
                if name not in fields:
                    raise ApiError(400, "Invalid updateMask field %r; only displayName and description can be "
                                        "updated." % name)
                field = fields[name]
                value = sa.get(field) or ""
                if len(value.encode()) > (100 if field == "displayName" else 256):
                    raise ApiError(400, "%s is too long." % field)
                account[field] = value
            account["etag"] = state.next_etag()
            state.save()
            return 200, account_view(account), {"ETag": '"%s"' % account["etag"]}
        if method == "DELETE" and verb is None:
            self._body()
            del state.accounts[account["email"]]
            state.save()
            return 200, {}, None
        if method == "POST" and verb in ("disable", "enable"):
            self._json_body()
            account["disabled"] = verb == "disable"
            account["etag"] = state.next_etag()
            state.save()
            return 200, {}, None
        self._body()
        raise ApiError(404, "Method %s :%s is not implemented by the stand-in." % (method, verb), "NOT_FOUND")

    def _create_key(self, account):
        state = self.server.state
        body = self._json_body()
        key_type = body.get("privateKeyType") or "TYPE_GOOGLE_CREDENTIALS_FILE"
        algorithm = body.get("keyAlgorithm") or "KEY_ALG_RSA_2048"
        if key_type not in ("TYPE_GOOGLE_CREDENTIALS_FILE", "TYPE_UNSPECIFIED"):
            raise ApiError(400, "privateKeyType %s is not supported by the stand-in." % key_type)
        if algorithm not in ("KEY_ALG_RSA_2048", "KEY_ALG_UNSPECIFIED"):
            raise ApiError(400, "keyAlgorithm %s is not supported by the stand-in." % algorithm)
        live = [k for k in account["keys"].values() if not k.get("deleted")]
        if len(live) >= MAX_USER_KEYS:
            raise ApiError(400, "Precondition check failed.", "FAILED_PRECONDITION")
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode()
        public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        key_id = secrets.token_hex(20)
        now = now_utc()
        key = {
            "name": "%s/keys/%s" % (account["name"], key_id), "validAfterTime": rfc3339(now),
            "validBeforeTime": "9999-12-31T23:59:59Z", "keyAlgorithm": "KEY_ALG_RSA_2048",
            "keyOrigin": "GOOGLE_PROVIDED", "keyType": "USER_MANAGED", "disabled": False,
            "public_pem": public_pem,
        }
        account["keys"][key_id] = key
        state.save()
        base = "http://%s" % (self.headers.get("Host") or "%s:%d" % self.server.server_address[:2])
        key_file = {
            "type": "service_account", "project_id": account["projectId"], "private_key_id": key_id,
            "private_key": private_pem, "client_email": account["email"], "client_id": account["uniqueId"],
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": base + "/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": base + "/robot/v1/metadata/x509/" + urllib.parse.quote(account["email"]),
            "universe_domain": "googleapis.com",
        }
        out = key_view(key)
        out["privateKeyType"] = "TYPE_GOOGLE_CREDENTIALS_FILE"
        out["privateKeyData"] = base64.b64encode(json.dumps(key_file, indent=2).encode()).decode()
        return 200, out, None

    def _system_key(self, account):
        return {"name": "%s/keys/%s" % (account["name"], account["system_key"]),
                "validAfterTime": account.get("created") or rfc3339(now_utc()),
                "validBeforeTime": rfc3339(now_utc() + datetime.timedelta(days=14)),
                "keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED", "keyType": "SYSTEM_MANAGED"}

    def _list_keys(self, account, query):
        self._body()
        types = set(query.get("keyTypes") or ["USER_MANAGED", "SYSTEM_MANAGED"])
        unknown = types - {"USER_MANAGED", "SYSTEM_MANAGED", "KEY_TYPE_UNSPECIFIED"}
        if unknown:
            raise ApiError(400, "Invalid value for keyTypes: %s" % ", ".join(sorted(unknown)))
        out = []
        if "USER_MANAGED" in types or "KEY_TYPE_UNSPECIFIED" in types:
            live = [k for k in account["keys"].values() if not k.get("deleted")]
            out.extend(key_view(k) for k in sorted(live, key=lambda k: k["validAfterTime"]))
        if "SYSTEM_MANAGED" in types or "KEY_TYPE_UNSPECIFIED" in types:
            out.append(self._system_key(account))
        return 200, {"keys": out} if out else {}, None

    def _key_method(self, method, verb, account, key, query):
        state = self.server.state
        if method == "GET" and verb is None:
            self._body()
            return 200, key_view(key, public=bool(query.get("publicKeyType"))), None
        if method == "DELETE" and verb is None:
            self._body()
            key["deleted"] = True
            key.pop("public_pem", None)
            state.save()
            return 200, {}, None
        if method == "POST" and verb in ("disable", "enable"):
            self._json_body()
            key["disabled"] = verb == "disable"
            state.save()
            return 200, {}, None
        self._body()
        raise ApiError(404, "Method %s :%s is not implemented by the stand-in." % (method, verb), "NOT_FOUND")


class StandIn(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, admin_token, state_file=None):
        super().__init__(address, Handler)
        self.admin_token = admin_token
        self.state = State(state_file)

    def handle_error(self, request, client_address):  # a dropped client is not worth a traceback
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def serve_in_thread(admin_token, host="127.0.0.1", port=0, state_file=None):
    """Start a stand-in on a thread (for tests); returns ``(server, base_url)``. Stop with ``server.shutdown()``."""
    server = StandIn((host, port), admin_token, state_file)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server, "http://%s:%d" % server.server_address[:2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=8086)
    parser.add_argument("--admin-token", help="static bearer token for the automation "
                                              "(or env NHI_GCP_ADMIN_TOKEN / NHI_GCP_ACCESS_TOKEN)")
    parser.add_argument("--state-file", help="keep accounts and public keys in this JSON file")
    args = parser.parse_args(argv)
    if not (args.host.startswith("127.") or args.host in ("::1", "localhost")):
        parser.error("the stand-in only listens on loopback, not on %s" % args.host)
    token = args.admin_token or os.environ.get("NHI_GCP_ADMIN_TOKEN") or os.environ.get("NHI_GCP_ACCESS_TOKEN")
    if not token:
        token = secrets.token_urlsafe(32)
        sys.stderr.write("gcp-iam-standin: no admin token was given (--admin-token or NHI_GCP_ADMIN_TOKEN); "
                         "generated one that nobody knows, so only /health answers usefully\n")
    server = StandIn((args.host, args.port), token, args.state_file)

    def _stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stderr.write("gcp-iam-standin: listening on http://%s:%d\n" % server.server_address[:2])
    sys.stderr.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The GCP connector: options, one authorised session, IAM v1 calls, errors, proofs.

One HTTP session is built per module run and shared by every worker. It is a
google-auth ``AuthorizedSession`` (application default credentials, a
credentials file, or impersonation), or a plain requests session with a
bearer token (``gcp_auth_kind=access_token``, e.g. against the local
stand-in). Mounted on it is the retry policy of ``_http``: 429 and 5xx are
retried with jittered backoff and ``Retry-After`` is honoured; a POST (a
mint) is only replayed on 429 and 503, which mean "not processed", and never
after a broken connection or a read timeout, so that a retry cannot leave a
key that nothing knows about. Reads and deletes are replayed after a reset.

Writes draw from a per-project request budget (``gcp:<project>``, 10 writes
a second: GCP allows about 600 IAM writes a minute per project) shared by
the whole batch; every 429 seen, retried or not, halves it. Reads are not
budgeted.

A key is proven with the real OAuth 2.0 JWT-bearer exchange that google-auth
does for a service-account key file (``prove_key``); "could not ask" raises,
it never counts as "rejected".
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse

from ansible.module_utils.basic import env_fallback

from ansible_collections.nhi.lifecycle.plugins.module_utils import _batch, _http
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, NotFound, age_days

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - reported through NHIError at client()
    HAS_REQUESTS = False

try:
    import google.auth
    import google.auth.exceptions
    import google.auth.impersonated_credentials
    import google.auth.transport.requests
    from google.oauth2 import service_account
    HAS_GOOGLE_AUTH = True
    GOOGLE_AUTH_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover
    HAS_GOOGLE_AUTH = False
    GOOGLE_AUTH_IMPORT_ERROR = _exc


DEFAULT_ENDPOINT = "https://iam.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
AUTH_KINDS = ("application_default", "service_account_file", "impersonation", "access_token")
WRITE_RATE = 10.0       # per second and project: GCP allows ~600 IAM writes a minute per project
MAX_USER_KEYS = 10      # user-managed keys per service account, disabled ones included
EMAIL_SUFFIX = ".iam.gserviceaccount.com"


def argument_spec():
    """Connection and auth options, shared by every module that talks to GCP IAM."""
    return dict(
        gcp_project=dict(type="str", fallback=(env_fallback, ["GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"])),
        gcp_auth_kind=dict(type="str", choices=list(AUTH_KINDS), fallback=(env_fallback, ["NHI_GCP_AUTH_KIND"])),
        gcp_credentials_file=dict(type="path", fallback=(env_fallback, ["GOOGLE_APPLICATION_CREDENTIALS"])),
        gcp_impersonate_service_account=dict(type="str",
                                             fallback=(env_fallback, ["NHI_GCP_IMPERSONATE_SERVICE_ACCOUNT"])),
        gcp_access_token=dict(type="str", no_log=True,
                              fallback=(env_fallback, ["NHI_GCP_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN"])),
        gcp_endpoint=dict(type="str", fallback=(env_fallback, ["NHI_GCP_ENDPOINT"])),
        gcp_token_uri=dict(type="str", no_log=False, fallback=(env_fallback, ["NHI_GCP_TOKEN_URI"])),
        gcp_timeout=dict(type="int", default=15),
        gcp_retries=dict(type="int", default=5),
        gcp_validate_certs=dict(type="bool", default=True),
    )


# --- names ---------------------------------------------------------------

ACCOUNT_ID_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
# A project id, optionally domain-scoped (example.com:my-project).
PROJECT_RE = re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,62}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
EMAIL_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9.-]{0,253}\.gserviceaccount\.com")


def check_names(account_id, project, where="account_id"):
    """Refuse an account id, email or project that is not one, before it becomes part of a URL path.

    The names go into ``projects/<project>/serviceAccounts/<email>``, and requests resolves '..' segments:
    an unchecked ``../..`` would send the call, with the automation's credentials, to another API path.
    """
    if not isinstance(account_id, str) or not (EMAIL_RE.fullmatch(account_id) if "@" in account_id
                                               else ACCOUNT_ID_RE.fullmatch(account_id)):
        raise NHIError("account_id %r is not a GCP account id or service-account email" % (account_id,), where=where,
                       hint="use 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$, or the account's email")
    check_project(project)


def check_project(project, where="project"):
    """See :func:`check_names`; ``None`` (not given) passes."""
    if project is not None and not (isinstance(project, str) and PROJECT_RE.fullmatch(project)):
        raise NHIError("project %r is not a GCP project id" % (project,), where=where,
                       hint="use 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


def account_email(account, project):
    """``account`` is an account id (``ci-deployer``) or already an email."""
    return account if "@" in account else "%s@%s%s" % (account, project, EMAIL_SUFFIX)


def account_name(account, project):
    return "projects/%s/serviceAccounts/%s" % (project, account_email(account, project))


def key_id_of(key_name):
    return key_name.rsplit("/", 1)[-1] if key_name else None


# --- views (what results, diffs and evidence may carry: never key material) ---

def account_view(account):
    if account is None:
        return None
    email = account.get("email") or ""
    return {
        "email": email,
        "account_id": email.split("@")[0],
        "project": account.get("projectId"),
        "unique_id": account.get("uniqueId"),
        "display_name": account.get("displayName") or "",
        "description": account.get("description") or "",
        "disabled": bool(account.get("disabled")),
    }


def key_view(key, now=None):
    created = key.get("validAfterTime")
    return {
        "key_id": key_id_of(key.get("name")),
        "disabled": bool(key.get("disabled")),
        "created": created,
        "age_days": age_days(created, now) if created else None,
        "key_type": key.get("keyType") or "USER_MANAGED",
    }


# --- errors --------------------------------------------------------------

def _google_error(response):
    """``(status, reason, message)`` from a Google error body, or from the HTTP status."""
    reason, message = None, None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        reason, message = err.get("status"), err.get("message")
    elif isinstance(body, dict) and isinstance(body.get("error"), str):
        reason, message = body["error"], body.get("error_description")
    if not message:
        message = (response.text or "").strip().splitlines()[0][:200] if response.text else response.reason
    return response.status_code, reason, message


def error_from_response(response, what, where=None):
    status, reason, message = _google_error(response)
    text = "%s: GCP answered %d %s: %s" % (what, status, reason or "", message)
    if status == 404:
        err = NotFound(text, where=where, status=status)
    elif status == 409:
        err = Conflict(text, where=where, status=status,
                       hint="another change raced this one (%s); run again to re-read" % (reason or "conflict"))
    elif status == 401:
        err = NHIError("%s: GCP rejected the automation's credentials (%s)" % (what, message), where=where, status=status,
                       hint="check gcp_auth_kind and its credentials (GOOGLE_APPLICATION_CREDENTIALS, "
                            "gcp_access_token / NHI_GCP_ACCESS_TOKEN)")
    elif status == 403:
        err = NHIError("%s: GCP denied the call (%s)" % (what, message), where=where, status=status,
                       hint="grant roles/iam.serviceAccountAdmin and roles/iam.serviceAccountKeyAdmin on the "
                            "project to the identity that runs the automation")
    elif status == 429:
        err = NHIError("%s: GCP kept throttling after retries (%s)" % (what, message), where=where, status=status,
                       retryable=True, hint="lower workers or raise gcp_retries; GCP allows about 600 IAM writes "
                                            "a minute per project")
    elif status >= 500:
        err = NHIError(text, where=where, status=status, retryable=True,
                       hint="GCP had a server error; run again, the rotation resumes where it stopped")
    else:
        err = NHIError(text, where=where, status=status)
    err.reason = reason
    return err


def translate(exc, what, where=None):
    """Map a transport or google-auth error onto NHIError."""
    if isinstance(exc, NHIError):
        return exc
    if HAS_GOOGLE_AUTH:
        if isinstance(exc, google.auth.exceptions.DefaultCredentialsError):
            return NHIError("%s: no usable Google credentials (%s)" % (what, _short(exc)), where=where,
                            hint="set gcp_credentials_file (GOOGLE_APPLICATION_CREDENTIALS), run "
                                 "'gcloud auth application-default login', or use gcp_auth_kind=access_token")
        if isinstance(exc, google.auth.exceptions.RefreshError):
            return NHIError("%s: Google refused to issue the automation's access token (%s)" % (what, _short(exc)),
                            where=where, retryable=bool(getattr(exc, "retryable", False)),
                            hint="the automation's own credentials are invalid, disabled or lack "
                                 "roles/iam.serviceAccountTokenCreator for impersonation")
        if isinstance(exc, google.auth.exceptions.TransportError):
            return NHIError("%s: cannot reach Google's token endpoint (%s)" % (what, _short(exc)), where=where,
                            retryable=True, hint="check the network and gcp_token_uri")
    if HAS_REQUESTS:
        if isinstance(exc, requests.exceptions.SSLError):
            return NHIError("%s: TLS verification of the GCP endpoint failed" % what, where=where,
                            hint="fix the endpoint's certificate, or set gcp_validate_certs=false for a local test "
                                 "endpoint only")
        if isinstance(exc, requests.exceptions.Timeout):
            return NHIError("%s: GCP did not answer in time" % what, where=where, retryable=True,
                            hint="check the network or raise gcp_timeout; run again to resume")
        if isinstance(exc, requests.exceptions.RetryError):
            return NHIError("%s: GCP kept failing after retries (%s)" % (what, _short(exc)), where=where,
                            retryable=True, hint="check the service's health and quotas")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return NHIError("%s: cannot connect to the GCP endpoint" % what, where=where, retryable=True,
                            hint="check gcp_endpoint / NHI_GCP_ENDPOINT and the network")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return NHIError("%s: the GCP endpoint is not a valid URL" % what, where=where,
                            hint="use a URL such as https://iam.googleapis.com")
    return NHIError("%s: %s: %s" % (what, type(exc).__name__, _short(exc)), where=where)


def _short(exc):
    if HAS_GOOGLE_AUTH and isinstance(exc, google.auth.exceptions.GoogleAuthError) and exc.args:
        text = str(exc.args[0]).strip()  # the rest of args is the raw response
    else:
        text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


if HAS_GOOGLE_AUTH:
    class _TimedRequest(google.auth.transport.requests.Request):
        """google-auth's transport with our timeout instead of its 120 s default."""

        def __init__(self, session, timeout):
            super(_TimedRequest, self).__init__(session)
            self._timeout = timeout

        def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
            return super(_TimedRequest, self).__call__(url, method=method, body=body, headers=headers,
                                                       timeout=self._timeout, **kwargs)


class GCPConnection(object):
    """An authorised, shared HTTP session to the IAM v1 API, plus proofs."""

    def __init__(self, options, pool_size=8):
        if not HAS_REQUESTS:
            raise NHIError("the requests Python library is required", where="controller Python",
                           hint="pip install requests (see requirements/runtime.txt)")
        self.options = options
        self.endpoint = (options.get("gcp_endpoint") or DEFAULT_ENDPOINT).rstrip("/")
        if not self.endpoint.startswith(("http://", "https://")):
            raise NHIError("the GCP endpoint %r is not an http(s) URL" % self.endpoint,
                           where="gcp_endpoint / NHI_GCP_ENDPOINT", hint="use a URL such as https://iam.googleapis.com")
        self.project = options.get("gcp_project")
        if self.project:
            check_project(self.project, where="gcp_project / GOOGLE_CLOUD_PROJECT")
        self.token_uri = options.get("gcp_token_uri")
        self.timeout = int(options.get("gcp_timeout", 15))
        self.retries = int(options.get("gcp_retries", 5))
        self.verify = bool(options.get("gcp_validate_certs", True))
        self.pool_size = pool_size
        self.auth_kind = self._auth_kind()
        self.session = self._session()
        self._proof = None
        self._lock = threading.Lock()

    # --- auth --------------------------------------------------------------
    def _auth_kind(self):
        kind = self.options.get("gcp_auth_kind")
        if kind:
            return kind
        if self.options.get("gcp_access_token"):
            return "access_token"
        if self.options.get("gcp_impersonate_service_account"):
            return "impersonation"
        if self.options.get("gcp_credentials_file"):
            return "service_account_file"
        return "application_default"

    def _session(self):
        kind = self.auth_kind
        if kind == "access_token":
            token = self.options.get("gcp_access_token")
            if not token:
                raise NHIError("gcp_auth_kind=access_token needs a token", where="gcp_access_token / NHI_GCP_ACCESS_TOKEN",
                               hint="set gcp_access_token, or choose another gcp_auth_kind")
            session = requests.Session()
            session.headers["Authorization"] = "Bearer %s" % token
            return _http.mount(session, self.retries, self.pool_size)
        if not HAS_GOOGLE_AUTH:
            raise NHIError("the google-auth Python library is required for gcp_auth_kind=%s" % kind,
                           where="controller Python", hint="pip install google-auth (see requirements/runtime.txt)")
        credentials = self._credentials(kind)
        refresh = _http.mount(requests.Session(), self.retries, 2)
        session = google.auth.transport.requests.AuthorizedSession(
            credentials, auth_request=_TimedRequest(refresh, self.timeout), refresh_timeout=self.timeout * 2)
        return _http.mount(session, self.retries, self.pool_size)

    def _credentials(self, kind):
        path = self.options.get("gcp_credentials_file")
        try:
            if kind == "service_account_file" or (kind == "impersonation" and path):
                if not path:
                    raise NHIError("gcp_auth_kind=service_account_file needs a credentials file",
                                   where="gcp_credentials_file / GOOGLE_APPLICATION_CREDENTIALS")
                credentials = service_account.Credentials.from_service_account_file(path, scopes=list(SCOPES))
                project = credentials.project_id
            elif kind in ("application_default", "impersonation"):
                # google.auth.default() reads GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file and the
                # metadata server, and accepts every credential type ADC allows.
                credentials, project = google.auth.default(scopes=list(SCOPES))
            else:  # pragma: no cover - choices guard this
                raise NHIError("unknown gcp_auth_kind %r" % kind, where="gcp_auth_kind")
        except NHIError:
            raise
        except Exception as exc:
            raise translate(exc, "loading the automation's Google credentials",
                            where="gcp_credentials_file" if path else "application default credentials")
        if not self.project and project:
            self.project = project
        if kind == "impersonation":
            target = self.options.get("gcp_impersonate_service_account")
            if not target:
                raise NHIError("gcp_auth_kind=impersonation needs the service account to impersonate",
                               where="gcp_impersonate_service_account")
            credentials = google.auth.impersonated_credentials.Credentials(
                source_credentials=credentials, target_principal=target, target_scopes=list(SCOPES), lifetime=3600)
        return credentials

    # --- the request path ----------------------------------------------------
    def budget(self, project):
        return _batch.budget("gcp:%s" % project, rate=WRITE_RATE, max_rate=WRITE_RATE)

    def call(self, method, path, what, where=None, project=None, body=None, params=None):
        """One IAM v1 call; a write when ``project`` is given (it draws from that project's budget)."""
        budget = self.budget(project) if project else None
        if budget is not None:
            budget.acquire()
        url = "%s/v1/%s" % (self.endpoint, path)
        try:
            response = self.session.request(method, url, json=body, params=params, timeout=self.timeout,
                                            verify=self.verify)
        except Exception as exc:
            raise translate(exc, what, where=where or url)
        throttles = _throttle_count(response)
        if throttles or response.status_code == 429:
            target = budget or self.budget(_project_of(path) or "-")
            for _throttle in range(max(1, throttles)):
                target.throttled()
        elif budget is not None and response.status_code < 400:
            budget.ok()
        if _http.deleted_on_a_lost_attempt(method, response):
            return {}
        if response.status_code >= 400:
            raise error_from_response(response, what, where=where)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise NHIError("%s: GCP sent an answer that is not JSON" % what, where=where or url, retryable=True)

    # --- service accounts ------------------------------------------------------
    def get_account(self, project, account):
        """The service account, or None when it does not exist."""
        name = account_name(account, project)
        try:
            return self.call("GET", _quote(name), "reading service account %s" % name, where=name)
        except NotFound:
            return None

    def list_accounts(self, project):
        out, token = [], None
        while True:
            params = {"pageSize": 100}
            if token:
                params["pageToken"] = token
            page = self.call("GET", "projects/%s/serviceAccounts" % project,
                             "listing the service accounts of project %s" % project, where="project %s" % project,
                             params=params)
            out.extend(page.get("accounts") or [])
            token = page.get("nextPageToken")
            if not token:
                return out

    def create_account(self, project, account_id, display_name=None, description=None):
        body = {"accountId": account_id, "serviceAccount": {}}
        if display_name is not None:
            body["serviceAccount"]["displayName"] = display_name
        if description is not None:
            body["serviceAccount"]["description"] = description
        return self.call("POST", "projects/%s/serviceAccounts" % project,
                         "creating service account %s" % account_email(account_id, project),
                         where="project %s" % project, project=project, body=body)

    def patch_account(self, project, account, fields, etag=None):
        name = account_name(account, project)
        sa = dict(fields)
        if etag:
            sa["etag"] = etag
        return self.call("PATCH", _quote(name), "updating service account %s" % name, where=name, project=project,
                         body={"serviceAccount": sa, "updateMask": ",".join(sorted(fields))})

    def set_account_enabled(self, project, account, enabled):
        name = account_name(account, project)
        verb = "enable" if enabled else "disable"
        return self.call("POST", "%s:%s" % (_quote(name), verb), "%sing service account %s" % (verb[:-1], name),
                         where=name, project=project, body={})

    def delete_account(self, project, account):
        """Delete; returns False when it was already gone."""
        name = account_name(account, project)
        try:
            self.call("DELETE", _quote(name), "deleting service account %s" % name, where=name, project=project)
        except NotFound:
            return False
        return True

    # --- keys --------------------------------------------------------------------
    def list_keys(self, project, account, key_types=("USER_MANAGED",)):
        name = account_name(account, project)
        params = [("keyTypes", t) for t in key_types]
        answer = self.call("GET", "%s/keys" % _quote(name), "listing the keys of %s" % name, where=name, params=params)
        return answer.get("keys") or []

    def create_key(self, project, account):
        """Mint a key; the answer holds ``privateKeyData`` (secret): handle it at once."""
        name = account_name(account, project)
        return self.call("POST", "%s/keys" % _quote(name), "creating a key for %s" % name, where=name,
                         project=project, body={"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE",
                                                "keyAlgorithm": "KEY_ALG_RSA_2048"})

    def set_key_enabled(self, project, key_name, enabled):
        verb = "enable" if enabled else "disable"
        return self.call("POST", "%s:%s" % (_quote(key_name), verb), "%sing key %s" % (verb[:-1], key_id_of(key_name)),
                         where=key_name, project=project, body={})

    def delete_key(self, project, key_name):
        """Delete; returns False when it was already gone."""
        try:
            self.call("DELETE", _quote(key_name), "deleting key %s" % key_id_of(key_name), where=key_name,
                      project=project)
        except NotFound:
            return False
        return True

    # --- proofs ------------------------------------------------------------------
    def _proof_session(self):
        with self._lock:
            if self._proof is None:
                self._proof = _http.mount(requests.Session(), min(self.retries, 3), self.pool_size)
            return self._proof

    def prove_key(self, info, scopes=SCOPES):
        """Try a service-account key with the OAuth 2.0 JWT-bearer exchange.

        ``info`` is the parsed key file. Returns ``(True, detail)`` when the
        token endpoint issued an access token (which is dropped at once), and
        ``(False, detail)`` when it refused the grant. A transport error or a
        server error raises NHIError, because "could not ask" is not "rejected".
        """
        if not HAS_GOOGLE_AUTH:
            raise NHIError("the google-auth Python library is required to prove GCP keys", where="controller Python",
                           hint="pip install google-auth (see requirements/runtime.txt)")
        info = dict(info)
        if self.token_uri:
            info["token_uri"] = self.token_uri
        key_id = info.get("private_key_id")
        where = info.get("token_uri")
        try:
            credentials = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
        except (ValueError, KeyError) as exc:
            raise NHIError("the stored key file of key %s cannot be read (%s)" % (key_id, _short(exc)),
                           where="store", hint="the stored credential is damaged; rotate with force=true")
        try:
            credentials.refresh(_TimedRequest(self._proof_session(), self.timeout))
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                raise NHIError("proving key %s: the token endpoint failed (%s)" % (key_id, _short(exc)), where=where,
                               retryable=True, hint="run again; the rotation resumes where it stopped")
            return False, "token endpoint refused the grant: %s" % _short(exc)
        except google.auth.exceptions.TransportError as exc:
            raise NHIError("proving key %s: cannot reach the token endpoint (%s)" % (key_id, type(exc).__name__),
                           where=where, retryable=True, hint="check gcp_token_uri and the network")
        finally:
            credentials.token = None
        return True, "access token issued to %s" % info.get("client_email")


def _quote(name):
    return urllib.parse.quote(name, safe="/@-._~")


def _project_of(path):
    parts = path.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "projects" and parts[1] != "-" else None


def _throttle_count(response):
    retries = getattr(getattr(response, "raw", None), "retries", None)
    history = getattr(retries, "history", None) or ()
    return sum(1 for item in history if getattr(item, "status", None) == 429)


def parse_key_file(private_key_data):
    """Decode ``privateKeyData`` (base64 of a JSON key file) into ``(text, info)``."""
    import base64  # local: only minting needs it
    try:
        text = base64.b64decode(private_key_data).decode("utf-8")
        info = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise NHIError("GCP returned key data that is not a JSON key file (%s)" % type(exc).__name__,
                       where="keys.create", hint="only TYPE_GOOGLE_CREDENTIALS_FILE keys are supported")
    if not isinstance(info, dict) or not info.get("private_key") or not info.get("client_email"):
        raise NHIError("GCP returned a key file without private_key or client_email", where="keys.create")
    return text, info


def client(options, pool_size=8):
    """Return a new GCPConnection (one per module run; share it between workers)."""
    return GCPConnection(options, pool_size=pool_size)


__all__ = ["argument_spec", "client", "translate", "GCPConnection", "account_email", "account_name", "key_id_of",
           "account_view", "key_view",
           "parse_key_file", "MAX_USER_KEYS", "SCOPES"]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The Vault (and OpenBao) connector: options, client, KV v2 and errors.

One hvac client is built per module run and shared by every worker thread.
Its requests session carries a urllib3 ``Retry`` (429 and 5xx, jittered
backoff, ``Retry-After`` honoured), a connection pool as large as the worker
pool, a timeout on every call and TLS verification on by default. A request
whose answer was lost (reset, read timeout) is replayed only when replaying
is harmless (``replayable``); a check-and-set write is instead read back to
learn whether it landed (``kv_write``). See docs/reliability.md.
"""

from __future__ import annotations

import ipaddress
import os
import math
import re
import threading

from ansible.module_utils.basic import env_fallback

from ansible_collections.nhi.lifecycle.plugins.module_utils import _http
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    Conflict,
    NHIError,
    NotFound,
    kv_version_deleted,
    parse_time,
    utcnow,
)

try:
    import hvac
    import hvac.exceptions as hvac_exc
    import requests
    import requests.adapters
    HAS_HVAC = True
    HVAC_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported through missing_required_lib
    HAS_HVAC = False
    HVAC_IMPORT_ERROR = _exc


RETRY_STATUS = (412, 429, 500, 502, 503, 504)


def _no_auth(request):
    """Leave requests' auth alone (the caller sets its own headers)."""
    return request


def argument_spec():
    """Connection and auth options, shared by every module that talks to Vault."""
    return dict(
        vault_url=dict(type="str", aliases=["vault_addr"], fallback=(env_fallback, ["VAULT_ADDR"])),
        vault_token=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_TOKEN"])),
        vault_namespace=dict(type="str", fallback=(env_fallback, ["VAULT_NAMESPACE"])),
        vault_auth_method=dict(type="str", default="token", choices=["token", "approle"]),
        vault_auth_mount=dict(type="str"),
        vault_role_id=dict(type="str", no_log=False, fallback=(env_fallback, ["VAULT_ROLE_ID"])),
        vault_secret_id=dict(type="str", no_log=True, fallback=(env_fallback, ["VAULT_SECRET_ID"])),
        vault_ca_cert=dict(type="path", fallback=(env_fallback, ["VAULT_CACERT"])),
        vault_validate_certs=dict(type="bool"),
        vault_timeout=dict(type="int", default=10),
        vault_retries=dict(type="int", default=5),
    )


def validate_certs(value, environ=None):
    """Whether to verify Vault's certificate: the option when it is set, else not E(VAULT_SKIP_VERIFY).

    The vault and bao CLIs read VAULT_SKIP_VERIFY with Go's strconv.ParseBool.
    """
    if value is not None:
        return bool(value)
    skip = (environ if environ is not None else os.environ).get("VAULT_SKIP_VERIFY", "")
    return skip.strip().lower() not in ("1", "t", "true", "y", "yes", "on")


def _describe_url(url):
    return "vault_url=%s" % (url or "<unset>")


def translate(exc, what, where=None):
    """Map an hvac or requests error onto NHIError with a readable message."""
    if isinstance(exc, NHIError):
        return exc
    if HAS_HVAC:
        if isinstance(exc, hvac_exc.InvalidPath):
            return NotFound("%s: not found" % what, where=where)
        if isinstance(exc, hvac_exc.Forbidden):
            return NHIError("%s: permission denied by Vault" % what, where=where,
                            hint="check that the token's policies grant this path and capability", status=403)
        if isinstance(exc, hvac_exc.Unauthorized):
            return NHIError("%s: Vault rejected the credentials" % what, where=where,
                            hint="the token is missing, expired or revoked; log in again", status=401)
        if isinstance(exc, hvac_exc.RateLimitExceeded):
            return NHIError("%s: Vault kept rate-limiting after retries" % what, where=where,
                            hint="lower the workers or raise the rate limit quota", retryable=True, status=429)
        if isinstance(exc, (hvac_exc.VaultDown,)):
            return NHIError("%s: Vault is sealed or down" % what, where=where,
                            hint="unseal Vault (or bring it back), then run again", retryable=True, status=503)
        if isinstance(exc, hvac_exc.InvalidRequest):
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid request"
            if "check-and-set" in text:
                return Conflict("%s: the stored secret changed under us (check-and-set failed)" % what,
                                where=where, hint="another run wrote it first; run again to re-read", status=400)
            return NHIError("%s: Vault refused the request: %s" % (what, text), where=where, status=400)
        if isinstance(exc, hvac_exc.VaultError):
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return NHIError("%s: Vault error: %s" % (what, text), where=where, retryable=True)
        if isinstance(exc, requests.exceptions.SSLError):
            return NHIError("%s: TLS verification of the Vault server failed" % what, where=where,
                            hint="set vault_ca_cert (VAULT_CACERT) to the CA that signed the server certificate")
        if isinstance(exc, requests.exceptions.Timeout):
            return NHIError("%s: Vault did not answer in time" % what, where=where,
                            hint="check the address and the network, or raise vault_timeout", retryable=True)
        if isinstance(exc, requests.exceptions.RetryError):
            return NHIError("%s: Vault kept failing after retries (%s)" % (what, _short(exc)), where=where,
                            hint="check Vault's health and rate limits", retryable=True)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return NHIError("%s: cannot connect to Vault" % what, where=where,
                            hint="check vault_url / VAULT_ADDR and that the server is running", retryable=True)
        if isinstance(exc, requests.exceptions.InvalidURL) or isinstance(exc, requests.exceptions.MissingSchema):
            return NHIError("%s: the Vault address is not a valid URL" % what, where=where,
                            hint="use a URL such as https://vault.example.com:8200")
    return NHIError("%s: %s: %s" % (what, type(exc).__name__, _short(exc)), where=where)


def _ambiguous(exc):
    """A transport error after which the request may or may not have been processed."""
    if not HAS_HVAC or isinstance(exc, requests.exceptions.SSLError):
        return False
    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


def _short(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


# Requests that may be sent again after the connection broke or timed out
# mid-answer: reads, and writes that set the same thing twice. A KV data write
# is never replayed this way (kv_write checks whether it landed instead), nor
# is a mint (a secret id, a token) or a login: replaying one would leave a
# credential that nothing knows about.
_REPLAYABLE_METHODS = frozenset(("GET", "HEAD", "LIST", "OPTIONS", "DELETE"))
_REPLAYABLE_POST = re.compile(
    r"^/v1/.+/(metadata|destroy)/|/secret-id-accessor/(lookup|destroy)$|/secret-id/lookup$"
    r"|/auth/token/(lookup|lookup-accessor|revoke-accessor)$")


def replayable(method, url):
    """True when a request may be replayed after a read error (reset, read timeout)."""
    method = (method or "").upper()
    if method in _REPLAYABLE_METHODS:
        return True
    path = (url or "").split("?", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return method == "POST" and bool(_REPLAYABLE_POST.search(path))


if HAS_HVAC:
    class _Retry(_http.ReplaySafeRetry):
        """urllib3's Retry, except that a read error replays only :func:`replayable` requests."""

        def replayable(self, method, url):
            return replayable(method, url)


def _session(options, pool_size):
    retries = int(options.get("vault_retries", 5))
    # A request that reached the server and then lost its answer is replayed
    # only when that is harmless (see replayable()).
    retry = _Retry(
        total=retries, connect=retries, read=retries, status=retries,
        backoff_factor=0.2, backoff_jitter=0.3, backoff_max=10,
        status_forcelist=RETRY_STATUS, respect_retry_after_header=True,
        allowed_methods=None, raise_on_status=False,
    )
    session = requests.Session()
    # Without an explicit auth, requests looks up ~/.netrc on every call.
    session.auth = _no_auth
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class VaultConnection(object):
    """An authenticated, shared hvac client plus the KV v2 helpers we use."""

    def __init__(self, options, pool_size=8):
        if not HAS_HVAC:
            raise NHIError("the hvac Python library is required", where="controller Python",
                           hint="pip install hvac (see requirements/runtime.txt)")
        self.options = options
        url = options.get("vault_url")
        if not url:
            raise NHIError("no Vault address was given", where="vault_url / VAULT_ADDR",
                           hint="set vault_url or export VAULT_ADDR=https://vault.example.com:8200")
        if not (url.startswith("http://") or url.startswith("https://")):
            raise NHIError("the Vault address %r is not an http(s) URL" % url, where="vault_url / VAULT_ADDR",
                           hint="use a URL such as https://vault.example.com:8200")
        verify = validate_certs(options.get("vault_validate_certs"))
        ca_cert = options.get("vault_ca_cert")
        if verify and ca_cert:
            verify = ca_cert
        self.url = url
        self.verify = verify
        self.timeout = int(options.get("vault_timeout", 10))
        self.pool_size = pool_size
        self.session = _session(options, pool_size)
        # hvac ignores its verify= argument when the session it is given has a truthy verify (a new
        # session's is True), so vault_ca_cert must be set on the session itself.
        self.session.verify = verify
        self.client = hvac.Client(url=url, namespace=options.get("vault_namespace"), verify=verify,
                                  timeout=self.timeout, session=self.session)
        self._lock = threading.Lock()
        self._authenticate()

    def _authenticate(self):
        method = self.options.get("vault_auth_method", "token")
        where = _describe_url(self.url)
        if method == "approle":
            role_id = self.options.get("vault_role_id")
            secret_id = self.options.get("vault_secret_id")
            if not role_id:
                raise NHIError("AppRole login needs a role id", where="vault_role_id / VAULT_ROLE_ID")
            try:
                self.client.auth.approle.login(role_id=role_id, secret_id=secret_id,
                                               mount_point=self.options.get("vault_auth_mount") or "approle")
            except Exception as exc:
                raise translate(exc, "AppRole login to Vault", where)
            return
        token = self.options.get("vault_token")
        if not token:
            raise NHIError("no Vault token was given", where="vault_token / VAULT_TOKEN",
                           hint="set vault_token or export VAULT_TOKEN, or use vault_auth_method=approle")
        self.client.token = token
        try:
            self.client.auth.token.lookup_self()
        except Exception as exc:
            if HAS_HVAC and isinstance(exc, (hvac_exc.Forbidden, hvac_exc.Unauthorized)):
                # Every valid token may look itself up, so a refusal here
                # means the token itself is bad.
                raise NHIError("Vault rejected the token (invalid, expired or revoked)",
                               where="vault_token / VAULT_TOKEN at %s" % self.url,
                               hint="log in again and export a fresh VAULT_TOKEN", status=403)
            raise translate(exc, "checking the Vault token", where)

    def new_client(self, token=None):
        """A second client on the same session (for proofs with another token)."""
        client = hvac.Client(url=self.url, namespace=self.options.get("vault_namespace"), verify=self.verify,
                             timeout=self.timeout, session=self.session)
        client.token = token
        return client

    # --- KV v2 -------------------------------------------------------------
    def kv_read(self, mount, path, version=None):
        """Return ``(data, metadata)`` of a KV v2 secret, or ``(None, None)`` if absent or deleted."""
        where = "vault kv %s/%s" % (mount, path)
        try:
            response = self.client.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, version=version, raise_on_deleted_version=False)
        except Exception as exc:
            err = translate(exc, "reading the stored credential", where)
            if isinstance(err, NotFound):
                return None, None
            raise err
        data = (response or {}).get("data") or {}
        meta = data.get("metadata") or {}
        if kv_version_deleted(meta):
            return None, meta
        return data.get("data"), meta

    def kv_metadata(self, mount, path):
        where = "vault kv %s/%s" % (mount, path)
        try:
            response = self.client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
        except Exception as exc:
            err = translate(exc, "reading the secret's metadata", where)
            if isinstance(err, NotFound):
                return None
            raise err
        return (response or {}).get("data")

    def kv_list(self, mount, prefix):
        """The keys directly under ``prefix`` (sub-folders end with ``/``); ``[]`` when there are none."""
        response = _call("listing stored secrets", "vault kv %s/%s" % (mount, prefix),
                         lambda: self.client.secrets.kv.v2.list_secrets(path=prefix, mount_point=mount))
        return list(((response or {}).get("data") or {}).get("keys") or [])

    def kv_walk(self, mount, prefix, max_keys=100000):
        """Every secret path under ``prefix``, recursively, sorted (folders are listed, never read)."""
        found, folders = [], [prefix.strip("/")]
        while folders:
            folder = folders.pop()
            for key in self.kv_list(mount, folder):
                child = "%s/%s" % (folder, key) if folder else key
                if key.endswith("/"):
                    folders.append(child.rstrip("/"))
                else:
                    found.append(child)
                if len(found) > max_keys:
                    raise NHIError("more than %d secrets under %s/%s" % (max_keys, mount, prefix),
                                   where="vault kv %s/%s" % (mount, prefix),
                                   hint="list a narrower path_prefix, or raise max_keys")
        return sorted(found)

    def kv_write(self, mount, path, data, cas=None):
        """Write with check-and-set; return the new version number.

        With ``cas``, a write whose answer was lost (connection reset, read
        timeout) is not simply failed: the secret is read back. If our data
        is the version after ``cas``, the write landed; if the secret is
        still at ``cas``, the write did not land and is sent again; anything
        else is a lost race (Conflict).
        """
        where = "vault kv %s/%s" % (mount, path)
        attempts = 3 if cas is not None else 1
        for attempt in range(attempts):
            try:
                response = self.client.secrets.kv.v2.create_or_update_secret(
                    path=path, secret=data, cas=cas, mount_point=mount)
                return ((response or {}).get("data") or {}).get("version")
            except Exception as exc:
                err = translate(exc, "storing the credential", where)
                if cas is None or not _ambiguous(exc) or attempt == attempts - 1:
                    raise err
            try:
                landed = self._landed(mount, path, data, cas)
            except Conflict:
                raise
            except NHIError:
                raise err
            if landed:
                return landed
        raise err  # pragma: no cover - the loop returns or raises

    def _landed(self, mount, path, data, cas):
        """After an ambiguous cas write: its version if it landed, None if it did not."""
        meta = self.kv_metadata(mount, path) or {}
        current = int(meta.get("current_version") or 0)
        if current == int(cas):
            return None
        written, _meta = self.kv_read(mount, path, version=int(cas) + 1)
        if written == data and current == int(cas) + 1:
            return current
        raise Conflict("storing the credential: the stored secret changed under us (check-and-set)",
                       where="vault kv %s/%s" % (mount, path), hint="another run wrote it first; run again to re-read",
                       status=400)

    def kv_update_metadata(self, mount, path, custom_metadata=None, max_versions=None, cas_required=None):
        """Set the given metadata fields; Vault keeps every other one.

        Not hvac's ``update_metadata``: it always sends ``delete_version_after``
        (``0s`` unless given), which would reset what an operator set.
        """
        fields = {"custom_metadata": custom_metadata, "max_versions": max_versions, "cas_required": cas_required}
        kv_patch_metadata(self, mount, path, {k: v for k, v in fields.items() if v is not None})

    def kv_destroy_versions(self, mount, path, versions):
        where = "vault kv %s/%s" % (mount, path)
        if not versions:
            return
        try:
            self.client.secrets.kv.v2.destroy_secret_versions(path=path, versions=list(versions), mount_point=mount)
        except Exception as exc:
            err = translate(exc, "destroying stored versions", where)
            if not isinstance(err, NotFound):
                raise err

    def kv_delete_all(self, mount, path):
        """Delete the secret's metadata and every version (permanent)."""
        where = "vault kv %s/%s" % (mount, path)
        try:
            self.client.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=mount)
        except Exception as exc:
            err = translate(exc, "deleting the stored credential", where)
            if not isinstance(err, NotFound):
                raise err

    def kv_delete_latest(self, mount, path):
        where = "vault kv %s/%s" % (mount, path)
        try:
            self.client.secrets.kv.v2.delete_latest_version_of_secret(path=path, mount_point=mount)
        except Exception as exc:
            err = translate(exc, "soft-deleting the stored credential", where)
            if not isinstance(err, NotFound):
                raise err


def client(options, pool_size=8):
    """Return a new VaultConnection (one per module run; share it between workers)."""
    return VaultConnection(options, pool_size=pool_size)


def store_spec():
    """The ``store`` option: where a minted credential lives (KV v2)."""
    return dict(type="dict", options=dict(
        mount=dict(type="str", default="secret"),
        path=dict(type="str", required=True),
    ))


def check_store(store, where="store"):
    if not store or not store.get("path"):
        raise NHIError("a KV v2 path to store the credential in is required", where="%s.path" % where,
                       hint="set store: {mount: secret, path: nhi/<env>/<name>}")
    path = store["path"]
    mount = store.get("mount") or "secret"
    for label, value in (("path", path), ("mount", mount)):
        if malformed_path(value):
            raise NHIError("malformed KV path %r" % value, where="%s.%s" % (where, label),
                           hint="use a relative path such as nhi/dev/ci-deployer, without '..' or a leading '/'")


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def malformed_path(value):
    """True for a Vault path that is empty, absolute, or has an empty, '.' or '..' segment or a control character.

    The same rule as the catalog's store paths. requests normalises '.' and '..' segments away before the
    request is sent, so such a path would name another secret than the one asked for.
    """
    if not isinstance(value, str) or value.startswith("/") or _CONTROL_RE.search(value):
        return True
    segments = value.rstrip("/").split("/")
    return not value.strip("/") or any(seg in ("", ".", "..") for seg in segments)


class PartiallyStored(NHIError):
    """The credential was written to the store, but its custom metadata was not.

    The credential is the stored one now: callers must not roll it back
    (that would leave a stored credential that does not work). ``version``
    is the KV version that holds it.
    """

    def __init__(self, message, version=None, **kwargs):
        super(PartiallyStored, self).__init__(message, **kwargs)
        self.version = version


def store_credential(conn, store, data, metadata, cas):
    """Write a minted credential with check-and-set, then its custom metadata.

    The values in ``metadata`` must not be secret: they are readable by
    anyone with metadata access, and reconcile reads them instead of the
    secret itself. When the data is written but the metadata is not, this
    raises :class:`PartiallyStored`: the credential must then be kept.
    """
    mount, path = store.get("mount") or "secret", store["path"]
    version = conn.kv_write(mount, path, data, cas=cas)
    try:
        conn.kv_update_metadata(mount, path,
                                custom_metadata={k: str(v) for k, v in metadata.items() if v is not None})
    except NHIError as exc:
        raise PartiallyStored("the credential is stored (version %s) but its custom metadata is not: %s"
                              % (version, exc.message), version=version, where=exc.where,
                              hint="run again: the next run finishes the job and rewrites the metadata",
                              retryable=exc.retryable, status=exc.status)
    return version


# --- additions for the Vault modules (AppRole, tokens, KV) ------------------
# Everything below takes the shared VaultConnection as its first argument, so
# that a batch of thousands of targets uses one session and one client.

_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_MAX_DURATION = 2 ** 63 // 10 ** 9   # Vault keeps durations as Go time.Duration (int64 nanoseconds)


def duration_seconds(value, where=None):
    """A Vault duration (``3600``, ``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"``) in whole seconds.

    Vault answers TTLs in seconds, so desired and current values are compared
    in seconds, and the seconds (not the text) are what we send.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise NHIError("expected a duration such as 3600, 90s, 15m, 1h or 7d, got %r" % (value,), where=where)
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise NHIError("expected a finite duration, got %r" % (value,), where=where)
        if value < 0:
            raise NHIError("a duration cannot be negative, got %r" % (value,), where=where)
        seconds = int(value)
    else:
        text = str(value).strip().lower()
        if text.isascii() and text.isdigit():
            seconds = int(text)
        else:
            total, pos = 0.0, 0
            for match in _DURATION_RE.finditer(text):
                if match.start() != pos:
                    break
                total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                pos = match.end()
            if not text or pos != len(text) or not math.isfinite(total):
                raise NHIError("expected a duration such as 3600, 90s, 15m, 1h30m or 7d, got %r" % (value,),
                               where=where)
            seconds = int(total)
    if seconds > _MAX_DURATION:
        raise NHIError("the duration %r is longer than Vault can hold (%d s)" % (value, _MAX_DURATION), where=where)
    return seconds


def check_cidrs(values, where, require_prefix=False):
    """Validate CIDR blocks locally: Vault answers a bad one with HTTP 500 (which would be retried)."""
    for value in values or []:
        text = str(value).strip()
        if require_prefix and "/" not in text:
            raise NHIError("%r is not a CIDR block (Vault wants the prefix length, e.g. %s/32)" % (text, text),
                           where=where)
        try:
            ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise NHIError("%r is not an IP address or CIDR block" % text, where=where)


def vault_message(exc):
    """The server's message of an hvac error, without hvac's ", on <method> <url>" tail."""
    text = str(exc).strip()
    text = re.sub(r",? on (get|post|put|delete|list|patch) https?://\S+$", "", text, flags=re.I)
    lines = [line.strip(" *\t") for line in text.splitlines() if line.strip(" *\t")]
    lines = [line for line in lines if not re.match(r"^\d+ errors? occurred:?$", line)]
    return (lines[0] if lines else type(exc).__name__)[:300]


def _role_where(mount, role):
    return "vault auth/%s/role/%s" % (mount, role)


_RAISE = object()


def _call_error(exc, what, where):
    """translate(), except that a 400 is never read as a check-and-set conflict.

    translate() reads any 400 whose text contains "cas" as a KV conflict;
    outside a KV write that is never one.
    """
    if HAS_HVAC and isinstance(exc, hvac_exc.InvalidRequest):
        return NHIError("%s: Vault refused the request: %s" % (what, vault_message(exc)), where=where, status=400)
    return translate(exc, what, where)


def _gone_accessor(exc):
    """Vault's answer for a token accessor that no longer exists (revoked or expired)."""
    if not HAS_HVAC:
        return False
    if isinstance(exc, hvac_exc.InvalidPath):
        return True
    return isinstance(exc, hvac_exc.InvalidRequest) and "invalid accessor" in str(exc)


def _call(what, where, fn, missing=None):
    """Run ``fn()``; map errors onto NHIError; return ``missing`` when Vault says not found."""
    try:
        return fn()
    except Exception as exc:
        err = _call_error(exc, what, where)
        if isinstance(err, NotFound) and missing is not _RAISE:
            return missing
        raise err


# --- AppRole ----------------------------------------------------------------

def approle_list_roles(conn, mount):
    resp = _call("listing the AppRoles", "vault auth/%s/role" % mount,
                 lambda: conn.client.auth.approle.list_roles(mount_point=mount), missing={})
    return sorted(((resp or {}).get("data") or {}).get("keys") or [])


def approle_read_role(conn, mount, role):
    """The role's configuration, or None when the role does not exist."""
    resp = _call("reading AppRole %r" % role, _role_where(mount, role),
                 lambda: conn.client.auth.approle.read_role(role, mount_point=mount))
    return (resp or {}).get("data") if resp is not None else None


def approle_write_role(conn, mount, role, config):
    """Create or update a role; only the keys in ``config`` are sent (the rest keep their value)."""
    _call("writing AppRole %r" % role, _role_where(mount, role),
          lambda: conn.client.auth.approle.create_or_update_approle(role, mount_point=mount, **config),
          missing=_RAISE)


def approle_delete_role(conn, mount, role):
    _call("deleting AppRole %r" % role, _role_where(mount, role),
          lambda: conn.client.auth.approle.delete_role(role, mount_point=mount))


def approle_role_id(conn, mount, role):
    resp = _call("reading the role_id of AppRole %r" % role, _role_where(mount, role),
                 lambda: conn.client.auth.approle.read_role_id(role, mount_point=mount))
    return ((resp or {}).get("data") or {}).get("role_id")


def approle_generate_secret_id(conn, mount, role, metadata=None):
    """Mint a secret_id; returns Vault's data (``secret_id``, ``secret_id_accessor``, ``secret_id_ttl``).

    The caller must register ``secret_id`` as a secret at once.
    """
    resp = _call("minting a secret_id for AppRole %r" % role, _role_where(mount, role),
                 lambda: conn.client.auth.approle.generate_secret_id(role, metadata=metadata or None,
                                                                     mount_point=mount),
                 missing=_RAISE)
    data = (resp or {}).get("data") or {}
    if not data.get("secret_id") or not data.get("secret_id_accessor"):
        raise NHIError("Vault answered the secret_id request without a secret_id", where=_role_where(mount, role))
    return data


def approle_list_accessors(conn, mount, role):
    """The role's secret_id accessors ([] when it has none)."""
    resp = _call("listing the secret_id accessors of AppRole %r" % role, _role_where(mount, role),
                 lambda: conn.client.auth.approle.list_secret_id_accessors(role, mount_point=mount), missing={})
    return sorted(((resp or {}).get("data") or {}).get("keys") or [])


def approle_read_accessor(conn, mount, role, accessor):
    """What Vault knows about one secret_id (creation and expiration time, metadata), or None."""
    resp = _call("reading secret_id accessor %s of AppRole %r" % (accessor, role), _role_where(mount, role),
                 lambda: conn.client.auth.approle.read_secret_id_accessor(role, accessor, mount_point=mount))
    return (resp or {}).get("data") if isinstance(resp, dict) else None


def approle_destroy_accessor(conn, mount, role, accessor):
    """Destroy a secret_id by its accessor. Returns False when it was already gone."""
    try:
        conn.client.auth.approle.destroy_secret_id_accessor(role, accessor, mount_point=mount)
    except Exception as exc:
        # Vault answers an unknown accessor with 500 "failed to find accessor entry".
        if "failed to find accessor" in str(exc) or (HAS_HVAC and isinstance(exc, hvac_exc.InvalidPath)):
            return False
        raise translate(exc, "destroying secret_id accessor %s of AppRole %r" % (accessor, role),
                        _role_where(mount, role))
    return True


def secret_id_expired(info, now=None):
    """True when a secret_id's ``expiration_time`` has passed (secret_ids with no TTL never expire)."""
    when = (info or {}).get("expiration_time")
    if not when or str(when).startswith("0001-01-01"):
        return False
    return parse_time(when) <= (now or utcnow())


def _rejected(exc):
    return HAS_HVAC and isinstance(exc, (hvac_exc.InvalidRequest, hvac_exc.Forbidden, hvac_exc.Unauthorized))


def approle_login(conn, mount, role_id, secret_id, remember=None):
    """Prove a secret_id by logging in with it: ``(accepted, detail)``.

    The token the login issues is handed to ``remember`` (a secret) and then
    revoked, so that a proof leaves no live token behind. A refusal (400/401/
    403) is a rejection; anything else raises, because "could not ask" is not
    "rejected".
    """
    client = conn.new_client(None)
    try:
        resp = client.auth.approle.login(role_id=role_id, secret_id=secret_id, use_token=False, mount_point=mount)
    except Exception as exc:
        if _rejected(exc):
            return False, vault_message(exc)
        raise translate(exc, "proving the secret_id with an AppRole login", "vault auth/%s/login" % mount)
    auth = (resp or {}).get("auth") or {}
    token, accessor = auth.get("client_token"), auth.get("accessor")
    if token and remember:
        remember(token)
    revoked = revoke_token(conn, token, accessor)
    return True, "login issued a token (accessor %s, %s)" % (
        accessor, "revoked after the proof" if revoked else "not revocable; it expires with token_ttl")


def approle_lookup_secret_id(conn, mount, role, secret_id):
    """Prove a secret_id without spending one of its uses: ``(accepted, detail)``."""
    try:
        resp = conn.client.auth.approle.read_secret_id(role, secret_id, mount_point=mount)
    except Exception as exc:
        if _rejected(exc):
            return False, vault_message(exc)
        raise translate(exc, "looking up the secret_id", _role_where(mount, role))
    data = (resp or {}).get("data") if isinstance(resp, dict) else None
    if not data:
        return False, "secret_id not found"
    if secret_id_expired(data):
        return False, "secret_id expired at %s" % data.get("expiration_time")
    return True, "secret_id found (accessor %s)" % data.get("secret_id_accessor")


# --- tokens -----------------------------------------------------------------

def revoke_token(conn, token, accessor=None):
    """Revoke a token: first with itself (revoke-self), else by accessor with ours. True when revoked."""
    if token:
        try:
            conn.new_client(token).auth.token.revoke_self()
            return True
        except Exception:  # pylint: disable=broad-except
            pass
    if accessor:
        try:
            conn.client.auth.token.revoke_accessor(accessor)
            return True
        except Exception:  # pylint: disable=broad-except
            pass
    return False


def token_create(conn, params, orphan=True):
    """Create a token; returns Vault's ``auth`` block. The caller must register ``client_token`` at once."""
    path = "/v1/auth/token/create-orphan" if orphan else "/v1/auth/token/create"
    resp = _call("creating a Vault token", "vault auth/token/%s" % ("create-orphan" if orphan else "create"),
                 lambda: conn.client.adapter.post(path, json=params), missing=_RAISE)
    auth = (resp or {}).get("auth") if isinstance(resp, dict) else None
    if not auth or not auth.get("client_token") or not auth.get("accessor"):
        raise NHIError("Vault answered the token request without a token and accessor", where=path)
    return auth


def token_lookup_accessor(conn, accessor):
    """What Vault knows about a token, by accessor; None when the token is gone (revoked or expired)."""
    try:
        resp = conn.client.auth.token.lookup_accessor(accessor)
    except Exception as exc:
        if _gone_accessor(exc):
            return None
        raise _call_error(exc, "looking up token accessor %s" % accessor, "vault auth/token/lookup-accessor")
    return (resp or {}).get("data") if isinstance(resp, dict) else None


def token_revoke_accessor(conn, accessor):
    """Revoke a token (and its children) by accessor. False when it was already gone."""
    try:
        resp = conn.client.auth.token.revoke_accessor(accessor)
    except Exception as exc:
        if _gone_accessor(exc):
            return False
        raise _call_error(exc, "revoking token accessor %s" % accessor, "vault auth/token/revoke-accessor")
    warnings = (resp or {}).get("warnings") if isinstance(resp, dict) else None
    return not any("No token found" in str(w) for w in warnings or [])


def token_lookup_self(conn, token):
    """Prove a token with lookup-self: ``(accepted, detail)``."""
    try:
        resp = conn.new_client(token).auth.token.lookup_self()
    except Exception as exc:
        if _rejected(exc):
            return False, vault_message(exc)
        raise translate(exc, "proving the token with lookup-self", "vault auth/token/lookup-self")
    data = (resp or {}).get("data") or {}
    return True, "lookup-self ok (accessor %s)" % data.get("accessor")


# --- KV v2 metadata -----------------------------------------------------------

def kv_patch_metadata(conn, mount, path, fields):
    """Set only the given metadata fields (KV v2 keeps the others, delete_version_after included)."""
    where = "vault kv %s/%s" % (mount, path)
    url = hvac.utils.format_url("/v1/{mount}/metadata/{path}", mount=mount.strip("/"), path=path.strip("/"))
    _call("updating the secret's metadata", where, lambda: conn.client.adapter.post(url, json=fields),
          missing=_RAISE)

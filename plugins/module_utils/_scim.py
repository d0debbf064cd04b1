# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The SCIM 2.0 connector (RFC 7643/7644): options, session, Users and Groups, errors.

One requests session per SCIM service is built per module run and shared by
every worker. It carries the bearer token, the retry policy of ``_http``
(429 and 5xx with jittered backoff, ``Retry-After`` honoured; a POST, which
creates, is only replayed on 429 and 503, and reads after a reset) and a timeout on every call. A budget per
service (``scim:<base url>``) starts unlimited and halves on every 429, so a
whole batch backs off together.

What the service supports is read once from ``/ServiceProviderConfig``:
without PATCH, changes are made with a full PUT of the resource; with ETags,
every change carries ``If-Match`` and a lost race (412) is re-read and tried
once more.
"""

from __future__ import annotations

import json
import threading
import urllib.parse

from ansible.module_utils.basic import env_fallback

from ansible_collections.nhi.lifecycle.plugins.module_utils import _batch, _http
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, NotFound

try:
    import requests
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - reported through NHIError at client()
    HAS_REQUESTS = False

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CONTENT_TYPE = "application/scim+json"
READ_ONLY = ("meta", "groups")


def argument_spec():
    """Connection and auth options, shared by every module that talks to SCIM."""
    return dict(
        scim_base_url=dict(type="str", fallback=(env_fallback, ["NHI_SCIM_URL"])),
        scim_token=dict(type="str", no_log=True, fallback=(env_fallback, ["NHI_SCIM_TOKEN"])),
        scim_timeout=dict(type="int", default=15),
        scim_retries=dict(type="int", default=5),
        scim_validate_certs=dict(type="bool", default=True),
    )


def _short(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def translate(exc, what, where=None):
    if isinstance(exc, NHIError):
        return exc
    if HAS_REQUESTS:
        if isinstance(exc, requests.exceptions.SSLError):
            return NHIError("%s: TLS verification of the SCIM service failed" % what, where=where,
                            hint="fix the service's certificate, or set scim_validate_certs=false for a local test "
                                 "service only")
        if isinstance(exc, requests.exceptions.Timeout):
            return NHIError("%s: the SCIM service did not answer in time" % what, where=where, retryable=True,
                            hint="check the network or raise scim_timeout")
        if isinstance(exc, requests.exceptions.RetryError):
            return NHIError("%s: the SCIM service kept failing after retries (%s)" % (what, _short(exc)), where=where,
                            retryable=True, hint="check the service's health and rate limits")
        if isinstance(exc, requests.exceptions.ConnectionError):
            return NHIError("%s: cannot connect to the SCIM service" % what, where=where, retryable=True,
                            hint="check scim_base_url / NHI_SCIM_URL and that the service is running")
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema)):
            return NHIError("%s: the SCIM base URL is not a valid URL" % what, where=where,
                            hint="use a URL such as https://scim.example.com/scim/v2")
    return NHIError("%s: %s: %s" % (what, type(exc).__name__, _short(exc)), where=where)


def error_from_response(response, what, where=None):
    detail, scim_type = None, None
    try:
        body = response.json()
        if isinstance(body, dict):
            detail, scim_type = body.get("detail"), body.get("scimType")
    except ValueError:
        pass
    status = response.status_code
    if not detail:
        detail = (response.text or response.reason or "").strip()[:200]
    text = "%s: SCIM answered %d%s: %s" % (what, status, " %s" % scim_type if scim_type else "", detail)
    if status == 404:
        err = NotFound(text, where=where, status=status)
    elif status in (409, 412):
        err = Conflict(text, where=where, status=status,
                       hint="the resource changed or already exists; run again to re-read it")
    elif status == 401:
        err = NHIError("%s: the SCIM service rejected the automation's token (%s)" % (what, detail), where=where,
                       status=status, hint="check scim_token / NHI_SCIM_TOKEN")
    elif status == 403:
        err = NHIError("%s: the SCIM service denied the call (%s)" % (what, detail), where=where, status=status,
                       hint="give the automation's token the provisioning scopes for Users and Groups")
    elif status == 429 or status >= 500:
        err = NHIError(text, where=where, status=status, retryable=True,
                       hint="the service is throttling or failing; run again later, or lower workers")
    else:
        err = NHIError(text, where=where, status=status)
    err.scim_type = scim_type
    return err


def filter_eq(attribute, value):
    """``attribute eq "value"`` with the value quoted as a JSON string (RFC 7644 3.4.2.2)."""
    return "%s eq %s" % (attribute, json.dumps(value))


def user_view(user):
    """The non-secret view of a SCIM user that results and diffs carry."""
    if user is None:
        return None
    emails = [e.get("value") for e in user.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    meta = user.get("meta") or {}
    return {
        "id": user.get("id"),
        "user_name": user.get("userName"),
        "display_name": user.get("displayName"),
        "external_id": user.get("externalId"),
        "active": user.get("active", True) is not False,
        "emails": emails,
        "created": meta.get("created"),
        "last_modified": meta.get("lastModified"),
    }


def etag_of(resource):
    return ((resource or {}).get("meta") or {}).get("version")


class SCIMConnection(object):
    """One SCIM service: a shared session and the Users/Groups calls we use."""

    def __init__(self, options, base_url=None, pool_size=8):
        if not HAS_REQUESTS:
            raise NHIError("the requests Python library is required", where="controller Python",
                           hint="pip install requests (see requirements/runtime.txt)")
        url = (base_url or options.get("scim_base_url") or "").rstrip("/")
        if not url:
            raise NHIError("no SCIM base URL was given", where="scim_base_url / NHI_SCIM_URL",
                           hint="set scim_base_url (or the target's base_url), or export NHI_SCIM_URL")
        if not url.startswith(("http://", "https://")):
            raise NHIError("the SCIM base URL %r is not an http(s) URL" % url, where="scim_base_url",
                           hint="use a URL such as https://scim.example.com/scim/v2")
        token = options.get("scim_token")
        if not token:
            raise NHIError("no SCIM bearer token was given", where="scim_token / NHI_SCIM_TOKEN",
                           hint="set scim_token or export NHI_SCIM_TOKEN")
        self.base_url = url
        self.timeout = int(options.get("scim_timeout", 15))
        self.verify = bool(options.get("scim_validate_certs", True))
        retries = int(options.get("scim_retries", 5))
        session = _http.mount(requests.Session(), retries, pool_size, pool_connections=2)
        session.headers.update({"Authorization": "Bearer %s" % token, "Accept": CONTENT_TYPE})
        self.session = session
        self.budget = _batch.budget("scim:%s" % url)
        self._config = None
        self._lock = threading.Lock()

    # --- the request path ----------------------------------------------------
    def call(self, method, path, what, body=None, params=None, etag=None, where=None):
        self.budget.acquire()
        url = path if path.startswith("http") else "%s/%s" % (self.base_url, path.lstrip("/"))
        headers = {}
        if body is not None:
            headers["Content-Type"] = CONTENT_TYPE
        if etag:
            headers["If-Match"] = etag
        try:
            response = self.session.request(method, url, data=json.dumps(body) if body is not None else None,
                                            params=params, headers=headers, timeout=self.timeout, verify=self.verify)
        except Exception as exc:
            raise translate(exc, what, where=where or url)
        retries = getattr(getattr(response, "raw", None), "retries", None)
        throttles = sum(1 for h in (getattr(retries, "history", None) or ()) if getattr(h, "status", None) == 429)
        if throttles or response.status_code == 429:
            for _throttle in range(max(1, throttles)):
                self.budget.throttled()
        elif response.status_code < 400:
            self.budget.ok()
        if _http.deleted_on_a_lost_attempt(method, response):
            return {}
        if response.status_code >= 400:
            raise error_from_response(response, what, where=where or url)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise NHIError("%s: the SCIM service sent an answer that is not JSON" % what, where=where or url)

    # --- what the service supports ---------------------------------------------
    def config(self):
        with self._lock:
            if self._config is None:
                try:
                    spc = self.call("GET", "ServiceProviderConfig", "reading the ServiceProviderConfig")
                except NotFound:
                    spc = {}
                self._config = {
                    "patch": bool((spc.get("patch") or {}).get("supported")),
                    "etag": bool((spc.get("etag") or {}).get("supported")),
                    "filter": bool((spc.get("filter") or {}).get("supported", True)),
                    "change_password": bool((spc.get("changePassword") or {}).get("supported")),
                }
            return self._config

    def _etag(self, resource):
        return etag_of(resource) if self.config()["etag"] else None

    # --- users ---------------------------------------------------------------------
    def find_user(self, user_name):
        """The one user whose userName is ``user_name``, or None."""
        answer = self.call("GET", "Users", "looking up SCIM user %r" % user_name,
                           params={"filter": filter_eq("userName", user_name)}, where="userName %s" % user_name)
        found = [u for u in answer.get("Resources") or [] if (u.get("userName") or "").lower() == user_name.lower()]
        if len(found) > 1:
            raise NHIError("%d SCIM users are called %r" % (len(found), user_name), where="userName %s" % user_name,
                           hint="userName must be unique; remove the duplicates on the service")
        return found[0] if found else None

    def list_users(self, flt=None, count=100):
        out, start = [], 1
        while True:
            params = {"startIndex": start, "count": count}
            if flt:
                params["filter"] = flt
            answer = self.call("GET", "Users", "listing SCIM users", params=params)
            page = answer.get("Resources") or []
            out.extend(page)
            total = int(answer.get("totalResults") or 0)
            if not page or len(out) >= total:
                return out
            start += len(page)

    def get_user(self, user_id):
        try:
            return self.call("GET", "Users/%s" % _q(user_id), "reading SCIM user %s" % user_id)
        except NotFound:
            return None

    def create_user(self, attributes):
        body = dict(attributes)
        body["schemas"] = [USER_SCHEMA]
        return self.call("POST", "Users", "creating SCIM user %r" % attributes.get("userName"), body=body)

    def update_user(self, user, changes):
        """Set top-level attributes of a user: PATCH replace, or a full PUT when PATCH is not offered.

        A lost ETag race (412) is re-read and applied once more on the fresh version.
        """
        user_id = user["id"]
        for attempt in (1, 2):
            try:
                if self.config()["patch"]:
                    ops = [{"op": "replace", "path": name, "value": value} for name, value in sorted(changes.items())]
                    self.call("PATCH", "Users/%s" % _q(user_id), "updating SCIM user %s" % user_id,
                              body={"schemas": [PATCH_SCHEMA], "Operations": ops}, etag=self._etag(user))
                else:
                    body = {k: v for k, v in user.items() if k not in READ_ONLY}
                    body.update(changes)
                    body["schemas"] = user.get("schemas") or [USER_SCHEMA]
                    self.call("PUT", "Users/%s" % _q(user_id), "replacing SCIM user %s" % user_id, body=body,
                              etag=self._etag(user))
                return
            except Conflict:
                if attempt == 2:
                    raise
                user = self.get_user(user_id)
                if user is None:
                    raise NotFound("SCIM user %s disappeared while it was being updated" % user_id)

    def delete_user(self, user):
        """Delete; returns False when it was already gone."""
        try:
            self.call("DELETE", "Users/%s" % _q(user["id"]), "deleting SCIM user %s" % user["id"],
                      etag=self._etag(user))
        except NotFound:
            return False
        except Conflict:
            fresh = self.get_user(user["id"])
            if fresh is None:
                return False
            self.call("DELETE", "Users/%s" % _q(user["id"]), "deleting SCIM user %s" % user["id"],
                      etag=self._etag(fresh))
        return True

    # --- groups --------------------------------------------------------------------
    def find_group(self, display_name):
        answer = self.call("GET", "Groups", "looking up SCIM group %r" % display_name,
                           params={"filter": filter_eq("displayName", display_name)})
        found = [g for g in answer.get("Resources") or [] if g.get("displayName") == display_name]
        return found[0] if found else None

    def groups_of(self, user_id):
        """The groups that list ``user_id`` as a member: ``[{id, displayName}]``."""
        answer = self.call("GET", "Groups", "looking up the groups of SCIM user %s" % user_id,
                           params={"filter": 'members[value eq %s]' % json.dumps(user_id),
                                   "attributes": "displayName"})
        return answer.get("Resources") or []

    @staticmethod
    def is_member(group, user_id):
        return any(m.get("value") == user_id for m in group.get("members") or [])

    def set_membership(self, group, user_id, member):
        """Add or remove one member with a PATCH, or a full PUT of the group without PATCH."""
        group_id = group["id"]
        verb, preposition = ("adding", "to") if member else ("removing", "from")
        what = "%s SCIM user %s %s group %s" % (verb, user_id, preposition, group.get("displayName"))
        if self.config()["patch"]:
            if member:
                op = {"op": "add", "path": "members", "value": [{"value": user_id}]}
            else:
                op = {"op": "remove", "path": "members[value eq %s]" % json.dumps(user_id)}
            self.call("PATCH", "Groups/%s" % _q(group_id), what, body={"schemas": [PATCH_SCHEMA], "Operations": [op]},
                      etag=self._etag(group))
            return
        fresh = self.call("GET", "Groups/%s" % _q(group_id), what)
        members = [m for m in fresh.get("members") or [] if m.get("value") != user_id]
        if member:
            members.append({"value": user_id})
        body = {k: v for k, v in fresh.items() if k not in READ_ONLY}
        body["members"] = members
        self.call("PUT", "Groups/%s" % _q(group_id), what, body=body, etag=self._etag(fresh))


def _q(value):
    return urllib.parse.quote(str(value), safe="")


_CONNECTIONS = {}
_CONNECTIONS_LOCK = threading.Lock()


def client(options, base_url=None, pool_size=8):
    """Return the module run's shared SCIMConnection for this service."""
    # Keyed by what the connection is made of, not id(options): an id can be
    # reused by another dict once the first is gone.
    settings = tuple(sorted((k, repr(v)) for k, v in options.items() if k.startswith("scim_")))
    key = (settings, (base_url or options.get("scim_base_url") or "").rstrip("/"))
    with _CONNECTIONS_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is None:
            conn = _CONNECTIONS[key] = SCIMConnection(options, base_url=base_url, pool_size=pool_size)
        return conn


__all__ = ["argument_spec", "client", "translate", "SCIMConnection", "user_view", "filter_eq", "etag_of"]

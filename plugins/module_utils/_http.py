# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Retries for the REST connectors whose POST creates something (GCP IAM, SCIM).

One urllib3 ``Retry`` policy, mounted on each connector's requests session:

- 429 and 5xx are retried with jittered backoff, and ``Retry-After`` is
  honoured. A POST (a mint, a new user) is retried only on 429 and 503,
  which mean "not processed".
- A connection that cannot be opened is retried for every method: nothing
  was sent.
- A connection that breaks after the request was sent (a reset, a server
  that closed a kept-alive connection, a read timeout) is retried only for
  the methods that mean the same thing when sent twice: GET, HEAD, OPTIONS,
  PUT and DELETE. Never a POST or a PATCH: replaying a POST could leave a
  credential that nothing knows about, and a PATCH may carry an ETag that
  the first one used up. A replayed DELETE finds the thing gone; when the
  first attempt's answer was lost, the connectors count that 404 as their
  own deletion (``deleted_on_a_lost_attempt``), not as "already gone".
"""

from __future__ import annotations

try:
    import requests
    import requests.adapters
    from urllib3.exceptions import ConnectTimeoutError
    from urllib3.util.retry import Retry
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover - the connectors report it
    HAS_REQUESTS = False
    Retry = object
    ConnectTimeoutError = None

RETRY_STATUS = (429, 500, 502, 503, 504)
# Replayed on a status in RETRY_STATUS (POST only on NOT_PROCESSED).
STATUS_METHODS = frozenset(("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"))
NOT_PROCESSED = (429, 503)
# Replayed after the connection broke mid-request.
READ_REPLAYABLE = frozenset(("GET", "HEAD", "PUT", "DELETE", "OPTIONS"))


class ReplaySafeRetry(Retry):
    """urllib3's Retry, except that after a read error it replays only what :meth:`replayable` allows.

    The Vault connector subclasses it with its own rule (``_vault.replayable``).
    """

    def replayable(self, method, url):  # pylint: disable=unused-argument
        return (method or "").upper() in READ_REPLAYABLE

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if error is not None and self._is_read_error(error) and not self.replayable(method, url):
            return Retry.increment(self.new(read=0), method=method, url=url, response=response, error=error,
                                   _pool=_pool, _stacktrace=_stacktrace)
        return super(ReplaySafeRetry, self).increment(method=method, url=url, response=response, error=error,
                                                      _pool=_pool, _stacktrace=_stacktrace)


class CreateSafeRetry(ReplaySafeRetry):
    """The GCP and SCIM policy (see the module's docstring): a POST is retried only when not processed."""

    def is_retry(self, method, status_code, has_retry_after=False):
        if method and method.upper() == "POST":
            return status_code in NOT_PROCESSED and bool(self.total)
        return super(CreateSafeRetry, self).is_retry(method, status_code, has_retry_after)


def retry(retries):
    """The policy for ``retries`` attempts (each of connect, read and status)."""
    return CreateSafeRetry(total=retries, connect=retries, read=retries, status=retries, redirect=0,
                           backoff_factor=0.3, backoff_jitter=0.5, backoff_max=20,
                           status_forcelist=RETRY_STATUS, respect_retry_after_header=True,
                           allowed_methods=STATUS_METHODS, raise_on_status=False)


def mount(session, retries, pool_size, pool_connections=4):
    """Mount the policy and a connection pool of ``pool_size`` on ``session``; return it."""
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_connections, pool_maxsize=max(pool_size, 4),
                                            max_retries=retry(retries))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def answer_was_lost(response):
    """Whether an earlier attempt of this request was sent and its answer lost (a reset, a read timeout).

    Then a DELETE that ends in 404 most likely removed the thing itself on
    that earlier attempt: the connectors report it deleted, not already gone.
    A connection that could not be opened sent nothing and does not count.
    """
    retries = getattr(getattr(response, "raw", None), "retries", None)
    for entry in getattr(retries, "history", None) or ():
        error = getattr(entry, "error", None)
        if error is not None and not isinstance(error, ConnectTimeoutError):
            return True
    return False


def deleted_on_a_lost_attempt(method, response):
    """A DELETE answered 404 after an attempt whose answer was lost: count it as this call's deletion."""
    return method.upper() == "DELETE" and response.status_code == 404 and answer_was_lost(response)

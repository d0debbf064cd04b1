# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Shared pieces: the collection exception, time helpers, option adapters."""

from __future__ import annotations

import datetime
import os
import re
import time


class NHIError(Exception):
    """The one exception every connector raises.

    ``message`` says what failed, ``where`` says where (which identity, which
    option, which endpoint) and ``hint`` says what to do about it. Modules turn
    it into ``fail_json``; controller-side plugins into ``AnsibleError``.
    """

    def __init__(self, message, where=None, hint=None, retryable=False, status=None):
        super().__init__(message)
        self.message = message
        self.where = where
        self.hint = hint
        self.retryable = retryable
        self.status = status

    def __str__(self):
        parts = [self.message]
        if self.where:
            parts.append("at %s" % self.where)
        if self.hint:
            parts.append(self.hint)
        return " \u2014 ".join(parts)

    def as_dict(self):
        return {"msg": str(self), "error": self.message, "where": self.where, "hint": self.hint}


class NotFound(NHIError):
    """The thing asked for does not exist ("already gone" is not a failure)."""


class Conflict(NHIError):
    """A compare-and-set or lock lost the race."""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt=None):
    """ISO-8601 UTC with milliseconds and a Z suffix."""
    dt = dt or utcnow()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


_FRACTION_RE = re.compile(r"\.(\d+)")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value, where=None):
    """Parse an ISO-8601 timestamp (or a date) into an aware UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.timezone.utc)
    if not isinstance(value, str) or not _ISO_RE.match(value.strip()):
        raise NHIError("expected an ISO-8601 time such as 2026-12-01T00:00:00Z, got %r" % (value,), where=where)
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Vault and Go write nanoseconds; Python before 3.11 reads 3 or 6 digits only.
    text = _FRACTION_RE.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        dt = datetime.datetime.fromisoformat(text)
    except ValueError as exc:
        raise NHIError("expected an ISO-8601 time, got %r (%s)" % (value, exc), where=where)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc)


def kv_version_deleted(version, now=None):
    """Whether a Vault KV v2 version is gone: destroyed, or its deletion time has passed.

    ``version`` is one version's metadata (``destroyed``, ``deletion_time``).
    A deletion time still in the future is a scheduled deletion (the secret's
    or the mount's ``delete_version_after``): that version is live until then.
    An unreadable deletion time counts as deleted.
    """
    if version.get("destroyed"):
        return True
    when = version.get("deletion_time")
    if not when or str(when).startswith("0001-01-01"):
        return False
    try:
        return parse_time(when) <= (now or utcnow())
    except NHIError:
        return True


def age_days(then, now=None):
    if then is None:
        return None
    now = now or utcnow()
    return round((now - parse_time(then)).total_seconds() / 86400.0, 3)


def env_fallback_first(*names):
    """Return the first set environment variable among ``names``, or None."""
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return value
    return None


class OptionAdapter(object):
    """Give connectors one way to read options, from a module or a plugin.

    A module passes ``module.params``; a lookup passes a callable such as
    ``self.get_option``. Connectors only ever call ``get(name, default)``.
    """

    def __init__(self, source):
        self._source = source

    def get(self, name, default=None):
        if callable(self._source):
            try:
                value = self._source(name)
            except KeyError:
                value = None
        else:
            value = self._source.get(name)
        return default if value is None else value


def fail_module(module, exc, **extra):
    """Turn an NHIError (or anything else) into a readable fail_json."""
    if isinstance(exc, NHIError):
        module.fail_json(msg=str(exc), error=exc.message, where=exc.where, hint=exc.hint, **extra)
    module.fail_json(msg="%s: %s" % (type(exc).__name__, exc), **extra)


def poll(fn, expect, deadline=30.0, interval=0.5):
    """Call ``fn() -> (accepted, detail)`` until it answers ``expect`` or time runs out.

    Identity providers are eventually consistent: a new key can take seconds
    to work, and a deleted one seconds to fail. Returns the last answer.
    """
    end = time.monotonic() + max(0.0, float(deadline))
    wait = interval
    while True:
        accepted, detail = fn()
        if accepted == (expect == "accepted") or time.monotonic() >= end:
            return accepted, detail
        time.sleep(min(wait, max(0.0, end - time.monotonic())))
        wait = min(wait * 2, 5.0)

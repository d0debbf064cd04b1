# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _common


def test_error_message_says_what_where_and_what_to_do():
    err = _common.NHIError("cannot connect to Vault", where="vault_url=http://x", hint="check the address")
    text = str(err)
    assert text.startswith("cannot connect to Vault")
    assert "at vault_url=http://x" in text and text.endswith("check the address")
    assert err.as_dict()["where"] == "vault_url=http://x"


def test_iso_has_milliseconds_and_z():
    dt = datetime.datetime(2026, 11, 23, 19, 27, 3, 123456, tzinfo=datetime.timezone.utc)
    assert _common.iso(dt) == "2026-11-23T19:27:03.123Z"


@pytest.mark.parametrize("text,expected", [
    ("2026-12-01T00:00:00Z", datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)),
    ("2026-12-01", datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)),
    ("2026-12-01T02:00:00+02:00", datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc)),
    # Vault (Go) writes nanoseconds; they are cut to microseconds.
    ("2026-12-01T00:00:00.123456789Z", datetime.datetime(2026, 12, 1, 0, 0, 0, 123456, tzinfo=datetime.timezone.utc)),
    ("2026-12-01T00:00:00.5Z", datetime.datetime(2026, 12, 1, 0, 0, 0, 500000, tzinfo=datetime.timezone.utc)),
])
def test_parse_time(text, expected):
    assert _common.parse_time(text) == expected


@pytest.mark.parametrize("bad", ["tomorrow", "", None, 12, "2026-13-45T99:00:00Z"])
def test_parse_time_rejects_garbage_with_a_clear_error(bad):
    with pytest.raises(_common.NHIError) as info:
        _common.parse_time(bad, where="expires_at")
    assert "expires_at" in str(info.value)


NOW = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("version,deleted", [
    ({"deletion_time": "", "destroyed": False}, False),
    ({"deletion_time": None}, False),
    ({"deletion_time": "0001-01-01T00:00:00Z"}, False),
    ({"deletion_time": "", "destroyed": True}, True),
    ({"deletion_time": "2026-11-24T11:59:59.999999999Z"}, True),
    ({"deletion_time": "2026-11-24T12:00:00Z"}, True),
    # delete_version_after schedules a deletion: live until that time
    ({"deletion_time": "2026-12-24T12:00:00.123456789Z", "destroyed": False}, False),
    ({"deletion_time": "not a time"}, True),
])
def test_kv_version_deleted_only_once_its_deletion_time_has_passed(version, deleted):
    assert _common.kv_version_deleted(version, NOW) is deleted


def test_age_days():
    now = datetime.datetime(2026, 11, 23, tzinfo=datetime.timezone.utc)
    assert _common.age_days("2026-11-13T00:00:00Z", now) == 10.0
    assert _common.age_days(None, now) is None


def test_poll_stops_on_expected_answer_and_on_deadline():
    answers = iter([(True, "a"), (True, "b"), (False, "gone")])
    assert _common.poll(lambda: next(answers), "rejected", deadline=5, interval=0.01) == (False, "gone")
    calls = []

    def never():
        calls.append(1)
        return True, "still works"

    assert _common.poll(never, "rejected", deadline=0.05, interval=0.01) == (True, "still works")
    assert len(calls) >= 2


def test_option_adapter_reads_dicts_and_callables():
    assert _common.OptionAdapter({"a": 1}).get("a") == 1
    assert _common.OptionAdapter({"a": None}).get("a", 5) == 5

    def getter(name):
        if name == "missing":
            raise KeyError(name)
        return "v-" + name

    adapter = _common.OptionAdapter(getter)
    assert adapter.get("x") == "v-x" and adapter.get("missing", "d") == "d"

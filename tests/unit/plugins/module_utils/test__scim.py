# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The SCIM connector against a scripted transport: PATCH or PUT, ETags, errors, filters."""

from __future__ import annotations

import json

import pytest

requests = pytest.importorskip("requests")

from ansible_collections.nhi.lifecycle.plugins.module_utils import _scim  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, NotFound  # noqa: E402


class Scripted(requests.adapters.BaseAdapter):
    """Answer requests from a list of (status, body) and remember what was sent."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.sent = []

    def send(self, request, **kwargs):
        self.sent.append(request)
        status, body = self.answers.pop(0)
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode() if body is not None else b""
        response.request = request
        response.url = request.url
        return response

    def close(self):
        pass


def _conn(answers, spc=None):
    conn = _scim.SCIMConnection({"scim_base_url": "https://scim.test/v2/", "scim_token": "tok"})
    adapter = Scripted(answers)
    conn.session.mount("https://", adapter)
    conn._config = spc or {"patch": True, "etag": True, "filter": True, "change_password": True}
    return conn, adapter


USER = {"id": "u1", "userName": "svc-a", "active": True, "meta": {"version": 'W/"1"'},
        "schemas": [_scim.USER_SCHEMA]}


def test_filter_quoting():
    assert _scim.filter_eq("userName", 'a"b\\c') == 'userName eq "a\\"b\\\\c"'


def test_options_are_required():
    with pytest.raises(NHIError, match="base URL"):
        _scim.SCIMConnection({"scim_token": "t"})
    with pytest.raises(NHIError, match="bearer token"):
        _scim.SCIMConnection({"scim_base_url": "https://x"})
    with pytest.raises(NHIError, match="http"):
        _scim.SCIMConnection({"scim_base_url": "x.example", "scim_token": "t"})


def test_find_user_uses_a_filter_and_the_token():
    conn, adapter = _conn([(200, {"Resources": [USER], "totalResults": 1})])
    assert conn.find_user("svc-a")["id"] == "u1"
    sent = adapter.sent[0]
    assert sent.headers["Authorization"] == "Bearer tok"
    assert "filter=userName+eq+%22svc-a%22" in sent.url and sent.url.startswith("https://scim.test/v2/Users?")


def test_patch_with_if_match_and_one_retry_after_412():
    conn, adapter = _conn([(412, {"status": "412", "detail": "changed"}), (200, dict(USER, meta={"version": 'W/"2"'})),
                           (204, None)])
    conn.update_user(USER, {"active": False})
    first, reread, second = adapter.sent
    assert first.method == "PATCH" and first.headers["If-Match"] == 'W/"1"'
    assert json.loads(first.body)["Operations"] == [{"op": "replace", "path": "active", "value": False}]
    assert reread.method == "GET" and second.headers["If-Match"] == 'W/"2"'


def test_put_when_patch_is_not_offered():
    conn, adapter = _conn([(200, USER)], spc={"patch": False, "etag": False, "filter": True, "change_password": True})
    conn.update_user(USER, {"active": False})
    (put,) = adapter.sent
    body = json.loads(put.body)
    assert put.method == "PUT" and body["active"] is False and "meta" not in body and "If-Match" not in put.headers


def test_group_membership_with_and_without_patch():
    group = {"id": "g1", "displayName": "robots", "meta": {"version": 'W/"5"'}}
    conn, adapter = _conn([(204, None)])
    conn.set_membership(group, "u1", False)
    op = json.loads(adapter.sent[0].body)["Operations"][0]
    assert op == {"op": "remove", "path": 'members[value eq "u1"]'}
    conn, adapter = _conn([(200, dict(group, members=[{"value": "u0"}])), (200, group)],
                          spc={"patch": False, "etag": True, "filter": True, "change_password": True})
    conn.set_membership(group, "u1", True)
    put = adapter.sent[1]
    assert put.method == "PUT" and json.loads(put.body)["members"] == [{"value": "u0"}, {"value": "u1"}]


@pytest.mark.parametrize("status,cls", [(404, NotFound), (409, Conflict), (412, Conflict), (401, NHIError),
                                        (400, NHIError)])
def test_errors(status, cls):
    conn, _adapter = _conn([(status, {"status": str(status), "scimType": "uniqueness", "detail": "nope"})])
    with pytest.raises(cls) as info:
        conn.call("GET", "Users/x", "reading")
    assert info.value.status == status and "nope" in str(info.value)


def test_delete_already_gone_is_false_and_user_view_has_no_password():
    conn, _adapter = _conn([(404, {"status": "404", "detail": "gone"})])
    assert conn.delete_user(USER) is False
    view = _scim.user_view(dict(USER, password="never", emails=[{"value": "a@b"}]))
    assert "password" not in json.dumps(view) and view["emails"] == ["a@b"] and view["active"] is True

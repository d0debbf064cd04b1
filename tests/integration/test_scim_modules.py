# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""SCIM service users through ansible-playbook, against the real scim2-server and OpenBao.

Every outcome is checked with independent clients (the conftest's raw SCIM
session and raw hvac), never with the module under test.
"""

from __future__ import annotations

import json
import textwrap

import pytest

GROUP = "nhi-int-robots"


@pytest.fixture(scope="module")
def group(scim):
    found = scim.get("/Groups", params={"filter": 'displayName eq "%s"' % GROUP}).json()["Resources"]
    if not found:
        r = scim.post("/Groups", data=json.dumps({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                  "displayName": GROUP}),
                      headers={"Content-Type": "application/scim+json"})
        assert r.status_code == 201, r.text
    return GROUP


def user(scim, name):
    found = scim.get("/Users", params={"filter": 'userName eq "%s"' % name}).json()["Resources"]
    return found[0] if found else None


def members(scim):
    found = scim.get("/Groups", params={"filter": 'displayName eq "%s"' % GROUP}).json()["Resources"][0]
    return [m["value"] for m in found.get("members") or []]


def stored(vault, path):
    try:
        return vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                       raise_on_deleted_version=False)["data"]["data"]
    except Exception:  # pylint: disable=broad-except
        return None


BOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: the service user
      nhi.lifecycle.scim_service_user:
        user_name: "{{ user_name }}"
        display_name: "{{ user_name }} robot"
        external_id: "{{ user_name }}"
        groups: ["%s"]
        state: "{{ user_state | default('present') }}"
        force: "{{ force | default(false) }}"
        store: {path: "{{ store_path }}"}
""" % GROUP


def test_scim_user_provisioned_deactivated_deleted(tmp_path, run_playbook, scim, vault, group, unique_name):
    name = unique_name("scim")
    ev = {"user_name": name, "store_path": "nhi/int/%s" % name}
    book = tmp_path / "scim.yml"
    book.write_text(textwrap.dedent(BOOK), encoding="utf-8")

    run_playbook(str(book), inventory="localhost,", extra_vars=ev, check=True).check()
    assert user(scim, name) is None and stored(vault, ev["store_path"]) is None

    first = run_playbook(str(book), inventory="localhost,", extra_vars=ev, verbosity=4).check()
    made = user(scim, name)
    assert made["active"] is True and made["displayName"] == "%s robot" % name
    assert made["id"] in members(scim)
    secret = stored(vault, ev["store_path"])
    assert secret["user_id"] == made["id"] and len(secret["password"]) >= 40
    meta = vault.secrets.kv.v2.read_secret_metadata(path=ev["store_path"], mount_point="secret")["data"]
    assert meta["custom_metadata"]["credential_state"] == "active"
    assert secret["password"] not in first.stdout + first.stderr

    again = run_playbook(str(book), inventory="localhost,", extra_vars=ev).check()
    assert "changed=0" in again.stdout

    rotated = run_playbook(str(book), inventory="localhost,", extra_vars=dict(ev, user_state="rotated", force=True),
                           verbosity=4).check()
    new = stored(vault, ev["store_path"])
    assert new["password"] != secret["password"]
    assert new["password"] not in rotated.stdout + rotated.stderr

    run_playbook(str(book), inventory="localhost,", extra_vars=dict(ev, user_state="disabled")).check()
    assert user(scim, name)["active"] is False
    assert stored(vault, ev["store_path"]) is not None  # suspension keeps the stored credential

    run_playbook(str(book), inventory="localhost,", extra_vars=dict(ev, user_state="absent")).check()
    assert user(scim, name) is None
    assert scim.get("/Users/%s" % made["id"]).status_code == 404
    assert made["id"] not in members(scim)
    assert stored(vault, ev["store_path"]) is None

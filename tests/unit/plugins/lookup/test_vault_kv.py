# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The nhi.lifecycle.vault_kv lookup: options through the adapter, errors, unsafe values."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleError

from ansible_collections.nhi.lifecycle.plugins.doc_fragments import vault as vault_fragment
from ansible_collections.nhi.lifecycle.plugins.lookup import vault_kv
from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

from fragments import configured_lookup  # noqa: E402


class FakeConnection(object):
    instances = []

    def __init__(self, options, pool_size=8):
        self.options = options
        self.reads = []
        if options.get("vault_token") == "bad":
            raise NHIError("checking the Vault token: permission denied by Vault", where="vault_url=http://x")
        FakeConnection.instances.append(self)

    def kv_read(self, mount, path, version=None):
        self.reads.append((mount, path, version))
        if path == "missing":
            return None, None
        return {"secret_id": "{{ lookup('pipe', 'id') }}", "role_id": "rid"}, {"version": 1}


@pytest.fixture
def lookup(monkeypatch):
    """The plugin with its real option definitions: DOCUMENTATION plus both parts of the vault fragment."""
    FakeConnection.instances = []
    monkeypatch.setattr(_vault, "VaultConnection", FakeConnection)
    plugin, doc = configured_lookup(vault_kv, "nhi.lifecycle.vault", vault_fragment)
    assert "vault_url" in doc["options"] and doc["options"]["vault_url"]["vars"]
    return plugin


def test_pick():
    assert vault_kv.pick({"a": 1}, "p", None) == {"a": 1}
    assert vault_kv.pick({"a": 1}, "p", "a") == 1
    with pytest.raises(NHIError, match="no field 'b'"):
        vault_kv.pick({"a": 1}, "p", "b")
    with pytest.raises(NHIError, match="no readable secret"):
        vault_kv.pick(None, "p", None)


def test_reads_through_the_shared_connection_code(lookup):
    out = lookup.run(["nhi/dev/app", "/nhi/dev/other/"], variables={}, vault_url="http://127.0.0.1:1",
                     vault_token="t", mount="kv", field="role_id", version=3)
    assert list(out) == ["rid", "rid"]
    conn = FakeConnection.instances[0]
    assert conn.reads == [("kv", "nhi/dev/app", 3), ("kv", "nhi/dev/other", 3)]
    # options reach the connector through the adapter, defaults included
    assert conn.options.get("vault_url") == "http://127.0.0.1:1"
    # unset: VaultConnection decides from VAULT_SKIP_VERIFY (test__vault.py)
    assert conn.options.get("vault_validate_certs") is None and conn.options.get("vault_timeout") == 10


def test_values_are_unsafe(lookup):
    out = lookup.run(["nhi/dev/app"], variables={}, vault_url="http://x", vault_token="t")
    value = out[0]["secret_id"]
    try:
        from ansible.template import is_trusted_as_template  # ansible-core >= 2.19
        assert not is_trusted_as_template(value)
    except ImportError:  # pragma: no cover - older cores
        from ansible.utils.unsafe_proxy import AnsibleUnsafe
        assert isinstance(value, AnsibleUnsafe)


def test_vars_are_a_source(lookup):
    lookup.run(["nhi/dev/app"], variables={"nhi_vault_url": "http://from-vars:8200", "nhi_vault_token": "vt"})
    conn = FakeConnection.instances[0]
    assert conn.options.get("vault_url") == "http://from-vars:8200" and conn.options.get("vault_token") == "vt"


@pytest.mark.parametrize("terms,kwargs,needle", [
    (["missing"], {}, "no readable secret"),
    (["a/../b"], {}, "malformed KV path"),
    (["nhi/dev/app"], {"field": "nope"}, "no field 'nope'"),
    (["nhi/dev/app"], {"vault_token": "bad"}, "permission denied"),
])
def test_errors_become_ansible_errors(lookup, terms, kwargs, needle):
    options = {"vault_url": "http://x", "vault_token": "t"}
    options.update(kwargs)
    with pytest.raises(AnsibleError) as info:
        lookup.run(terms, variables={}, **options)
    assert needle in str(info.value) and "nhi.lifecycle.vault_kv" in str(info.value)

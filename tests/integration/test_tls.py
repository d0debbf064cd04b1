# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""TLS to Vault is verified: an unknown CA fails in one clear line and changes nothing; VAULT_CACERT fixes it.

A second OpenBao runs here with ``-dev-tls`` (its own CA, certificate and key in
a test directory) and is stopped at the end; the shared backends are not touched.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

MESSAGE = "TLS verification of the Vault server failed"
HINT = "set vault_ca_cert (VAULT_CACERT)"


@pytest.fixture(scope="module")
def tls_bao(tmp_path_factory, private_bao):
    """A TLS-only OpenBao dev server: ``{addr, token, ca}``; stopped at the end of the module."""
    with private_bao(tmp_path_factory.mktemp("tls-bao"), tls=True) as server:
        yield server


@pytest.fixture(scope="module")
def tls_vault(tls_bao):
    import hvac  # pylint: disable=import-outside-toplevel

    client = hvac.Client(url=tls_bao["addr"], token=tls_bao["token"], verify=str(tls_bao["ca"]), timeout=30)
    assert client.is_authenticated()
    return client


def _playbook(tmp_path, path, out):
    book = tmp_path / "tls.yml"
    book.write_text(yaml.safe_dump([{
        "name": "Write one KV v2 secret over TLS",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [
            {"name": "Write it", "nhi.lifecycle.vault_kv_secret": {"path": path, "data": {"value": "tls-check"}},
             "register": "result", "ignore_errors": True},
            {"name": "Keep the result", "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(out)}},
        ]}], sort_keys=False))
    return book


def _exists(client, path):
    try:
        client.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")
        return True
    except Exception:  # pylint: disable=broad-except
        return False


def _env(tls_bao, ca=""):
    # Empty values: nothing from the caller's environment may supply a CA behind the test's back.
    return {"VAULT_ADDR": tls_bao["addr"], "VAULT_TOKEN": tls_bao["token"], "BAO_ADDR": tls_bao["addr"],
            "BAO_TOKEN": tls_bao["token"], "VAULT_CACERT": ca, "BAO_CACERT": ca, "REQUESTS_CA_BUNDLE": "",
            "CURL_CA_BUNDLE": "", "SSL_CERT_FILE": "", "SSL_CERT_DIR": ""}


def test_an_unknown_ca_fails_in_one_clear_line_and_changes_nothing(tmp_path, run_playbook, tls_bao, tls_vault):
    path = "nhi/tls/%s" % uuid.uuid4().hex[:8]
    out = tmp_path / "result.json"
    run = run_playbook(_playbook(tmp_path, path, out), inventory="localhost,", env=_env(tls_bao))
    assert out.is_file(), run.stdout[-3000:]
    result = json.loads(out.read_text())
    assert result.get("failed"), result
    msg = result["msg"]
    assert MESSAGE in msg and HINT in msg, msg
    assert "\n" not in msg and "Traceback" not in msg, msg
    assert tls_bao["addr"] in msg, "the message should name the server: %s" % msg
    assert not result.get("changed")
    assert not _exists(tls_vault, path), "a run that could not verify the server changed the store"


def test_vault_cacert_makes_it_work(tmp_path, run_playbook, tls_bao, tls_vault):
    path = "nhi/tls/%s" % uuid.uuid4().hex[:8]
    out = tmp_path / "result.json"
    run = run_playbook(_playbook(tmp_path, path, out), inventory="localhost,",
                       env=_env(tls_bao, ca=str(tls_bao["ca"])))
    run.check()
    result = json.loads(out.read_text())
    assert not result.get("failed") and result.get("changed"), result
    stored = tls_vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                         raise_on_deleted_version=True)["data"]["data"]
    assert stored == {"value": "tls-check"}

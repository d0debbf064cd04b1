# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""GCP service accounts and keys through ansible-playbook, against the GCP IAM stand-in and OpenBao.

Every outcome is checked with independent clients: raw requests to the stand-in,
raw hvac to OpenBao, and google-auth's own token exchange with the stored key file.
"""

from __future__ import annotations

import importlib.util
import json
import pathlib
import secrets
import textwrap

import pytest

requests = pytest.importorskip("requests")
pytest.importorskip("google.auth")

import google.auth.exceptions  # noqa: E402
import google.auth.transport.requests  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROJECT = "nhi-int-project"


@pytest.fixture(scope="module")
def gcp(backends):
    """``(endpoint, admin_token)`` of the stand-in that scripts/backends.sh started.

    Until backends.sh passes an admin token to the stand-in and exports it as
    NHI_GCP_ACCESS_TOKEN, a private stand-in is started for this module.
    """
    endpoint, token = backends.get("NHI_GCP_ENDPOINT"), backends.get("NHI_GCP_ACCESS_TOKEN")
    if endpoint and token:
        yield endpoint, token
        return
    spec = importlib.util.spec_from_file_location("nhi_gcp_iam_int", ROOT / "tests" / "backends" / "gcp_iam.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    token = secrets.token_urlsafe(24)
    server, endpoint = module.serve_in_thread(token)
    yield endpoint, token
    server.shutdown()
    server.server_close()


@pytest.fixture
def raw(gcp):
    endpoint, token = gcp
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token

    class Raw(object):
        def account(self, account_id):
            r = session.get("%s/v1/projects/%s/serviceAccounts/%s@%s.iam.gserviceaccount.com"
                            % (endpoint, PROJECT, account_id, PROJECT), timeout=10)
            return r.json() if r.status_code == 200 else None

        def key_ids(self, account_id):
            r = session.get("%s/v1/projects/%s/serviceAccounts/%s@%s.iam.gserviceaccount.com/keys"
                            % (endpoint, PROJECT, account_id, PROJECT), params={"keyTypes": "USER_MANAGED"},
                            timeout=10)
            return sorted(k["name"].rsplit("/", 1)[-1] for k in r.json().get("keys", [])) if r.ok else None

    return Raw()


def token_exchange(info):
    """google-auth's own JWT-bearer exchange, independent of the collection."""
    creds = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"])
    try:
        creds.refresh(google.auth.transport.requests.Request(requests.Session()))
    except google.auth.exceptions.RefreshError:
        return False
    return bool(creds.token)


def stored(vault, path):
    try:
        data = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                       raise_on_deleted_version=False)["data"]["data"]
    except Exception:  # pylint: disable=broad-except
        return None
    return data


def playbook(tmp_path, name, tasks):
    path = tmp_path / ("%s.yml" % name)
    path.write_text(textwrap.dedent("""\
        - hosts: localhost
          connection: local
          gather_facts: false
          vars:
            ansible_python_interpreter: "{{ ansible_playbook_python }}"
          tasks:
        """) + textwrap.indent(textwrap.dedent(tasks), "    "), encoding="utf-8")
    return str(path)


def run(run_playbook, gcp, path, extra_vars, **kwargs):
    endpoint, token = gcp
    env = {"NHI_GCP_ENDPOINT": endpoint, "NHI_GCP_ACCESS_TOKEN": token, "GOOGLE_CLOUD_PROJECT": PROJECT}
    return run_playbook(path, inventory="localhost,", extra_vars=extra_vars, env=env, **kwargs)


ACCOUNT = """\
- name: the service account
  nhi.lifecycle.gcp_service_account:
    account_id: "{{ account_id }}"
    display_name: "{{ account_id }} robot"
    state: "{{ account_state | default('present') }}"
"""

KEY = """\
- name: its key, stored in OpenBao
  nhi.lifecycle.gcp_service_account_key:
    account_id: "{{ account_id }}"
    state: "{{ key_state | default('present') }}"
    force: "{{ force | default(false) }}"
    proof_deadline: 10
    store: {path: "{{ store_path }}"}
"""


def test_gcp_key_minted_works_rotated_old_rejected(tmp_path, run_playbook, gcp, raw, vault, unique_name):
    account_id = unique_name("gsa")
    store_path = "nhi/int/%s" % account_id
    ev = {"account_id": account_id, "store_path": store_path}
    book = playbook(tmp_path, "gcp", ACCOUNT + KEY)

    # check mode first: nothing is written anywhere
    run(run_playbook, gcp, book, ev, check=True).check()
    assert raw.account(account_id) is None
    assert stored(vault, store_path) is None

    # apply: account, key minted and stored; the stored key file works
    first = run(run_playbook, gcp, book, ev, diff=True).check()
    assert "changed=2" in first.stdout
    assert raw.account(account_id)["displayName"] == "%s robot" % account_id
    data = stored(vault, store_path)
    info = json.loads(data["private_key_json"])
    assert raw.key_ids(account_id) == [data["key_id"]] == [info["private_key_id"]]
    assert token_exchange(info) is True

    # idempotent
    again = run(run_playbook, gcp, book, ev).check()
    assert "changed=0" in again.stdout
    assert raw.key_ids(account_id) == [data["key_id"]]

    # rotate, verbosely; the old key is rejected, the new one works, no secret in the output
    rotated = run(run_playbook, gcp, book, dict(ev, key_state="rotated", force=True), verbosity=4).check()
    new = stored(vault, store_path)
    new_info = json.loads(new["private_key_json"])
    assert new["key_id"] != data["key_id"] and raw.key_ids(account_id) == [new["key_id"]]
    assert token_exchange(info) is False
    assert token_exchange(new_info) is True
    output = rotated.stdout + rotated.stderr
    assert new["key_id"] in output  # the key id is evidence, not a secret
    for secret_info in (info, new_info):
        for line in secret_info["private_key"].splitlines():
            if not line.startswith("-----"):
                assert line not in output
        assert secret_info["private_key"].replace("\n", "\\n")[40:120] not in output

    # offboard: key gone and rejected, stored copy gone, account gone
    gone = run(run_playbook, gcp, book + "", dict(ev, key_state="absent", account_state="present")).check()
    assert "changed=1" in gone.stdout
    assert raw.key_ids(account_id) == [] and stored(vault, store_path) is None
    assert token_exchange(new_info) is False
    delete = playbook(tmp_path, "gcp-delete", KEY + ACCOUNT)
    run(run_playbook, gcp, delete, dict(ev, key_state="absent", account_state="absent")).check()
    assert raw.account(account_id) is None


def test_gcp_disabled_account_rejects_its_key(tmp_path, run_playbook, gcp, raw, vault, unique_name):
    account_id = unique_name("gsd")
    ev = {"account_id": account_id, "store_path": "nhi/int/%s" % account_id}
    book = playbook(tmp_path, "gcp", ACCOUNT + KEY)
    run(run_playbook, gcp, book, ev).check()
    info = json.loads(stored(vault, ev["store_path"])["private_key_json"])
    assert token_exchange(info) is True
    suspend = playbook(tmp_path, "gcp-suspend", ACCOUNT)
    run(run_playbook, gcp, suspend, dict(ev, account_state="disabled")).check()
    assert raw.account(account_id)["disabled"] is True
    assert token_exchange(info) is False
    run(run_playbook, gcp, book, dict(ev, key_state="absent", account_state="absent")).check()

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Test doubles shared by the GCP and SCIM module tests: an in-memory KV v2 and a module runner."""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests


from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError

# The module tests import run_module from here, with the fakes.
from module_runner import run_module  # noqa: E402,F401  pylint: disable=unused-import

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


class FakeVault(object):
    """The KV v2 calls the modules make, in memory, with real check-and-set."""

    def __init__(self):
        self.secrets = {}   # (mount, path) -> {"versions": {n: data or None}, "current": n, "custom": {}}
        self.fail_writes = 0

    def _entry(self, mount, path):
        return self.secrets.get((mount, path))

    def kv_read(self, mount, path, version=None):
        entry = self._entry(mount, path)
        if entry is None:
            return None, None
        version = version or entry["current"]
        data = entry["versions"].get(version)
        meta = {"version": version, "custom_metadata": dict(entry["custom"])}
        return (copy.deepcopy(data) if data else None), meta

    def kv_metadata(self, mount, path):
        entry = self._entry(mount, path)
        if entry is None:
            return None
        return {"current_version": entry["current"], "custom_metadata": dict(entry["custom"]),
                "versions": {str(k): {"destroyed": v is None} for k, v in entry["versions"].items()}}

    def kv_write(self, mount, path, data, cas=None):
        if self.fail_writes:
            self.fail_writes -= 1
            raise NHIError("storing the credential: Vault is sealed (injected)", retryable=True)
        entry = self.secrets.setdefault((mount, path), {"versions": {}, "current": 0, "custom": {}})
        if cas is not None and cas != entry["current"]:
            raise Conflict("storing the credential: check-and-set failed")
        entry["current"] += 1
        entry["versions"][entry["current"]] = copy.deepcopy(data)
        return entry["current"]

    def kv_update_metadata(self, mount, path, custom_metadata=None, **_):
        self.secrets[(mount, path)]["custom"] = dict(custom_metadata or {})

    def kv_destroy_versions(self, mount, path, versions):
        entry = self._entry(mount, path)
        for version in versions:
            if entry and version in entry["versions"]:
                entry["versions"][version] = None

    def kv_delete_all(self, mount, path):
        self.secrets.pop((mount, path), None)

    def latest(self, mount, path):
        return self.kv_read(mount, path)[0]


def load_standin():
    path = os.path.join(ROOT, "tests", "backends", "gcp_iam.py")
    spec = importlib.util.spec_from_file_location("nhi_gcp_iam_standin_for_modules", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def gcp_standin(with_server=False):
    """The loopback GCP IAM stand-in (tests/backends/gcp_iam.py) in a thread: (url, token, admin session),
    and the server object itself when ``with_server`` (to reach its state directly)."""
    token = secrets.token_urlsafe(16)
    server, url = load_standin().serve_in_thread(token)
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    try:
        yield (url, token, session, server) if with_server else (url, token, session)
    finally:
        server.shutdown()
        server.server_close()


class AccountEnv(object):
    """A fresh service account on the stand-in, with the FakeVault that ``_vault.client`` now returns.

    ``url``, ``token``, ``session`` (the stand-in's), ``vault``, ``project``,
    ``account_id``, ``name`` (``projects/.../serviceAccounts/<email>``), ``email``.
    """

    def __init__(self, standin, monkeypatch, project):
        from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault  # pylint: disable=C0415

        self.url, self.token, self.session = standin[:3]
        self.vault = FakeVault()
        monkeypatch.setattr(_vault, "client", lambda *a, **k: self.vault)
        self.project = project
        self.account_id = "svc-%s" % secrets.token_hex(4)
        r = self.session.post("%s/v1/projects/%s/serviceAccounts" % (self.url, project),
                              json={"accountId": self.account_id})
        assert r.status_code == 200, r.text
        self.name, self.email = r.json()["name"], r.json()["email"]

    def args(self, **extra):
        """The modules' connection and account options, plus ``extra``."""
        return dict({"gcp_endpoint": self.url, "gcp_access_token": self.token, "gcp_project": self.project,
                     "account_id": self.account_id}, **extra)


@contextlib.contextmanager
def scim2_server():
    """A real scim2-server (PyPI) on a free loopback port: (url, token, admin session); skips without it."""
    binary = os.path.join(os.path.dirname(sys.executable), "scim2-server")
    binary = binary if os.path.exists(binary) else shutil.which("scim2-server")
    if not binary:
        pytest.skip("scim2-server is not installed (requirements/test.txt)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = secrets.token_urlsafe(16)
    proc = subprocess.Popen([binary, "--hostname", "127.0.0.1", "--port", str(port), "--bearer-token", token],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = "http://127.0.0.1:%d" % port
    session = requests.Session()
    session.headers.update({"Authorization": "Bearer " + token, "Content-Type": "application/scim+json"})
    try:
        for _attempt in range(100):
            try:
                session.get(url + "/ServiceProviderConfig", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, token, session
    finally:
        proc.terminate()
        proc.wait(timeout=10)

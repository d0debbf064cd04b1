# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Test doubles shared by the GCP and SCIM module tests: an in-memory KV v2 and a module runner."""

from __future__ import annotations

import copy
import importlib.util
import os


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

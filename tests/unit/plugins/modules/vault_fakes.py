# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Test doubles for the Vault module tests: KV v2, AppRole and tokens in memory, and a module runner.

``FakeVault`` is the shared VaultConnection (its KV methods) and, through
``install()``, the AppRole and token helpers of ``_vault``. Every call that
changes something is appended to ``calls`` as ``(name, detail)``, so a test can
check the order of a rotation and that check mode changed nothing.
"""

from __future__ import annotations

import copy
import datetime
import json
import uuid


from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, iso

from module_runner import run_module as _run_module  # noqa: E402

MUTATING = {"kv_write", "kv_update_metadata", "kv_destroy_versions", "kv_delete_all", "kv_delete_latest",
            "kv_patch_metadata", "write_role", "delete_role", "generate", "destroy_accessor", "token_create",
            "token_revoke"}


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class FakeVault(object):
    def __init__(self):
        self.kv = {}       # (mount, path) -> {"versions": {n: {...}}, "current": n, "custom": {}, "max_versions": 0}
        self.roles = {}    # (mount, name) -> {"config": {}, "role_id": str, "secret_ids": {accessor: {...}}}
        self.tokens = {}   # accessor -> {"token", "policies", "creation_time", ...}
        self.calls = []
        self.fail = {}     # call name -> exception raised (once) instead of doing it
        self.reject_login = set()  # secret_ids whose login is refused although they exist

    # --- bookkeeping -------------------------------------------------------------
    def _call(self, name, detail=None):
        exc = self.fail.pop(name, None)
        if exc is not None:
            raise exc
        self.calls.append((name, detail))

    def mutations(self):
        return [c for c in self.calls if c[0] in MUTATING]

    def names(self):
        return [c[0] for c in self.calls]

    # --- KV v2 (the VaultConnection methods) -------------------------------------------
    def kv_read(self, mount, path, version=None):
        entry = self.kv.get((mount, path))
        if entry is None or not entry["current"]:
            return None, None
        number = version or entry["current"]
        ver = entry["versions"].get(number)
        if ver is None:
            return None, None
        meta = {"version": number, "custom_metadata": dict(entry["custom"]) or None,
                "deletion_time": "2026-01-01T00:00:00Z" if ver["deleted"] else "", "destroyed": ver["destroyed"],
                "created_time": ver["created"]}
        if ver["deleted"] or ver["destroyed"]:
            return None, meta
        return copy.deepcopy(ver["data"]), meta

    def kv_metadata(self, mount, path):
        entry = self.kv.get((mount, path))
        if entry is None:
            return None
        return {"current_version": entry["current"], "custom_metadata": dict(entry["custom"]) or None,
                "max_versions": entry["max_versions"], "created_time": "2026-01-01T00:00:00Z",
                "updated_time": "2026-01-02T00:00:00Z", "oldest_version": 0, "cas_required": False,
                "delete_version_after": "0s",
                "versions": {str(n): {"created_time": v["created"],
                                      "deletion_time": "2026-01-01T00:00:00Z" if v["deleted"] else "",
                                      "destroyed": v["destroyed"]} for n, v in entry["versions"].items()}}

    def kv_list(self, mount, prefix):
        """What Vault's LIST on metadata/<prefix> answers: direct children, folders with a trailing '/'."""
        self._call("kv_list", prefix)
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        keys = set()
        for m, path in self.kv:
            if m == mount and path.startswith(base):
                head, sep, _rest = path[len(base):].partition("/")
                keys.add(head + sep)
        return sorted(keys)

    def kv_walk(self, mount, prefix, max_keys=100000):
        # The real recursion, over the fake's kv_list.
        return _vault.VaultConnection.kv_walk(self, mount, prefix, max_keys=max_keys)

    def kv_write(self, mount, path, data, cas=None):
        self._call("kv_write", (path, cas))
        entry = self.kv.setdefault((mount, path), {"versions": {}, "current": 0, "custom": {}, "max_versions": 0})
        if cas is not None and cas != entry["current"]:
            self.calls.pop()
            raise Conflict("storing the credential: the stored secret changed under us (check-and-set failed)",
                           where="vault kv %s/%s" % (mount, path))
        entry["current"] += 1
        entry["versions"][entry["current"]] = {"data": copy.deepcopy(data), "deleted": False, "destroyed": False,
                                               "created": iso()}
        return entry["current"]

    def kv_update_metadata(self, mount, path, custom_metadata=None, max_versions=None, cas_required=None):
        self._call("kv_update_metadata", path)
        entry = self.kv.setdefault((mount, path), {"versions": {}, "current": 0, "custom": {}, "max_versions": 0})
        if custom_metadata is not None:
            entry["custom"] = {k: str(v) for k, v in custom_metadata.items()}

    def kv_destroy_versions(self, mount, path, versions):
        self._call("kv_destroy_versions", (path, sorted(versions)))
        entry = self.kv.get((mount, path))
        for number in versions:
            if entry and number in entry["versions"]:
                entry["versions"][number].update(destroyed=True, data=None)

    def kv_delete_all(self, mount, path):
        self._call("kv_delete_all", path)
        self.kv.pop((mount, path), None)

    def kv_delete_latest(self, mount, path):
        self._call("kv_delete_latest", path)
        entry = self.kv[(mount, path)]
        entry["versions"][entry["current"]]["deleted"] = True

    def kv_patch_metadata(self, _conn, mount, path, fields):
        self._call("kv_patch_metadata", (path, sorted(fields)))
        entry = self.kv.setdefault((mount, path), {"versions": {}, "current": 0, "custom": {}, "max_versions": 0})
        if "custom_metadata" in fields:
            entry["custom"] = dict(fields["custom_metadata"])
        if "max_versions" in fields:
            entry["max_versions"] = fields["max_versions"]

    def put(self, path, data, mount="secret", custom=None):
        """Seed or overwrite a secret the way another writer would (not recorded)."""
        entry = self.kv.setdefault((mount, path), {"versions": {}, "current": 0, "custom": {}, "max_versions": 0})
        entry["current"] += 1
        entry["versions"][entry["current"]] = {"data": copy.deepcopy(data), "deleted": False, "destroyed": False,
                                               "created": iso()}
        if custom is not None:
            entry["custom"] = dict(custom)
        return entry["current"]

    def latest(self, path, mount="secret"):
        return self.kv_read(mount, path)[0]

    # --- AppRole ------------------------------------------------------------------------
    def add_role(self, name, mount="approle", **config):
        base = {"token_policies": [], "token_ttl": 0, "token_max_ttl": 0, "secret_id_ttl": 0,
                "secret_id_num_uses": 0, "secret_id_bound_cidrs": None, "token_bound_cidrs": [],
                "bind_secret_id": True}
        base.update(config)
        self.roles[(mount, name)] = {"config": base, "role_id": str(uuid.uuid4()), "secret_ids": {}}
        return self.roles[(mount, name)]

    def add_secret_id(self, name, mount="approle", metadata=None, age_days=0.0, ttl=0):
        """A secret_id minted outside the module under test (not recorded); returns (secret_id, accessor)."""
        secret_id, accessor = str(uuid.uuid4()), str(uuid.uuid4())
        created = _now() - datetime.timedelta(days=age_days)
        self.roles[(mount, name)]["secret_ids"][accessor] = {
            "secret_id": secret_id, "creation_time": iso(created), "metadata": dict(metadata or {}),
            "expiration_time": iso(created + datetime.timedelta(seconds=ttl)) if ttl else "0001-01-01T00:00:00Z",
            "secret_id_num_uses": 0}
        return secret_id, accessor

    def approle_read_role(self, _conn, mount, name):
        role = self.roles.get((mount, name))
        return copy.deepcopy(role["config"]) if role else None

    def approle_list_roles(self, _conn, mount):
        return sorted(n for m, n in self.roles if m == mount)

    def approle_write_role(self, _conn, mount, name, config):
        self._call("write_role", (name, sorted(config)))
        role = self.roles.get((mount, name)) or self.add_role(name, mount)
        role["config"].update(copy.deepcopy(config))

    def approle_delete_role(self, _conn, mount, name):
        self._call("delete_role", name)
        self.roles.pop((mount, name), None)

    def approle_role_id(self, _conn, mount, name):
        role = self.roles.get((mount, name))
        return role["role_id"] if role else None

    def approle_generate_secret_id(self, _conn, mount, name, metadata=None):
        self._call("generate", name)
        role = self.roles.get((mount, name))
        if role is None:
            raise NHIError("minting a secret_id for AppRole %r: Vault refused the request: role not found" % name)
        secret_id, accessor = self.add_secret_id(name, mount, metadata=metadata,
                                                 ttl=role["config"].get("secret_id_ttl") or 0)
        self.calls[-1] = ("generate", accessor)
        return {"secret_id": secret_id, "secret_id_accessor": accessor,
                "secret_id_ttl": role["config"].get("secret_id_ttl") or 0, "secret_id_num_uses": 0}

    def approle_list_accessors(self, _conn, mount, name):
        role = self.roles.get((mount, name))
        return sorted(role["secret_ids"]) if role else []

    def approle_read_accessor(self, _conn, mount, name, accessor):
        role = self.roles.get((mount, name))
        found = role and role["secret_ids"].get(accessor)
        if not found:
            return None
        out = {k: v for k, v in found.items() if k != "secret_id"}
        out["secret_id_accessor"] = accessor
        return copy.deepcopy(out)

    def approle_destroy_accessor(self, _conn, mount, name, accessor):
        self._call("destroy_accessor", accessor)
        role = self.roles.get((mount, name))
        return bool(role and role["secret_ids"].pop(accessor, None))

    def _by_secret(self, role_id, secret_id):
        for (_mount, _name), role in self.roles.items():
            if role["role_id"] != role_id:
                continue
            for accessor, info in role["secret_ids"].items():
                if info["secret_id"] == secret_id:
                    return accessor, info
        return None, None

    def approle_login(self, _conn, mount, role_id, secret_id, remember=None):
        self.calls.append(("login", secret_id))
        accessor, info = self._by_secret(role_id, secret_id)
        if info is None or secret_id in self.reject_login or _vault.secret_id_expired(info):
            return False, "invalid role or secret ID"
        token = "hvs.login-%s" % uuid.uuid4().hex
        if remember:
            remember(token)
        return True, "login issued a token (accessor tok-%s, revoked after the proof)" % accessor[:8]

    def approle_lookup_secret_id(self, _conn, mount, name, secret_id):
        self.calls.append(("lookup", secret_id))
        role = self.roles.get((mount, name)) or {"secret_ids": {}}
        for accessor, info in role["secret_ids"].items():
            if info["secret_id"] == secret_id and secret_id not in self.reject_login:
                return True, "secret_id found (accessor %s)" % accessor
        return False, "secret_id not found"

    # --- tokens -----------------------------------------------------------------------------
    def add_token(self, policies=("default",), age_days=0.0, ttl=3600):
        token, accessor = "hvs.%s" % uuid.uuid4().hex, uuid.uuid4().hex[:24]
        created = _now() - datetime.timedelta(days=age_days)
        self.tokens[accessor] = {"token": token, "accessor": accessor, "policies": sorted(policies),
                                 "creation_time": int(created.timestamp()), "expire_time": None,
                                 "orphan": True, "renewable": True, "display_name": "token", "ttl": ttl}
        return token, accessor

    def token_create(self, _conn, params, orphan=True):
        self._call("token_create", sorted(params.get("policies") or []))
        policies = set(p.lower() for p in params.get("policies") or [])
        if not params.get("no_default_policy"):
            policies.add("default")
        token, accessor = self.add_token(sorted(policies))
        self.calls[-1] = ("token_create", accessor)
        self.tokens[accessor]["meta"] = dict(params.get("meta") or {})
        return {"client_token": token, "accessor": accessor, "policies": sorted(policies), "lease_duration": 3600}

    def token_lookup_accessor(self, _conn, accessor):
        info = self.tokens.get(accessor)
        if info is None:
            return None
        out = {k: v for k, v in info.items() if k != "token"}
        out["id"] = ""
        return copy.deepcopy(out)

    def token_revoke_accessor(self, _conn, accessor):
        self._call("token_revoke", accessor)
        return self.tokens.pop(accessor, None) is not None

    def token_lookup_self(self, _conn, token):
        self.calls.append(("lookup_self", token))
        for accessor, info in self.tokens.items():
            if info["token"] == token and token not in self.reject_login:
                return True, "lookup-self ok (accessor %s)" % accessor
        return False, "permission denied"

    # --- wiring ---------------------------------------------------------------------------------
    def install(self, monkeypatch):
        """Route ``_vault.client`` and the AppRole, token and KV-metadata helpers to this fake."""
        monkeypatch.setattr(_vault, "client", lambda *a, **k: self)
        for name in ("approle_read_role", "approle_list_roles", "approle_write_role", "approle_delete_role",
                     "approle_role_id", "approle_generate_secret_id", "approle_list_accessors",
                     "approle_read_accessor", "approle_destroy_accessor", "approle_login",
                     "approle_lookup_secret_id", "token_create", "token_lookup_accessor", "token_revoke_accessor",
                     "token_lookup_self", "kv_patch_metadata"):
            monkeypatch.setattr(_vault, name, getattr(self, name))
        return self


def run_module(module, args, capsys, check_mode=False, diff=False):
    """Run a module's main() in-process with a Vault address and token set; return its JSON result."""
    return _run_module(module, args, capsys, check_mode=check_mode, diff=diff,
                       defaults={"vault_url": "http://127.0.0.1:1", "vault_token": "unit-test-token", "workers": 2})


def steps(result):
    return [(e["step"], e["outcome"]) for e in result["evidence"]]


def step_names(result):
    return [e["step"] for e in result["evidence"]]


def assert_no_secret(result, *secrets):
    blob = json.dumps(result)
    for secret in secrets:
        assert secret and secret not in blob, "a secret reached the result"

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Run-scoped identity locks for the lifecycle playbooks (see module_utils/_lock.py).

``plan`` takes a lease on every identity it allows, ``outcome`` releases
them. The controller reaches Vault through the same environment the modules
fall back to (VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT).
"""

from __future__ import annotations

import os

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._batch import run_batch
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.module_utils._lock import LeaseLock


def _options():
    return {"vault_url": os.environ.get("VAULT_ADDR"), "vault_token": os.environ.get("VAULT_TOKEN"),
            "vault_namespace": os.environ.get("VAULT_NAMESPACE"), "vault_ca_cert": os.environ.get("VAULT_CACERT"),
            "vault_validate_certs": None,  # VaultConnection reads VAULT_SKIP_VERIFY
            "vault_auth_method": "token", "vault_timeout": 10, "vault_retries": 5}


def _controller_pid():
    return int(os.environ.get("NHI_CONTROLLER_PID") or os.getppid())


def acquire(identities, allowed, run_id, workers=16):
    """Lock every allowed identity for this run: ``(held, refused)``.

    ``held`` lists ``{identity, mount, expires}`` taken (``expires``: the
    lease's end, None when this run held the lock already); ``refused`` maps an identity to
    the reason it could not be locked (another live run holds it).
    """
    mounts = {i["name"]: (i.get("store") or {}).get("mount") or "secret" for i in identities}
    vault = _vault.VaultConnection(_options(), pool_size=workers)
    locks = {}

    def take(item):
        mount = mounts.get(item["identity"], "secret")
        lock = locks.setdefault(mount, LeaseLock(vault, mount=mount, run_id=run_id, controller_pid=_controller_pid()))
        lock.acquire(item["identity"])
        return {"mount": mount, "expires": lock.taken.get(item["identity"])}

    results = run_batch([{"identity": name} for name in allowed], take, workers=workers, label="lock")
    held, refused = [], {}
    for result in results:
        if result.get("failed"):
            refused[result["identity"]] = result.get("msg")
        else:
            held.append({"identity": result["identity"], "mount": result["mount"], "expires": result.get("expires")})
    return held, refused


def release(held, run_id, workers=16):
    try:
        vault = _vault.VaultConnection(_options(), pool_size=workers)
    except NHIError:
        return  # the leases expire on their own
    locks = {}

    def drop(item):
        lock = locks.setdefault(item["mount"], LeaseLock(vault, mount=item["mount"], run_id=run_id))
        lock.release(item["identity"], item.get("expires"))
        return {}

    run_batch(list(held), drop, workers=workers, label="unlock")


def withdraw(planned, refused):
    """Take locked identities out of a plan: no targets, reported as locked."""
    names = set(refused)
    planned["allowed"] = [n for n in planned["allowed"] if n not in names]
    planned["locked"] = sorted(names)
    planned["lock_errors"] = dict(refused)
    for key in list(planned["targets"]):
        planned["targets"][key] = [t for t in planned["targets"][key] if t.get("identity") not in names]
        if not planned["targets"][key]:
            del planned["targets"][key]

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gcp_service_account_key_info
short_description: Read the keys of GCP service accounts, their ages and which one is stored
version_added: 0.1.0
description:
  - Lists the keys of a service account (ids, state, origin and age), and, when I(store) is given, which key
    the Vault KV v2 secret holds, read from the secret's custom metadata only.
  - Never returns key material, and never reads the stored secret itself.
  - Changes nothing. The reconcile playbook uses it to find old keys, more than one active key and stored keys
    whose account is gone.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.gcp
  - nhi.lifecycle.vault
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Reads only, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is nothing to diff.
options:
  project:
    description: The project of the service account. Defaults to I(gcp_project).
    type: str
  account_id:
    description:
      - The service account, as its account id or its email.
      - Required, here or in each item of I(targets).
    type: str
  key_types:
    description: Which keys to list. Google-managed (C(SYSTEM_MANAGED)) keys cannot be used outside Google.
    type: list
    elements: str
    choices: [USER_MANAGED, SYSTEM_MANAGED]
    default: [USER_MANAGED]
  store:
    description:
      - The KV v2 secret that should hold the account's key. Only its metadata is read. The Vault options are
        needed only when this is given.
    type: dict
    suboptions:
      mount:
        description: The KV v2 mount.
        type: str
        default: secret
      path:
        description: The secret's path under the mount.
        type: str
        required: true
notes:
  - Needs C(iam.serviceAccountKeys.list), and C(read) on the KV v2 C(metadata/) path when I(store) is given.
seealso:
  - module: nhi.lifecycle.gcp_service_account_key
  - module: nhi.lifecycle.gcp_service_account_info
"""

EXAMPLES = r"""
- name: Key ages of one account, and which key is stored
  nhi.lifecycle.gcp_service_account_key_info:
    project: my-project
    account_id: ci-deployer
    store: {path: nhi/dev/ci-deployer}
  register: keys

- name: Fail when the account has more than one active key
  ansible.builtin.assert:
    that: keys.active_keys <= 1
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: ci-deployer
account_email:
  description: The email of the service account.
  returned: always
  type: str
  sample: ci-deployer@my-project.iam.gserviceaccount.com
exists:
  description: Whether the service account exists.
  returned: success
  type: bool
  sample: true
account_keys:
  description: The keys, without key material.
  returned: success
  type: list
  elements: dict
  sample: [{"key_id": "3f1b2c9d4e5f60718293a4b5c6d7e8f901234567", "disabled": false,
            "created": "2026-11-23T19:00:00Z", "age_days": 12.5, "key_type": "USER_MANAGED"}]
active_keys:
  description: How many of the listed user-managed keys are enabled.
  returned: success
  type: int
  sample: 1
stored:
  description:
    - What the store's metadata says, when I(store) is given. C(key_id) is the stored key, C(present) whether
      that key still exists on the account, C(minted_at) when it was minted.
  returned: when store is given
  type: dict
  sample: {"mount": "secret", "path": "nhi/dev/ci-deployer", "version": 3,
           "key_id": "3f1b2c9d4e5f60718293a4b5c6d7e8f901234567", "present": true,
           "minted_at": "2026-11-23T19:00:00.000Z"}
evidence:
  description: One C(read) entry per target, see the evidence guide.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "read", "system": "gcp_iam",
            "action": "iam.serviceAccountKeys.list", "outcome": "unchanged"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "exists": true, "active_keys": 1, "account_keys": []}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 2, "changed": 0, "failed": 0}
failed_identities:
  description: The identities whose target failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, NotFound, utcnow
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder


class KeyReader(object):
    def __init__(self, nm, gcp, vault):
        self.nm = nm
        self.gcp = gcp
        self.vault = vault

    def process(self, t):
        project = t.get("project") or self.gcp.project
        t["event"] = t.get("event") or "reconcile"
        rec = Recorder(t, False)
        name = _gcp.account_name(t["account_id"], project)
        result = {"identity": t["identity"], "account_email": _gcp.account_email(t["account_id"], project),
                  "changed": False}
        try:
            with rec.step("read", "gcp_iam", "iam.serviceAccountKeys.list", name) as st:
                st.outcome = "unchanged"
                try:
                    keys = self.gcp.list_keys(project, t["account_id"], key_types=t["key_types"])
                    exists = True
                except NotFound:
                    keys, exists = [], False
                st.details.update(exists=exists, keys=len(keys))
            now = utcnow()
            views = [_gcp.key_view(k, now) for k in keys]
            result.update(exists=exists, account_keys=views,
                          active_keys=sum(1 for v in views if v["key_type"] == "USER_MANAGED" and not v["disabled"]))
            if t.get("store"):
                store = t["store"]
                mount = store.get("mount") or "secret"
                meta = self.vault.kv_metadata(mount, store["path"]) or {}
                custom = meta.get("custom_metadata") or {}
                stored_id = custom.get("key_id")
                result["stored"] = {"mount": mount, "path": store["path"], "version": meta.get("current_version"),
                                    "key_id": stored_id, "minted_at": custom.get("minted_at"),
                                    "present": bool(stored_id) and stored_id in [v["key_id"] for v in views]}
                if stored_id:
                    st_details = rec.entries[-1]["details"]
                    st_details["stored_key_id"] = stored_id
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result


def _validate(target):
    _gcp.check_names(target["account_id"], target.get("project") or None)
    if target.get("store"):
        _vault.check_store(target["store"])


def main():
    nm = NHIModule(
        target_spec=dict(
            project=dict(type="str"),
            account_id=dict(type="str", required=True),
            key_types=dict(type="list", elements="str", default=["USER_MANAGED"],
                           choices=["USER_MANAGED", "SYSTEM_MANAGED"]),
            store=_vault.store_spec(),
        ),
        connection_specs=(_gcp.argument_spec(), _vault.argument_spec()),
        validate=_validate,
        default_identity=lambda t: t["account_id"].split("@")[0],
    )
    workers = nm.params["workers"]
    try:
        gcp = _gcp.client(nm.params, pool_size=workers)
        if any(not (t.get("project") or gcp.project) for t in nm.targets):
            raise NHIError("no GCP project to read", where="project / gcp_project",
                           hint="set project, gcp_project, or export GOOGLE_CLOUD_PROJECT")
        vault = _vault.client(nm.params, pool_size=workers) if any(t.get("store") for t in nm.targets) else None
    except NHIError as exc:
        nm.fail_connect(exc)
    nm.exit(nm.run(KeyReader(nm, gcp, vault).process))


if __name__ == "__main__":
    main()

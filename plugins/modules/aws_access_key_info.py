#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_access_key_info
short_description: List IAM access keys with their status, age and last use
version_added: 0.1.0
description:
  - Reads the access keys of one or many IAM users, without secrets.
  - With I(store), also reads which key id the store holds (from the secret's custom metadata, so no secret is
    read) and flags keys that nothing stores.
  - Takes one target or a batch in I(targets).
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.aws
  - nhi.lifecycle.vault
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Read-only.
  diff_mode:
    support: none
options:
  user_name:
    description: The IAM user. Required, here or in each item of I(targets).
    type: str
  store:
    description: The KV v2 secret that should hold the user's key.
    type: dict
    suboptions:
      mount:
        description: The KV v2 mount.
        type: str
        default: secret
      path:
        description: The secret's path.
        type: str
        required: true
  include_last_used:
    description: Look up when each key was last used (one call per key).
    type: bool
    default: true
seealso:
  - module: nhi.lifecycle.aws_access_key
  - plugin: nhi.lifecycle.aws_access_keys
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Keys of a user, with the stored one marked
  nhi.lifecycle.aws_access_key_info:
    user_name: ci-deployer
    store: {path: nhi/dev/ci-deployer}
  register: keys
"""

RETURN = r"""
user_exists:
  description: Whether the IAM user exists.
  returned: success
  type: bool
  sample: true
access_keys:
  description: The user's keys.
  returned: success
  type: list
  elements: dict
  sample: [{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "status": "Active", "created": "2026-11-23T19:00:00.000Z",
            "age_days": 12.5, "last_used": "2026-11-23T19:00:00.000Z", "stored": true}]
stored_key_id:
  description: The key id the store holds, from its custom metadata.
  returned: when store is given
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
stored_version:
  description: The current KV version of the stored secret.
  returned: when store is given
  type: int
  sample: 3
results:
  description: One result per target (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "user_exists": true, "access_keys": []}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 1, "changed": 0, "failed": 0}
failed_identities:
  description: The identities whose read failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._aws_keys import read_keys
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule


def main():
    nm = NHIModule(
        target_spec=dict(
            user_name=dict(type="str", required=True),
            store=_vault.store_spec(),
            include_last_used=dict(type="bool", default=True),
        ),
        connection_specs=(_aws.argument_spec(), _vault.argument_spec()),
        validate=lambda t: _vault.check_store(t["store"]) if t.get("store") else None,
        default_identity=lambda t: t["user_name"],
    )
    try:
        aws = _aws.client(nm.params, pool_size=nm.params["workers"])
        aws.iam  # noqa: B018 - build the shared client before the workers start
        vault = _vault.client(nm.params, pool_size=nm.params["workers"]) if any(
            t.get("store") for t in nm.targets) else None
    except NHIError as exc:
        nm.fail_connect(exc)

    def one(t):
        exists, keys = read_keys(aws, t["user_name"], t["include_last_used"])
        result = {"identity": t["identity"], "user_name": t["user_name"], "user_exists": exists, "access_keys": keys}
        if t.get("store"):
            meta = vault.kv_metadata(t["store"].get("mount") or "secret", t["store"]["path"]) or {}
            custom = meta.get("custom_metadata") or {}
            stored = custom.get("access_key_id")
            result["stored_key_id"] = stored
            result["stored_version"] = meta.get("current_version")
            for key in keys:
                key["stored"] = key["access_key_id"] == stored
        return result

    nm.exit(nm.run(one))


if __name__ == "__main__":
    main()

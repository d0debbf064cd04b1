#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_approle_info
short_description: Read Vault AppRoles and the ages of their secret_ids, without secrets
version_added: 0.1.0
description:
  - Reads one AppRole by name, or every AppRole under a mount, with its configuration, its role_id and the
    accessors of its secret_ids with their creation time, age, expiry and metadata.
  - Reads only. Never returns a secret_id; Vault's accessor endpoints do not know them.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers. Listing every
    role under a mount reads the roles on the same pool.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.vault
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: The module only reads, so it runs unchanged in check mode.
  diff_mode:
    support: none
    description: The module changes nothing, so there is nothing to diff.
options:
  role_name:
    description: The AppRole to read. When omitted, every AppRole under I(mount) is read.
    type: str
  mount:
    description: The mount path of the AppRole auth method.
    type: str
    default: approle
  include_secret_ids:
    description: Read each secret_id accessor (one call each) for its creation time, expiry and metadata.
    type: bool
    default: true
notes:
  - Needs C(read) and C(list) on C(auth/<mount>/role/*) and C(update) on
    C(auth/<mount>/role/*/secret-id-accessor/lookup) (Vault's lookup of an accessor is a POST).
seealso:
  - module: nhi.lifecycle.vault_approle
  - module: nhi.lifecycle.vault_token
"""

EXAMPLES = r"""
- name: Read one AppRole and its secret_ids
  nhi.lifecycle.vault_approle_info:
    role_name: etl-loader
  register: etl

- name: Every AppRole under the default mount, without reading each secret_id
  nhi.lifecycle.vault_approle_info:
    include_secret_ids: false
  register: all_roles

- name: Fail when a secret_id is older than 90 days
  ansible.builtin.assert:
    that: etl.roles | map(attribute='secret_ids') | flatten | selectattr('age_days', 'gt', 90) | list | length == 0
"""

RETURN = r"""
exists:
  description: Whether the named role exists (when I(role_name) is given).
  returned: when role_name is given
  type: bool
  sample: true
roles:
  description: The roles read, sorted by name. Empty when the named role does not exist.
  returned: success
  type: list
  elements: dict
  contains:
    role_name:
      description: The role's name.
      returned: always
      type: str
      sample: etl-loader
    mount:
      description: The AppRole mount.
      returned: always
      type: str
      sample: approle
    role_id:
      description: The role_id, an identifier (not a secret).
      returned: always
      type: str
      sample: 0bd6bf1e-5f2a-c8a1-3c8c-8b9d1d6d3f0a
    config:
      description: The role's configuration as Vault returns it (TTLs in seconds).
      returned: always
      type: dict
      sample: {"token_policies": ["etl-read"], "token_ttl": 3600, "secret_id_ttl": 0, "bind_secret_id": true}
    secret_id_count:
      description: How many secret_ids the role has.
      returned: always
      type: int
      sample: 1
    secret_ids:
      description: The role's secret_ids by accessor, oldest first. Only accessors when I(include_secret_ids=false).
      returned: always
      type: list
      elements: dict
      sample: [{"secret_id_accessor": "84896a0c-1347-aa90-a4f6-aca8b7558780",
                "created": "2026-11-20T10:00:00.000Z", "age_days": 3.4, "expires": null, "expired": false,
                "num_uses": 0, "metadata": {"nhi_identity": "etl-loader"}}]
  sample: [{"role_name": "etl-loader", "mount": "approle", "secret_id_count": 1}]
evidence:
  description: One C(read) entry per named role (none when listing a whole mount). Never holds secret material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "etl-loader", "step": "read", "system": "vault", "action": "approle:read-role",
            "outcome": "unchanged"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "etl-loader", "exists": true, "roles": []}]
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

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._batch import run_batch
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, age_days, iso, parse_time, utcnow
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder


def secret_id_view(accessor, info, now):
    """One secret_id as returned: times, age, expiry and metadata; never the secret_id."""
    if info is None:
        return {"secret_id_accessor": accessor}
    created = info.get("creation_time")
    expires = info.get("expiration_time")
    if expires and str(expires).startswith("0001-01-01"):
        expires = None
    return {
        "secret_id_accessor": accessor,
        "created": iso(parse_time(created)) if created else None,
        "age_days": age_days(created, now) if created else None,
        "expires": iso(parse_time(expires)) if expires else None,
        "expired": _vault.secret_id_expired(info, now),
        "num_uses": info.get("secret_id_num_uses"),
        "cidr_list": info.get("cidr_list") or [],
        "metadata": info.get("metadata") or {},
    }


class Reader(object):
    def __init__(self, nm, vault):
        self.nm = nm
        self.vault = vault

    def read_role(self, mount, name, include_secret_ids, now):
        config = _vault.approle_read_role(self.vault, mount, name)
        if config is None:
            return None
        accessors = _vault.approle_list_accessors(self.vault, mount, name)
        secret_ids = []
        for accessor in accessors:
            info = _vault.approle_read_accessor(self.vault, mount, name, accessor) if include_secret_ids else None
            if include_secret_ids and info is None:
                continue  # destroyed between the list and the read
            secret_ids.append(secret_id_view(accessor, info, now))
        secret_ids.sort(key=lambda s: (s.get("created") or "", s["secret_id_accessor"]))
        return {"role_name": name, "mount": mount, "role_id": _vault.approle_role_id(self.vault, mount, name),
                "config": config, "secret_id_count": len(accessors), "secret_ids": secret_ids}

    def process(self, t):
        mount, name = t["mount"], t.get("role_name")
        now = utcnow()
        result = {"identity": t.get("identity"), "changed": False}
        if name:
            rec = Recorder(t, check_mode=False)
            try:
                with rec.step("read", "vault", "approle:read-role", "vault:auth/%s/role/%s" % (mount, name)) as st:
                    st.outcome = "unchanged"
                    role = self.read_role(mount, name, t["include_secret_ids"], now)
                    st.details["exists"] = role is not None
                    if role:
                        st.details["secret_id_count"] = role["secret_id_count"]
                        ages = [s["age_days"] for s in role["secret_ids"] if s.get("age_days") is not None]
                        if ages:
                            st.details["credential_age_days"] = max(ages)
            except NHIError as exc:
                result.update(failed=True, msg=str(exc))
                role = None
            result.update(exists=role is not None, roles=[role] if role else [], _evidence=rec.entries)
            return result
        names = _vault.approle_list_roles(self.vault, mount)
        reads = run_batch([{"role_name": n} for n in names],
                          lambda item: {"role": self.read_role(mount, item["role_name"], t["include_secret_ids"], now)},
                          workers=self.nm.params["workers"], label="approle roles")
        failed = [r for r in reads if r.get("failed")]
        if failed:
            raise NHIError("reading %d of %d AppRoles failed: %s" % (len(failed), len(names), failed[0].get("msg")),
                           where="vault auth/%s/role" % mount)
        result["roles"] = sorted((r["role"] for r in reads if r.get("role")), key=lambda r: r["role_name"])
        return result


def _validate(target):
    mount = target["mount"]
    if not mount or mount.startswith("/") or ".." in mount.split("/") or "//" in mount:
        raise NHIError("malformed auth mount %r" % mount, where="mount", hint="use a path such as approle")


def main():
    nm = NHIModule(
        target_spec=dict(
            role_name=dict(type="str"),
            mount=dict(type="str", default="approle"),
            include_secret_ids=dict(type="bool", default=True, no_log=False),
        ),
        connection_specs=(_vault.argument_spec(),),
        validate=_validate,
        default_identity=lambda t: t.get("role_name"),
    )
    try:
        vault = _vault.client(nm.params, pool_size=nm.params["workers"])
    except NHIError as exc:
        nm.fail_connect(exc)
    reader = Reader(nm, vault)
    nm.exit(nm.run(reader.process))


if __name__ == "__main__":
    main()

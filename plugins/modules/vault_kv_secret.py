#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_kv_secret
short_description: Write, soft-delete and destroy Vault KV v2 secrets, idempotently and without echoing values
version_added: 0.1.0
description:
  - Manages one secret in a KV v2 mount of Vault or OpenBao, its custom metadata and its I(max_versions).
  - The current data is read and compared first; when it already equals I(data), nothing is written and no
    new version is made. Writes use check-and-set, by default against the version that was read and compared,
    so that a concurrent writer makes the task fail instead of being overwritten.
  - Values never appear in the task result, the diff or the evidence. The diff shows the secret's keys, and
    marks the ones whose value changes.
  - To mint a credential and store it, use the module that mints it (for example M(nhi.lifecycle.vault_approle)
    or M(nhi.lifecycle.vault_token)), so that the credential never passes through a task variable.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
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
    description: Reads and compares, and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: Shows keys (never values), custom metadata, I(max_versions) and the current version.
options:
  path:
    description:
      - The secret's path under I(mount).
      - Required, here or in each item of I(targets).
    type: str
  mount:
    description: The KV v2 mount.
    type: str
    default: secret
  state:
    description:
      - C(present) makes the latest version hold exactly I(data) (when given) and sets I(custom_metadata) and
        I(max_versions) (when given).
      - C(absent) soft-deletes the latest version, as C(vault kv delete) does; it can be undeleted.
      - C(destroyed) permanently destroys the versions in I(versions), or, without I(versions), deletes the
        metadata and every version of the secret.
    type: str
    choices: [present, absent, destroyed]
    default: present
  data:
    description:
      - The secret's key/value pairs; the whole secret, not a patch. When omitted, only the metadata is managed.
      - Every value is treated as secret. Short values (such as C(1) or C(true)) are masked wherever they occur
        in the task output, which is how Ansible protects C(no_log) values.
    type: dict
  custom_metadata:
    description:
      - The secret's custom metadata, replacing what is there; values are stored as strings. Never put secret
        material here, because anyone with metadata access can read it. Left as it is when omitted.
    type: dict
  max_versions:
    description: How many versions to keep; C(0) means the mount's setting. Left as it is when omitted.
    type: int
  cas:
    description:
      - The version the write must replace (C(0) means the secret must not exist yet). When omitted, the write
        is checked against the version that was read and compared.
    type: int
  versions:
    description: With I(state=destroyed), the versions to destroy permanently; the metadata and other versions stay.
    type: list
    elements: int
  targets:
    description:
      - Each item takes the per-target options above. Unset item options take the top-level value, then the
        default. I(data) of every item is protected like the top-level I(data).
    suboptions:
      path:
        description: See I(path).
        type: str
      mount:
        description: See I(mount).
        type: str
      state:
        description: See I(state).
        type: str
        choices: [present, absent, destroyed]
      data:
        description: See I(data).
        type: dict
      custom_metadata:
        description: See I(custom_metadata).
        type: dict
      max_versions:
        description: See I(max_versions).
        type: int
      cas:
        description: See I(cas).
        type: int
      versions:
        description: See I(versions).
        type: list
        elements: int
      identity:
        description: See I(identity).
        type: str
      event:
        description: See I(event).
        type: str
        choices: [provision, rotate, offboard, reconcile, adhoc]
      decision:
        description: See I(decision).
        type: dict
      authority:
        description: See I(authority).
        type: str
notes:
  - Needs C(read), C(create) and C(update) on C(<mount>/data/<path>) and C(read) and C(update) on
    C(<mount>/metadata/<path>); C(update) on C(<mount>/delete/<path>) for I(state=absent); C(update) on
    C(<mount>/destroy/<path>) or C(delete) on C(<mount>/metadata/<path>) for I(state=destroyed).
  - In the batch form every item's I(data) is protected like the top-level option.
seealso:
  - module: nhi.lifecycle.vault_kv_secret_info
  - plugin: nhi.lifecycle.vault_kv
    plugin_type: lookup
  - name: KV v2 secrets engine API
    description: The API this module uses.
    link: https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2
"""

EXAMPLES = r"""
- name: A database password for an application, with ownership in the custom metadata
  nhi.lifecycle.vault_kv_secret:
    path: apps/billing/db
    data:
      username: billing
      password: "{{ billing_db_password }}"
    custom_metadata:
      owner: team-billing
    max_versions: 5
  no_log: true

- name: Only tag a secret, leaving its data alone
  nhi.lifecycle.vault_kv_secret:
    path: apps/billing/db
    custom_metadata: {owner: team-billing, reviewed: "2026-11"}

- name: Soft-delete the latest version
  nhi.lifecycle.vault_kv_secret:
    path: apps/billing/db
    state: absent

- name: Destroy two old versions permanently
  nhi.lifecycle.vault_kv_secret:
    path: apps/billing/db
    state: destroyed
    versions: [1, 2]

- name: Delete the secret with all its versions and metadata
  nhi.lifecycle.vault_kv_secret:
    path: apps/billing/db
    state: destroyed
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form); defaults to C(<mount>/<path>).
  returned: always
  type: str
  sample: secret/apps/billing/db
mount:
  description: The KV v2 mount.
  returned: always
  type: str
  sample: secret
path:
  description: The secret's path.
  returned: always
  type: str
  sample: apps/billing/db
action:
  description: What was done, C(created), C(updated), C(metadata) (only metadata changed), C(deleted),
    C(destroyed) or C(unchanged). In check mode, what would be done.
  returned: success
  type: str
  sample: updated
version:
  description: The current version afterwards (C(null) when the secret does not exist).
  returned: success
  type: int
  sample: 4
data_keys:
  description:
    - The keys of the latest version afterwards (never the values).
    - C(null) when the latest version is deleted, or when it was not read (I(state=present) without I(data),
      outside diff mode).
  returned: success
  type: list
  elements: str
  sample: [password, username]
custom_metadata:
  description: The custom metadata afterwards.
  returned: success
  type: dict
  sample: {"owner": "team-billing"}
max_versions:
  description: The I(max_versions) setting afterwards.
  returned: success
  type: int
  sample: 5
evidence:
  description: One entry per step, see the evidence guide. Never holds secret material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "secret/apps/billing/db", "step": "store", "system": "vault", "action": "kv2:write(cas=3)",
            "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "secret/apps/billing/db", "changed": true, "action": "updated"}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 2, "changed": 1, "failed": 0}
failed_identities:
  description: The identities whose target failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, kv_version_deleted
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import (
    NHIModule,
    Recorder,
    _strip_required,
    common_target_spec,
)

HIDDEN = "<hidden>"
CHANGED = "<hidden, changed>"


# --- pure helpers (unit-tested) ------------------------------------------------

def masked(data):
    """``{key: "<hidden>"}``: what a diff may show of a secret's data."""
    return None if data is None else {key: HIDDEN for key in sorted(data)}


def masked_after(before, after):
    """The keys of ``after``, each marked hidden, or hidden-and-changed when its value differs from ``before``."""
    if after is None:
        return None
    before = before or {}
    return {key: HIDDEN if key in before and before[key] == after[key] else CHANGED for key in sorted(after)}


def metadata_strings(custom_metadata):
    """Custom metadata as Vault stores it: string values."""
    return {str(k): "" if v is None else str(v) for k, v in (custom_metadata or {}).items()}


def leaves(value):
    """Every string leaf of a (nested) value."""
    if isinstance(value, dict):
        for item in value.values():
            yield from leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from leaves(item)
    elif isinstance(value, str):
        yield value


def latest_state(metadata):
    """``(current_version, live)`` from full metadata; live is False when the latest is deleted or destroyed."""
    if not metadata:
        return None, False
    current = metadata.get("current_version") or 0
    if not current:
        return 0, False
    version = (metadata.get("versions") or {}).get(str(current)) or {}
    return current, bool(version) and not kv_version_deleted(version)


class KVSecrets(object):
    def __init__(self, nm, vault):
        self.nm = nm
        self.vault = vault

    def process(self, t):
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "mount": t["mount"], "path": t["path"], "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            # Steps before the failure may have changed something already.
            result.update(failed=True, msg=str(exc),
                          changed=any(e["outcome"] == "changed" for e in rec.entries))
        result["_evidence"] = rec.entries
        return result

    def _process(self, t, rec, result):
        mount, path = t["mount"], t["path"]
        where = "vault:%s/%s" % (mount, path)
        with rec.step("read", "vault", "kv2:read-metadata", where) as st:
            st.outcome = "unchanged"
            metadata = self.vault.kv_metadata(mount, path)
            version, live = latest_state(metadata)
            current = None
            if live and (t["state"] == "present" and t.get("data") is not None or self.nm.diff_mode):
                current, _meta = self.vault.kv_read(mount, path)
                for leaf in leaves(current):
                    if len(leaf) >= 8:
                        self.nm.secrets.add(leaf)
            st.details.update({"exists": metadata is not None, "kv_version": version})
        have_cm = metadata_strings((metadata or {}).get("custom_metadata"))
        have_max = (metadata or {}).get("max_versions") if metadata else None
        before = {"keys": masked(current), "custom_metadata": have_cm if metadata else None,
                  "max_versions": have_max, "version": version}
        after = dict(before)
        state = t["state"]
        action = "unchanged"
        if state == "present":
            action = self._present(t, rec, where, metadata, version, live, current, have_cm, have_max, after)
        elif state == "absent":
            if live:
                with rec.step("destroy_stored", "vault", "kv2:delete", where, details={"kv_version": version}):
                    if not self.nm.check_mode:
                        self.vault.kv_delete_latest(mount, path)
                action = "deleted"
                after["keys"] = None
        else:
            action = self._destroy(t, rec, where, metadata, after)
        result["changed"] = action != "unchanged"
        result["action"] = action
        result["version"] = after["version"]
        result["data_keys"] = sorted(after["keys"]) if after["keys"] is not None else None
        result["custom_metadata"] = after["custom_metadata"]
        result["max_versions"] = after["max_versions"]
        if self.nm.diff_mode:
            header = "vault kv %s/%s" % (mount, path)
            result["diff"] = {"before": before, "after": after, "before_header": header, "after_header": header}

    def _present(self, t, rec, where, metadata, version, live, current, have_cm, have_max, after):
        mount, path = t["mount"], t["path"]
        action = "unchanged"
        data = t.get("data")
        if data is not None and (not live or current != data):
            cas = t["cas"] if t.get("cas") is not None else (version or 0)
            with rec.step("store", "vault", "kv2:write(cas=%s)" % cas, where,
                          details={"cas": cas, "keys": sorted(data)}) as st:
                if not self.nm.check_mode:
                    new_version = self.vault.kv_write(mount, path, data, cas=cas)
                    st.details["kv_version"] = new_version
                    after["version"] = new_version
            after["keys"] = masked_after(current, data)
            action = "created" if metadata is None or not live else "updated"
        fields = {}
        if t.get("custom_metadata") is not None:
            want_cm = metadata_strings(t["custom_metadata"])
            if want_cm != have_cm or metadata is None:
                fields["custom_metadata"] = want_cm
                after["custom_metadata"] = want_cm
        if t.get("max_versions") is not None and t["max_versions"] != have_max:
            fields["max_versions"] = t["max_versions"]
            after["max_versions"] = t["max_versions"]
        if fields:
            with rec.step("store", "vault", "kv2:write-metadata", where, details={"fields": sorted(fields)}):
                if not self.nm.check_mode:
                    _vault.kv_patch_metadata(self.vault, mount, path, fields)
            if action == "unchanged":
                action = "metadata"
        return action

    def _destroy(self, t, rec, where, metadata, after):
        mount, path = t["mount"], t["path"]
        if metadata is None:
            return "unchanged"
        if t.get("versions"):
            known = metadata.get("versions") or {}
            todo = sorted(v for v in set(t["versions"]) if str(v) in known and not known[str(v)].get("destroyed"))
            if not todo:
                return "unchanged"
            with rec.step("destroy_stored", "vault", "kv2:destroy", where, details={"versions": todo}):
                if not self.nm.check_mode:
                    self.vault.kv_destroy_versions(mount, path, todo)
            if metadata.get("current_version") in todo:
                after["keys"] = None
            return "destroyed"
        with rec.step("destroy_stored", "vault", "kv2:delete-metadata", where):
            if not self.nm.check_mode:
                self.vault.kv_delete_all(mount, path)
        after.update(keys=None, custom_metadata=None, max_versions=None, version=None)
        return "destroyed"


def _validate(target):
    for label in ("mount", "path"):
        value = target[label]
        if _vault.malformed_path(value):
            raise NHIError("malformed KV %s %r" % (label, value), where=label,
                           hint="use a relative path such as apps/billing/db, without '..' or a leading '/'")
    if target.get("versions") and target["state"] != "destroyed":
        raise NHIError("versions only applies to state=destroyed", where="versions")
    if any(v < 1 for v in target.get("versions") or []):
        raise NHIError("versions are numbered from 1", where="versions")
    if target.get("cas") is not None and target["cas"] < 0:
        raise NHIError("cas cannot be negative", where="cas")
    if target.get("max_versions") is not None and target["max_versions"] < 0:
        raise NHIError("max_versions cannot be negative", where="max_versions")
    if target.get("data") is not None and target["state"] != "present":
        raise NHIError("data only applies to state=present", where="data")


def target_spec():
    return dict(
        path=dict(type="str", required=True),
        mount=dict(type="str", default="secret"),
        state=dict(type="str", default="present", choices=["present", "absent", "destroyed"]),
        data=dict(type="dict", no_log=True),
        custom_metadata=dict(type="dict"),
        max_versions=dict(type="int"),
        cas=dict(type="int"),
        versions=dict(type="list", elements="int"),
    )


def main():
    spec = target_spec()
    # Give the batch items their options, so that Ansible applies no_log to
    # targets[].data as it does to the top-level data (CVE-2019-14858 class).
    item_spec = dict(common_target_spec())
    item_spec.update(spec)
    # No defaults in the items: an unset item option takes the top-level value (then the default) in
    # NHIModule._targets. An item default here would silently override a top-level mount or state.
    item_spec = {name: {k: v for k, v in opt.items() if k != "default"} for name, opt in item_spec.items()}
    nm = NHIModule(
        target_spec=spec,
        connection_specs=(_vault.argument_spec(),),
        extra_spec=dict(targets=dict(type="list", elements="dict", options=_strip_required(item_spec))),
        validate=_validate,
        default_identity=lambda t: "%s/%s" % (t["mount"], t["path"]),
    )
    try:
        vault = _vault.client(nm.params, pool_size=nm.params["workers"])
    except NHIError as exc:
        nm.fail_connect(exc)
    secrets = KVSecrets(nm, vault)
    nm.exit(nm.run(secrets.process))


if __name__ == "__main__":
    main()

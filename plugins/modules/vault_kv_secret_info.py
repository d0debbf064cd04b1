#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_kv_secret_info
short_description: Read the metadata of Vault KV v2 secrets, never their values
version_added: 0.1.0
description:
  - Reads the metadata of a KV v2 secret in Vault or OpenBao, its versions with their creation, deletion and
    destruction, its custom metadata, I(max_versions) and its creation and update times.
  - Reads only the metadata endpoint, so it needs no access to the secret's data and never returns a value.
    To read a stored credential in a play, use the P(nhi.lifecycle.vault_kv#lookup) lookup with C(no_log).
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
  - With I(path_prefix) and neither I(path) nor I(targets), lists every secret under the prefix, recursively,
    and reads the metadata of each one that is not in I(exclude). This is how the
    C(nhi.lifecycle.reconcile) role finds stored credentials whose identity is in no catalog.
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
  path:
    description:
      - The secret's path under I(mount).
      - Required, here or in each item of I(targets), unless I(path_prefix) is given to list.
    type: str
  path_prefix:
    description:
      - List every secret under this folder of I(mount), recursively, and return their metadata in RV(secrets).
      - Only when neither I(path) nor I(targets) is given.
    type: str
  exclude:
    description:
      - In the listing form, paths (relative to I(mount), as in I(path)) whose metadata is not read.
        They are counted in RV(excluded) and not returned.
      - Pass the paths that a batch read covers already, so that no secret is read twice.
    type: list
    elements: str
    default: []
  max_keys:
    description: In the listing form, fail rather than list more than this many secrets.
    type: int
    default: 100000
  mount:
    description: The KV v2 mount.
    type: str
    default: secret
notes:
  - Needs C(read) on C(<mount>/metadata/<path>) only; the listing form also needs C(list) on
    C(<mount>/metadata/<path_prefix>/*).
seealso:
  - module: nhi.lifecycle.vault_kv_secret
  - plugin: nhi.lifecycle.vault_kv
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: When was the stored credential last written, and by which run?
  nhi.lifecycle.vault_kv_secret_info:
    path: nhi/dev/etl-loader
  register: stored

- name: Report the age of the current version
  ansible.builtin.debug:
    msg: "version {{ stored.current_version }} is {{ stored.age_days }} days old, minted by {{ stored.custom_metadata.run_id | default('?') }}"
  when: stored.exists

- name: The metadata of many secrets in one module run
  nhi.lifecycle.vault_kv_secret_info:
    targets:
      - {path: nhi/dev/etl-loader}
      - {path: nhi/dev/ci-deployer}
  register: many

- name: Every secret under nhi/dev that nhi.lifecycle wrote, with its identity
  nhi.lifecycle.vault_kv_secret_info:
    path_prefix: nhi/dev
  register: listed

- name: Show which identity each stored credential belongs to
  ansible.builtin.debug:
    msg: "{{ listed.secrets | map(attribute='custom_metadata') | map(attribute='nhi_identity', default='?') | list }}"
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form); defaults to C(<mount>/<path>).
  returned: always
  type: str
  sample: secret/nhi/dev/etl-loader
mount:
  description: The KV v2 mount.
  returned: always
  type: str
  sample: secret
path:
  description: The secret's path.
  returned: always
  type: str
  sample: nhi/dev/etl-loader
exists:
  description: Whether the secret has metadata (it may still have no live version, see RV(live)).
  returned: success
  type: bool
  sample: true
live:
  description:
    - Whether the current version can be read (it is neither deleted nor destroyed).
    - A version whose C(deletion_time) is still in the future (set by C(delete_version_after)) is live until then.
  returned: success
  type: bool
  sample: true
current_version:
  description: The current version (C(null) when the secret does not exist).
  returned: success
  type: int
  sample: 3
oldest_version:
  description: The oldest version kept.
  returned: success
  type: int
  sample: 1
created_time:
  description: When the secret was first written.
  returned: success
  type: str
  sample: "2026-11-20T10:00:00.000Z"
updated_time:
  description: When the secret or its metadata last changed.
  returned: success
  type: str
  sample: "2026-11-23T19:27:03.123Z"
age_days:
  description: The age in days of the current version.
  returned: success
  type: float
  sample: 3.4
custom_metadata:
  description: The custom metadata (never secret by the collection's contract).
  returned: success
  type: dict
  sample: {"nhi_identity": "etl-loader", "kind": "vault_approle", "secret_id_accessor": "84896a0c-1347-aa90-a4f6-aca8b7558780"}
max_versions:
  description: How many versions are kept (C(0) is the mount's setting).
  returned: success
  type: int
  sample: 0
cas_required:
  description: Whether every write must use check-and-set.
  returned: success
  type: bool
  sample: false
delete_version_after:
  description: After how long versions are soft-deleted (C(0s) is never).
  returned: success
  type: str
  sample: 0s
versions:
  description:
    - Every version kept, oldest first, with its times and state (never its data).
    - C(deletion_time) is when the version was, or will be, soft-deleted (C(null) when never).
  returned: success
  type: list
  elements: dict
  sample: [{"version": 3, "created_time": "2026-11-23T19:27:03.123Z", "deletion_time": null, "destroyed": false}]
secrets:
  description:
    - The secrets under I(path_prefix), each with I(mount), I(path) and the metadata keys above (listing form).
    - Sorted by path. Excluded paths are left out.
  returned: when path_prefix is given without path or targets
  type: list
  elements: dict
  sample: [{"mount": "secret", "path": "nhi/dev/old-loader", "exists": true, "live": true,
            "custom_metadata": {"nhi_identity": "old-loader", "kind": "aws_iam_user"}}]
listed:
  description: How many secrets were found under I(path_prefix), excluded ones included (listing form).
  returned: when path_prefix is given without path or targets
  type: int
  sample: 42
excluded:
  description: How many of them were in I(exclude), so not read (listing form).
  returned: when path_prefix is given without path or targets
  type: int
  sample: 40
evidence:
  description: Always empty; this module changes and proves nothing.
  returned: always
  type: list
  elements: dict
  sample: []
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "secret/nhi/dev/etl-loader", "exists": true, "current_version": 3}]
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
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, age_days, iso, kv_version_deleted, parse_time
from ansible_collections.nhi.lifecycle.plugins.module_utils._batch import run_batch
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule


def _time(value):
    if not value or str(value).startswith("0001-01-01"):
        return None
    return iso(parse_time(value))


def metadata_view(metadata):
    """The metadata as returned: times normalised, versions as a sorted list, and nothing else."""
    if not metadata:
        return {"exists": False, "live": False, "current_version": None, "oldest_version": None,
                "created_time": None, "updated_time": None, "age_days": None, "custom_metadata": {},
                "max_versions": None, "cas_required": None, "delete_version_after": None, "versions": []}
    versions = []
    for number, info in sorted((metadata.get("versions") or {}).items(), key=lambda kv: int(kv[0])):
        versions.append({"version": int(number), "created_time": _time(info.get("created_time")),
                         "deletion_time": _time(info.get("deletion_time")),
                         "destroyed": bool(info.get("destroyed"))})
    current = metadata.get("current_version") or None
    latest = next((v for v in versions if v["version"] == current), None)
    live = bool(latest) and not kv_version_deleted(latest)
    return {
        "exists": True,
        "live": live,
        "current_version": current,
        "oldest_version": metadata.get("oldest_version"),
        "created_time": _time(metadata.get("created_time")),
        "updated_time": _time(metadata.get("updated_time")),
        "age_days": age_days(latest["created_time"]) if latest and latest["created_time"] else None,
        "custom_metadata": dict(metadata.get("custom_metadata") or {}),
        "max_versions": metadata.get("max_versions"),
        "cas_required": metadata.get("cas_required"),
        "delete_version_after": metadata.get("delete_version_after"),
        "versions": versions,
    }


def _process(vault, t):
    result = {"identity": t["identity"], "mount": t["mount"], "path": t["path"], "changed": False}
    result.update(metadata_view(vault.kv_metadata(t["mount"], t["path"])))
    return result


def _check(label, value):
    # The rule vault_kv_secret and the catalog use: '.' segments would be
    # resolved away by requests, and another secret's metadata read.
    if _vault.malformed_path(value):
        raise NHIError("malformed KV %s %r" % (label, value), where=label,
                       hint="use a relative path such as nhi/dev/etl-loader, without '..' or a leading '/'")


class InfoModule(NHIModule):
    """Targets need a path, except in the listing form (path_prefix alone)."""

    def listing(self):
        return not self.batch and not self.params.get("path") and bool(self.params.get("path_prefix"))

    def validate_target(self, target):
        if self.listing():
            return
        if not target.get("path"):
            raise NHIError("path is required", where="path",
                           hint="give path (here or in each item of targets), or path_prefix alone to list")
        for label in ("mount", "path"):
            _check(label, target[label])


def _list(nm, vault):
    """The listing form: every secret under path_prefix, with its metadata unless excluded."""
    mount, prefix = nm.params["mount"], nm.params["path_prefix"]
    try:
        _check("mount", mount)
        _check("path_prefix", prefix)
        paths = vault.kv_walk(mount, prefix.strip("/"), max_keys=nm.params["max_keys"])
    except NHIError as exc:
        nm.module.fail_json(msg=str(exc), where=exc.where, hint=exc.hint)
    exclude = set(p.strip("/") for p in nm.params["exclude"] or [])
    wanted = [{"identity": "%s/%s" % (mount, p), "mount": mount, "path": p} for p in paths if p not in exclude]
    results = run_batch(wanted, lambda t: _process(vault, t), workers=nm.params["workers"], label="kv listing")
    failed = [r for r in results if r.get("failed")]
    if failed:
        nm.module.fail_json(msg="reading the metadata of %d of %d listed secrets failed: %s" % (
            len(failed), len(results), "; ".join("%s: %s" % (r["identity"], r.get("msg")) for r in failed[:5])))
    secrets = [dict((k, v) for k, v in r.items() if k not in ("identity", "changed", "failed")) for r in results]
    nm.module.exit_json(changed=False, secrets=secrets, listed=len(paths), excluded=len(paths) - len(wanted),
                        evidence=[])


def main():
    nm = InfoModule(
        target_spec=dict(
            path=dict(type="str"),
            mount=dict(type="str", default="secret"),
        ),
        connection_specs=(_vault.argument_spec(),),
        extra_spec=dict(
            path_prefix=dict(type="str"),
            exclude=dict(type="list", elements="str", default=[]),
            max_keys=dict(type="int", default=100000, no_log=False),
        ),
        default_identity=lambda t: "%s/%s" % (t["mount"], t.get("path")),
    )
    try:
        vault = _vault.client(nm.params, pool_size=nm.params["workers"])
    except NHIError as exc:
        nm.fail_connect(exc)
    if nm.listing():
        _list(nm, vault)
    nm.exit(nm.run(lambda t: _process(vault, t)))


if __name__ == "__main__":
    main()

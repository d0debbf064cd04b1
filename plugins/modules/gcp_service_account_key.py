#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gcp_service_account_key
short_description: Mint, rotate, disable and delete GCP service-account keys, storing them straight in Vault
version_added: 0.1.0
description:
  - Manages the user-managed keys of GCP service accounts whose key file lives in a Vault KV v2 secret.
  - A minted key file goes from the IAM response straight into the store with check-and-set. The private key
    never appears in the task result, the diff, the evidence or the log.
  - I(state=rotated) runs the ordered rotation mint, store, prove the new key works, disable the old key,
    delete it, prove the old key is rejected, destroy the old stored version. It respects the GCP limit of
    10 user-managed keys per account (a disabled key counts) and never deletes the only working key.
  - A proof is the real OAuth 2.0 JWT-bearer token exchange that google-auth performs with the key file.
  - A rotation interrupted at any step is finished on the next run, from the real state of IAM and the
    store. A key that was minted but could not be stored is deleted at once.
  - Only user-managed keys are touched; the keys Google manages for the account are never listed or changed.
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
    description: Reports what would change; mints, stores, disables and deletes nothing.
  diff_mode:
    support: full
    description: Shows the account's user-managed keys (ids, state and age only) and the stored key id before and after.
options:
  project:
    description: The project of the service account. Defaults to I(gcp_project).
    type: str
  account_id:
    description:
      - The service account, as its account id (C(ci-deployer)) or its full email.
      - Required, here or in each item of I(targets).
    type: str
  state:
    description:
      - C(present) makes sure the account has exactly one working user-managed key and that it is stored;
        mints one if not.
      - C(rotated) rotates the key when it is older than I(max_age_days), when I(force=true), or when the
        stored key no longer exists or is disabled; otherwise it only finishes an interrupted rotation.
      - C(disabled) disables every user-managed key of the account (a suspended identity) and proves the
        stored key is rejected. The stored copy is kept.
      - C(absent) disables and deletes every user-managed key, proves the stored key is rejected, then deletes
        the stored copy with all its versions.
    type: str
    choices: [present, rotated, disabled, absent]
    default: present
  store:
    description:
      - The KV v2 secret that holds the key file (field C(private_key_json), the JSON key file as text, plus
        non-secret C(key_id), C(client_email), C(project), C(account_id), C(identity), C(minted_at) and
        C(run_id)). Its custom metadata repeats the non-secret fields so that readers need no access to the
        secret itself.
      - Required unless I(state=disabled).
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
  max_age_days:
    description: With I(state=rotated), rotate keys older than this.
    type: int
    default: 90
  force:
    description: With I(state=rotated), rotate even when the key is younger than I(max_age_days).
    type: bool
    default: false
  overlap_hours:
    description:
      - Keep the old key enabled this long after the new key is stored, for consumers that read the store
        on a schedule. The old key is disabled, deleted and proven rejected by the first run after that.
    type: int
    default: 0
  prove:
    description: Prove new keys with the token exchange and prove removed keys are rejected.
    type: bool
    default: true
  proof_deadline:
    description:
      - Seconds to keep trying a proof. GCP is eventually consistent; a new key can take a minute or more
        to be accepted everywhere, and a deleted one as long to be refused.
    type: float
    default: 120
notes:
  - Needs C(iam.serviceAccountKeys.list), C(iam.serviceAccountKeys.create), C(iam.serviceAccountKeys.disable),
    C(iam.serviceAccountKeys.delete) on the project (C(roles/iam.serviceAccountKeyAdmin)) and the Vault
    capabilities in C(docs/permissions/).
  - Organisations that enforce C(iam.disableServiceAccountKeyCreation) refuse every mint; use workload identity
    federation for those accounts instead.
  - The GCP IAM stand-in used by the tests (C(tests/backends/gcp_iam.py)) behaves like GCP for everything this
    module does, including the real RS256 token exchange.
seealso:
  - module: nhi.lifecycle.gcp_service_account_key_info
  - module: nhi.lifecycle.gcp_service_account
  - name: Service account keys (GCP documentation)
    description: Creating, disabling and deleting service-account keys, and the 10-key limit.
    link: https://cloud.google.com/iam/docs/keys-create-delete
"""

EXAMPLES = r"""
- name: Give a service account a key, stored in Vault
  nhi.lifecycle.gcp_service_account_key:
    project: my-project
    account_id: ci-deployer
    store:
      mount: secret
      path: nhi/dev/ci-deployer

- name: Rotate when older than 30 days; prove old and new
  nhi.lifecycle.gcp_service_account_key:
    project: my-project
    account_id: ci-deployer
    state: rotated
    max_age_days: 30
    store: {path: nhi/dev/ci-deployer}

- name: Rotate a whole batch in one module run
  nhi.lifecycle.gcp_service_account_key:
    project: my-project
    state: rotated
    force: true
    workers: 16
    targets:
      - {identity: ci-deployer, account_id: ci-deployer, store: {path: nhi/dev/ci-deployer}}
      - {identity: etl-loader, account_id: etl-loader, store: {path: nhi/dev/etl-loader}}
  register: rotation

- name: Offboard - revoke every key and the stored copy
  nhi.lifecycle.gcp_service_account_key:
    project: my-project
    account_id: ci-deployer
    state: absent
    store: {path: nhi/dev/ci-deployer}
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: ci-deployer
project:
  description: The project of the service account.
  returned: always
  type: str
  sample: my-project
account_email:
  description: The email of the service account.
  returned: always
  type: str
  sample: ci-deployer@my-project.iam.gserviceaccount.com
action:
  description: What was done, C(minted), C(rotated), C(resumed), C(unchanged), C(disabled) or C(deleted).
  returned: success
  type: str
  sample: rotated
key_id:
  description: The id of the key that is stored and working afterwards (never the key itself).
  returned: success
  type: str
  sample: 3f1b2c9d4e5f60718293a4b5c6d7e8f901234567
account_keys:
  description: The account's user-managed keys afterwards, without key material.
  returned: success
  type: list
  elements: dict
  sample: [{"key_id": "3f1b2c9d4e5f60718293a4b5c6d7e8f901234567", "disabled": false,
            "created": "2026-11-23T19:00:00Z", "age_days": 0.1, "key_type": "USER_MANAGED"}]
stored:
  description: Where the key file is stored and at which KV version.
  returned: success
  type: dict
  sample: {"mount": "secret", "path": "nhi/dev/ci-deployer", "version": 3}
evidence:
  description: One entry per step, see the evidence guide. Never holds key material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "mint", "system": "gcp_iam",
            "action": "iam.serviceAccountKeys.create", "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "changed": true, "action": "rotated"}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 2, "changed": 2, "failed": 0}
failed_identities:
  description: The identities whose target failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

import json

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    NHIError,
    NotFound,
    age_days,
    iso,
    parse_time,
    poll,
    utcnow,
)
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

PROOF_METHOD = "oauth2:jwt-bearer"


def _created(key):
    return key.get("validAfterTime") or ""


class AccountKeys(object):
    def __init__(self, nm, gcp, vault):
        self.nm = nm
        self.gcp = gcp
        self.vault = vault

    # --- IAM reads/writes ------------------------------------------------
    def list_keys(self, t):
        try:
            return self.gcp.list_keys(t["project"], t["account_id"])
        except NotFound:
            raise NotFound("service account %s does not exist" % _gcp.account_email(t["account_id"], t["project"]),
                           where="account_id", hint="create it first (nhi.lifecycle.gcp_service_account) or fix "
                                                    "the catalog")

    def disable(self, rec, t, key, step="deactivate_old"):
        key_id = _gcp.key_id_of(key["name"])
        with rec.step(step, "gcp_iam", "iam.serviceAccountKeys.disable", key["name"], details={"key_id": key_id}) as st:
            if not self.nm.check_mode:
                try:
                    self.gcp.set_key_enabled(t["project"], key["name"], False)
                except NHIError as exc:
                    if exc.status != 404:
                        raise
                    st.outcome = "unchanged"

    def delete(self, rec, t, key):
        key_id = _gcp.key_id_of(key["name"])
        with rec.step("delete_old", "gcp_iam", "iam.serviceAccountKeys.delete", key["name"],
                      details={"key_id": key_id}) as st:
            if not self.nm.check_mode:
                if not self.gcp.delete_key(t["project"], key["name"]):
                    st.outcome = "unchanged"

    # --- proofs ----------------------------------------------------------
    def prove(self, rec, t, step, key_id, info, expect):
        with rec.step(step, "gcp_oauth", PROOF_METHOD, "key/%s" % key_id, details={"key_id": key_id}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return None
            accepted, detail = poll(lambda: self.gcp.prove_key(info), expect, t["proof_deadline"])
            st.verified = verdict(PROOF_METHOD, expect, accepted, detail)
            st.outcome = "unchanged"
            if st.verified["ok"] is not True:
                raise NHIError("key %s was %s but should have been %s" % (key_id, st.verified["result"], expect),
                               where="identity %s" % t["identity"],
                               hint="nothing further was changed for this identity; run again to resume")
            return accepted

    def prove_absent(self, rec, t, key_id):
        """Without the key file (an untracked key), prove the key no longer exists."""
        with rec.step("prove_old_rejected", "gcp_iam", "iam.serviceAccountKeys.list", "key/%s" % key_id,
                      details={"key_id": key_id}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return
            try:
                remaining = [_gcp.key_id_of(k["name"]) for k in self.list_keys(t)]
            except NotFound:
                remaining = []
            gone = key_id not in remaining
            st.verified = {"method": "iam.serviceAccountKeys.list", "expect": "rejected",
                           "result": "rejected" if gone else "accepted", "ok": gone,
                           "detail": "key no longer exists" if gone else "key still listed"}
            st.outcome = "unchanged"
            if not gone:
                raise NHIError("key %s still exists after deletion" % key_id, where="identity %s" % t["identity"])

    # --- the store -------------------------------------------------------
    def read_store(self, t):
        store = t["store"]
        data, meta = self.vault.kv_read(store.get("mount") or "secret", store["path"])
        info = self._info(data)
        return data, meta, info

    def _info(self, data):
        """Parse a stored key file; remember its secret parts before anything else."""
        text = (data or {}).get("private_key_json")
        if not text:
            return None
        try:
            info = json.loads(text)
        except ValueError:
            self.nm.secrets.add(text)
            return None
        self._remember(info)
        return info

    def _remember(self, info):
        if isinstance(info, dict):
            self.nm.secrets.add(info.get("private_key"))
            self.nm.secrets.add(json.dumps(info, separators=(",", ":"), sort_keys=True))

    def mint_and_store(self, rec, t, cas):
        """Create a key and write its key file straight into the store; roll back if that fails."""
        project, store = t["project"], t["store"]
        email = _gcp.account_email(t["account_id"], project)
        key_name = None
        with rec.step("mint", "gcp_iam", "iam.serviceAccountKeys.create", "serviceAccount/%s" % email) as st:
            if self.nm.check_mode:
                return None
            created = self.gcp.create_key(project, t["account_id"])
            key_name = created.get("name")
            data_b64 = created.pop("privateKeyData", None)
            self.nm.secrets.add(data_b64)
            del created
            key_id = _gcp.key_id_of(key_name)
            st.details["key_id"] = key_id
            st.target = key_name
        try:
            text, info = _gcp.parse_key_file(data_b64 or "")
            self._remember(info)
            if info.get("private_key_id") != key_id or info.get("client_email") != email:
                raise NHIError("GCP returned a key file for %s/%s instead of %s/%s"
                               % (info.get("client_email"), info.get("private_key_id"), email, key_id),
                               where="keys.create")
            minted_at = iso()
            data = {"private_key_json": text, "key_id": key_id, "client_email": email, "project": project,
                    "account_id": t["account_id"], "identity": t["identity"], "minted_at": minted_at,
                    "run_id": self.nm.params.get("run_id")}
            metadata = {"nhi_identity": t["identity"], "kind": "gcp_service_account_key", "key_id": key_id,
                        "client_email": email, "project": project, "minted_at": minted_at,
                        "run_id": self.nm.params.get("run_id")}
            with rec.step("store", "vault", "kv2:write(cas=%s)" % cas,
                          "vault:%s/%s" % (store.get("mount") or "secret", store["path"])) as st:
                version = _vault.store_credential(self.vault, store, data, metadata, cas)
                st.details.update({"kv_version": version, "key_id": key_id, "cas": cas})
            del data, text
        except _vault.PartiallyStored:
            raise  # the key is the stored one now: keep it
        except Exception:
            # The key exists only in this process now: delete it, so that no
            # key that nothing knows about is left behind.
            try:
                self.gcp.delete_key(project, key_name)
                rec.add("rollback", "gcp_iam", "iam.serviceAccountKeys.delete", key_name, "changed",
                        details={"key_id": key_id, "reason": "store failed"})
            except Exception as exc:  # pylint: disable=broad-except
                rec.add("rollback", "gcp_iam", "iam.serviceAccountKeys.delete", key_name, "failed",
                        error=str(_gcp.translate(exc, "rolling back key %s" % key_id)), details={"key_id": key_id})
            raise
        finally:
            data_b64 = None
        return key_id, info, version

    def destroy_versions(self, rec, t, versions):
        store = t["store"]
        mount = store.get("mount") or "secret"
        with rec.step("destroy_stored", "vault", "kv2:destroy", "vault:%s/%s" % (mount, store["path"]),
                      details={"versions": sorted(versions)}):
            if not self.nm.check_mode:
                self.vault.kv_destroy_versions(mount, store["path"], versions)

    def delete_store(self, rec, t):
        store = t["store"]
        mount = store.get("mount") or "secret"
        with rec.step("destroy_stored", "vault", "kv2:delete-metadata", "vault:%s/%s" % (mount, store["path"])):
            if not self.nm.check_mode:
                self.vault.kv_delete_all(mount, store["path"])

    # --- the state machine -------------------------------------------------
    def process(self, t):
        t["project"] = t.get("project") or self.gcp.project
        rec = Recorder(t, self.nm.check_mode)
        email = _gcp.account_email(t["account_id"], t["project"])
        result = {"identity": t["identity"], "project": t["project"], "account_email": email, "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    def _process(self, t, rec, result):
        now = utcnow()
        state = t["state"]
        name = _gcp.account_name(t["account_id"], t["project"])
        account_gone = False
        with rec.step("read", "gcp_iam", "iam.serviceAccountKeys.list", name) as st:
            st.outcome = "unchanged"
            try:
                keys = self.list_keys(t)
            except NotFound:
                if state != "absent" and not self.nm.check_mode:
                    raise
                # absent: nothing left in IAM. Check mode: an earlier task of the same
                # run would have created the account, so report the mint it would need.
                keys, account_gone = [], True
                st.details["account"] = "absent"
            st.details["keys"] = len(keys)
        before = {"keys": [_gcp.key_view(k, now) for k in keys]}
        stored, meta, info = (None, None, None)
        if t.get("store"):
            stored, meta, info = self.read_store(t)
        stored_id = (stored or {}).get("key_id")
        before["stored_key_id"] = stored_id
        version = (meta or {}).get("version")
        by_id = {_gcp.key_id_of(k["name"]): k for k in keys}
        current = by_id.get(stored_id) if stored_id else None
        others = [k for k in keys if _gcp.key_id_of(k["name"]) != stored_id]
        if current is not None:
            rec.entries[-1]["details"]["credential_age_days"] = age_days(_created(current), now)
        action = "unchanged"

        if state == "disabled":
            for key in keys:
                if not key.get("disabled"):
                    self.disable(rec, t, key, step="suspend")
                    action = "disabled"
            if action == "disabled" and info and stored_id in by_id:
                self.prove(rec, t, "prove_revoked", stored_id, info, "rejected")
        elif state == "absent":
            for key in keys:
                if not key.get("disabled"):
                    self.disable(rec, t, key)
                self.delete(rec, t, key)
                action = "deleted"
            if stored_id and info:
                self.prove(rec, t, "prove_old_rejected", stored_id, info, "rejected")
            for key in others:
                self.prove_absent(rec, t, _gcp.key_id_of(key["name"]))
            if stored is not None or meta is not None:
                self.delete_store(rec, t)
                action = "deleted"
            if account_gone:
                result["account_absent"] = True
        else:
            working = current is not None and not current.get("disabled") and info is not None
            due = False
            if working and state == "rotated":
                age = age_days(_created(current), now) or 0.0
                due = t["force"] or age >= t["max_age_days"]
            if working and others:
                # A rotation stopped after the new key was stored, or keys
                # that nothing knows about: prove the stored key, then
                # remove the others (after the overlap, if one is set).
                action = self._finish(t, rec, stored_id, info, version, others, current, now)
            elif not working or due:
                action = self._rotate(t, rec, stored_id, info, version, keys, working)
        if action != "unchanged":
            result["changed"] = True
        result["action"] = action
        hint = t.pop("_result_hint", None)
        if hint:
            stored_id, version = hint
        if self.nm.check_mode or action == "unchanged" or account_gone:
            after_keys = keys
        else:
            after_keys = self.list_keys(t)
        result["account_keys"] = [_gcp.key_view(k, utcnow()) for k in after_keys]
        working_ids = [k["key_id"] for k in result["account_keys"] if not k["disabled"]]
        result["key_id"] = stored_id if stored_id in working_ids else None
        if state == "absent":
            result["key_id"] = None
        if t.get("store"):
            result["stored"] = {"mount": t["store"].get("mount") or "secret", "path": t["store"]["path"],
                                "version": None if state == "absent" else version}
        if self.nm.diff_mode:
            header = "gcp service account %s" % result["account_email"]
            result["diff"] = {"before": before, "after": {"keys": result["account_keys"], "stored_key_id": result["key_id"]},
                              "before_header": header, "after_header": header}

    def _finish(self, t, rec, stored_id, info, version, others, current, now):
        overlap = t["overlap_hours"]
        if overlap:
            created = _created(current)
            if created and (now - parse_time(created)).total_seconds() < overlap * 3600:
                rec.add("deactivate_old", "gcp_iam", "iam.serviceAccountKeys.disable", current["name"], "skipped",
                        details={"reason": "overlap of %d h has not elapsed" % overlap})
                return "unchanged"
        self.prove(rec, t, "prove_new", stored_id, info, "accepted")
        previous = self._previous_infos(t, version)
        for key in others:
            key_id = _gcp.key_id_of(key["name"])
            if not key.get("disabled"):
                self.disable(rec, t, key)
            self.delete(rec, t, key)
            if key_id in previous:
                self.prove(rec, t, "prove_old_rejected", key_id, previous[key_id][0], "rejected")
            else:
                self.prove_absent(rec, t, key_id)
        stale = [old_version for _info, old_version in previous.values()]
        if stale:
            self.destroy_versions(rec, t, stale)
        return "resumed"

    def _previous_infos(self, t, version):
        """Old key files still readable in earlier KV versions: {key_id: (info, version)}."""
        found = {}
        if not version or version <= 1:
            return found
        store = t["store"]
        mount = store.get("mount") or "secret"
        for old in range(version - 1, max(0, version - 3), -1):
            data, _meta = self.vault.kv_read(mount, store["path"], version=old)
            info = self._info(data)
            if info and data.get("key_id"):
                found.setdefault(data["key_id"], (info, old))
        return found

    def _rotate(self, t, rec, stored_id, info, version, keys, working):
        # Make room: GCP allows 10 user-managed keys and a disabled key
        # counts. Remove disabled keys that are not the stored one, oldest
        # first. An enabled key is never removed to make room, and the only
        # working key is never removed before its successor works.
        if len(keys) >= _gcp.MAX_USER_KEYS:
            spare = sorted((k for k in keys if k.get("disabled") and _gcp.key_id_of(k["name"]) != stored_id),
                           key=_created)
            need = len(keys) - _gcp.MAX_USER_KEYS + 1
            if len(spare) < need:
                raise NHIError("service account %s has %d user-managed keys (the limit is %d) and not enough of them "
                               "are disabled spares to make room" % (t["account_id"], len(keys), _gcp.MAX_USER_KEYS),
                               where="identity %s" % t["identity"],
                               hint="run the reconcile playbook, or disable the keys that are not in use")
            for victim in spare[:need]:
                self.delete(rec, t, victim)
                self.prove_absent(rec, t, _gcp.key_id_of(victim["name"]))
                keys = [k for k in keys if k is not victim]
        minted = self.mint_and_store(rec, t, cas=version or 0)
        if minted is None:  # check mode
            return "rotated" if working else "minted"
        new_id, new_info, new_version = minted
        self.prove(rec, t, "prove_new", new_id, new_info, "accepted")
        rotated = False
        if t["overlap_hours"] and working:
            rec.add("deactivate_old", "gcp_iam", "iam.serviceAccountKeys.disable", "key/%s" % stored_id, "skipped",
                    details={"reason": "overlap of %d h; the next run after it removes the old key" % t["overlap_hours"],
                             "key_id": stored_id})
        else:
            for key in keys:
                key_id = _gcp.key_id_of(key["name"])
                if key_id == new_id:
                    continue
                if not key.get("disabled"):
                    self.disable(rec, t, key)
                self.delete(rec, t, key)
                rotated = True
                if key_id == stored_id and info:
                    self.prove(rec, t, "prove_old_rejected", key_id, info, "rejected")
                else:
                    self.prove_absent(rec, t, key_id)
            if version:
                self.destroy_versions(rec, t, [version])
        t["_result_hint"] = (new_id, new_version)
        return "rotated" if rotated or working else "minted"


def _validate(target):
    _gcp.check_names(target["account_id"], target.get("project") or None)
    if target["state"] != "disabled":
        _vault.check_store(target["store"])
    if target["max_age_days"] < 1:
        raise NHIError("max_age_days must be at least 1", where="max_age_days")
    if target["overlap_hours"] < 0:
        raise NHIError("overlap_hours cannot be negative", where="overlap_hours")
    if target["proof_deadline"] < 0:
        raise NHIError("proof_deadline cannot be negative", where="proof_deadline")


def main():
    nm = NHIModule(
        target_spec=dict(
            project=dict(type="str"),
            account_id=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "rotated", "disabled", "absent"]),
            store=_vault.store_spec(),
            max_age_days=dict(type="int", default=90),
            force=dict(type="bool", default=False),
            overlap_hours=dict(type="int", default=0),
            prove=dict(type="bool", default=True),
            proof_deadline=dict(type="float", default=120.0),
        ),
        connection_specs=(_gcp.argument_spec(), _vault.argument_spec()),
        required_if=[("state", "present", ["store"]), ("state", "rotated", ["store"]), ("state", "absent", ["store"])],
        validate=_validate,
        default_identity=lambda t: t["account_id"].split("@")[0],
    )
    workers = nm.params["workers"]
    try:
        gcp = _gcp.client(nm.params, pool_size=workers)
        missing = [t["identity"] for t in nm.targets if not (t.get("project") or gcp.project)]
        if missing:
            raise NHIError("no GCP project for %s" % ", ".join(missing[:5]), where="project / gcp_project",
                           hint="set project per target, gcp_project, or export GOOGLE_CLOUD_PROJECT")
        vault = None
        if any(t["state"] != "disabled" or t.get("store") for t in nm.targets):
            vault = _vault.client(nm.params, pool_size=workers)
    except NHIError as exc:
        nm.fail_connect(exc)
    keys = AccountKeys(nm, gcp, vault)
    nm.exit(nm.run(keys.process))


if __name__ == "__main__":
    main()

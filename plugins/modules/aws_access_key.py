#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_access_key
short_description: Mint, rotate, deactivate and delete IAM access keys, storing them straight in Vault
version_added: 0.1.0
description:
  - Manages the access keys of IAM users whose key pair lives in a Vault KV v2 secret.
  - A minted key goes from the IAM response straight into the store with check-and-set. The secret
    access key never appears in the task result, the diff, the evidence or the log.
  - I(state=rotated) runs the ordered rotation mint, store, prove the new key works, deactivate the old key,
    delete it, prove the old key is rejected, destroy the old stored version. It respects the IAM limit of
    two keys per user (an inactive key counts) and never deletes the only working key.
  - A rotation interrupted at any step is finished on the next run, from the real state of IAM and the
    store. A key that was minted but could not be stored is deleted at once.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
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
    description: Reports what would change; mints, stores and deletes nothing.
  diff_mode:
    support: full
    description: Shows the user's keys (ids and status only) and the stored key id before and after.
options:
  user_name:
    description: The IAM user that owns the keys. Required, here or in each item of I(targets).
    type: str
  state:
    description:
      - C(present) makes sure the user has exactly one working key and that it is stored; mints one if not.
      - C(rotated) rotates the key when it is older than I(max_age_days), when I(force=true), or when the
        stored key no longer works; otherwise it only finishes an interrupted rotation.
      - C(inactive) deactivates every key of the user (a suspended identity). Deactivation is not proof of
        revocation, so nothing is proven.
      - C(absent) deactivates and deletes every key, proves the stored key is rejected, then deletes the
        stored copy with all its versions.
    type: str
    choices: [present, rotated, inactive, absent]
    default: present
  store:
    description:
      - The KV v2 secret that holds the key pair (fields C(access_key_id) and C(secret_access_key), plus
        non-secret C(identity), C(user_name), C(minted_at) and C(run_id)). Its custom metadata repeats the
        non-secret fields so that readers need no access to the secret itself.
      - Required unless I(state=inactive).
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
      - Keep the old key active this long after the new key is stored, for consumers that read the store
        on a schedule. The old key is deactivated, deleted and proven rejected by the first run after that.
    type: int
    default: 0
  prove:
    description: Prove new keys with sts:GetCallerIdentity and prove removed keys are rejected.
    type: bool
    default: true
  proof_deadline:
    description: Seconds to keep trying a proof, because IAM is eventually consistent.
    type: float
    default: 30
  include_last_used:
    description: Look up when each key was last used (one extra call per key).
    type: bool
    default: true
notes:
  - Needs C(iam:ListAccessKeys), C(iam:CreateAccessKey), C(iam:UpdateAccessKey), C(iam:DeleteAccessKey),
    C(iam:GetAccessKeyLastUsed) and the Vault capabilities in C(docs/permissions/).
  - The proof of rejection uses the removed key itself. Some IAM emulators accept inactive keys, which is why
    rotation deletes the old key before proving it is rejected.
seealso:
  - module: nhi.lifecycle.aws_access_key_info
  - module: nhi.lifecycle.credential_verify
  - module: nhi.lifecycle.aws_iam_user
"""

EXAMPLES = r"""
- name: Give a service user a key, stored in Vault
  nhi.lifecycle.aws_access_key:
    user_name: ci-deployer
    store:
      mount: secret
      path: nhi/dev/ci-deployer

- name: Rotate when older than 30 days; prove old and new
  nhi.lifecycle.aws_access_key:
    user_name: ci-deployer
    state: rotated
    max_age_days: 30
    store: {path: nhi/dev/ci-deployer}

- name: Rotate a whole batch in one module run
  nhi.lifecycle.aws_access_key:
    state: rotated
    force: true
    workers: 16
    targets:
      - {identity: ci-deployer, user_name: ci-deployer, store: {path: nhi/dev/ci-deployer}}
      - {identity: etl-loader, user_name: etl-loader, store: {path: nhi/dev/etl-loader}}
  register: rotation

- name: Offboard - revoke every key and the stored copy
  nhi.lifecycle.aws_access_key:
    user_name: ci-deployer
    state: absent
    store: {path: nhi/dev/ci-deployer}
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: ci-deployer
user_name:
  description: The IAM user.
  returned: always
  type: str
  sample: ci-deployer
action:
  description: What was done, C(minted), C(rotated), C(resumed), C(unchanged), C(deactivated) or C(deleted).
  returned: success
  type: str
  sample: rotated
access_key_id:
  description: The id of the key that is stored and working afterwards (never the secret).
  returned: success
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
access_keys:
  description: The user's keys afterwards, without secrets.
  returned: success
  type: list
  elements: dict
  sample: [{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "status": "Active", "created": "2026-11-23T19:00:00Z",
            "age_days": 0.1, "last_used": null}]
stored:
  description: Where the key is stored and at which KV version.
  returned: success
  type: dict
  sample: {"mount": "secret", "path": "nhi/dev/ci-deployer", "version": 3}
evidence:
  description: One entry per step, see the evidence guide. Never holds secret material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "mint", "system": "aws_iam", "action": "iam:CreateAccessKey",
            "outcome": "changed"}]
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

import os

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    NHIError,
    NotFound,
    age_days,
    iso,
    poll,
    utcnow,
)
from ansible_collections.nhi.lifecycle.plugins.module_utils._lock import LeaseLock, locked
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

STS_METHOD = "sts:GetCallerIdentity"


def _track(rec, key_id, gone=False, **fields):
    """Keep the target's ledger of keys (``rec.keys``) in step with what this run did to them."""
    ledger = getattr(rec, "keys", None)
    if ledger is None:
        return
    if gone:
        ledger.pop(key_id, None)
    elif key_id in ledger:
        ledger[key_id].update(fields)
    elif "AccessKeyId" in fields:
        ledger[key_id] = dict(fields)


def _key_view(key, now):
    created = key.get("CreateDate")
    return {
        "access_key_id": key["AccessKeyId"],
        "status": key.get("Status"),
        "created": iso(created) if created else None,
        "age_days": age_days(created, now) if created else None,
    }


class AccessKeys(object):
    def __init__(self, nm, aws, vault):
        self.nm = nm
        self.aws = aws
        self.vault = vault

    # --- IAM reads/writes ------------------------------------------------
    def list_keys(self, user):
        try:
            return self.aws.iam.list_access_keys(UserName=user).get("AccessKeyMetadata", [])
        except Exception as exc:
            err = _aws.translate(exc, "listing the access keys of IAM user %r" % user, where="user_name")
            if isinstance(err, NotFound):
                raise NHIError("IAM user %r does not exist" % user, where="user_name",
                               hint="create it first (nhi.lifecycle.aws_iam_user) or fix the catalog")
            raise err

    def user_exists(self, user):
        try:
            self.aws.iam.get_user(UserName=user)
            return True
        except Exception as exc:
            err = _aws.translate(exc, "reading IAM user %r" % user)
            if isinstance(err, NotFound):
                return False
            raise err

    def last_used(self, key_id):
        try:
            info = self.aws.iam.get_access_key_last_used(AccessKeyId=key_id).get("AccessKeyLastUsed", {})
        except Exception:
            return None
        when = info.get("LastUsedDate")
        return iso(when) if when else None

    def set_status(self, rec, user, key_id, status):
        step = "deactivate_old" if status == "Inactive" else "update"
        with rec.step(step, "aws_iam", "iam:UpdateAccessKey", "user/%s#%s" % (user, key_id),
                      details={"key_id": key_id, "status": status}):
            if not self.nm.check_mode:
                try:
                    self.aws.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status=status)
                except Exception as exc:
                    err = _aws.translate(exc, "setting key %s of %r to %s" % (key_id, user, status))
                    if not isinstance(err, NotFound):
                        raise err
                _track(rec, key_id, Status=status)

    def delete(self, rec, user, key_id):
        with rec.step("delete_old", "aws_iam", "iam:DeleteAccessKey", "user/%s#%s" % (user, key_id),
                      details={"key_id": key_id}) as st:
            if not self.nm.check_mode:
                try:
                    self.aws.iam.delete_access_key(UserName=user, AccessKeyId=key_id)
                except Exception as exc:
                    err = _aws.translate(exc, "deleting key %s of %r" % (key_id, user))
                    if not isinstance(err, NotFound):
                        raise err
                    st.outcome = "unchanged"
                _track(rec, key_id, gone=True)

    # --- proofs ----------------------------------------------------------
    def prove(self, rec, t, step, key_id, secret, expect):
        with rec.step(step, "aws_sts", STS_METHOD, "key/%s" % key_id, details={"key_id": key_id}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return None
            accepted, detail = poll(lambda: self.aws.prove_key(key_id, secret), expect, t["proof_deadline"])
            st.verified = verdict(STS_METHOD, expect, accepted, detail)
            st.outcome = "unchanged"
            if st.verified["ok"] is not True:
                raise NHIError("key %s was %s but should have been %s" % (key_id, st.verified["result"], expect),
                               where="identity %s" % t["identity"],
                               hint="nothing further was changed for this identity; run again to resume")
            return accepted

    def prove_absent(self, rec, t, key_id):
        """Without the secret (an untracked key), prove the key no longer exists."""
        with rec.step("prove_old_rejected", "aws_iam", "iam:ListAccessKeys", "key/%s" % key_id,
                      details={"key_id": key_id}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return
            remaining = [k["AccessKeyId"] for k in self.list_keys(t["user_name"])]
            gone = key_id not in remaining
            st.verified = {"method": "iam:ListAccessKeys", "expect": "rejected",
                           "result": "rejected" if gone else "accepted", "ok": gone,
                           "detail": "key no longer exists" if gone else "key still listed"}
            st.outcome = "unchanged"
            if not gone:
                raise NHIError("key %s still exists after deletion" % key_id, where="identity %s" % t["identity"])

    # --- the store -------------------------------------------------------
    def read_store(self, store):
        mount, path = store.get("mount") or "secret", store["path"]
        data, meta = self.vault.kv_read(mount, path)
        return data, meta

    def drop_phantoms(self, rec, user, keep):
        """Delete keys minted by a replayed CreateAccessKey whose first answer was lost.

        botocore replays a request after a reset or a read timeout; when the
        lost answer was a created key, that key exists but its secret is
        nowhere. Run under the identity lock, after a mint that was retried:
        every key other than ``keep`` (the keys read before the mint, and the
        new one) is such a key.
        """
        try:
            phantoms = [k["AccessKeyId"] for k in self.list_keys(user) if k["AccessKeyId"] not in keep]
        except NHIError as exc:
            rec.add("rollback", "aws_iam", "iam:ListAccessKeys", "user/%s" % user, "failed", error=str(exc),
                    details={"reason": "checking for a key minted by a replayed request"})
            return 0
        for key_id in phantoms:
            try:
                self.aws.iam.delete_access_key(UserName=user, AccessKeyId=key_id)
                _track(rec, key_id, gone=True)
                rec.add("rollback", "aws_iam", "iam:DeleteAccessKey", "user/%s#%s" % (user, key_id), "changed",
                        details={"key_id": key_id, "reason": "minted by a replayed request whose answer was lost"})
            except Exception as exc:  # pylint: disable=broad-except
                err = _aws.translate(exc, "deleting key %s" % key_id)
                rec.add("rollback", "aws_iam", "iam:DeleteAccessKey", "user/%s#%s" % (user, key_id),
                        "unchanged" if isinstance(err, NotFound) else "failed",
                        error=None if isinstance(err, NotFound) else str(err), details={"key_id": key_id})
        return len(phantoms)

    def mint_and_store(self, rec, t, cas, known=(), again=True):
        """Create a key and write it straight into the store; roll back if storing fails.

        ``known`` are the ids of the user's keys before the mint.
        """
        user, store = t["user_name"], t["store"]
        try:
            with rec.step("mint", "aws_iam", "iam:CreateAccessKey", "user/%s" % user) as st:
                if self.nm.check_mode:
                    return None
                try:
                    response = self.aws.iam.create_access_key(UserName=user)
                except Exception as exc:
                    raise _aws.translate(exc, "creating an access key for %r" % user)
                created = response["AccessKey"]
                key_id, secret = created["AccessKeyId"], created["SecretAccessKey"]
                self.nm.secrets.add(secret)
                _track(rec, key_id, AccessKeyId=key_id, Status=created.get("Status") or "Active",
                       CreateDate=created.get("CreateDate") or utcnow())
                del created
                retried = _aws.retried(response)
                del response
                st.details["key_id"] = key_id
                st.target = "user/%s#%s" % (user, key_id)
        except NHIError as exc:
            if _aws.retried(exc.__cause__ or exc.__context__) and self.drop_phantoms(rec, user, set(known)) and again:
                # The replay failed only because the lost key took the slot.
                return self.mint_and_store(rec, t, cas, known, again=False)
            raise
        if retried:
            self.drop_phantoms(rec, user, set(known) | {key_id})
        minted_at = iso()
        data = {"access_key_id": key_id, "secret_access_key": secret, "identity": t["identity"],
                "user_name": user, "minted_at": minted_at, "run_id": self.nm.params.get("run_id")}
        metadata = _stored_metadata(data)
        try:
            with rec.step("store", "vault", "kv2:write(cas=%s)" % cas,
                          "vault:%s/%s" % (store.get("mount") or "secret", store["path"])) as st:
                version = _vault.store_credential(self.vault, store, data, metadata, cas)
                st.details.update({"kv_version": version, "key_id": key_id, "cas": cas})
        except _vault.PartiallyStored:
            # The key is the stored one now (only its custom metadata is
            # missing): keep it. The next run finishes the rotation.
            raise
        except NHIError:
            # The key exists only in this process now: delete it, so that no
            # key that nothing knows about is left behind.
            try:
                self.aws.iam.delete_access_key(UserName=user, AccessKeyId=key_id)
                rec.add("rollback", "aws_iam", "iam:DeleteAccessKey", "user/%s#%s" % (user, key_id), "changed",
                        details={"key_id": key_id, "reason": "store failed"})
            except Exception as exc:  # pylint: disable=broad-except
                rec.add("rollback", "aws_iam", "iam:DeleteAccessKey", "user/%s#%s" % (user, key_id), "failed",
                        error=str(_aws.translate(exc, "rolling back key %s" % key_id)),
                        details={"key_id": key_id})
            raise
        finally:
            del data
        return key_id, secret, version

    def repair_metadata(self, rec, t, stored, meta):
        """A run stopped between writing the key and its custom metadata: make the metadata match."""
        want = _stored_metadata(stored)
        have = (meta or {}).get("custom_metadata") or {}
        if have.get("access_key_id") == want["access_key_id"]:
            return False
        store = t["store"]
        mount = store.get("mount") or "secret"
        with rec.step("store", "vault", "kv2:metadata", "vault:%s/%s" % (mount, store["path"]),
                      details={"reason": "custom metadata did not match the stored key", "key_id": stored_id_of(stored)}):
            if not self.nm.check_mode:
                self.vault.kv_update_metadata(mount, store["path"],
                                              custom_metadata={k: str(v) for k, v in want.items() if v is not None})
        return True

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
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "user_name": t["user_name"], "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    def _process(self, t, rec, result):
        user = t["user_name"]
        now = utcnow()
        with rec.step("read", "aws_iam", "iam:ListAccessKeys", "user/%s" % user) as st:
            st.outcome = "unchanged"
            try:
                keys = self.list_keys(user)
            except NHIError:
                if self.user_exists(user):
                    raise
                if t["state"] in ("present", "rotated") and not self.nm.check_mode:
                    raise
                # Gone (absent, inactive): so is every key; the stored copy may
                # remain. In check mode an earlier task may create the user.
                keys = []
                st.details["user_exists"] = False
            st.details["keys"] = len(keys)
        before = {"access_keys": [_key_view(k, now) for k in keys]}
        # What this run does to the keys is tracked, so that the keys after it
        # need no second ListAccessKeys (one IAM call less per identity).
        rec.keys = {k["AccessKeyId"]: dict(k) for k in keys}
        stored, meta = (None, None)
        if t["state"] != "inactive":
            stored, meta = self.read_store(t["store"])
        stored_id = (stored or {}).get("access_key_id")
        stored_secret = (stored or {}).get("secret_access_key")
        if stored_secret:
            self.nm.secrets.add(stored_secret)
        before["stored_key_id"] = stored_id
        version = (meta or {}).get("version")
        by_id = {k["AccessKeyId"]: k for k in keys}
        current = by_id.get(stored_id) if stored_id else None
        others = [k for k in keys if k["AccessKeyId"] != stored_id]
        if current is not None:
            rec.entries[-1]["details"]["credential_age_days"] = age_days(current.get("CreateDate"), now)
        state = t["state"]
        action = "unchanged"

        if state == "inactive":
            for key in keys:
                if key.get("Status") == "Active":
                    self.set_status(rec, user, key["AccessKeyId"], "Inactive")
                    action = "deactivated"
        elif state == "absent":
            for key in keys:
                if key.get("Status") == "Active":
                    self.set_status(rec, user, key["AccessKeyId"], "Inactive")
                self.delete(rec, user, key["AccessKeyId"])
                action = "deleted"
            if stored_id and stored_secret:
                self.prove(rec, t, "prove_old_rejected", stored_id, stored_secret, "rejected")
            for key in others:
                self.prove_absent(rec, t, key["AccessKeyId"])
            if stored is not None or meta is not None:
                self.delete_store(rec, t)
                action = "deleted"
        else:
            working = current is not None and current.get("Status") == "Active"
            repaired = current is not None and self.repair_metadata(rec, t, stored, meta)
            due = False
            if working and state == "rotated":
                age = age_days(current.get("CreateDate"), now) or 0.0
                due = t["force"] or age >= t["max_age_days"]
            if working and others:
                # A rotation stopped after the new key was stored, or keys
                # that nothing knows about: prove the stored key, then
                # remove the others (after the overlap, if one is set).
                action = self._finish(t, rec, user, stored_id, stored_secret, version, others, current, now)
                if due and action == "resumed":
                    keys = [current]
                    action = self._rotate(t, rec, user, stored_id, stored_secret, version, keys, current, working)
            elif not working or due:
                action = self._rotate(t, rec, user, stored_id, stored_secret, version, keys, current, working)
            elif version and version > 1:
                # A rotation stopped after the old key was deleted: its secret
                # may still sit in an earlier KV version. Prove it is rejected,
                # then destroy that version.
                previous = {k: v for k, v in self._previous_secrets(t, version).items() if k != stored_id}
                for key_id, (secret, _old) in sorted(previous.items()):
                    self.prove(rec, t, "prove_old_rejected", key_id, secret, "rejected")
                if previous:
                    self.destroy_versions(rec, t, [version_ for _secret, version_ in previous.values()])
                    action = "resumed"
            if repaired and action == "unchanged":
                action = "resumed"
        if action != "unchanged":
            result["changed"] = True
        result["action"] = action
        hint = t.pop("_result_hint", None)
        if hint:
            stored_id, version = hint
        if self.nm.check_mode or action == "unchanged":
            after_keys = keys
        else:
            after_keys = sorted(rec.keys.values(), key=lambda k: (k.get("CreateDate") or now, k["AccessKeyId"]))
        result["access_keys"] = [_key_view(k, utcnow()) for k in after_keys]
        if t["include_last_used"]:
            for view in result["access_keys"]:
                view["last_used"] = self.last_used(view["access_key_id"])
        working_ids = [k["access_key_id"] for k in result["access_keys"] if k["status"] == "Active"]
        result["access_key_id"] = stored_id if stored_id in working_ids else None
        if t["state"] == "absent":
            result["access_key_id"] = None
        if t["state"] != "inactive":
            result["stored"] = {"mount": t["store"].get("mount") or "secret", "path": t["store"]["path"],
                                "version": None if t["state"] == "absent" else version}
        if self.nm.diff_mode:
            result["diff"] = {"before": before,
                              "after": {"access_keys": result["access_keys"], "stored_key_id": result.get("access_key_id")},
                              "before_header": "iam user %s" % user, "after_header": "iam user %s" % user}

    def _finish(self, t, rec, user, stored_id, stored_secret, version, others, current, now):
        overlap = t["overlap_hours"]
        if overlap:
            created = current.get("CreateDate")
            if created is not None and (now - created).total_seconds() < overlap * 3600:
                rec.add("deactivate_old", "aws_iam", "iam:UpdateAccessKey", "user/%s" % user, "skipped",
                        details={"reason": "overlap of %d h has not elapsed" % overlap})
                return "unchanged"
        self.prove(rec, t, "prove_new", stored_id, stored_secret, "accepted")
        previous = self._previous_secrets(t, version)
        for key in others:
            key_id = key["AccessKeyId"]
            if key.get("Status") == "Active":
                self.set_status(rec, user, key_id, "Inactive")
            self.delete(rec, user, key_id)
            if key_id in previous:
                self.prove(rec, t, "prove_old_rejected", key_id, previous[key_id][0], "rejected")
            else:
                self.prove_absent(rec, t, key_id)
        stale = [version_ for _secret, version_ in previous.values()]
        if stale:
            self.destroy_versions(rec, t, stale)
        return "resumed"

    def _previous_secrets(self, t, version):
        """Old key pairs still readable in earlier KV versions: {key_id: (secret, version)}."""
        found = {}
        if not version or version <= 1:
            return found
        store = t["store"]
        mount = store.get("mount") or "secret"
        for old in range(version - 1, max(0, version - 3), -1):
            data, _meta = self.vault.kv_read(mount, store["path"], version=old)
            if data and data.get("access_key_id") and data.get("secret_access_key"):
                self.nm.secrets.add(data["secret_access_key"])
                found.setdefault(data["access_key_id"], (data["secret_access_key"], old))
        return found

    def _rotate(self, t, rec, user, stored_id, stored_secret, version, keys, current, working):
        # Make room: IAM allows two keys and an inactive key counts. Remove
        # keys that are not the stored working one, inactive ones first.
        # The only working key is never removed before its successor works.
        extras = [k for k in keys if not (working and k["AccessKeyId"] == stored_id)]
        room = 2 - len(keys)
        if room < 1:
            extras.sort(key=lambda k: (k.get("Status") == "Active", k.get("CreateDate")))
            victim = extras[0] if extras else None
            if victim is None or (victim.get("Status") == "Active" and not working and len(extras) > 1
                                  and all(k.get("Status") == "Active" for k in extras)):
                raise NHIError("IAM user %r has two active keys and neither is the stored one" % user,
                               where="identity %s" % t["identity"],
                               hint="run the reconcile playbook, or delete the key that is not in use")
            if victim.get("Status") == "Active":
                self.set_status(rec, user, victim["AccessKeyId"], "Inactive")
            self.delete(rec, user, victim["AccessKeyId"])
            self.prove_absent(rec, t, victim["AccessKeyId"])
            keys = [k for k in keys if k is not victim]
        minted = self.mint_and_store(rec, t, cas=version or 0, known=[k["AccessKeyId"] for k in keys])
        if minted is None:  # check mode
            return "rotated" if working else "minted"
        new_id, new_secret, new_version = minted
        self.prove(rec, t, "prove_new", new_id, new_secret, "accepted")
        rotated = False
        if t["overlap_hours"] and working:
            rec.add("deactivate_old", "aws_iam", "iam:UpdateAccessKey", "user/%s#%s" % (user, stored_id), "skipped",
                    details={"reason": "overlap of %d h; the next run after it removes the old key" % t["overlap_hours"],
                             "key_id": stored_id})
        else:
            for key in keys:
                key_id = key["AccessKeyId"]
                if key_id == new_id:
                    continue
                if key.get("Status") == "Active":
                    self.set_status(rec, user, key_id, "Inactive")
                self.delete(rec, user, key_id)
                rotated = True
                if key_id == stored_id and stored_secret:
                    self.prove(rec, t, "prove_old_rejected", key_id, stored_secret, "rejected")
                else:
                    self.prove_absent(rec, t, key_id)
            if version:
                self.destroy_versions(rec, t, [version])
        t["_result_hint"] = (new_id, new_version)
        return "rotated" if rotated or working else "minted"


def stored_id_of(stored):
    return (stored or {}).get("access_key_id")


def _stored_metadata(data):
    """The non-secret fields of a stored key pair, repeated in the secret's custom metadata."""
    return {"nhi_identity": data.get("identity"), "kind": "aws_access_key", "access_key_id": data.get("access_key_id"),
            "user_name": data.get("user_name"), "minted_at": data.get("minted_at"), "run_id": data.get("run_id")}


def _validate(target):
    _aws.check_user_name(target["user_name"])
    if target["state"] != "inactive":
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
            user_name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "rotated", "inactive", "absent"]),
            store=_vault.store_spec(),
            max_age_days=dict(type="int", default=90),
            force=dict(type="bool", default=False),
            overlap_hours=dict(type="int", default=0),
            prove=dict(type="bool", default=True),
            proof_deadline=dict(type="float", default=30.0),
            include_last_used=dict(type="bool", default=True),
        ),
        connection_specs=(_aws.argument_spec(), _vault.argument_spec()),
        required_if=[("state", "present", ["store"]), ("state", "rotated", ["store"]), ("state", "absent", ["store"])],
        validate=_validate,
        default_identity=lambda t: t["user_name"],
    )
    workers = nm.params["workers"]
    try:
        aws = _aws.client(nm.params, pool_size=workers)
        aws.caller_identity()
        vault = None
        if any(t["state"] != "inactive" for t in nm.targets):
            vault = _vault.client(nm.params, pool_size=workers)
    except NHIError as exc:
        nm.fail_connect(exc)
    keys = AccessKeys(nm, aws, vault)
    work = keys.process
    if nm.params["lock"] and vault is not None and not nm.check_mode and any(
            t["state"] != "inactive" for t in nm.targets):
        # One run at a time per identity: a second rotation would mint again.
        mount = next((t["store"].get("mount") for t in nm.targets if t.get("store")), None) or "secret"
        # The lock names this process, so that a module killed mid-run leaves
        # a lock that the next run on this host sees as stale at once.
        work = locked(LeaseLock(vault, mount=mount, run_id=nm.params.get("run_id"), controller_pid=os.getpid()), work)
    nm.exit(nm.run(work))


if __name__ == "__main__":
    main()

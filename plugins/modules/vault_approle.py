#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_approle
short_description: Manage Vault AppRoles and mint, rotate and revoke their secret_ids, storing them straight in KV
version_added: 0.1.0
description:
  - Makes sure a Vault (or OpenBao) AppRole exists with the given token policies, TTLs, use limits and CIDR
    bindings. The role's configuration is read and compared first; nothing is written when it already matches.
  - With I(store), also makes sure the role has a working secret_id that is kept in a KV v2 secret. A minted
    secret_id goes from Vault's response straight into the store with check-and-set, and an AppRole login with
    it proves that it works. The secret_id never appears in the task result, the diff, the evidence or the log.
  - I(state=rotated) runs the ordered rotation mint, store, prove the new secret_id works, destroy the old one
    by its accessor, prove the old one is rejected, destroy the old stored version. Every other secret_id of
    the role, which nothing tracks, is destroyed too once the new one is proven.
  - A rotation interrupted at any step is finished on the next run, from the real state of Vault and the
    store. A secret_id that was minted but could not be stored is destroyed at once.
  - I(state=absent) destroys every secret_id of the role, proves the stored one is rejected, deletes the
    role and deletes the stored copy with all its versions.
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
    description: Reports what would change; writes, mints, stores and destroys nothing.
  diff_mode:
    support: full
    description: Shows the role's configuration, its secret_id accessors and the stored accessor before and after.
options:
  role_name:
    description:
      - The AppRole's name.
      - Required, here or in each item of I(targets).
    type: str
  mount:
    description: The mount path of the AppRole auth method.
    type: str
    default: approle
  state:
    description:
      - C(present) makes sure the role exists with the given configuration and, when I(store) is given, that
        the stored secret_id works; mints and stores one if not.
      - C(rotated) does what C(present) does, then rotates the secret_id when it is older than
        I(max_age_days), when I(force=true), or when the stored one no longer works. Otherwise it only finishes
        an interrupted rotation and destroys secret_ids that nothing tracks.
      - C(absent) destroys every secret_id, proves the stored one is rejected, deletes the role and deletes
        the stored copy.
    type: str
    choices: [present, rotated, absent]
    default: present
  token_policies:
    description: The policies of the tokens that a login with this role gets. Left as they are when omitted.
    type: list
    elements: str
  token_ttl:
    description:
      - The lifetime of the tokens a login gets, as seconds or a duration such as C(15m), C(1h) or C(7d).
        Left as it is when omitted; C(0) means the mount's default.
    type: raw
  token_max_ttl:
    description: The maximum lifetime of those tokens, including renewals (seconds or a duration).
    type: raw
  secret_id_ttl:
    description:
      - How long a secret_id lives (seconds or a duration); C(0) means it does not expire. Set it for
        temporary identities, so that Vault itself ends the credential. An expired stored secret_id is
        replaced by the next C(present) or C(rotated) run.
    type: raw
  secret_id_num_uses:
    description:
      - How many logins a secret_id allows; C(0) means unlimited. With a limit, proofs use a secret_id lookup
        instead of a login (see I(proof_method)), so that proving spends no use.
    type: int
  secret_id_bound_cidrs:
    description: CIDR blocks (with prefix length) from which a login with a secret_id is accepted.
    type: list
    elements: str
  token_bound_cidrs:
    description: IP addresses or CIDR blocks from which the tokens a login gets can be used.
    type: list
    elements: str
  store:
    description:
      - The KV v2 secret that holds the credential, with the fields C(role_id), C(secret_id),
        C(secret_id_accessor) and the non-secret C(identity), C(role_name), C(mount), C(minted_at) and
        C(run_id). Its custom metadata repeats the non-secret fields (never the secret_id or the role_id), so
        that readers need no access to the secret itself.
      - Required for I(state=rotated). Without it, C(present) manages only the role.
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
    description: With I(state=rotated), rotate secret_ids older than this (their age is Vault's C(creation_time)).
    type: int
    default: 90
  force:
    description: With I(state=rotated), rotate even when the secret_id is younger than I(max_age_days).
    type: bool
    default: false
  overlap_hours:
    description:
      - Keep the old secret_id this long after the new one is stored, for consumers that read the store on a
        schedule. The first run after that destroys it and proves it is rejected.
    type: int
    default: 0
  prove:
    description: Prove new secret_ids work and removed ones are rejected.
    type: bool
    default: true
  proof_method:
    description:
      - How a secret_id is proven. C(login) logs in with it (and revokes the token the login gets at once).
        C(lookup) looks the secret_id up, which spends none of its uses and does not depend on where the
        controller runs.
      - C(auto) uses C(lookup) when the role limits uses (I(secret_id_num_uses)) or binds secret_ids to CIDR
        blocks, and C(login) otherwise.
    type: str
    choices: [auto, login, lookup]
    default: auto
  proof_deadline:
    description: Seconds to keep trying a proof before it counts as failed.
    type: float
    default: 30
notes:
  - Needs, on the AppRole mount, C(read), C(create), C(update), C(delete) and C(list) on C(auth/<mount>/role/*)
    (the role, C(role-id), C(secret-id), C(secret-id-accessor/*)), C(update) on C(auth/<mount>/login), and on
    the store C(read), C(create), C(update) on C(<kv>/data/<path>), C(update) on C(<kv>/destroy/<path>) and
    C(read), C(update), C(delete) on C(<kv>/metadata/<path>). See C(docs/rotation.md).
  - Everything is read before anything is written, so a token that lacks a permission makes the task fail
    without changing anything. Minted secret_ids carry the metadata C(nhi_identity) and C(run_id), so that a
    secret_id minted by an interrupted run can be recognised and destroyed by the next one.
  - Destroying a secret_id does not revoke the tokens that logins with it already got; they end with
    I(token_ttl) and I(token_max_ttl). Keep those short for identities that may be offboarded.
  - The role_id is returned because it is an identifier, not a credential; the secret_id never is.
seealso:
  - module: nhi.lifecycle.vault_approle_info
  - module: nhi.lifecycle.vault_token
  - module: nhi.lifecycle.vault_kv_secret
  - module: nhi.lifecycle.aws_access_key
  - name: Vault AppRole auth method API
    description: The API this module uses.
    link: https://developer.hashicorp.com/vault/api-docs/auth/approle
"""

EXAMPLES = r"""
- name: An AppRole for a batch job, with a secret_id stored in KV
  nhi.lifecycle.vault_approle:
    role_name: etl-loader
    token_policies: [etl-read]
    token_ttl: 1h
    token_max_ttl: 4h
    store:
      mount: secret
      path: nhi/dev/etl-loader

- name: Temporary access - the secret_id expires by itself after 8 hours
  nhi.lifecycle.vault_approle:
    role_name: break-glass-db
    token_policies: [db-admin]
    secret_id_ttl: 8h
    store: {path: nhi/prod/break-glass-db}

- name: Rotate when older than 30 days; prove old and new
  nhi.lifecycle.vault_approle:
    role_name: etl-loader
    state: rotated
    max_age_days: 30
    store: {path: nhi/dev/etl-loader}

- name: Rotate a whole batch in one module run
  nhi.lifecycle.vault_approle:
    state: rotated
    force: true
    workers: 16
    targets:
      - {identity: etl-loader, role_name: etl-loader, store: {path: nhi/dev/etl-loader}}
      - {identity: ci-runner, role_name: ci-runner, store: {path: nhi/dev/ci-runner}}
  register: rotation

- name: Offboard - destroy every secret_id, the role and the stored copy
  nhi.lifecycle.vault_approle:
    role_name: etl-loader
    state: absent
    store: {path: nhi/dev/etl-loader}
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: etl-loader
role_name:
  description: The AppRole.
  returned: always
  type: str
  sample: etl-loader
mount:
  description: The AppRole mount.
  returned: always
  type: str
  sample: approle
action:
  description:
    - What was done. C(created) (the role, and its secret_id when I(store) is given), C(updated) (the role's
      configuration), C(minted) (a secret_id where none worked), C(rotated), C(resumed) (an interrupted
      rotation was finished or untracked secret_ids destroyed), C(deleted) or C(unchanged).
    - In check mode, what would be done.
  returned: success
  type: str
  sample: rotated
role_id:
  description: The role's role_id, an identifier (not a secret). C(null) when the role does not exist.
  returned: success
  type: str
  sample: 0bd6bf1e-5f2a-c8a1-3c8c-8b9d1d6d3f0a
policies:
  description: The token policies of the role afterwards.
  returned: success
  type: list
  elements: str
  sample: [etl-read]
role:
  description: The managed part of the role's configuration afterwards, TTLs in seconds. C(null) when absent.
  returned: success
  type: dict
  sample: {"token_policies": ["etl-read"], "token_ttl": 3600, "token_max_ttl": 14400, "secret_id_ttl": 0,
           "secret_id_num_uses": 0, "secret_id_bound_cidrs": [], "token_bound_cidrs": []}
secret_id_accessor:
  description: The accessor of the stored, working secret_id afterwards (never the secret_id itself).
  returned: success
  type: str
  sample: 84896a0c-1347-aa90-a4f6-aca8b7558780
secret_id_accessors:
  description: Every secret_id accessor of the role afterwards.
  returned: success
  type: list
  elements: str
  sample: [84896a0c-1347-aa90-a4f6-aca8b7558780]
credential_age_days:
  description: The age of the stored secret_id in days, from Vault's C(creation_time).
  returned: when a secret_id is stored
  type: float
  sample: 12.5
stored:
  description: Where the credential is stored and at which KV version. C(version) is C(null) after I(state=absent).
  returned: when I(store) is given
  type: dict
  sample: {"mount": "secret", "path": "nhi/dev/etl-loader", "version": 3}
evidence:
  description: One entry per step, see the evidence guide. Never holds secret material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "etl-loader", "step": "mint", "system": "vault", "action": "approle:secret-id/generate",
            "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "etl-loader", "changed": true, "action": "rotated"}]
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

import datetime
import re

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    NHIError,
    age_days,
    iso,
    parse_time,
    poll,
    utcnow,
)
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

TTL_FIELDS = ("token_ttl", "token_max_ttl", "secret_id_ttl")
LIST_FIELDS = ("token_policies", "secret_id_bound_cidrs", "token_bound_cidrs")
ROLE_FIELDS = ("token_policies", "token_ttl", "token_max_ttl", "secret_id_ttl", "secret_id_num_uses",
               "secret_id_bound_cidrs", "token_bound_cidrs")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
NEW = "(new secret_id)"


# --- pure helpers (unit-tested) ------------------------------------------------

def desired_role(t):
    """The role fields the user asked for, normalised the way Vault answers them."""
    out = {}
    for name in ROLE_FIELDS:
        value = t.get(name)
        if value is None:
            continue
        if name in TTL_FIELDS:
            out[name] = _vault.duration_seconds(value, where=name)
        elif name in LIST_FIELDS:
            out[name] = sorted(set(str(v).strip() for v in value if str(v).strip()))
        else:
            out[name] = int(value)
    return out


def role_view(data):
    """The managed fields of a role as Vault returns it, normalised; None for no role."""
    if data is None:
        return None
    out = {}
    for name in ROLE_FIELDS:
        value = data.get(name)
        if name in LIST_FIELDS:
            out[name] = sorted(set(str(v).strip() for v in value or [] if str(v).strip()))
        else:
            out[name] = int(value or 0)
    return out


def role_changes(current, want):
    """``{field: [current, wanted]}`` for every wanted field that differs."""
    current = current or {}
    return {name: [current.get(name), value] for name, value in sorted(want.items()) if current.get(name) != value}


def choose_proof(method, role):
    """Pick login or lookup: a login spends a use, and may be refused by CIDR bindings."""
    if method != "auto":
        return method
    role = role or {}
    if role.get("secret_id_num_uses") or role.get("secret_id_bound_cidrs"):
        return "lookup"
    return "login"


def summarize(role_action, cred_action):
    """One word for what happened to the role and its credential."""
    if role_action == "created":
        return "created"
    if cred_action and cred_action != "unchanged":
        return cred_action
    return role_action or "unchanged"


def stored_metadata(data):
    """The KV custom metadata of a stored AppRole credential: never the secret_id or the role_id."""
    out = {"nhi_identity": data.get("identity"), "kind": "vault_approle",
           "secret_id_accessor": data.get("secret_id_accessor"), "role_name": data.get("role_name"),
           "auth_mount": data.get("mount"), "minted_at": data.get("minted_at"), "expires_at": data.get("expires_at"),
           "run_id": data.get("run_id")}
    return {k: str(v) for k, v in out.items() if v is not None}


class AppRoles(object):
    def __init__(self, nm, vault):
        self.nm = nm
        self.vault = vault

    # --- targets and small steps ------------------------------------------------
    @staticmethod
    def role_target(t, accessor=None):
        base = "vault:auth/%s/role/%s" % (t["mount"], t["role_name"])
        return "%s#%s" % (base, accessor) if accessor else base

    @staticmethod
    def store_where(t):
        store = t["store"]
        return store.get("mount") or "secret", store["path"]

    def destroy(self, rec, t, accessor, step="delete_old"):
        with rec.step(step, "vault", "approle:secret-id-accessor/destroy", self.role_target(t, accessor),
                      details={"secret_id_accessor": accessor}) as st:
            if not self.nm.check_mode:
                if not _vault.approle_destroy_accessor(self.vault, t["mount"], t["role_name"], accessor):
                    st.outcome = "unchanged"

    def prove(self, rec, t, step, accessor, role_id, secret_id, expect):
        method = t["_proof"]
        action = "approle:login" if method == "login" else "approle:secret-id/lookup"
        with rec.step(step, "vault", action, self.role_target(t, accessor),
                      details={"secret_id_accessor": accessor}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return None
            if method == "login":
                def attempt():
                    return _vault.approle_login(self.vault, t["mount"], role_id, secret_id, self.nm.secrets.add)
            else:
                def attempt():
                    return _vault.approle_lookup_secret_id(self.vault, t["mount"], t["role_name"], secret_id)
            accepted, detail = poll(attempt, expect, t["proof_deadline"])
            st.verified = verdict(action, expect, accepted, detail)
            st.outcome = "unchanged"
            if st.verified["ok"] is not True:
                raise NHIError("secret_id %s was %s but should have been %s (%s)" % (
                    accessor, st.verified["result"], expect, detail), where="identity %s" % t["identity"],
                    hint="nothing further was changed for this identity; run again to resume")
            return accepted

    def prove_absent(self, rec, t, accessor, step="prove_old_rejected"):
        """Without the secret (an untracked secret_id), prove its accessor no longer exists."""
        action = "approle:secret-id-accessor/lookup"
        with rec.step(step, "vault", action, self.role_target(t, accessor),
                      details={"secret_id_accessor": accessor}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return
            info = _vault.approle_read_accessor(self.vault, t["mount"], t["role_name"], accessor)
            gone = info is None
            st.verified = {"method": action, "expect": "rejected", "result": "rejected" if gone else "accepted",
                           "ok": gone, "detail": "accessor no longer exists" if gone else "accessor still exists"}
            st.outcome = "unchanged"
            if not gone:
                raise NHIError("secret_id %s still exists after it was destroyed" % accessor,
                               where="identity %s" % t["identity"])

    # --- the store -------------------------------------------------------------
    def mint_and_store(self, rec, t, role_id, cas):
        """Mint a secret_id and write it straight into the store; destroy it if storing fails."""
        mount, role = t["mount"], t["role_name"]
        run_id = self.nm.params.get("run_id")
        with rec.step("mint", "vault", "approle:secret-id/generate", self.role_target(t)) as st:
            if self.nm.check_mode:
                return None
            tag = {"nhi_identity": t["identity"]}
            if run_id:
                tag["run_id"] = run_id
            minted = _vault.approle_generate_secret_id(self.vault, mount, role, metadata=tag)
            secret_id, accessor = minted["secret_id"], minted["secret_id_accessor"]
            self.nm.secrets.add(secret_id)
            ttl = int(minted.get("secret_id_ttl") or 0)
            del minted
            st.details.update({"secret_id_accessor": accessor, "secret_id_ttl": ttl})
            st.target = self.role_target(t, accessor)
        now = utcnow()
        minted_at = iso(now)
        expires_at = iso(now + datetime.timedelta(seconds=ttl)) if ttl else None
        data = {"role_id": role_id, "secret_id": secret_id, "secret_id_accessor": accessor,
                "identity": t["identity"], "role_name": role, "mount": mount, "minted_at": minted_at,
                "expires_at": expires_at, "run_id": run_id}
        metadata = stored_metadata(data)
        kv_mount, path = self.store_where(t)
        try:
            with rec.step("store", "vault", "kv2:write(cas=%s)" % cas, "vault:%s/%s" % (kv_mount, path)) as st:
                version = _vault.store_credential(self.vault, t["store"], data, metadata, cas)
                st.details.update({"kv_version": version, "secret_id_accessor": accessor, "cas": cas})
        except _vault.PartiallyStored:
            raise  # the secret_id is the stored one now; the next run rewrites the metadata
        except NHIError:
            # The secret_id exists only in this process now: destroy it, so
            # that no secret_id that nothing knows about is left behind.
            try:
                _vault.approle_destroy_accessor(self.vault, mount, role, accessor)
                rec.add("rollback", "vault", "approle:secret-id-accessor/destroy", self.role_target(t, accessor),
                        "changed", details={"secret_id_accessor": accessor, "reason": "store failed"})
            except NHIError as exc:
                rec.add("rollback", "vault", "approle:secret-id-accessor/destroy", self.role_target(t, accessor),
                        "failed", error=str(exc), details={"secret_id_accessor": accessor})
            raise
        finally:
            del data
        return accessor, secret_id, version

    def destroy_versions(self, rec, t, versions):
        kv_mount, path = self.store_where(t)
        with rec.step("destroy_stored", "vault", "kv2:destroy", "vault:%s/%s" % (kv_mount, path),
                      details={"versions": sorted(versions)}):
            if not self.nm.check_mode:
                self.vault.kv_destroy_versions(kv_mount, path, versions)

    def delete_store(self, rec, t):
        kv_mount, path = self.store_where(t)
        with rec.step("destroy_stored", "vault", "kv2:delete-metadata", "vault:%s/%s" % (kv_mount, path)):
            if not self.nm.check_mode:
                self.vault.kv_delete_all(kv_mount, path)

    def previous_secrets(self, t, version):
        """Secret_ids still readable in the two versions before ``version``: {accessor: (secret_id, role_id, v)}."""
        found = {}
        if not version or version <= 1:
            return found
        kv_mount, path = self.store_where(t)
        for old in range(version - 1, max(0, version - 3), -1):
            data, _meta = self.vault.kv_read(kv_mount, path, version=old)
            if data and data.get("secret_id_accessor") and data.get("secret_id"):
                self.nm.secrets.add(data["secret_id"])
                found.setdefault(data["secret_id_accessor"], (data["secret_id"], data.get("role_id"), old))
        return found

    # --- the state machine ---------------------------------------------------------
    def process(self, t):
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "role_name": t["role_name"], "mount": t["mount"], "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            # Steps before the failure may have changed something already.
            result.update(failed=True, msg=str(exc),
                          changed=any(e["outcome"] == "changed" for e in rec.entries))
        result["_evidence"] = rec.entries
        return result

    def _process(self, t, rec, result):
        mount, role = t["mount"], t["role_name"]
        now = utcnow()
        want = desired_role(t)
        # Read everything first: a token that lacks a permission fails here
        # and nothing has been changed.
        with rec.step("read", "vault", "approle:read-role", self.role_target(t)) as st:
            st.outcome = "unchanged"
            current = _vault.approle_read_role(self.vault, mount, role)
            st.details["exists"] = current is not None
            accessors = _vault.approle_list_accessors(self.vault, mount, role) if current is not None else []
            role_id = _vault.approle_role_id(self.vault, mount, role) if current is not None else None
            st.details["secret_id_count"] = len(accessors)
        stored, meta = None, None
        if t.get("store"):
            stored, meta = self.vault.kv_read(*self.store_where(t))
        stored = stored or {}
        if stored.get("secret_id"):
            self.nm.secrets.add(stored["secret_id"])
        version = (meta or {}).get("version")
        previous = self.previous_secrets(t, version) if t.get("store") and t["state"] != "absent" else {}
        before = {"role": role_view(current), "secret_id_accessors": accessors,
                  "stored_secret_id_accessor": stored.get("secret_id_accessor")}
        t["_proof"] = choose_proof(t["proof_method"], role_view(current) if current else want)

        info, hint = None, None
        if t["state"] == "absent":
            action = self._absent(t, rec, current, accessors, role_id, stored, meta)
            role_after, after_accessors = None, []
        else:
            role_action = self._ensure_role(t, rec, current, want)
            if role_action and not self.nm.check_mode:
                role_after = role_view(_vault.approle_read_role(self.vault, mount, role))
                role_id = role_id or _vault.approle_role_id(self.vault, mount, role)
            else:
                role_after = dict(role_view(current) or role_view({}))
                role_after.update(want)
            cred_action = None
            if t.get("store"):
                cred_action, info = self._credential(t, rec, role_id, accessors, stored, meta, previous, now)
            action = summarize(role_action, cred_action)
            hint = t.pop("_result_hint", None)
            if action == "unchanged" or self.nm.check_mode:
                after_accessors = t.pop("_predicted", accessors)
            else:
                after_accessors = _vault.approle_list_accessors(self.vault, mount, role)
        result.update(changed=action != "unchanged", action=action, role_id=role_id, role=role_after,
                      policies=(role_after or {}).get("token_policies", []), secret_id_accessors=after_accessors,
                      secret_id_accessor=None)
        if hint and not self.nm.check_mode:
            # A new secret_id was minted, stored and proven.
            result["secret_id_accessor"], version = hint
            result["credential_age_days"] = 0.0
        elif info and t["state"] != "absent":
            result["secret_id_accessor"] = stored.get("secret_id_accessor")
            result["credential_age_days"] = age_days(info.get("creation_time"), now)
        if t.get("store"):
            kv_mount, path = self.store_where(t)
            result["stored"] = {"mount": kv_mount, "path": path,
                                "version": None if t["state"] == "absent" else version}
        if self.nm.diff_mode:
            after = {"role": role_after, "secret_id_accessors": after_accessors,
                     "stored_secret_id_accessor": NEW if hint and self.nm.check_mode else result["secret_id_accessor"]}
            header = "vault auth/%s/role/%s" % (mount, role)
            result["diff"] = {"before": before, "after": after, "before_header": header, "after_header": header}

    def _ensure_role(self, t, rec, current, want):
        mount, role = t["mount"], t["role_name"]
        if current is None:
            with rec.step("create_identity", "vault", "approle:write-role", self.role_target(t),
                          details={"fields": sorted(want)}):
                if not self.nm.check_mode:
                    _vault.approle_write_role(self.vault, mount, role, want)
            return "created"
        changes = role_changes(role_view(current), want)
        if not changes:
            return None
        with rec.step("update_identity", "vault", "approle:write-role", self.role_target(t),
                      details={"changed": changes}):
            if not self.nm.check_mode:
                _vault.approle_write_role(self.vault, mount, role, {k: want[k] for k in changes})
        return "updated"

    def _credential(self, t, rec, role_id, accessors, stored, meta, previous, now):
        """Make the stored secret_id work (present) or rotate it (rotated). Returns (action, info)."""
        mount, role = t["mount"], t["role_name"]
        stored_acc, stored_sid = stored.get("secret_id_accessor"), stored.get("secret_id")
        version = (meta or {}).get("version")
        info = None
        if stored_acc and stored_sid and stored_acc in accessors:
            info = _vault.approle_read_accessor(self.vault, mount, role, stored_acc)
        working = bool(info) and not _vault.secret_id_expired(info, now) and stored.get("role_id") == role_id
        if info is not None:
            rec.entries[0]["details"]["credential_age_days"] = age_days(info.get("creation_time"), now)
        others = [a for a in accessors if a != stored_acc]
        if t["state"] == "rotated":
            remove = others
        else:
            remove = [a for a in others if a in previous or self._ours(t, a)]
        stale = sorted(set(v for _sid, _rid, v in previous.values()))
        due = False
        if working and t["state"] == "rotated":
            due = t["force"] or (age_days(info.get("creation_time"), now) or 0.0) >= t["max_age_days"]
        if working and not due:
            repaired = self._repair_metadata(t, rec, stored, meta)
            if not remove and not stale:
                return "resumed" if repaired else "unchanged", info
            return self._finish(t, rec, role_id, stored_acc, stored_sid, info, remove, previous, stale, now), info
        # Broken or due: the stored secret_id (if Vault still has it) goes too.
        old = [stored_acc] if stored_acc in accessors else []
        return self._rotate(t, rec, role_id, stored, version, working, old + remove, previous, stale, accessors), None

    def _repair_metadata(self, t, rec, stored, meta):
        """A run stopped between writing the data and its custom metadata: make the metadata match."""
        want = stored_metadata(stored)
        have = (meta or {}).get("custom_metadata") or {}
        if all(have.get(k) == v for k, v in want.items()):
            return False
        kv_mount, path = self.store_where(t)
        with rec.step("store", "vault", "kv2:metadata", "vault:%s/%s" % (kv_mount, path),
                      details={"reason": "custom metadata did not match the stored credential",
                               "secret_id_accessor": stored.get("secret_id_accessor")}):
            if not self.nm.check_mode:
                self.vault.kv_update_metadata(kv_mount, path, custom_metadata=want)
        return True

    def _ours(self, t, accessor):
        """A secret_id that this collection minted for this identity (by the metadata it carries)."""
        found = _vault.approle_read_accessor(self.vault, t["mount"], t["role_name"], accessor) or {}
        return (found.get("metadata") or {}).get("nhi_identity") == t["identity"]

    def _finish(self, t, rec, role_id, stored_acc, stored_sid, info, remove, previous, stale, now):
        overlap = t["overlap_hours"]
        if overlap and remove:
            created = info.get("creation_time")
            if created and (now - parse_time(created)).total_seconds() < overlap * 3600:
                rec.add("delete_old", "vault", "approle:secret-id-accessor/destroy", self.role_target(t),
                        "skipped", details={"reason": "overlap of %d h has not elapsed" % overlap})
                return "unchanged"
        self.prove(rec, t, "prove_new", stored_acc, role_id, stored_sid, "accepted")
        self._remove(t, rec, role_id, remove, previous)
        if stale:
            self.destroy_versions(rec, t, stale)
        t["_predicted"] = [stored_acc]
        return "resumed"

    def _remove(self, t, rec, role_id, remove, previous, secrets=None):
        for accessor in remove:
            self.destroy(rec, t, accessor)
            known = (secrets or {}).get(accessor) or previous.get(accessor)
            if known:
                self.prove(rec, t, "prove_old_rejected", accessor, known[1] or role_id, known[0], "rejected")
            else:
                self.prove_absent(rec, t, accessor)

    def _rotate(self, t, rec, role_id, stored, version, working, remove, previous, stale, accessors):
        minted = self.mint_and_store(rec, t, role_id, cas=version or 0)
        if minted is None:  # check mode
            t["_result_hint"] = (None, version)
            t["_predicted"] = [a for a in accessors if a not in remove] + [NEW]
            return "rotated" if working else "minted"
        new_acc, new_sid, new_version = minted
        self.prove(rec, t, "prove_new", new_acc, role_id, new_sid, "accepted")
        t["_result_hint"] = (new_acc, new_version)
        if t["overlap_hours"] and working:
            rec.add("delete_old", "vault", "approle:secret-id-accessor/destroy",
                    self.role_target(t, stored.get("secret_id_accessor")), "skipped",
                    details={"reason": "overlap of %d h; the next run after it removes the old secret_id"
                                       % t["overlap_hours"]})
            return "rotated"
        known = {}
        if stored.get("secret_id_accessor") and stored.get("secret_id"):
            known[stored["secret_id_accessor"]] = (stored["secret_id"], stored.get("role_id"), version)
        self._remove(t, rec, role_id, remove, previous, secrets=known)
        versions = sorted(set(([version] if version else []) + list(stale)))
        if versions:
            self.destroy_versions(rec, t, versions)
        return "rotated" if working else "minted"

    def _absent(self, t, rec, current, accessors, role_id, stored, meta):
        mount, role = t["mount"], t["role_name"]
        changed = False
        if current is not None:
            for accessor in accessors:
                self.destroy(rec, t, accessor, step="revoke")
                changed = True
        if stored.get("secret_id"):
            # Proven while the role still exists, so that the rejection is
            # the secret_id's and not the role's.
            self.prove(rec, t, "prove_revoked", stored.get("secret_id_accessor"), stored.get("role_id") or role_id,
                       stored["secret_id"], "rejected")
        elif accessors:
            with rec.step("prove_revoked", "vault", "approle:secret-id/list", self.role_target(t)) as st:
                if self.nm.check_mode or not t["prove"]:
                    st.outcome = "skipped"
                else:
                    left = _vault.approle_list_accessors(self.vault, mount, role)
                    st.verified = {"method": "approle:secret-id/list", "expect": "rejected",
                                   "result": "accepted" if left else "rejected", "ok": not left,
                                   "detail": "%d secret_ids left" % len(left)}
                    st.outcome = "unchanged"
                    if left:
                        raise NHIError("AppRole %r still has %d secret_ids" % (role, len(left)),
                                       where="identity %s" % t["identity"])
        if current is not None:
            with rec.step("delete_identity", "vault", "approle:delete-role", self.role_target(t)):
                if not self.nm.check_mode:
                    _vault.approle_delete_role(self.vault, mount, role)
            changed = True
        if t.get("store") and (stored or meta is not None):
            self.delete_store(rec, t)
            changed = True
        return "deleted" if changed else "unchanged"


def _validate(target):
    name = target["role_name"]
    if not NAME_RE.fullmatch(name or ""):
        raise NHIError("role_name %r may only hold letters, digits and _ . @ -" % name, where="role_name")
    mount = target["mount"]
    if _vault.malformed_path(mount):
        raise NHIError("malformed auth mount %r" % mount, where="mount", hint="use a path such as approle")
    seconds = {}
    for field in TTL_FIELDS:
        if target.get(field) is not None:
            seconds[field] = _vault.duration_seconds(target[field], where=field)
    if seconds.get("token_ttl") and seconds.get("token_max_ttl") and seconds["token_ttl"] > seconds["token_max_ttl"]:
        raise NHIError("token_ttl (%ss) cannot be greater than token_max_ttl (%ss)" % (
            seconds["token_ttl"], seconds["token_max_ttl"]), where="token_ttl")
    if (target.get("secret_id_num_uses") or 0) < 0:
        raise NHIError("secret_id_num_uses cannot be negative", where="secret_id_num_uses")
    _vault.check_cidrs(target.get("secret_id_bound_cidrs"), "secret_id_bound_cidrs", require_prefix=True)
    _vault.check_cidrs(target.get("token_bound_cidrs"), "token_bound_cidrs")
    if target["state"] == "rotated" and not target.get("store"):
        raise NHIError("state=rotated needs the store that holds the secret_id", where="store")
    if target.get("store"):
        _vault.check_store(target["store"])
    if target["max_age_days"] < 1:
        raise NHIError("max_age_days must be at least 1", where="max_age_days")
    if target["overlap_hours"] < 0:
        raise NHIError("overlap_hours cannot be negative", where="overlap_hours")
    if target["proof_deadline"] < 0:
        raise NHIError("proof_deadline cannot be negative", where="proof_deadline")


def target_spec():
    return dict(
        role_name=dict(type="str", required=True),
        mount=dict(type="str", default="approle"),
        state=dict(type="str", default="present", choices=["present", "rotated", "absent"]),
        token_policies=dict(type="list", elements="str", no_log=False),
        token_ttl=dict(type="raw", no_log=False),
        token_max_ttl=dict(type="raw", no_log=False),
        secret_id_ttl=dict(type="raw", no_log=False),
        secret_id_num_uses=dict(type="int", no_log=False),
        secret_id_bound_cidrs=dict(type="list", elements="str", no_log=False),
        token_bound_cidrs=dict(type="list", elements="str", no_log=False),
        store=_vault.store_spec(),
        max_age_days=dict(type="int", default=90),
        force=dict(type="bool", default=False),
        overlap_hours=dict(type="int", default=0),
        prove=dict(type="bool", default=True),
        proof_method=dict(type="str", default="auto", choices=["auto", "login", "lookup"]),
        proof_deadline=dict(type="float", default=30.0),
    )


def main():
    nm = NHIModule(
        target_spec=target_spec(),
        connection_specs=(_vault.argument_spec(),),
        validate=_validate,
        default_identity=lambda t: t["role_name"],
    )
    try:
        vault = _vault.client(nm.params, pool_size=nm.params["workers"])
    except NHIError as exc:
        nm.fail_connect(exc)
    roles = AppRoles(nm, vault)
    nm.exit(nm.run(roles.process))


if __name__ == "__main__":
    main()

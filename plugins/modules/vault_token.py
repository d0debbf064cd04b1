#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_token
short_description: Create, rotate and revoke Vault tokens, storing them straight in KV
version_added: 0.1.0
description:
  - Creates a Vault (or OpenBao) token for a non-human identity, an orphan by default, and writes it from
    Vault's response straight into a KV v2 secret with check-and-set. A C(lookup-self) with the new token proves
    that it works. The token never appears in the task result, the diff, the evidence or the log; its accessor
    does.
  - I(state=present) is idempotent. When the stored token still exists (looked up by its accessor) and has the
    wanted policies, nothing changes. A token's policies cannot be changed, so a stored token with other
    policies is replaced, in the same order as a rotation.
  - I(state=rotated) runs the ordered rotation create, store, prove the new token works, revoke the old one
    by its accessor, prove the old one is rejected, destroy the old stored version. A rotation interrupted at
    any step is finished on the next run, from the real state of Vault and the store. A token that was
    created but could not be stored is revoked at once.
  - I(state=absent) revokes the token (by I(accessor), or by the accessor in I(store)), proves the old token is
    rejected and deletes the stored copy with all its versions.
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
    description: Reports what would change; creates, stores and revokes nothing.
  diff_mode:
    support: full
    description: Shows the stored token's accessor, policies and expiry before and after (never the token).
options:
  state:
    description:
      - C(present) makes sure the stored token exists and has I(policies); creates and stores one if not.
      - C(rotated) does what C(present) does, then replaces the token when it is older than I(max_age_days) or
        when I(force=true).
      - C(absent) revokes the token, proves it is rejected and deletes the stored copy.
    type: str
    choices: [present, rotated, absent]
    default: present
  store:
    description:
      - The KV v2 secret that holds the token, with the fields C(token), C(accessor) and the non-secret
        C(identity), C(policies), C(minted_at), C(expires_at) and C(run_id). Its custom metadata repeats the
        non-secret fields (the accessor, never the token).
      - Required unless I(state=absent) with I(accessor).
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
  accessor:
    description:
      - With I(state=absent), the accessor of a token to revoke. Without it, the accessor is read from I(store).
    type: str
  policies:
    description: The token's policies. A stored token with other policies is replaced. Not compared when omitted.
    type: list
    elements: str
  no_default_policy:
    description: Leave the C(default) policy off the token.
    type: bool
    default: false
  ttl:
    description: The token's time to live, as seconds or a duration such as C(1h) or C(30d). The mount's default when omitted.
    type: raw
  explicit_max_ttl:
    description: A hard limit to the token's life that renewals cannot pass (seconds or a duration).
    type: raw
  display_name:
    description: The token's display name (Vault prefixes it with C(token-)).
    type: str
  renewable:
    description: Whether the token can be renewed.
    type: bool
    default: true
  meta:
    description:
      - Metadata on the token, visible to anyone who can look the token up; never put secrets here.
        C(nhi_identity) and C(run_id) are always added.
    type: dict
  orphan:
    description:
      - Create an orphan token, which does not die with the token that created it. Needs C(update) on
        C(auth/token/create-orphan). With C(false), the token is a child of the automation's token.
    type: bool
    default: true
  max_age_days:
    description: With I(state=rotated), replace tokens older than this.
    type: int
    default: 90
  force:
    description: With I(state=rotated), replace the token even when it is younger than I(max_age_days).
    type: bool
    default: false
  overlap_hours:
    description:
      - Keep the old token this long after the new one is stored, for consumers that read the store on a
        schedule. The first run after that revokes it and proves it is rejected.
    type: int
    default: 0
  prove:
    description: Prove new tokens work and revoked ones are rejected, with C(lookup-self).
    type: bool
    default: true
  proof_deadline:
    description: Seconds to keep trying a proof before it counts as failed.
    type: float
    default: 30
notes:
  - Needs C(update) on C(auth/token/create-orphan) (or C(auth/token/create)), C(update) on
    C(auth/token/lookup-accessor) and C(auth/token/revoke-accessor), and on the store C(read), C(create),
    C(update) on C(<kv>/data/<path>), C(update) on C(<kv>/destroy/<path>) and C(read), C(update), C(delete)
    on C(<kv>/metadata/<path>). Without C(sudo), a token can only create tokens with a subset of its own policies.
  - Everything is read before anything is written, so a token that lacks a permission makes the task fail
    without changing anything.
  - Vault cannot list tokens by their metadata cheaply, so a token created by a run that stopped before storing
    it cannot be found by the next run. Such a token carries C(nhi_identity) and C(run_id) in its metadata and
    ends with its I(ttl); always set a I(ttl).
  - Revoking a token also revokes its child tokens.
seealso:
  - module: nhi.lifecycle.vault_approle
  - module: nhi.lifecycle.vault_kv_secret_info
  - plugin: nhi.lifecycle.vault_kv
    plugin_type: lookup
  - name: Vault token auth method API
    description: The API this module uses.
    link: https://developer.hashicorp.com/vault/api-docs/auth/token
"""

EXAMPLES = r"""
- name: A token for a monitoring agent, stored in KV
  nhi.lifecycle.vault_token:
    policies: [metrics-read]
    ttl: 30d
    display_name: prometheus
    store:
      mount: secret
      path: nhi/prod/prometheus-token

- name: Replace it when older than 7 days
  nhi.lifecycle.vault_token:
    state: rotated
    max_age_days: 7
    policies: [metrics-read]
    ttl: 30d
    store: {path: nhi/prod/prometheus-token}

- name: Revoke a token by accessor (no store)
  nhi.lifecycle.vault_token:
    state: absent
    accessor: 2c84f488-2133-4ced-87b0-570f93a76830

- name: Offboard - revoke the stored token and delete the stored copy
  nhi.lifecycle.vault_token:
    state: absent
    store: {path: nhi/prod/prometheus-token}
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form); defaults to the store path or the accessor.
  returned: always
  type: str
  sample: nhi/prod/prometheus-token
action:
  description: What was done, C(created), C(replaced) (other policies), C(rotated), C(resumed), C(revoked) or
    C(unchanged). In check mode, what would be done.
  returned: success
  type: str
  sample: rotated
accessor:
  description: The accessor of the stored, working token afterwards (never the token). C(null) after revocation.
  returned: success
  type: str
  sample: 2c84f488-2133-4ced-87b0-570f93a76830
policies:
  description: The policies of that token, as Vault reports them.
  returned: success
  type: list
  elements: str
  sample: [default, metrics-read]
expire_time:
  description: When that token expires (C(null) for a token without TTL).
  returned: success
  type: str
  sample: "2026-12-23T19:27:03.123Z"
credential_age_days:
  description: The age of that token in days.
  returned: success
  type: float
  sample: 3.5
stored:
  description: Where the token is stored and at which KV version. C(version) is C(null) after I(state=absent).
  returned: when I(store) is given
  type: dict
  sample: {"mount": "secret", "path": "nhi/prod/prometheus-token", "version": 2}
evidence:
  description: One entry per step, see the evidence guide. Never holds secret material.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "prometheus", "step": "mint", "system": "vault", "action": "token:create-orphan",
            "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "prometheus", "changed": true, "action": "created"}]
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

METHOD = "token:lookup-self"
NEW = "(new token)"


# --- pure helpers (unit-tested) ------------------------------------------------

def wanted_policies(t):
    """The policy set Vault will report for a token created with these options, or None (not compared)."""
    if t.get("policies") is None:
        return None
    out = set(str(p).strip().lower() for p in t["policies"] if str(p).strip())
    if not t.get("no_default_policy"):
        out.add("default")
    return sorted(out)


def create_params(t, run_id):
    """The body of the create request: TTLs in seconds, metadata as strings."""
    meta = {str(k): str(v) for k, v in (t.get("meta") or {}).items()}
    meta["nhi_identity"] = str(t["identity"])
    if run_id:
        meta["run_id"] = str(run_id)
    params = {"meta": meta, "renewable": bool(t.get("renewable", True)),
              "no_default_policy": bool(t.get("no_default_policy"))}
    if t.get("policies") is not None:
        params["policies"] = [str(p).strip() for p in t["policies"] if str(p).strip()]
    for name in ("ttl", "explicit_max_ttl"):
        if t.get(name) is not None:
            params[name] = "%ds" % _vault.duration_seconds(t[name], where=name)
    if t.get("display_name"):
        params["display_name"] = t["display_name"]
    return params


def token_created(info):
    """The creation time of a token from its lookup (epoch seconds), as an aware datetime."""
    value = (info or {}).get("creation_time")
    if value in (None, "", 0):
        return None
    if isinstance(value, (int, float)) or str(value).isdigit():
        return datetime.datetime.fromtimestamp(int(value), tz=datetime.timezone.utc)
    return parse_time(value)


def token_view(info):
    """What may be shown of a token: accessor, policies, times. Never the token (lookups blank its id)."""
    if not info:
        return None
    created = token_created(info)
    expire = info.get("expire_time")
    return {"accessor": info.get("accessor"), "policies": sorted(info.get("policies") or []),
            "created": iso(created) if created else None, "expire_time": iso(parse_time(expire)) if expire else None,
            "orphan": info.get("orphan"), "renewable": info.get("renewable"), "display_name": info.get("display_name")}


def stored_metadata(data):
    """The KV custom metadata of a stored token: the accessor, never the token."""
    out = {"nhi_identity": data.get("identity"), "kind": "vault_token", "accessor": data.get("accessor"),
           "policies": data.get("policies"), "minted_at": data.get("minted_at"),
           "expires_at": data.get("expires_at"), "run_id": data.get("run_id")}
    return {k: str(v) for k, v in out.items() if v is not None}


class Tokens(object):
    def __init__(self, nm, vault):
        self.nm = nm
        self.vault = vault

    @staticmethod
    def store_where(t):
        store = t["store"]
        return store.get("mount") or "secret", store["path"]

    # --- proofs and revocation ---------------------------------------------------
    def prove(self, rec, t, step, accessor, token, expect):
        with rec.step(step, "vault", METHOD, "vault:token#%s" % accessor, details={"accessor": accessor}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return None
            accepted, detail = poll(lambda: _vault.token_lookup_self(self.vault, token), expect, t["proof_deadline"])
            st.verified = verdict(METHOD, expect, accepted, detail)
            st.outcome = "unchanged"
            if st.verified["ok"] is not True:
                raise NHIError("token %s was %s but should have been %s (%s)" % (
                    accessor, st.verified["result"], expect, detail), where="identity %s" % t["identity"],
                    hint="nothing further was changed for this identity; run again to resume")
            return accepted

    def prove_absent(self, rec, t, accessor, step):
        """Without the token itself, prove its accessor no longer resolves."""
        action = "token:lookup-accessor"
        with rec.step(step, "vault", action, "vault:token#%s" % accessor, details={"accessor": accessor}) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return
            gone = _vault.token_lookup_accessor(self.vault, accessor) is None
            st.verified = {"method": action, "expect": "rejected", "result": "rejected" if gone else "accepted",
                           "ok": gone, "detail": "accessor no longer resolves" if gone else "token still exists"}
            st.outcome = "unchanged"
            if not gone:
                raise NHIError("token %s still exists after it was revoked" % accessor,
                               where="identity %s" % t["identity"])

    def revoke(self, rec, t, accessor, step):
        with rec.step(step, "vault", "token:revoke-accessor", "vault:token#%s" % accessor,
                      details={"accessor": accessor}) as st:
            if not self.nm.check_mode:
                if not _vault.token_revoke_accessor(self.vault, accessor):
                    st.outcome = "unchanged"

    # --- the store -------------------------------------------------------------
    def mint_and_store(self, rec, t, cas):
        """Create a token and write it straight into the store; revoke it if storing fails."""
        run_id = self.nm.params.get("run_id")
        action = "token:create-orphan" if t["orphan"] else "token:create"
        with rec.step("mint", "vault", action, "vault:auth/token") as st:
            if self.nm.check_mode:
                return None
            auth = _vault.token_create(self.vault, create_params(t, run_id), orphan=t["orphan"])
            token, accessor = auth["client_token"], auth["accessor"]
            self.nm.secrets.add(token)
            ttl = int(auth.get("lease_duration") or 0)
            policies = sorted(auth.get("policies") or [])
            del auth
            st.details.update({"accessor": accessor, "ttl": ttl, "policies": policies})
            st.target = "vault:token#%s" % accessor
        now = utcnow()
        data = {"token": token, "accessor": accessor, "identity": t["identity"], "policies": ",".join(policies),
                "minted_at": iso(now), "expires_at": iso(now + datetime.timedelta(seconds=ttl)) if ttl else None,
                "run_id": run_id}
        kv_mount, path = self.store_where(t)
        try:
            with rec.step("store", "vault", "kv2:write(cas=%s)" % cas, "vault:%s/%s" % (kv_mount, path)) as st:
                version = _vault.store_credential(self.vault, t["store"], data, stored_metadata(data), cas)
                st.details.update({"kv_version": version, "accessor": accessor, "cas": cas})
        except _vault.PartiallyStored:
            raise  # the token is the stored one now; the next run rewrites the metadata
        except NHIError:
            # The token exists only in this process now: revoke it, so that
            # no token that nothing knows about is left behind.
            try:
                _vault.token_revoke_accessor(self.vault, accessor)
                rec.add("rollback", "vault", "token:revoke-accessor", "vault:token#%s" % accessor, "changed",
                        details={"accessor": accessor, "reason": "store failed"})
            except NHIError as exc:
                rec.add("rollback", "vault", "token:revoke-accessor", "vault:token#%s" % accessor, "failed",
                        error=str(exc), details={"accessor": accessor})
            raise
        finally:
            del data
        return accessor, token, version

    def destroy_versions(self, rec, t, versions):
        kv_mount, path = self.store_where(t)
        with rec.step("destroy_stored", "vault", "kv2:destroy", "vault:%s/%s" % (kv_mount, path),
                      details={"versions": sorted(versions)}):
            if not self.nm.check_mode:
                self.vault.kv_destroy_versions(kv_mount, path, versions)

    def previous_tokens(self, t, version):
        """Tokens still readable in the two versions before ``version``: {accessor: (token, version)}."""
        found = {}
        if not version or version <= 1:
            return found
        kv_mount, path = self.store_where(t)
        for old in range(version - 1, max(0, version - 3), -1):
            data, _meta = self.vault.kv_read(kv_mount, path, version=old)
            if data and data.get("accessor") and data.get("token"):
                self.nm.secrets.add(data["token"])
                found.setdefault(data["accessor"], (data["token"], old))
        return found

    # --- the state machine ---------------------------------------------------------
    def process(self, t):
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            # Steps before the failure may have changed something already.
            result.update(failed=True, msg=str(exc),
                          changed=any(e["outcome"] == "changed" for e in rec.entries))
        result["_evidence"] = rec.entries
        return result

    def _process(self, t, rec, result):
        now = utcnow()
        stored, meta = None, None
        target = "vault:%s/%s" % self.store_where(t) if t.get("store") else "vault:token#%s" % t.get("accessor")
        with rec.step("read", "vault", "token:lookup-accessor", target) as st:
            st.outcome = "unchanged"
            if t.get("store"):
                stored, meta = self.vault.kv_read(*self.store_where(t))
            stored = stored or {}
            if stored.get("token"):
                self.nm.secrets.add(stored["token"])
            accessor = stored.get("accessor") if t["state"] != "absent" or not t.get("accessor") else t["accessor"]
            info = _vault.token_lookup_accessor(self.vault, accessor) if accessor else None
            version = (meta or {}).get("version")
            previous = self.previous_tokens(t, version) if t.get("store") else {}
            st.details.update({"accessor": accessor, "exists": info is not None, "kv_version": version})
            if info is not None:
                created = token_created(info)
                st.details["credential_age_days"] = age_days(created, now) if created else None
        before = {"token": token_view(info), "stored_accessor": stored.get("accessor")}
        if t["state"] == "absent":
            action = self._absent(t, rec, accessor, info, stored, meta, previous)
            after_info = None
        else:
            action, after_info = self._ensure(t, rec, stored, meta, info, previous, now)
        result["changed"] = action != "unchanged"
        result["action"] = action
        view = token_view(after_info) if after_info and after_info is not True else None
        result["accessor"] = (view or {}).get("accessor")
        result["policies"] = (view or {}).get("policies")
        result["expire_time"] = (view or {}).get("expire_time")
        created = token_created(after_info) if isinstance(after_info, dict) else None
        result["credential_age_days"] = age_days(created, now) if created else None
        if t.get("store"):
            kv_mount, path = self.store_where(t)
            hint = t.pop("_version", None)
            result["stored"] = {"mount": kv_mount, "path": path,
                                "version": None if t["state"] == "absent" else (hint or version)}
        if self.nm.diff_mode:
            if after_info is True:  # check mode: a token would be created
                after = {"token": {"accessor": NEW, "policies": wanted_policies(t)}, "stored_accessor": NEW}
            else:
                after = {"token": view, "stored_accessor": result["accessor"]}
            header = target
            result["diff"] = {"before": before, "after": after, "before_header": header, "after_header": header}

    def _ensure(self, t, rec, stored, meta, info, previous, now):
        """present / rotated: returns (action, info of the working token, or True in check mode)."""
        version = (meta or {}).get("version")
        stored_acc, stored_token = stored.get("accessor"), stored.get("token")
        working = info is not None and bool(stored_token)
        want = wanted_policies(t)
        mismatch = working and want is not None and sorted(info.get("policies") or []) != want
        due = False
        if working and t["state"] == "rotated":
            created = token_created(info)
            due = t["force"] or (age_days(created, now) or 0.0) >= t["max_age_days"]
        if working and not mismatch and not due:
            repaired = self._repair_metadata(t, rec, stored, meta)
            # Earlier versions that still hold a token: a rotation stopped
            # after the new token was stored.
            old = {acc: v for acc, v in previous.items() if acc != stored_acc}
            if not old:
                return ("resumed" if repaired else "unchanged"), info
            return self._finish(t, rec, stored_acc, stored_token, info, old, now), info
        return self._rotate(t, rec, stored, version, working, previous, mismatch)

    def _repair_metadata(self, t, rec, stored, meta):
        """A run stopped between writing the data and its custom metadata: make the metadata match."""
        want = stored_metadata(stored)
        have = (meta or {}).get("custom_metadata") or {}
        if all(have.get(k) == v for k, v in want.items()):
            return False
        kv_mount, path = self.store_where(t)
        with rec.step("store", "vault", "kv2:metadata", "vault:%s/%s" % (kv_mount, path),
                      details={"reason": "custom metadata did not match the stored token",
                               "accessor": stored.get("accessor")}):
            if not self.nm.check_mode:
                self.vault.kv_update_metadata(kv_mount, path, custom_metadata=want)
        return True

    def _finish(self, t, rec, stored_acc, stored_token, info, previous, now):
        """Old tokens are still in earlier versions: revoke the live ones, prove, destroy the versions."""
        overlap = t["overlap_hours"]
        created = token_created(info)
        if overlap and created and (now - created).total_seconds() < overlap * 3600:
            rec.add("delete_old", "vault", "token:revoke-accessor", "vault:token#%s" % stored_acc, "skipped",
                    details={"reason": "overlap of %d h has not elapsed" % overlap})
            return "unchanged"
        self.prove(rec, t, "prove_new", stored_acc, stored_token, "accepted")
        for accessor, (token, _version) in sorted(previous.items()):
            if _vault.token_lookup_accessor(self.vault, accessor) is not None:
                self.revoke(rec, t, accessor, "delete_old")
            self.prove(rec, t, "prove_old_rejected", accessor, token, "rejected")
        self.destroy_versions(rec, t, sorted(set(v for _tok, v in previous.values())))
        return "resumed"

    def _rotate(self, t, rec, stored, version, working, previous, mismatch):
        minted = self.mint_and_store(rec, t, cas=version or 0)
        action = "created" if not working else ("replaced" if mismatch else "rotated")
        if minted is None:  # check mode
            return action, True
        new_acc, new_token, new_version = minted
        t["_version"] = new_version
        self.prove(rec, t, "prove_new", new_acc, new_token, "accepted")
        info = _vault.token_lookup_accessor(self.vault, new_acc)
        if t["overlap_hours"] and working:
            rec.add("delete_old", "vault", "token:revoke-accessor", "vault:token#%s" % stored.get("accessor"),
                    "skipped", details={"reason": "overlap of %d h; the next run after it revokes the old token"
                                                  % t["overlap_hours"]})
            return action, info
        old = dict(previous)
        if stored.get("accessor") and stored.get("token"):
            old[stored["accessor"]] = (stored["token"], version)
        for accessor, (token, _version) in sorted(old.items()):
            if _vault.token_lookup_accessor(self.vault, accessor) is not None:
                self.revoke(rec, t, accessor, "delete_old")
            self.prove(rec, t, "prove_old_rejected", accessor, token, "rejected")
        versions = sorted(set(v for _tok, v in old.values() if v))
        if versions:
            self.destroy_versions(rec, t, versions)
        return action, info

    def _absent(self, t, rec, accessor, info, stored, meta, previous):
        changed = False
        targets = dict(previous)
        if stored.get("accessor"):
            targets[stored["accessor"]] = (stored.get("token"), None)
        if accessor and accessor not in targets:
            targets[accessor] = (None, None)
        for acc, (token, _version) in sorted(targets.items()):
            live = info is not None if acc == accessor else _vault.token_lookup_accessor(self.vault, acc) is not None
            if live:
                self.revoke(rec, t, acc, "revoke")
                changed = True
                if token:
                    self.prove(rec, t, "prove_revoked", acc, token, "rejected")
                else:
                    self.prove_absent(rec, t, acc, "prove_revoked")
        if t.get("store") and (stored or meta is not None):
            kv_mount, path = self.store_where(t)
            with rec.step("destroy_stored", "vault", "kv2:delete-metadata", "vault:%s/%s" % (kv_mount, path)):
                if not self.nm.check_mode:
                    self.vault.kv_delete_all(kv_mount, path)
            changed = True
        return "revoked" if changed else "unchanged"


def _validate(target):
    state = target["state"]
    if state != "absent" and not target.get("store"):
        raise NHIError("state=%s needs the store to keep the token in" % state, where="store")
    if state == "absent" and not target.get("store") and not target.get("accessor"):
        raise NHIError("state=absent needs the accessor of the token to revoke, or the store that holds it",
                       where="accessor / store")
    if target.get("accessor") and state != "absent":
        raise NHIError("accessor only applies to state=absent", where="accessor")
    if target.get("store"):
        _vault.check_store(target["store"])
    for name in ("ttl", "explicit_max_ttl"):
        if target.get(name) is not None:
            _vault.duration_seconds(target[name], where=name)
    if target["max_age_days"] < 1:
        raise NHIError("max_age_days must be at least 1", where="max_age_days")
    if target["overlap_hours"] < 0:
        raise NHIError("overlap_hours cannot be negative", where="overlap_hours")
    if target["proof_deadline"] < 0:
        raise NHIError("proof_deadline cannot be negative", where="proof_deadline")


def _default_identity(target):
    if target.get("store"):
        return target["store"]["path"]
    return target.get("accessor")


def target_spec():
    return dict(
        state=dict(type="str", default="present", choices=["present", "rotated", "absent"]),
        store=_vault.store_spec(),
        accessor=dict(type="str", no_log=False),
        policies=dict(type="list", elements="str"),
        no_default_policy=dict(type="bool", default=False),
        ttl=dict(type="raw"),
        explicit_max_ttl=dict(type="raw"),
        display_name=dict(type="str"),
        renewable=dict(type="bool", default=True),
        meta=dict(type="dict"),
        orphan=dict(type="bool", default=True),
        max_age_days=dict(type="int", default=90),
        force=dict(type="bool", default=False),
        overlap_hours=dict(type="int", default=0),
        prove=dict(type="bool", default=True),
        proof_deadline=dict(type="float", default=30.0),
    )


def main():
    nm = NHIModule(
        target_spec=target_spec(),
        connection_specs=(_vault.argument_spec(),),
        validate=_validate,
        default_identity=_default_identity,
    )
    try:
        vault = _vault.client(nm.params, pool_size=nm.params["workers"])
    except NHIError as exc:
        nm.fail_connect(exc)
    tokens = Tokens(nm, vault)
    nm.exit(nm.run(tokens.process))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scim_service_user
short_description: Provision, deactivate and delete SCIM 2.0 service users, with their credential in Vault
version_added: 0.1.0
description:
  - Manages service users in any SCIM 2.0 service provider (RFC 7643, RFC 7644), found by C(userName), and their
    group memberships.
  - With I(store), the service user gets a credential, a random secret set as its write-only SCIM C(password)
    attribute and kept in a Vault KV v2 secret. It never appears in the task result, the diff, the evidence or
    the log. SCIM has no standard per-user API token; where a service offers one, model it the same way.
  - The secret is generated here, so it is stored first (marked pending, with check-and-set), then set on the
    service, then marked active. A run interrupted between those steps is finished by the next run, which sets
    the pending secret again. There is never a working credential that the store does not hold.
  - Deactivation is a PATCH of C(active) to false (a full PUT when the service does not offer PATCH), and is
    proven by reading the user back. Every change carries C(If-Match) when the service offers ETags.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.scim
  - nhi.lifecycle.vault
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Reports what would change; creates, stores and deletes nothing.
  diff_mode:
    support: full
    description: Shows the user (no credential) and its groups before and after.
options:
  user_name:
    description:
      - The SCIM C(userName) of the service user, unique within the service.
      - Required, here or in each item of I(targets).
    type: str
  base_url:
    description:
      - The SCIM base URL of this target's service, as the catalog's C(scim.base_url). Defaults to
        I(scim_base_url). Every target of one task uses the same I(scim_token).
    type: str
  display_name:
    description: The C(displayName). Left as it is when not given.
    type: str
  external_id:
    description: The C(externalId), usually the catalog name. Left as it is when not given.
    type: str
  groups:
    description:
      - Groups (by C(displayName)) the user must be a member of. They must exist; this module does not create
        groups.
    type: list
    elements: str
    default: []
  purge_groups:
    description: Also remove the user from every group that is not in I(groups).
    type: bool
    default: false
  state:
    description:
      - C(present) creates the user if needed, activates it, sets its attributes and groups and, with I(store),
        makes sure it has a stored credential.
      - C(rotated) is C(present), and also replaces the credential when it is older than I(max_age_days) or
        I(force=true).
      - C(disabled) sets C(active) to false (a suspended identity) and proves the service shows it inactive.
        The stored credential is kept.
      - C(absent) removes the user from its groups, deletes it, proves it is gone, then deletes the stored
        credential with all its versions.
    type: str
    choices: [present, rotated, disabled, absent]
    default: present
  store:
    description:
      - The KV v2 secret that holds the credential (field C(password), plus non-secret C(user_name), C(user_id),
        C(base_url), C(identity), C(minted_at) and C(run_id)). Its custom metadata repeats the non-secret
        fields and carries C(credential_state) (C(pending) or C(active)).
      - Without it the user gets no credential.
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
    description: With I(state=rotated), replace credentials older than this.
    type: int
    default: 90
  force:
    description: With I(state=rotated), replace the credential even when it is younger than I(max_age_days).
    type: bool
    default: false
  prove:
    description: Read the user back after a change and record what the service shows.
    type: bool
    default: true
notes:
  - Proof is limited by SCIM itself. SCIM 2.0 defines no way for a service user to authenticate, and the
    reference server used by the tests (scim2-server) authenticates no user by token or password. So a
    deactivation is proven by the service showing C(active=false) (C(verified.method=scim:GET active=false)),
    a new credential by the user showing active, and a deletion by 404. The evidence says so in
    C(verified.detail). Where a service has a real login for service users, prove the credential there.
  - Some services keep a deleted user in its groups; this module removes the memberships before it deletes.
seealso:
  - module: nhi.lifecycle.scim_service_user_info
  - name: RFC 7644 (SCIM protocol)
    description: Filters, PATCH, ETags and the ServiceProviderConfig this module relies on.
    link: https://www.rfc-editor.org/rfc/rfc7644
"""

EXAMPLES = r"""
- name: A service user with a stored credential and two groups
  nhi.lifecycle.scim_service_user:
    user_name: svc-reporting
    display_name: Reporting robot
    external_id: svc-reporting
    groups: [robots, readers]
    store: {path: nhi/prod/svc-reporting}

- name: Suspend it
  nhi.lifecycle.scim_service_user:
    user_name: svc-reporting
    state: disabled

- name: Offboard a batch
  nhi.lifecycle.scim_service_user:
    state: absent
    targets:
      - {identity: svc-reporting, user_name: svc-reporting, store: {path: nhi/prod/svc-reporting}}
      - {identity: svc-billing, user_name: svc-billing, store: {path: nhi/prod/svc-billing}}
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: svc-reporting
action:
  description: What was done, C(created), C(updated), C(minted), C(rotated), C(resumed), C(disabled), C(deleted)
    or C(unchanged).
  returned: success
  type: str
  sample: created
user:
  description: The user afterwards (never its credential), with its groups; null when it does not exist.
  returned: success
  type: dict
  sample: {"id": "b2f6fbe4c5cc4f41b5da60bbccb27039", "user_name": "svc-reporting", "display_name": "Reporting robot",
           "external_id": "svc-reporting", "active": true, "emails": [], "groups": ["robots"],
           "created": "2026-11-23T19:36:53Z", "last_modified": "2026-11-23T19:36:53Z"}
stored:
  description: Where the credential is stored and at which KV version.
  returned: when store is given
  type: dict
  sample: {"mount": "secret", "path": "nhi/prod/svc-reporting", "version": 2}
evidence:
  description: One entry per step, see the evidence guide. Never holds the credential.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "svc-reporting", "step": "suspend", "system": "scim", "action": "scim:PATCH active=false",
            "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "svc-reporting", "changed": true, "action": "created"}]
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

import secrets

from ansible_collections.nhi.lifecycle.plugins.module_utils import _scim, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    Conflict,
    NHIError,
    age_days,
    iso,
)
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

NO_USER_AUTH = ("SCIM 2.0 defines no login for users and this service authenticates no user by token or password, "
                "so the credential itself cannot be tried; this is what the service shows for the account")


class ServiceUsers(object):
    def __init__(self, nm):
        self.nm = nm
        self.vault = None

    def conn(self, t):
        return _scim.client(self.nm.params, base_url=t.get("base_url"), pool_size=self.nm.params["workers"])

    def process(self, t):
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "changed": False}
        try:
            scim = self.conn(t)
            result["base_url"] = scim.base_url
            self._process(t, scim, rec, result)
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    # --- reads ---------------------------------------------------------------
    def _groups(self, scim, user):
        if not user or not user.get("id"):
            return []
        return sorted(g.get("displayName") for g in scim.groups_of(user["id"]))

    def _view(self, scim, user, groups=None):
        view = _scim.user_view(user)
        if view is not None:
            view["groups"] = groups if groups is not None else self._groups(scim, user)
        return view

    # --- the state machine ---------------------------------------------------
    def _process(self, t, scim, rec, result):
        name = t["user_name"]
        with rec.step("read", "scim", "scim:GET /Users?filter=userName", "scim:%s/Users" % scim.base_url) as st:
            st.outcome = "unchanged"
            user = scim.find_user(name)
            st.details["exists"] = user is not None
            if user is not None:
                st.target = "scim:Users/%s" % user["id"]
        groups_before = self._groups(scim, user)
        before = self._view(scim, user, groups_before)
        state = t["state"]
        actions = []

        if state in ("present", "rotated"):
            if user is None:
                user = self._create(rec, t, scim)
                actions.append("created")
                groups_before = []
            else:
                changes = {}
                if t.get("display_name") is not None and user.get("displayName") != t["display_name"]:
                    changes["displayName"] = t["display_name"]
                if t.get("external_id") is not None and user.get("externalId") != t["external_id"]:
                    changes["externalId"] = t["external_id"]
                if user.get("active") is False:
                    changes["active"] = True
                if changes:
                    user = self._update(rec, t, scim, user, changes, "update_identity")
                    actions.append("updated")
            if self._groups_sync(rec, t, scim, user, groups_before):
                actions.append("updated")
            if t.get("store"):
                minted = self._credential(rec, t, scim, user, result)
                if minted:
                    actions.append(minted)
        elif state == "disabled":
            if user is not None and user.get("active") is not False:
                user = self._update(rec, t, scim, user, {"active": False}, "suspend")
                actions.append("disabled")
                self._prove_state(rec, t, scim, user, "prove_revoked", active=False)
        else:
            if user is not None:
                for group_name in groups_before:
                    self._membership(rec, t, scim, user, group_name, False, step="revoke")
                with rec.step("delete_identity", "scim", "scim:DELETE /Users", "scim:Users/%s" % user["id"]) as st:
                    if not self.nm.check_mode and not scim.delete_user(user):
                        st.outcome = "unchanged"
                actions.append("deleted")
                self._prove_gone(rec, t, scim, user)
            if t.get("store"):
                mount, path = t["store"].get("mount") or "secret", t["store"]["path"]
                if self._vault().kv_metadata(mount, path) is not None:
                    with rec.step("destroy_stored", "vault", "kv2:delete-metadata", "vault:%s/%s" % (mount, path)):
                        if not self.nm.check_mode:
                            self._vault().kv_delete_all(mount, path)
                    actions.append("deleted")
            user = None

        action = actions[0] if actions else "unchanged"
        if "deleted" in actions:
            action = "deleted"
        elif "rotated" in actions or "resumed" in actions:
            action = "rotated" if "rotated" in actions else "resumed"
        result["changed"] = bool(actions)
        result["action"] = action
        if user is not None and not self.nm.check_mode and actions and user.get("id"):
            user = scim.get_user(user["id"]) or user
        if user is not None and user.get("id") and not self.nm.check_mode and actions:
            groups_after = self._groups(scim, user)
        elif state in ("present", "rotated") and user is not None:
            groups_after = sorted(set(groups_before if not t["purge_groups"] else
                                      [g for g in groups_before if g in t["groups"]]) | set(t["groups"]))
        else:
            groups_after = groups_before if user is not None else []
        result["user"] = self._view(scim, user, groups_after)
        if self.nm.diff_mode:
            header = "scim user %s" % name
            result["diff"] = {"before": before or {}, "after": result["user"] or {},
                              "before_header": header, "after_header": header}

    def _create(self, rec, t, scim):
        attrs = {"userName": t["user_name"], "active": True}
        if t.get("display_name") is not None:
            attrs["displayName"] = t["display_name"]
        if t.get("external_id") is not None:
            attrs["externalId"] = t["external_id"]
        with rec.step("create_identity", "scim", "scim:POST /Users", "scim:%s/Users" % scim.base_url) as st:
            if self.nm.check_mode:
                return dict(attrs, id=None)
            try:
                user = scim.create_user(attrs)
            except Conflict:
                # Created by someone else between our read and our write: take it as it is now.
                user = scim.find_user(t["user_name"])
                if user is None:
                    raise
                st.outcome = "unchanged"
            if not user.get("id"):  # some services answer 201 with an empty body
                user = scim.find_user(t["user_name"]) or user
            st.target = "scim:Users/%s" % user.get("id")
            st.details["user_id"] = user.get("id")
            return user

    def _update(self, rec, t, scim, user, changes, step):
        shown = ", ".join("%s=%s" % (k, str(v).lower() if isinstance(v, bool) else v) for k, v in sorted(changes.items()))
        verb = "PATCH" if scim.config()["patch"] else "PUT"
        action = "scim:%s active=false" % verb if step == "suspend" else "scim:%s %s" % (verb, ",".join(sorted(changes)))
        with rec.step(step, "scim", action, "scim:Users/%s" % user.get("id"), details={"set": shown}):
            if not self.nm.check_mode and user.get("id"):
                scim.update_user(user, changes)
        return dict(user, **changes)

    def _membership(self, rec, t, scim, user, group_name, member, step="update_identity", group=None):
        op = "add" if member else "remove"
        with rec.step(step, "scim", "scim:PATCH /Groups %s member" % op, "scim:Groups/%s" % group_name,
                      details={"group": group_name, "user_id": user.get("id")}):
            if self.nm.check_mode or not user.get("id"):
                return
            group = group or scim.find_group(group_name)
            if group is None:
                if member:
                    raise NHIError("SCIM group %r does not exist" % group_name, where="groups",
                                   hint="create the group on the service, or fix the catalog's scim.groups")
                return
            scim.set_membership(group, user["id"], member)

    def _groups_sync(self, rec, t, scim, user, current):
        changed = False
        for group_name in t["groups"]:
            if group_name not in current:
                group = scim.find_group(group_name)
                if group is None:
                    raise NHIError("SCIM group %r does not exist" % group_name, where="groups",
                                   hint="create the group on the service, or fix the catalog's scim.groups")
                self._membership(rec, t, scim, user, group_name, True, group=group)
                changed = True
        if t["purge_groups"]:
            for group_name in current:
                if group_name not in t["groups"]:
                    self._membership(rec, t, scim, user, group_name, False)
                    changed = True
        return changed

    # --- proofs --------------------------------------------------------------
    def _prove_state(self, rec, t, scim, user, step, active):
        method = "scim:GET active=%s" % ("true" if active else "false")
        expect = "accepted" if active else "rejected"
        with rec.step(step, "scim", method, "scim:Users/%s" % user.get("id")) as st:
            if self.nm.check_mode or not t["prove"] or not user.get("id"):
                st.outcome = "skipped"
                return
            st.outcome = "unchanged"
            fresh = scim.get_user(user["id"])
            shown = fresh is not None and fresh.get("active") is not False
            st.verified = verdict(method, expect, shown,
                                  "the service shows active=%s; %s" % (str(shown).lower(), NO_USER_AUTH))
            if st.verified["ok"] is not True:
                raise NHIError("SCIM user %s shows active=%s, expected active=%s" % (user["id"], str(shown).lower(),
                                                                                     str(active).lower()),
                               where="identity %s" % t["identity"], hint="run again")

    def _prove_gone(self, rec, t, scim, user):
        with rec.step("prove_revoked", "scim", "scim:GET /Users/{id}", "scim:Users/%s" % user["id"]) as st:
            if self.nm.check_mode or not t["prove"]:
                st.outcome = "skipped"
                return
            st.outcome = "unchanged"
            gone = scim.get_user(user["id"]) is None
            st.verified = verdict("scim:GET /Users/{id}", "rejected", not gone,
                                  "the service answers 404 for the user" if gone else "the user still exists")
            if not gone:
                raise NHIError("SCIM user %s still exists after deletion" % user["id"],
                               where="identity %s" % t["identity"], hint="run again")

    # --- the credential ----------------------------------------------------------
    def _vault(self):
        if self.vault is None:
            self.vault = _vault.client(self.nm.params, pool_size=self.nm.params["workers"])
        return self.vault

    def _credential(self, rec, t, scim, user, result):
        """Make sure the stored credential is the user's; return what was done, or None."""
        store = t["store"]
        mount, path = store.get("mount") or "secret", store["path"]
        vault = self._vault()
        data, meta = vault.kv_read(mount, path)
        if data and data.get("password"):
            self.nm.secrets.add(data["password"])
        version = (meta or {}).get("version")
        custom = (meta or {}).get("custom_metadata")
        if custom is None and meta is not None:
            custom = ((vault.kv_metadata(mount, path) or {}).get("custom_metadata")) or {}
        custom = custom or {}
        result["stored"] = {"mount": mount, "path": path, "version": version}
        ours = bool(data and data.get("password") and user.get("id") and data.get("user_id") == user.get("id"))
        if ours and custom.get("credential_state") == "pending":
            # Stored, but the run that stored it stopped before or while setting it: set it again.
            self._set_password(rec, t, scim, user, data["password"], resumed=True)
            self._mark(rec, vault, mount, path, custom, version)
            self._prove_state(rec, t, scim, user, "prove_new", active=True)
            return "resumed"
        due = False
        if ours and t["state"] == "rotated":
            due = t["force"] or (age_days(data.get("minted_at")) or 0.0) >= t["max_age_days"]
        if ours and not due:
            return None
        if not scim.config()["change_password"] and user.get("id"):
            raise NHIError("the SCIM service does not allow setting a password (changePassword.supported=false)",
                           where="identity %s" % t["identity"], hint="remove store for this identity, or give the "
                                                                     "service user its credential another way")
        secret = secrets.token_urlsafe(32)
        self.nm.secrets.add(secret)
        minted_at = iso()
        new = {"password": secret, "user_name": t["user_name"], "user_id": user.get("id"), "base_url": scim.base_url,
               "identity": t["identity"], "minted_at": minted_at, "run_id": self.nm.params.get("run_id")}
        custom_new = {"nhi_identity": t["identity"], "kind": "scim_service_user", "user_name": t["user_name"],
                      "user_id": user.get("id"), "base_url": scim.base_url, "minted_at": minted_at,
                      "run_id": self.nm.params.get("run_id"), "credential_state": "pending"}
        cas = version or 0
        with rec.step("store", "vault", "kv2:write(cas=%s)" % cas, "vault:%s/%s" % (mount, path)) as st:
            st.details.update({"cas": cas, "credential_state": "pending"})
            if self.nm.check_mode:
                return "rotated" if ours else "minted"
            new_version = _vault.store_credential(vault, store, new, custom_new, cas)
            st.details["kv_version"] = new_version
        del new
        result["stored"]["version"] = new_version
        self._set_password(rec, t, scim, user, secret)
        self._mark(rec, vault, mount, path, custom_new, new_version)
        self._prove_state(rec, t, scim, user, "prove_new", active=True)
        if version:
            rec.add("prove_old_rejected", "scim", "scim:PATCH password", "scim:Users/%s" % user.get("id"), "skipped",
                    details={"reason": "the old password was replaced on the service by the write above; " + NO_USER_AUTH,
                             "kv_version": version})
            with rec.step("destroy_stored", "vault", "kv2:destroy", "vault:%s/%s" % (mount, path),
                          details={"versions": [version]}):
                vault.kv_destroy_versions(mount, path, [version])
        return "rotated" if ours else "minted"

    def _set_password(self, rec, t, scim, user, secret, resumed=False):
        verb = "PATCH" if scim.config()["patch"] else "PUT"
        with rec.step("mint", "scim", "scim:%s password" % verb, "scim:Users/%s" % user.get("id"),
                      details={"resumed": resumed}):
            if self.nm.check_mode:
                return
            fresh = scim.get_user(user["id"]) or user
            scim.update_user(fresh, {"password": secret})

    def _mark(self, rec, vault, mount, path, custom, version):
        marked = dict(custom, credential_state="active")
        if self.nm.check_mode:
            return
        vault.kv_update_metadata(mount, path, custom_metadata={k: str(v) for k, v in marked.items() if v is not None})
        rec.entries[-1]["details"]["credential_state"] = "active"
        rec.entries[-1]["details"]["kv_version"] = version


def _validate(target):
    if target.get("store"):
        _vault.check_store(target["store"])
    if not target["user_name"].strip():
        raise NHIError("user_name cannot be empty", where="user_name")
    if target["max_age_days"] < 1:
        raise NHIError("max_age_days must be at least 1", where="max_age_days")
    base = target.get("base_url")
    if base and not base.startswith(("http://", "https://")):
        raise NHIError("base_url %r is not an http(s) URL" % base, where="base_url",
                       hint="use a URL such as https://scim.example.com/scim/v2")


def main():
    nm = NHIModule(
        target_spec=dict(
            user_name=dict(type="str", required=True),
            base_url=dict(type="str"),
            display_name=dict(type="str"),
            external_id=dict(type="str"),
            groups=dict(type="list", elements="str", default=[]),
            purge_groups=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "rotated", "disabled", "absent"]),
            store=_vault.store_spec(),
            max_age_days=dict(type="int", default=90),
            force=dict(type="bool", default=False),
            prove=dict(type="bool", default=True),
        ),
        connection_specs=(_scim.argument_spec(), _vault.argument_spec()),
        validate=_validate,
        default_identity=lambda t: t["user_name"],
    )
    users = ServiceUsers(nm)
    try:
        for target in nm.targets:
            users.conn(target)
        if any(t.get("store") for t in nm.targets):
            users._vault()
    except NHIError as exc:
        nm.fail_connect(exc)
    nm.exit(nm.run(users.process))


if __name__ == "__main__":
    main()

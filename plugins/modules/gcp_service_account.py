#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gcp_service_account
short_description: Create, update, disable and delete GCP service accounts
version_added: 0.1.0
description:
  - Manages GCP service accounts, the identity half of a C(gcp_service_account) NHI. Its keys are managed by
    M(nhi.lifecycle.gcp_service_account_key).
  - Idempotent. Updates of the display name and description carry the account's C(etag), so a concurrent
    change is detected instead of overwritten.
  - Disabling and deleting are checked by reading the account back, and the answer is recorded in the evidence.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.gcp
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: Shows the account's display name, description and disabled flag before and after.
options:
  project:
    description: The project of the service account. Defaults to I(gcp_project).
    type: str
  account_id:
    description:
      - Required, here or in each item of I(targets).
      - The account id, 6 to 30 characters matching C(^[a-z][a-z0-9-]{4,28}[a-z0-9]$). The account's email is
        C(<account_id>@<project>.iam.gserviceaccount.com). A full email is accepted too.
    type: str
  display_name:
    description: The display name (at most 100 bytes). Left as it is when not given.
    type: str
  description:
    description: The description (at most 256 bytes). Left as it is when not given.
    type: str
  state:
    description:
      - C(present) creates the account if needed, updates I(display_name) and I(description), and enables it
        if it was disabled.
      - C(disabled) disables the account (a suspended identity); every key of a disabled account is refused.
        An account that does not exist is left absent.
      - C(absent) deletes the account. GCP keeps a deleted account restorable for 30 days; its keys are
        deleted with it.
    type: str
    choices: [present, disabled, absent]
    default: present
notes:
  - Needs C(iam.serviceAccounts.get), C(iam.serviceAccounts.create), C(iam.serviceAccounts.update),
    C(iam.serviceAccounts.disable), C(iam.serviceAccounts.enable) and C(iam.serviceAccounts.delete)
    (C(roles/iam.serviceAccountAdmin)).
  - Offboarding deletes the keys first (M(nhi.lifecycle.gcp_service_account_key) with I(state=absent)), so
    that each one is proven rejected and its stored copy destroyed, and only then the account.
seealso:
  - module: nhi.lifecycle.gcp_service_account_info
  - module: nhi.lifecycle.gcp_service_account_key
  - name: Service accounts (GCP documentation)
    description: Creating, disabling and deleting service accounts.
    link: https://cloud.google.com/iam/docs/service-accounts-create
"""

EXAMPLES = r"""
- name: A service account for CI
  nhi.lifecycle.gcp_service_account:
    project: my-project
    account_id: ci-deployer
    display_name: CI deployer
    description: Deploys from CI; owner team-platform

- name: Suspend it
  nhi.lifecycle.gcp_service_account:
    project: my-project
    account_id: ci-deployer
    state: disabled

- name: Provision many in one module run
  nhi.lifecycle.gcp_service_account:
    project: my-project
    targets:
      - {identity: ci-deployer, account_id: ci-deployer, display_name: CI deployer}
      - {identity: etl-loader, account_id: etl-loader, display_name: ETL loader}

- name: Delete it
  nhi.lifecycle.gcp_service_account:
    project: my-project
    account_id: ci-deployer
    state: absent
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form).
  returned: always
  type: str
  sample: ci-deployer
action:
  description: What was done, C(created), C(updated), C(enabled), C(disabled), C(deleted) or C(unchanged).
  returned: success
  type: str
  sample: created
account:
  description: The service account afterwards, or null when it does not exist.
  returned: success
  type: dict
  sample: {"email": "ci-deployer@my-project.iam.gserviceaccount.com", "account_id": "ci-deployer",
           "project": "my-project", "unique_id": "104467833412345678901", "display_name": "CI deployer",
           "description": "Deploys from CI", "disabled": false}
evidence:
  description: One entry per step, see the evidence guide.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "create_identity", "system": "gcp_iam",
            "action": "iam.serviceAccounts.create", "outcome": "changed"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "changed": true, "action": "created"}]
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

import re

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder

ACCOUNT_ID_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class Accounts(object):
    def __init__(self, nm, gcp):
        self.nm = nm
        self.gcp = gcp

    def process(self, t):
        t["project"] = t.get("project") or self.gcp.project
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "changed": False}
        try:
            self._process(t, rec, result)
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    def _read(self, rec, t, name):
        with rec.step("read", "gcp_iam", "iam.serviceAccounts.get", name) as st:
            st.outcome = "unchanged"
            account = self.gcp.get_account(t["project"], t["account_id"])
            st.details["exists"] = account is not None
            return account

    def _process(self, t, rec, result):
        project, account_id = t["project"], t["account_id"]
        name = _gcp.account_name(account_id, project)
        account = self._read(rec, t, name)
        before = _gcp.account_view(account)
        state = t["state"]
        action = "unchanged"
        after = before

        if state == "present":
            if account is None:
                account, action = self._create(rec, t, name), "created"
            else:
                changes = {}
                for option, field in (("display_name", "displayName"), ("description", "description")):
                    if t.get(option) is not None and t[option] != (account.get(field) or ""):
                        changes[field] = t[option]
                if changes:
                    account, action = self._update(rec, t, name, account, changes), "updated"
                if account.get("disabled"):
                    with rec.step("update_identity", "gcp_iam", "iam.serviceAccounts.enable", name):
                        if not self.nm.check_mode:
                            self.gcp.set_account_enabled(project, account_id, True)
                    account = dict(account, disabled=False)
                    action = "enabled" if action == "unchanged" else action
            after = _gcp.account_view(account) if account else None
        elif state == "disabled":
            if account is not None and not account.get("disabled"):
                with rec.step("suspend", "gcp_iam", "iam.serviceAccounts.disable", name) as st:
                    if not self.nm.check_mode:
                        self.gcp.set_account_enabled(project, account_id, False)
                        account = self.gcp.get_account(project, account_id)
                        ok = account is None or bool(account.get("disabled"))
                        st.verified = {"method": "iam.serviceAccounts.get", "expect": "rejected",
                                       "result": "rejected" if ok else "accepted", "ok": ok,
                                       "detail": "account reads back disabled" if ok else "account still enabled"}
                        if not ok:
                            raise NHIError("service account %s still reads back enabled" % name,
                                           where="identity %s" % t["identity"], hint="run again")
                    else:
                        account = dict(account, disabled=True)
                action = "disabled"
            after = _gcp.account_view(account)
        else:
            if account is not None:
                with rec.step("delete_identity", "gcp_iam", "iam.serviceAccounts.delete", name) as st:
                    if not self.nm.check_mode:
                        if not self.gcp.delete_account(project, account_id):
                            st.outcome = "unchanged"
                        gone = self.gcp.get_account(project, account_id) is None
                        st.verified = {"method": "iam.serviceAccounts.get", "expect": "rejected",
                                       "result": "rejected" if gone else "accepted", "ok": gone,
                                       "detail": "account no longer exists" if gone else "account still exists"}
                        if not gone:
                            raise NHIError("service account %s still exists after deletion" % name,
                                           where="identity %s" % t["identity"], hint="run again")
                action = "deleted"
            after = None
        result["changed"] = action != "unchanged"
        result["action"] = action
        result["account"] = after
        if self.nm.diff_mode:
            result["diff"] = {"before": before or {}, "after": after or {},
                              "before_header": name, "after_header": name}

    def _create(self, rec, t, name):
        with rec.step("create_identity", "gcp_iam", "iam.serviceAccounts.create", name) as st:
            if self.nm.check_mode:
                return {"email": _gcp.account_email(t["account_id"], t["project"]), "projectId": t["project"],
                        "displayName": t.get("display_name") or "", "description": t.get("description") or ""}
            try:
                account = self.gcp.create_account(t["project"], t["account_id"], t.get("display_name"),
                                                  t.get("description"))
            except Conflict:
                # Created by someone else between our read and our write: take it as it is now.
                account = self.gcp.get_account(t["project"], t["account_id"])
                if account is None:
                    raise
                st.outcome = "unchanged"
            st.details["unique_id"] = account.get("uniqueId")
            return account

    def _update(self, rec, t, name, account, changes):
        with rec.step("update_identity", "gcp_iam", "iam.serviceAccounts.patch", name,
                      details={"fields": sorted(changes)}):
            if self.nm.check_mode:
                return dict(account, **changes)
            try:
                return self.gcp.patch_account(t["project"], t["account_id"], changes, etag=account.get("etag"))
            except Conflict:
                # The etag was stale: re-read once, then apply on the fresh etag.
                fresh = self.gcp.get_account(t["project"], t["account_id"])
                if fresh is None:
                    raise
                return self.gcp.patch_account(t["project"], t["account_id"], changes, etag=fresh.get("etag"))


def _validate(target):
    account_id = target["account_id"]
    local = account_id.split("@")[0]
    if not ACCOUNT_ID_RE.fullmatch(local):
        raise NHIError("account_id %r is not a GCP account id" % account_id, where="account_id",
                       hint="use 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    _gcp.check_names(account_id, target.get("project") or None)
    if target.get("display_name") is not None and len(target["display_name"].encode("utf-8")) > 100:
        raise NHIError("display_name is longer than 100 bytes", where="display_name")
    if target.get("description") is not None and len(target["description"].encode("utf-8")) > 256:
        raise NHIError("description is longer than 256 bytes", where="description")


def main():
    nm = NHIModule(
        target_spec=dict(
            project=dict(type="str"),
            account_id=dict(type="str", required=True),
            display_name=dict(type="str"),
            description=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "disabled", "absent"]),
        ),
        connection_specs=(_gcp.argument_spec(),),
        validate=_validate,
        default_identity=lambda t: t["account_id"].split("@")[0],
    )
    try:
        gcp = _gcp.client(nm.params, pool_size=nm.params["workers"])
        missing = [t["identity"] for t in nm.targets if not (t.get("project") or gcp.project)]
        if missing:
            raise NHIError("no GCP project for %s" % ", ".join(missing[:5]), where="project / gcp_project",
                           hint="set project per target, gcp_project, or export GOOGLE_CLOUD_PROJECT")
    except NHIError as exc:
        nm.fail_connect(exc)
    nm.exit(nm.run(Accounts(nm, gcp).process))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gcp_service_account_info
short_description: Read GCP service accounts and the ages of their keys
version_added: 0.1.0
description:
  - Reads one service account, or every service account of a project, with their user-managed keys (ids,
    state and age only). Never returns key material; GCP never returns private keys after creation anyway.
  - Changes nothing. The reconcile playbook compares its answer with the catalog.
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
    description: Reads only, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Reads only; there is nothing to diff.
options:
  project:
    description: The project to read. Defaults to I(gcp_project).
    type: str
  account_id:
    description: One account (account id or email). When not given, every account of the project is read.
    type: str
  include_keys:
    description: Also list each account's user-managed keys (one extra call per account).
    type: bool
    default: true
notes:
  - Needs C(iam.serviceAccounts.list), C(iam.serviceAccounts.get) and C(iam.serviceAccountKeys.list)
    (C(roles/iam.serviceAccountViewer) and C(roles/iam.serviceAccountKeyAdmin) or a custom role).
seealso:
  - module: nhi.lifecycle.gcp_service_account
  - module: nhi.lifecycle.gcp_service_account_key_info
"""

EXAMPLES = r"""
- name: Every service account of a project, with key ages
  nhi.lifecycle.gcp_service_account_info:
    project: my-project
  register: estate

- name: One account
  nhi.lifecycle.gcp_service_account_info:
    project: my-project
    account_id: ci-deployer
    include_keys: false
  register: one
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form); the project when no account is named.
  returned: always
  type: str
  sample: ci-deployer
project:
  description: The project that was read.
  returned: always
  type: str
  sample: my-project
accounts:
  description: The accounts found (none when the named account does not exist), with their keys when asked.
  returned: success
  type: list
  elements: dict
  sample: [{"email": "ci-deployer@my-project.iam.gserviceaccount.com", "account_id": "ci-deployer",
            "project": "my-project", "unique_id": "104467833412345678901", "display_name": "CI deployer",
            "description": "", "disabled": false,
            "keys": [{"key_id": "3f1b2c9d4e5f60718293a4b5c6d7e8f901234567", "disabled": false,
                      "created": "2026-11-23T19:00:00Z", "age_days": 12.5, "key_type": "USER_MANAGED"}],
            "active_keys": 1, "oldest_key_age_days": 12.5}]
exists:
  description: Whether the named account exists (only when I(account_id) is given).
  returned: when account_id is given
  type: bool
  sample: true
evidence:
  description: One C(read) entry per target, see the evidence guide.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "read", "system": "gcp_iam", "action": "iam.serviceAccounts.get",
            "outcome": "unchanged"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "exists": true, "accounts": []}]
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

from ansible_collections.nhi.lifecycle.plugins.module_utils import _gcp
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, NotFound, utcnow
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder


def with_keys(gcp, project, view, now):
    try:
        keys = gcp.list_keys(project, view["email"])
    except NotFound:
        keys = []
    view["keys"] = [_gcp.key_view(k, now) for k in keys]
    active = [k for k in view["keys"] if not k["disabled"]]
    view["active_keys"] = len(active)
    ages = [k["age_days"] for k in view["keys"] if k["age_days"] is not None]
    view["oldest_key_age_days"] = max(ages) if ages else None
    return view


class Reader(object):
    def __init__(self, nm, gcp):
        self.nm = nm
        self.gcp = gcp

    def process(self, t):
        project = t.get("project") or self.gcp.project
        t["event"] = t.get("event") or "reconcile"
        rec = Recorder(t, False)
        result = {"identity": t["identity"] or project, "project": project, "changed": False}
        if not t.get("identity"):
            rec.identity = project
        try:
            now = utcnow()
            if t.get("account_id"):
                name = _gcp.account_name(t["account_id"], project)
                with rec.step("read", "gcp_iam", "iam.serviceAccounts.get", name) as st:
                    st.outcome = "unchanged"
                    found = self.gcp.get_account(project, t["account_id"])
                    st.details["exists"] = found is not None
                accounts = [found] if found else []
                result["exists"] = found is not None
            else:
                with rec.step("read", "gcp_iam", "iam.serviceAccounts.list", "projects/%s" % project) as st:
                    st.outcome = "unchanged"
                    accounts = self.gcp.list_accounts(project)
                    st.details["accounts"] = len(accounts)
            views = [_gcp.account_view(a) for a in accounts]
            if t["include_keys"]:
                views = [with_keys(self.gcp, project, v, now) for v in views]
            result["accounts"] = views
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result


def _validate(target):
    # The names become part of a URL path, where requests would resolve '..'.
    if target.get("account_id") is not None:
        _gcp.check_names(target["account_id"], target.get("project") or None)
    else:
        _gcp.check_project(target.get("project") or None)


def main():
    nm = NHIModule(
        target_spec=dict(
            project=dict(type="str"),
            account_id=dict(type="str"),
            include_keys=dict(type="bool", default=True),
        ),
        connection_specs=(_gcp.argument_spec(),),
        validate=_validate,
        default_identity=lambda t: t["account_id"].split("@")[0] if t.get("account_id") else t.get("project"),
    )
    try:
        gcp = _gcp.client(nm.params, pool_size=nm.params["workers"])
        if any(not (t.get("project") or gcp.project) for t in nm.targets):
            raise NHIError("no GCP project to read", where="project / gcp_project",
                           hint="set project, gcp_project, or export GOOGLE_CLOUD_PROJECT")
    except NHIError as exc:
        nm.fail_connect(exc)
    nm.exit(nm.run(Reader(nm, gcp).process))


if __name__ == "__main__":
    main()

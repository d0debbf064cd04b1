#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scim_service_user_info
short_description: Read SCIM 2.0 users and their groups, without credentials
version_added: 0.1.0
description:
  - Reads one user by C(userName), the users that match a SCIM filter, or every user of a SCIM 2.0 service,
    with their groups. Never returns credentials (SCIM never returns passwords, and any that a service sent
    anyway would be dropped).
  - Changes nothing. The reconcile playbook compares its answer with the catalog.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.scim
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
  user_name:
    description: Read the one user with this C(userName).
    type: str
  filter:
    description:
      - A SCIM filter (RFC 7644 section 3.4.2.2), for example C(active eq false) or C(userName sw "svc-").
        Ignored when I(user_name) is given. Without either, every user is read, page by page.
    type: str
  base_url:
    description: The SCIM base URL of this target's service. Defaults to I(scim_base_url).
    type: str
  include_groups:
    description: Also look up each user's groups (one extra call per user).
    type: bool
    default: true
notes:
  - Needs a token that may read Users and Groups.
seealso:
  - module: nhi.lifecycle.scim_service_user
"""

EXAMPLES = r"""
- name: One service user
  nhi.lifecycle.scim_service_user_info:
    user_name: svc-reporting
  register: svc

- name: Every deactivated user
  nhi.lifecycle.scim_service_user_info:
    filter: active eq false
    include_groups: false
  register: inactive
"""

RETURN = r"""
identity:
  description: The identity the result is about (single-target form); the user name, or C(scim) for a search.
  returned: always
  type: str
  sample: svc-reporting
exists:
  description: Whether the named user exists (only when I(user_name) is given).
  returned: when user_name is given
  type: bool
  sample: true
users:
  description: The users found, without credentials.
  returned: success
  type: list
  elements: dict
  sample: [{"id": "b2f6fbe4c5cc4f41b5da60bbccb27039", "user_name": "svc-reporting", "display_name": "Reporting robot",
            "external_id": "svc-reporting", "active": true, "emails": [], "groups": ["robots"],
            "created": "2026-11-23T19:36:53Z", "last_modified": "2026-11-23T19:36:53Z", "age_days": 3.2}]
evidence:
  description: One C(read) entry per target, see the evidence guide.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "svc-reporting", "step": "read", "system": "scim", "action": "scim:GET /Users?filter",
            "outcome": "unchanged"}]
results:
  description: One result per target, with the keys above (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "svc-reporting", "exists": true, "users": []}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 1, "changed": 0, "failed": 0}
failed_identities:
  description: The identities whose target failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

from ansible_collections.nhi.lifecycle.plugins.module_utils import _scim
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, age_days
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder


def process(nm, t):
    t["event"] = t.get("event") or "reconcile"
    rec = Recorder(t, False)
    result = {"identity": t["identity"], "changed": False}
    try:
        scim = _scim.client(nm.params, base_url=t.get("base_url"), pool_size=nm.params["workers"])
        if t.get("user_name"):
            flt = _scim.filter_eq("userName", t["user_name"])
        else:
            flt = t.get("filter")
        with rec.step("read", "scim", "scim:GET /Users?filter" if flt else "scim:GET /Users",
                      "scim:%s/Users" % scim.base_url, details={"filter": flt}) as st:
            st.outcome = "unchanged"
            if t.get("user_name"):
                found = scim.find_user(t["user_name"])
                users = [found] if found else []
                result["exists"] = found is not None
            else:
                users = scim.list_users(flt)
            st.details["users"] = len(users)
        views = []
        for user in users:
            view = _scim.user_view(user)
            view["age_days"] = age_days(view["created"]) if view.get("created") else None
            if t["include_groups"]:
                view["groups"] = sorted(g.get("displayName") for g in scim.groups_of(user["id"]))
            views.append(view)
        result["users"] = views
    except NHIError as exc:
        result.update(failed=True, msg=str(exc))
    result["_evidence"] = rec.entries
    return result


def main():
    nm = NHIModule(
        target_spec=dict(
            user_name=dict(type="str"),
            filter=dict(type="str"),
            base_url=dict(type="str"),
            include_groups=dict(type="bool", default=True),
        ),
        connection_specs=(_scim.argument_spec(),),
        default_identity=lambda t: t.get("user_name") or "scim",
    )
    # Targets may name different services (base_url): one that cannot be
    # used fails its own targets only, unless nothing else could go on.
    errors = []
    for target in nm.targets:
        try:
            _scim.client(nm.params, base_url=target.get("base_url"), pool_size=nm.params["workers"])
        except NHIError as exc:
            errors.append(exc)
    if errors and (not nm.batch or nm.params.get("fail_on_error") or len(errors) == len(nm.targets)):
        nm.fail_connect(errors[0])
    nm.exit(nm.run(lambda t: process(nm, t)))


if __name__ == "__main__":
    main()

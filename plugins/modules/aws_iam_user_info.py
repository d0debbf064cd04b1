#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_iam_user_info
short_description: Read IAM users by name or list those under a path
version_added: 0.1.0
description:
  - Reads IAM users with their tags, policies and suspension state, by name (one or a batch in I(targets)), or
    lists every user under I(path_prefix) (for drift detection).
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.aws
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Read-only.
  diff_mode:
    support: none
options:
  user_name:
    description: The user to read. Leave out to list by I(path_prefix).
    type: str
  path_prefix:
    description: List every user whose path starts with this (only when no I(user_name) and no I(targets)).
    type: str
    default: /
seealso:
  - module: nhi.lifecycle.aws_iam_user
"""

EXAMPLES = r"""
- name: One user
  nhi.lifecycle.aws_iam_user_info:
    user_name: ci-deployer
  register: user

- name: Every user the collection manages
  nhi.lifecycle.aws_iam_user_info:
    path_prefix: /nhi/
  register: managed
"""

RETURN = r"""
user:
  description: The user, or null when it does not exist (single form).
  returned: when user_name is given
  type: dict
  sample: {"user_name": "ci-deployer", "arn": "arn:aws:iam::123456789012:user/nhi/ci-deployer", "path": "/nhi/",
           "tags": {"owner": "team-platform"}, "managed_policies": [], "inline_policies": [],
           "permissions_boundary": null, "suspended": false}
users:
  description: Users under I(path_prefix) (listing form).
  returned: when neither user_name nor targets is given
  type: list
  elements: dict
  sample: [{"user_name": "ci-deployer", "path": "/nhi/", "arn": "arn:aws:iam::123456789012:user/nhi/ci-deployer"}]
results:
  description: One result per target (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "user": {"user_name": "ci-deployer"}}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 1, "changed": 0, "failed": 0}
failed_identities:
  description: The identities whose read failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule


def main():
    nm = NHIModule(
        target_spec=dict(user_name=dict(type="str")),
        connection_specs=(_aws.argument_spec(),),
        extra_spec=dict(path_prefix=dict(type="str", default="/")),
        default_identity=lambda t: t.get("user_name"),
    )
    try:
        aws = _aws.client(nm.params, pool_size=nm.params["workers"])
        iam = aws.iam
    except NHIError as exc:
        nm.fail_connect(exc)
    if not nm.batch and not nm.params.get("user_name"):
        users = []
        try:
            for page in iam.get_paginator("list_users").paginate(PathPrefix=nm.params["path_prefix"]):
                for user in page.get("Users", []):
                    users.append({"user_name": user["UserName"], "path": user.get("Path"), "arn": user.get("Arn"),
                                  "created": user["CreateDate"].isoformat() if user.get("CreateDate") else None})
        except Exception as exc:
            err = _aws.translate(exc, "listing IAM users under %s" % nm.params["path_prefix"])
            nm.module.fail_json(msg=str(err), where=err.where, hint=err.hint)
        nm.module.exit_json(changed=False, users=users)

    def one(t):
        if not t.get("user_name"):
            raise NHIError("user_name is required for each target", where="targets[%d]" % t["_index"])
        return {"identity": t["identity"], "user": _aws.read_user(iam, t["user_name"])}

    nm.exit(nm.run(one))


if __name__ == "__main__":
    main()

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Verify a run's evidence chain on the controller (documented in plugins/modules/evidence_verify.py)."""

from __future__ import annotations

import os

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

ARGUMENT_SPEC = dict(
    path=dict(type="path"),
    hmac_key=dict(type="str", no_log=True),
    expected_head=dict(type="str"),
    require_seal=dict(type="bool", default=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        path = args.get("path") or os.environ.get("NHI_EVIDENCE_DIR")
        if not path:
            raise AnsibleActionFail("no path given, and this run has no evidence directory (NHI_EVIDENCE_DIR is not "
                                    "set: is the nhi.lifecycle.evidence callback enabled?)")
        target = chain.evidence_file(path)
        if not os.path.exists(target):
            raise AnsibleActionFail("no evidence at %s" % target)
        verified = chain.verify(target, hmac_key=args.get("hmac_key") or None,
                                require_seal=args["require_seal"], expected_head=args.get("expected_head") or None)
        out = verified.as_dict()
        warnings = out.pop("warnings")
        result.update(out)
        result["changed"] = False
        for warning in warnings:
            if "not sealed" in warning and not args["require_seal"]:
                continue
            result.setdefault("warnings", []).append(warning)
        if not verified.ok:
            result["failed"] = True
            where = "seq %s" % verified.first_bad_seq if verified.first_bad_seq is not None else "the chain"
            result["msg"] = "the evidence in %s does not verify: first failure at %s: %s" % (
                target, where, verified.reason)
        else:
            result["msg"] = "%d records verified%s, head %s" % (
                verified.count, " and sealed" if verified.sealed else " (not sealed yet)", verified.head)
        return result

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: plan
short_description: Decide a lifecycle event for all of the play's identities before anything changes
version_added: 0.1.0
description:
  - Runs on the controller, once for the whole play (use C(run_once=true)).
  - Reads each identity of the play from the catalog, evaluates the policy rules and the exception register for the
    event, honours the catalog's C(authority) map, and returns, per lifecycle module, the list of targets that may
    proceed. Denied and delegated identities get no targets.
  - Fails closed, before any change, when the evidence of the run cannot be written.
  - Returns one C(policy) evidence entry per identity, naming the rule that decided.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller, once for the play (use C(run_once=true)).
options:
  event:
    description: The lifecycle event to plan.
    type: str
    required: true
    choices: [provision, rotate, offboard, reconcile]
  hosts:
    description: The identities to plan for. Defaults to C(ansible_play_batch).
    type: list
    elements: str
  rules:
    description: Policy rules (see the policies guide). The baseline rules are added unless I(include_baseline=false).
    type: list
    elements: dict
  exceptions:
    description: The exception register.
    type: list
    elements: dict
  approvals:
    description: Approval or change references for this run.
    type: list
    elements: str
  force:
    description: Rotate credentials even when they are younger than their maximum age.
    type: bool
    default: false
  include_baseline:
    description: Evaluate the collection's baseline rules too.
    type: bool
    default: true
  evidence_required:
    description: Fail closed when the evidence callback is not enabled or cannot write.
    type: bool
    default: true
  lock:
    description:
      - Take a lease on every allowed identity for the whole run (a KV v2 record under C(nhi-locks/) on the
        identity's store mount, written with check-and-set), so that a second run started at the same time skips
        those identities with a clear message instead of minting twice. M(nhi.lifecycle.outcome) releases them.
      - Defaults to true for provision, rotate and offboard. Not taken in check mode.
      - The controller reaches Vault through E(VAULT_ADDR), E(VAULT_TOKEN), E(VAULT_NAMESPACE) and E(VAULT_CACERT).
    type: bool
  workers:
    description: Worker pool for taking the locks.
    type: int
    default: 16
notes:
  - The identities are read from the inventory itself rather than through C(hostvars), which would cost about a
    millisecond per identity; set the C(nhi) variable with the P(nhi.lifecycle.catalog#inventory) inventory plugin.
seealso:
  - module: nhi.lifecycle.outcome
"""

EXAMPLES = r"""
- name: Plan a rotation of every identity in the play
  nhi.lifecycle.plan:
    event: rotate
    rules: "{{ nhi_policy_rules }}"
    exceptions: "{{ nhi_exceptions }}"
    approvals: [CHG-1234]
  run_once: true
  register: plan

- name: Rotate what policy allowed
  nhi.lifecycle.aws_access_key:
    targets: "{{ plan.targets.aws_access_key | default([]) }}"
  run_once: true
"""

RETURN = r"""
targets:
  description: Per lifecycle module (and per step, such as C(aws_iam_user_suspend)), the targets that may proceed.
  returned: success
  type: dict
  sample: {"aws_access_key": [{"identity": "ci-deployer", "user_name": "ci-deployer", "state": "rotated",
           "store": {"mount": "secret", "path": "nhi/dev/ci-deployer"}}]}
evidence:
  description: One C(policy) entry per identity with the decision and the rule that made it.
  returned: success
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "policy", "outcome": "unchanged",
            "decision": {"effect": "allow", "rule": "nhi.default"}}]
allowed:
  description: Identities that may proceed.
  returned: success
  type: list
  elements: str
  sample: [ci-deployer]
denied:
  description: Identities that policy denied.
  returned: success
  type: list
  elements: str
  sample: []
delegated:
  description: Identities whose event belongs to another system.
  returned: success
  type: list
  elements: str
  sample: []
refused:
  description: Identities whose event belongs to another system and whose catalog entry says to fail.
  returned: success
  type: list
  elements: str
  sample: []
locked:
  description: Identities that another live run holds; they get no targets this run.
  returned: success
  type: list
  elements: str
  sample: []
lock_errors:
  description: Why each locked identity could not be taken.
  returned: success
  type: dict
  sample: {}
held_locks:
  description:
    - The locks this run took, for M(nhi.lifecycle.outcome) to release, each with the end of its lease.
  returned: success
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "mount": "secret", "expires": "2026-11-23T19:57:03.000Z"}]
run_id:
  description: The run id the locks and the stored metadata carry.
  returned: success
  type: str
  sample: 20261123T192703Z-ab12cd
expired:
  description: Temporary identities past C(expires_at); a rotate run offboards them.
  returned: success
  type: list
  elements: str
  sample: []
counts:
  description: How many identities are in each list.
  returned: success
  type: dict
  sample: {"allowed": 3, "denied": 1, "delegated": 0, "failed": 0, "expired": 0}
evidence_dir:
  description: The directory of this run's evidence.
  returned: success
  type: str
  sample: evidence/20261123T192703Z-ab12
nhi_exceptions_report:
  description: Open and expired exceptions.
  returned: success
  type: dict
  sample: {"open": [], "expired": []}
"""

#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drift
short_description: Compare the catalog with the real state of every system, and plan the fix of the drift
version_added: 0.1.0
description:
  - Runs on the controller, once for the whole play (use C(run_once=true)). It makes no call to any system itself.
  - With I(phase=targets), returns the targets of the read-only C(_info) modules for all of the play's identities
    (one batch per system) and the scopes that discovery lists (every IAM path other than C(/) of the catalog).
  - With I(phase=compare), folds the registered results of those reads into one view per identity and returns the
    drift, one entry per identity and class, each with a severity, the systems involved, the owner, a detail, the
    remediation and whether the catalog's authority map gives that remediation to nhi.lifecycle.
  - With I(remediate=true), also returns plan-shaped C(targets), decided by the policy rules for the event each fix
    amounts to (C(rotate), C(offboard) or C(provision)) and restricted to what the authority map gives to
    nhi.lifecycle; drift whose fix belongs to another system stays C(remediation=report) with the reason. The lifecycle
    steps then run those targets in order (C(nhi.lifecycle.lifecycle) role, C(tasks_from=steps)).
  - Returns one C(drift) evidence entry per drift item, and the key C(nhi_drift) that the evidence callback sums by
    class into C(summary.json) and the report.
  - See the reconcile guide for the drift classes, their severity and their remediation.
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
    details: Only reads; in check mode it takes no locks, and the remediation steps report what they would do.
  diff_mode:
    support: none
  platform:
    platforms: all
    details: Runs on the controller, once for the play (use C(run_once=true)); it calls no system itself.
options:
  phase:
    description: C(targets) to build what to read, C(compare) to find the drift.
    type: str
    choices: [targets, compare]
    default: compare
  plan:
    description: The registered result of M(nhi.lifecycle.plan) with C(event=reconcile); denied identities are left out.
    type: dict
    required: true
  reads:
    description:
      - The registered results of the reads, by name. C(store) (M(nhi.lifecycle.vault_kv_secret_info)), C(aws_user)
        (M(nhi.lifecycle.aws_iam_user_info)), C(aws_keys) (M(nhi.lifecycle.aws_access_key_info)), C(approle)
        (M(nhi.lifecycle.vault_approle_info)), C(gcp) (M(nhi.lifecycle.gcp_service_account_info)) and C(scim)
        (M(nhi.lifecycle.scim_service_user_info)), each in batch form; C(aws_paths), the listing of IAM users under
        each managed path (looped M(nhi.lifecycle.aws_iam_user_info)); C(store_listing), the listing of stored secrets
        under each store folder (looped M(nhi.lifecycle.vault_kv_secret_info) with I(path_prefix)).
      - An identity whose read failed is reported as not reconciled and fails the run; no drift is claimed for it.
    type: dict
  previous:
    description: The registered result of the first compare of this run; the entries it had and that are gone now are
      recorded as remediated.
    type: dict
  remediate:
    description: Plan the fix of the drift that nhi.lifecycle may fix.
    type: bool
    default: false
  fail_on:
    description: Set C(gate.failed) when drift at or above this severity remains, or when some identity could not be
      read.
    type: str
    choices: [none, low, medium, high, critical]
    default: none
  unused_days:
    description: A credential that has not been used for this many days is C(credential_unused) (where the system
      reports last use).
    type: int
  disabled_policies:
    description: Inline policy names and managed policy names or ARNs that mean an IAM user is disabled.
    type: list
    elements: str
  discover:
    description: List the managed scopes to find identities and stored credentials that are in no catalog.
    type: bool
    default: true
  rules:
    description: Policy rules, as for M(nhi.lifecycle.plan).
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
  include_baseline:
    description: Evaluate the collection's baseline rules too.
    type: bool
    default: true
  lock:
    description: Take the run's lock on every identity whose fix is allowed (released by M(nhi.lifecycle.outcome)).
    type: bool
    default: true
  workers:
    description: Worker pool size for taking the locks.
    type: int
    default: 16
notes:
  - The catalog identities are read from the inventory itself, like M(nhi.lifecycle.plan) does. Discovery compares
    with every identity of the inventory, not only the play's, so C(--limit) never makes an identity look unmanaged.
seealso:
  - module: nhi.lifecycle.plan
  - module: nhi.lifecycle.outcome
"""

EXAMPLES = r"""
- name: What to read
  nhi.lifecycle.drift:
    phase: targets
    plan: "{{ reconcile_plan }}"
  run_once: true
  register: reads

- name: Read the IAM users in one module run
  nhi.lifecycle.aws_iam_user_info:
    targets: "{{ reads.read.aws_user }}"
    fail_on_error: false
  run_once: true
  when: reads.read.aws_user | length > 0
  register: aws_user

- name: Compare
  nhi.lifecycle.drift:
    plan: "{{ reconcile_plan }}"
    reads:
      aws_user: "{{ aws_user }}"
    fail_on: high
  run_once: true
  register: drift
"""

RETURN = r"""
read:
  description: With I(phase=targets), the targets of each read (C(store), C(aws_user), C(aws_keys), C(approle), C(gcp),
    C(scim)), the IAM paths to list (C(aws_paths)) and the store prefixes (C(store_prefixes)).
  returned: phase=targets
  type: dict
  sample: {"aws_user": [{"identity": "ci-deployer", "user_name": "ci-deployer"}], "aws_paths": ["/nhi/"]}
drift:
  description: The drift found, worst first.
  returned: phase=compare
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "class": "stored_credential_orphaned", "severity": "critical",
            "systems": ["aws_iam", "vault"], "owner": "team-platform", "remediation": "revoke_stored",
            "authority_ok": true, "reason": null,
            "detail": "iam user ci-deployer is disabled (nhi-suspended); the store still holds access key AKIA..."}]
nhi_drift:
  description: The same list with C(drift_class), for the evidence callback's summary.
  returned: phase=compare
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "drift_class": "stored_credential_orphaned", "severity": "critical"}]
counts:
  description: Drift by class and by severity.
  returned: phase=compare
  type: dict
  sample: {"total": 1, "by_class": {"stored_credential_orphaned": 1}, "by_severity": {"critical": 1}}
resolved:
  description: With I(previous), the drift of the first compare that is gone now.
  returned: phase=compare
  type: list
  elements: dict
  sample: []
evidence:
  description: One C(drift) entry per drift item (C(outcome=unchanged); C(changed) for a resolved one), and one
    C(policy) entry per identity whose fix was decided.
  returned: phase=compare
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "drift", "outcome": "unchanged",
            "details": {"drift_class": "stored_credential_orphaned", "severity": "critical",
                        "remediation": "revoke_stored"}}]
targets:
  description: With I(remediate=true), per lifecycle module, the targets of the allowed fixes (the same keys as
    M(nhi.lifecycle.plan) returns, plus C(vault_kv_secret_destroy)).
  returned: phase=compare
  type: dict
  sample: {"aws_access_key": [{"identity": "ci-deployer", "user_name": "ci-deployer", "state": "absent",
           "store": {"mount": "secret", "path": "nhi/dev/ci-deployer"}}]}
remediation:
  description: The one fix chosen per identity.
  returned: phase=compare
  type: dict
  sample: {"ci-deployer": "revoke_stored"}
allowed:
  description: The identities that were read (and whose fix, if any, policy allowed).
  returned: phase=compare
  type: list
  elements: str
  sample: [ci-deployer]
denied:
  description: Identities that policy denied (for reconcile, or for their fix).
  returned: phase=compare
  type: list
  elements: str
  sample: []
delegated:
  description: Identities with drift whose fix belongs to another system.
  returned: phase=compare
  type: list
  elements: str
  sample: []
unread:
  description: Identities whose state could not be read, with the reason.
  returned: phase=compare
  type: dict
  sample: {}
gate:
  description: The CI gate of I(fail_on).
  returned: phase=compare
  type: dict
  sample: {"fail_on": "high", "failed": true, "count": 1, "msg": "reconcile gate fail_on=high: 1 drift item(s) ..."}
held_locks:
  description: The identity locks this run took for the fixes (released by M(nhi.lifecycle.outcome)).
  returned: phase=compare
  type: list
  elements: dict
  sample: []
"""

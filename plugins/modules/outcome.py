#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: outcome
short_description: Report what a lifecycle event did to each identity, and check the evidence is complete
version_added: 0.1.0
description:
  - Runs on the controller, once, as the last step of a lifecycle event.
  - Folds the plan and the batch results into one status per identity (changed, unchanged, failed, denied,
    delegated) and prints a line per identity with its steps and proofs.
  - Checks that every evidence entry the steps returned is in the run's C(evidence.jsonl). A callback error only
    produces a warning in Ansible, so a missing record fails the run here.
  - Fails the run when an identity failed or was denied, unless told otherwise.
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
    description: The event, for the report.
    type: str
  plan:
    description:
      - The registered result of M(nhi.lifecycle.plan).
      - Required unless I(plan_var) is given.
    type: dict
  plan_var:
    description:
      - The name of the variable that holds the registered result of M(nhi.lifecycle.plan).
      - The action reads it as registered, without templating it, which saves seconds at tens of thousands of
        identities. Use instead of I(plan).
    type: str
  results:
    description: The registered results of the batch steps (skipped ones are ignored).
    type: list
    elements: dict
  result_vars:
    description:
      - Names of variables that hold registered results of batch steps, read as registered, without templating.
        They are added to I(results).
      - A name that is not defined (its task never ran) is ignored, as a skipped result is.
    type: list
    elements: str
  fail_on_error:
    description: Fail when any identity failed a step.
    type: bool
    default: true
  fail_on_deny:
    description: Fail when policy denied any identity.
    type: bool
    default: true
  evidence_required:
    description: Check the evidence file for completeness.
    type: bool
    default: true
seealso:
  - module: nhi.lifecycle.plan
"""

EXAMPLES = r"""
- name: Report and check evidence
  nhi.lifecycle.outcome:
    event: rotate
    plan: "{{ plan }}"
    results: ["{{ keys }}"]
  run_once: true

- name: The same for a large estate, reading the registered results by name
  nhi.lifecycle.outcome:
    event: rotate
    plan_var: plan
    result_vars: [keys]
  run_once: true
"""

RETURN = r"""
identities:
  description: Per identity, its status, the steps with their outcome marks, and errors.
  returned: always
  type: dict
  sample: {"ci-deployer": {"status": "changed", "steps": ["mint+", "store+", "prove_new\u2713"], "errors": []}}
counts:
  description: How many identities ended in each status.
  returned: always
  type: dict
  sample: {"changed": 3, "denied": 1}
failed_identities:
  description: Identities that failed.
  returned: always
  type: list
  elements: str
  sample: []
denied_identities:
  description: Identities that policy denied.
  returned: always
  type: list
  elements: str
  sample: []
evidence_dir:
  description: The run's evidence directory.
  returned: always
  type: str
  sample: evidence/20261123T192703Z-ab12
evidence_entries:
  description: How many evidence entries the steps returned (all found in the file).
  returned: always
  type: int
  sample: 24
"""

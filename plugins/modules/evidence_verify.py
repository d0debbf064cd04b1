#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file only documents the action; the nhi.lifecycle.evidence_verify action plugin does the work
# on the controller, as ansible.builtin does for its action-only plugins.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: evidence_verify
short_description: Verify the tamper-evident evidence of a run
version_added: 0.1.0
description:
  - Verifies the hash chain of an evidence directory written by the P(nhi.lifecycle.evidence#callback)
    callback, on the controller. It detects any edited, deleted, inserted, reordered or truncated record,
    data after the seal, and a missing or forged seal; with O(hmac_key) it also detects any record whose
    HMAC does not match, that is a chain rebuilt by someone without the key.
  - Fails when the evidence does not verify, and says which record is the first that fails.
  - Without O(path) it verifies the evidence of the current run (E(NHI_EVIDENCE_DIR)). The current run
    is sealed only when it ends, so use O(require_seal=false) there; that makes a last play a check that
    the evidence written so far is whole.
  - The same check is available outside Ansible as C(nhi-evidence verify DIR) (C(tools/nhi-evidence) in
    the collection).
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
options:
  path:
    description:
      - The run directory (holding C(evidence.jsonl)), or the C(evidence.jsonl) file itself.
      - Defaults to the current run's directory, E(NHI_EVIDENCE_DIR).
      - A relative path is relative to the directory that C(ansible-playbook) runs in.
    type: path
  hmac_key:
    description:
      - The HMAC key the run was written with (the value of E(NHI_EVIDENCE_HMAC_KEY) at the time).
      - When given, every record must carry a matching HMAC-SHA256.
      - When not given and the chain is keyed, only the SHA-256 chain is checked, and a warning says so.
    type: str
  expected_head:
    description:
      - The chain head that the run printed at its end (AWX keeps it in the job output). A chain that was
        rebuilt from scratch without the key has another head.
    type: str
  require_seal:
    description:
      - Whether the chain must end with its seal. Set V(false) to check the evidence of a run in progress.
    type: bool
    default: true
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
    details: Runs on the controller.
notes:
  - The HMAC key is a secret; pass it from a vault or the environment, never in plain text.
  - Runs once per host like any task; use C(run_once=true).
seealso:
  - plugin: nhi.lifecycle.evidence
    plugin_type: callback
"""

EXAMPLES = r"""
- name: Verify the evidence of an earlier run
  nhi.lifecycle.evidence_verify:
    path: evidence/20261123T192703Z-3fa9c1
    hmac_key: "{{ lookup('ansible.builtin.env', 'NHI_EVIDENCE_HMAC_KEY') }}"
  run_once: true
  delegate_to: localhost

- name: Last play of a run - the evidence written so far is whole
  nhi.lifecycle.evidence_verify:
    require_seal: false
  run_once: true
"""

RETURN = r"""
ok:
  description: Whether the evidence verifies.
  returned: always
  type: bool
  sample: true
count:
  description: The number of step records that verified (the seal is not counted).
  returned: always
  type: int
  sample: 60000
head:
  description: The hash of the last record that verified; for a whole chain, the chain head in the seal.
  returned: always
  type: str
  sample: 3675a683613b4f0e3ca6fca685f3f32a4966cd643889b817e830f7f55876c63b
first_bad_seq:
  description: The position (C(seq)) of the first record that fails, or null.
  returned: always
  type: int
  sample: null
line:
  description: The line of C(evidence.jsonl) where verification failed, or null.
  returned: always
  type: int
  sample: null
reason:
  description: Why verification failed, or null.
  returned: always
  type: str
  sample: null
sealed:
  description: Whether the chain ends with its seal.
  returned: always
  type: bool
  sample: true
keyed:
  description: Whether the records carry an HMAC.
  returned: always
  type: bool
  sample: true
hmac_checked:
  description: Whether the HMAC of every record was checked with O(hmac_key).
  returned: always
  type: bool
  sample: true
run_id:
  description: The run id in the evidence.
  returned: always
  type: str
  sample: 20261123T192703Z-3fa9c1
path:
  description: The evidence file that was verified.
  returned: always
  type: str
  sample: /srv/nhi/evidence/20261123T192703Z-3fa9c1/evidence.jsonl
"""

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations


class ModuleDocFragment(object):
    """The batch form every lifecycle module accepts; see module_utils/_module.py."""

    DOCUMENTATION = r"""
options:
  targets:
    description:
      - Work on many targets in one module run. Each item takes the module's per-target options
        (the ones this page lists besides the connection and batch options); top-level values are defaults
        for every item.
      - Every item is validated before anything changes. Then the targets are worked through by a pool of
        I(workers); each gets its own result in RV(results), and one failing target never hides the others.
    type: list
    elements: dict
  workers:
    description: Size of the worker pool for a batch.
    type: int
    default: 8
  fail_on_error:
    description:
      - Fail the task when any target failed. The lifecycle roles turn this off and carry the failed
        identities forward, so that the others finish.
    type: bool
    default: true
  run_id:
    description: The run id stamped into stored metadata. Falls back to E(NHI_RUN_ID), set by the evidence callback.
    type: str
  lock:
    description:
      - Take each identity's lease lock (a KV v2 record under C(nhi-locks/), written with check-and-set) around
        its changes, so that two runs never change the same identity at once.
      - The lifecycle roles turn this off because M(nhi.lifecycle.plan) already holds the lock for the whole run.
    type: bool
    default: true
  identity:
    description: The catalog name of the identity; used in results and evidence. Defaults to the resource name.
    type: str
  event:
    description: The lifecycle event this change belongs to, for the evidence.
    type: str
    choices: [provision, rotate, offboard, reconcile, adhoc]
  decision:
    description: The policy decision that allowed this change (from M(nhi.lifecycle.plan)), for the evidence.
    type: dict
  authority:
    description: The system that is authoritative for this event, for the evidence.
    type: str
"""

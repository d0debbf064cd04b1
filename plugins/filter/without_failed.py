# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
name: without_failed
short_description: Drop the targets whose identity failed an earlier step
version_added: 0.1.0
description:
  - Takes a list of module targets (dicts with an C(identity) key) and any number of registered batch results,
    and returns the targets whose identity is not in any result's C(failed_identities).
  - The lifecycle roles use it so that an identity that failed one step is not carried into the next, while the
    other identities go on.
positional: _input, _results
options:
  _input:
    description: The targets.
    type: list
    elements: dict
    required: true
  _results:
    description: Registered results of earlier batch tasks (skipped tasks are ignored).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Only mint keys for identities whose user was created
  nhi.lifecycle.aws_access_key:
    targets: "{{ __keys | nhi.lifecycle.without_failed(__users) }}"
"""

RETURN = r"""
_value:
  description: The targets that may go on.
  type: list
  elements: dict
"""


def without_failed(targets, *results):
    failed = set()
    for result in results:
        if isinstance(result, dict):
            failed.update(result.get("failed_identities") or [])
    if not failed:
        return list(targets or [])
    return [t for t in (targets or []) if t.get("identity") not in failed]


class FilterModule(object):
    def filters(self):
        return {"without_failed": without_failed}

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
name: aws_access_keys
short_description: The access keys of IAM users, with their status and age
version_added: 0.1.0
description:
  - Returns, for each IAM user named in the terms, the list of its access keys with id, status, creation time,
    age in days and last use. Never returns secrets.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - nhi.lifecycle.aws
  - nhi.lifecycle.aws.plugins
options:
  _terms:
    description: IAM user names.
    type: list
    elements: str
    required: true
  include_last_used:
    description: Look up when each key was last used (one call per key).
    type: bool
    default: true
seealso:
  - module: nhi.lifecycle.aws_access_key_info
"""

EXAMPLES = r"""
- name: Warn about old keys
  ansible.builtin.debug:
    msg: "{{ item.access_key_id }} of ci-deployer is {{ item.age_days }} days old"
  loop: "{{ lookup('nhi.lifecycle.aws_access_keys', 'ci-deployer', wantlist=true) | first }}"
  when: item.age_days > 90
"""

RETURN = r"""
_raw:
  description: One list of keys per user name.
  type: list
  elements: list
  sample: [[{"access_key_id": "AKIAIOSFODNN7EXAMPLE", "status": "Active", "created": "2026-11-23T19:00:00.000Z",
             "age_days": 12.5, "last_used": null}]]
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws
from ansible_collections.nhi.lifecycle.plugins.module_utils._aws_keys import read_keys
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, OptionAdapter


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        try:
            aws = _aws.client(OptionAdapter(self.get_option))
            out = []
            for user in terms:
                exists, keys = read_keys(aws, user, self.get_option("include_last_used"))
                if not exists:
                    raise NHIError("IAM user %r does not exist" % user, where="lookup term")
                out.append(keys)
            return out
        except NHIError as exc:
            raise AnsibleError("nhi.lifecycle.aws_access_keys: %s" % exc)

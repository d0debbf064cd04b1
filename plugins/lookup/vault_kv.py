# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vault_kv
short_description: Read a stored credential (or any KV v2 secret) from Vault
version_added: 0.1.0
description:
  - Returns, for each path in the terms, the data of the latest (or the given) version of a KV v2 secret in
    Vault or OpenBao, or only one I(field) of it.
  - "B(The results are secret.) Every task that uses this lookup must set C(no_log: true), and the values should
    go straight to where they are needed (a template, a module option marked C(no_log)), never into a
    registered variable, a fact or C(debug)."
  - The values are marked unsafe, so that a stored value that looks like a Jinja2 template is never evaluated.
  - Uses the same connection code and options as the modules, from the plugin sources listed below
    (environment, C(ansible.cfg) section C([nhi_vault]), variables).
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - nhi.lifecycle.vault
  - nhi.lifecycle.vault.plugins
options:
  _terms:
    description: Paths of the secrets under I(mount), such as C(nhi/dev/etl-loader).
    type: list
    elements: str
    required: true
  mount:
    description: The KV v2 mount.
    type: str
    default: secret
  field:
    description: Return only this field of each secret. A secret without the field is an error.
    type: str
  version:
    description: Read this version instead of the latest.
    type: int
notes:
  - A path that does not exist, or whose version is deleted or destroyed, is an error, never an empty result.
  - Needs C(read) on C(<mount>/data/<path>).
seealso:
  - module: nhi.lifecycle.vault_kv_secret_info
  - module: nhi.lifecycle.vault_approle
  - module: nhi.lifecycle.vault_token
"""

EXAMPLES = r"""
- name: Render the AppRole credential of a service into its config (never into a variable)
  ansible.builtin.template:
    src: agent.hcl.j2
    dest: /etc/agent/agent.hcl
    mode: "0600"
  vars:
    approle: "{{ lookup('nhi.lifecycle.vault_kv', 'nhi/prod/etl-loader') }}"
  no_log: true

- name: One field only
  ansible.builtin.copy:
    content: "{{ lookup('nhi.lifecycle.vault_kv', 'nhi/prod/prometheus-token', field='token') }}"
    dest: /etc/prometheus/vault-token
    mode: "0600"
  no_log: true
"""

RETURN = r"""
_raw:
  description: One item per path, the secret's data (a dict), or the value of I(field). Secret.
  type: list
  elements: raw
  sample: [{"role_id": "0bd6bf1e-5f2a-c8a1-3c8c-8b9d1d6d3f0a", "secret_id": "(secret)", "identity": "etl-loader"}]
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase
from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.nhi.lifecycle.plugins.module_utils import _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, OptionAdapter


def pick(data, path, field):
    """The secret's data, or one field of it; NHIError when there is nothing to return."""
    if data is None:
        raise NHIError("no readable secret at %s (absent, deleted or destroyed)" % path, where="lookup term")
    if field is None:
        return data
    if field not in data:
        raise NHIError("the secret at %s has no field %r (it has: %s)" % (path, field, ", ".join(sorted(data))),
                       where="field")
    return data[field]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        mount = self.get_option("mount")
        field = self.get_option("field")
        version = self.get_option("version")
        try:
            # A connection per lookup call: the module run's shared cache is
            # keyed for one short-lived process, not for a controller.
            conn = _vault.VaultConnection(OptionAdapter(self.get_option), pool_size=1)
            out = []
            for term in terms:
                path = str(term).strip().strip("/")
                if not path or ".." in path.split("/"):
                    raise NHIError("malformed KV path %r" % term, where="lookup term")
                data, _meta = conn.kv_read(mount, path, version=version)
                out.append(pick(data, "%s/%s" % (mount, path), field))
        except NHIError as exc:
            raise AnsibleError("nhi.lifecycle.vault_kv: %s" % exc)
        return wrap_var(out)

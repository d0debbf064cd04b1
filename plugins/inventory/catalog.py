# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
name: catalog
short_description: The catalog of non-human identities, one inventory host per identity
version_added: 0.1.0
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
description:
  - Reads a catalog of non-human identities (NHIs) from a C(*.nhi.yml) or C(*.nhi.yaml) file and adds one
    inventory host per identity, named after the identity.
  - Every identity is placed in the group C(nhi) and in the groups C(nhi_kind_<kind>), C(nhi_env_<environment>)
    and C(nhi_owner_<owner>); characters outside C([A-Za-z0-9_]) in the group names become C(_).
    The C(nhi_kind_*), C(nhi_env_*) and C(nhi_owner_*) groups are children of C(nhi).
  - Each host gets exactly one host variable, C(nhi), holding the normalised identity (file C(defaults)
    deep-merged under it and every default filled in). The group C(nhi) carries C(ansible_connection=local)
    and C(ansible_python_interpreter={{ ansible_playbook_python }}).
  - The file is parsed with libyaml's C safe loader, not with Ansible's YAML loader, so 10,000 identities
    load and validate in a few seconds. Catalog values are data, never templates, and are not templated.
  - The whole file is validated before any host is added. Every problem is reported (up to 50), each naming
    the file, the identity (name and 1-based index), the field path and what is expected. A file with any
    problem adds no host at all. Names must be unique across all catalog files of the inventory.
  - Set C(any_unparsed_is_failed = True) in the C([inventory]) section of C(ansible.cfg) so that an invalid catalog
    stops the run. A failed file also leaves its messages in the variable C(nhi_catalog_errors) of the group C(all),
    so that the collection's playbooks refuse to act even when the run goes on.
  - Enable the plugin ahead of C(auto) and C(yaml) in C([inventory] enable_plugins); reached through C(auto),
    the file is first read once more with the slower Ansible YAML loader.
  - See the collection's C(docs/catalog.md) for every field, its default and the validation rules.
options:
  plugin:
    description: Marks this file as a catalog for this plugin.
    type: str
    required: true
    choices: [nhi.lifecycle.catalog]
  defaults:
    description:
      - Fields deep-merged under every identity of this file (mappings merge, other values replace).
      - A kind block (V(aws), V(gcp), V(vault), V(scim)) in C(defaults) applies only to identities of that kind.
      - Anything an identity may carry except C(identities[].name).
    type: dict
    default: {}
  known_owners:
    description:
      - If set, every identity's C(owner) must be one of these.
    type: list
    elements: str
  identities:
    description:
      - The identities. Each has C(name), C(kind), C(owner), C(environment), optionally C(purpose), C(temporary),
        C(expires_at), C(store), C(authority), C(on_foreign_authority), C(rotation), C(offboard), and the block
        that matches its kind (C(aws), C(gcp), C(vault) or C(scim)). See C(docs/catalog.md).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - constructed
notes:
  - O(compose), O(groups) and O(keyed_groups) are evaluated per host and cost Ansible templating time
    (roughly a millisecond per host per expression); with none set the plugin does no templating at all.
  - Vault-encrypted catalog files are refused; a catalog holds no secrets.
seealso:
  - name: Catalog format
    description: Every field, default, group and error of the catalog.
    link: https://example.invalid/nhi/lifecycle/docs/catalog.html
"""

EXAMPLES = r"""
# inventories/dev/platform.nhi.yml
plugin: nhi.lifecycle.catalog
defaults:
  owner: team-platform
  environment: dev
  store: {mount: secret, path_prefix: nhi/dev}
  rotation: {max_age_days: 90, overlap_hours: 0}
known_owners: [team-platform, team-data]
identities:
  - name: ci-deployer
    kind: aws_iam_user
    purpose: CI deploys to the dev account
    aws:
      path: /nhi/
      managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]
  - name: etl-approle
    kind: vault_approle
    owner: team-data
    purpose: Nightly ETL reads the warehouse credentials
    vault: {token_policies: [etl-read], token_ttl: 1h}
  - name: gcp-reporter
    kind: gcp_service_account
    purpose: Builds the weekly cost report
    gcp: {project: nhi-dev-reports, account_id: gcp-reporter}
    rotation: {max_age_days: 30}
  - name: breakglass-ops
    kind: scim_service_user
    purpose: Break-glass access to the ticketing SaaS
    temporary: true
    expires_at: 2026-12-31T00:00:00Z
    scim: {base_url: "https://scim.example.com/scim/v2"}
    offboard: {mode: suspend}

# Show the catalog as Ansible sees it:
#   ansible-inventory -i inventories/dev --graph
#   ansible-inventory -i inventories/dev --host ci-deployer

# Extra groups built from the normalised identity (Constructable):
#   keyed_groups:
#     - key: nhi.aws.path | default('none')
#       prefix: nhi_aws_path
#   groups:
#     nhi_long_lived: nhi.rotation.max_age_days > 180
"""

import os

from ansible.errors import AnsibleParserError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

try:  # ansible-core >= 2.19: a string is templated only when it is trusted
    from ansible.template import trust_as_template as _trust
    _DATA_TAGGING = True
    _wrap_var = None
except ImportError:  # pragma: no cover - ansible-core < 2.19
    from ansible.utils.unsafe_proxy import wrap_var as _wrap_var
    _DATA_TAGGING = False

    def _trust(value):
        return value

from ansible_collections.nhi.lifecycle.plugins.module_utils._catalog import (
    CatalogError,
    load_catalog_text,
    safe_group_name,
    validate_catalog,
)

_CONSTRUCTABLE = ('strict', 'compose', 'groups', 'keyed_groups', 'use_extra_vars', 'leading_separator')
ERRORS_VAR = 'nhi_catalog_errors'


def _is_inert(text):
    """A string that no Jinja delimiter can start: templating it is the identity, so trusting it is harmless."""
    return '{' not in text and not text.startswith('#jinja2:')


def _data(value, memo=None):
    """Mark catalog values as data that is never templated.

    On ansible-core 2.19+ a string is templated only when it is trusted. Inert
    strings (no ``{``) are trusted, which changes nothing when they are rendered
    and keeps ``ansible-inventory --list`` (and so AWX inventory imports) free
    of ``__ansible_unsafe`` markers; strings that could hold a template stay
    untrusted and are never rendered. On older cores the same split is made
    with ``wrap_var`` (the approach community.general took for AWX's sake).
    ``memo`` shares one marked copy of each repeated string across hosts.
    """
    if isinstance(value, dict):
        return dict((k, _data(v, memo)) for k, v in value.items())
    if isinstance(value, list):
        return [_data(v, memo) for v in value]
    if isinstance(value, str):
        if memo is not None:
            hit = memo.get(value)
            if hit is not None:
                return hit
        if _is_inert(value):
            out = _trust(value) if _DATA_TAGGING else value
        else:
            out = value if _DATA_TAGGING else _wrap_var(value)
        if memo is not None and len(value) <= 128:
            memo[value] = out
        return out
    return value


def _display_path(path):
    """The path as the user will recognise it: relative to the working directory when inside it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # different drive
        return path
    return path if rel.startswith('..') else rel


class InventoryModule(BaseInventoryPlugin, Constructable):
    """Catalog of non-human identities."""

    NAME = 'nhi.lifecycle.catalog'
    # catalog values must never become templates: trust is applied by _data(), never wholesale
    trusted_by_default = False

    def verify_file(self, path):
        if not super().verify_file(path):
            return False
        return path.endswith(('.nhi.yml', '.nhi.yaml'))

    def _read(self, path, source):
        try:
            with open(to_bytes(path, errors='surrogate_or_strict'), 'rb') as handle:
                text = handle.read()
        except (IOError, OSError) as exc:
            raise CatalogError(['%s: cannot read the file (%s)' % (source, to_native(exc))], source=source)
        return load_catalog_text(text, source)

    def _known_names(self):
        known = {}
        for name, host in self.inventory.hosts.items():
            identity = host.vars.get('nhi') if hasattr(host, 'vars') else None
            if isinstance(identity, dict):
                known[name] = identity.get('source') or 'another catalog'
        return known

    def _record_failure(self, source, exc):
        """Leave a trace on group 'all' so that the playbooks fail closed even if the run goes on."""
        try:
            current = self.inventory.groups['all'].vars.get(ERRORS_VAR) or []
            if any(item.get('source') == source for item in current):
                return
            entry = {'source': source, 'errors': list(getattr(exc, 'errors', [str(exc)]))}
            self.inventory.set_variable('all', ERRORS_VAR, _data(list(current) + [entry]))
        except Exception:  # pylint: disable=broad-except  # never mask the real error
            pass

    def parse(self, inventory, loader, path, cache=True):
        super().parse(inventory, loader, path, cache=cache)
        source = _display_path(path)
        try:
            doc = self._read(path, source)
            if not isinstance(doc, dict) or doc.get('plugin') != self.NAME:
                found = doc.get('plugin') if isinstance(doc, dict) else None
                raise CatalogError(['%s: not a catalog: expected "plugin: %s" at the top, got %r'
                                    % (source, self.NAME, found)], source=source)
            identities = validate_catalog(doc, source, known_names=self._known_names())
            options = dict((key, doc[key]) for key in _CONSTRUCTABLE if key in doc)
            options['plugin'] = doc['plugin']
            options['identities'] = []  # validated above; the option system need not walk thousands of entries
            try:
                self.set_options(direct=options)
            except Exception as exc:  # pylint: disable=broad-except
                raise CatalogError(['%s: %s' % (source, to_native(exc))], source=source)
        except CatalogError as exc:
            self._record_failure(source, exc)
            raise AnsibleParserError(str(exc))
        self._populate(identities)

    def _populate(self, identities):
        inventory = self.inventory
        inventory.add_group('nhi')
        inventory.set_variable('nhi', 'ansible_connection', 'local')
        inventory.set_variable('nhi', 'ansible_python_interpreter', _trust('{{ ansible_playbook_python }}'))

        groups = set()
        for identity in identities:
            for group in (safe_group_name('nhi_kind_', identity['kind']),
                          safe_group_name('nhi_env_', identity['environment']),
                          safe_group_name('nhi_owner_', identity['owner'])):
                if group not in groups:
                    groups.add(group)
                    inventory.add_group(group)
                    inventory.add_child('nhi', group)

        constructed = self._construct_options()
        memo = {}
        for identity in identities:
            name = identity['name']
            inventory.add_host(name, group='nhi')
            inventory.add_host(name, group=safe_group_name('nhi_kind_', identity['kind']))
            inventory.add_host(name, group=safe_group_name('nhi_env_', identity['environment']))
            inventory.add_host(name, group=safe_group_name('nhi_owner_', identity['owner']))
            inventory.set_variable(name, 'nhi', _data(identity, memo))
            if constructed:
                self._construct(name, identity, constructed)

    def _construct_options(self):
        compose = self.get_option('compose') or {}
        groups = self.get_option('groups') or {}
        keyed = self.get_option('keyed_groups') or []
        if not (compose or groups or keyed):
            return None
        # these expressions come from the catalog's own options, written by its author: trust them as templates
        compose = dict((k, _trust(v) if isinstance(v, str) else v) for k, v in compose.items())
        groups = dict((k, _trust(v) if isinstance(v, str) else v) for k, v in groups.items())
        keyed = [dict(item, key=_trust(item['key'])) if isinstance(item, dict) and isinstance(item.get('key'), str)
                 else item for item in keyed]
        return {'compose': compose, 'groups': groups, 'keyed_groups': keyed, 'strict': self.get_option('strict')}

    def _construct(self, name, identity, options):
        host_vars = {'nhi': identity, 'inventory_hostname': name}
        strict = options['strict']
        self._set_composite_vars(options['compose'], host_vars, name, strict=strict)
        self._add_host_to_composed_groups(options['groups'], host_vars, name, strict=strict)
        self._add_host_to_keyed_groups(options['keyed_groups'], host_vars, name, strict=strict)

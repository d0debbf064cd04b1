# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nhi.lifecycle.catalog inventory plugin, in process and through the real CLIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

from ansible_collections.nhi.lifecycle.plugins.inventory.catalog import InventoryModule

GOOD = textwrap.dedent("""\
    plugin: nhi.lifecycle.catalog
    defaults:
      environment: dev
      owner: team-platform
      store: {mount: secret, path_prefix: nhi/dev}
    identities:
      - name: ci-deployer
        kind: aws_iam_user
        purpose: CI deploys
        aws: {managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]}
      - name: etl-approle
        kind: vault_approle
        owner: alice@example.com
        environment: prod-eu.1
        vault: {}
    """)


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def make_plugin():
    """The plugin with its option definitions registered, as the plugin loader would do."""
    import yaml
    from ansible import constants as C
    from ansible.plugins.doc_fragments.constructed import ModuleDocFragment
    from ansible_collections.nhi.lifecycle.plugins.inventory import catalog
    options = dict(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options'])
    options.update(yaml.safe_load(catalog.DOCUMENTATION)['options'])
    C.config.initialize_plugin_configuration_definitions('inventory', 'nhi.lifecycle.catalog', options)
    plugin = InventoryModule()
    plugin._load_name = 'nhi.lifecycle.catalog'  # pylint: disable=protected-access
    return plugin


def parse(path, inventory=None):
    plugin = make_plugin()
    inventory = inventory or InventoryData()
    plugin.parse(inventory, DataLoader(), path, cache=False)
    return inventory


def group_hosts(inventory, group):
    return sorted(h.name for h in inventory.groups[group].get_hosts())


# --------------------------------------------------------------- in process

@pytest.mark.parametrize('name, ok', [
    ('a.nhi.yml', True), ('a.nhi.yaml', True), ('a.yml', False), ('a.nhi.yml.bak', False), ('nhi.yml', False),
])
def test_verify_file(tmp_path, name, ok):
    path = write(tmp_path, name, 'plugin: nhi.lifecycle.catalog\nidentities: []\n')
    assert InventoryModule().verify_file(path) is ok


def test_verify_file_missing(tmp_path):
    assert InventoryModule().verify_file(str(tmp_path / 'missing.nhi.yml')) is False


def test_hosts_groups_and_the_one_host_variable(tmp_path):
    inventory = parse(write(tmp_path, 'a.nhi.yml', GOOD))
    assert sorted(inventory.hosts) == ['ci-deployer', 'etl-approle']
    assert group_hosts(inventory, 'nhi') == ['ci-deployer', 'etl-approle']
    assert group_hosts(inventory, 'nhi_kind_aws_iam_user') == ['ci-deployer']
    assert group_hosts(inventory, 'nhi_kind_vault_approle') == ['etl-approle']
    assert group_hosts(inventory, 'nhi_env_dev') == ['ci-deployer']
    assert group_hosts(inventory, 'nhi_env_prod_eu_1') == ['etl-approle']
    assert group_hosts(inventory, 'nhi_owner_team_platform') == ['ci-deployer']
    assert group_hosts(inventory, 'nhi_owner_alice_example_com') == ['etl-approle']
    children = sorted(g.name for g in inventory.groups['nhi'].child_groups)
    assert children == sorted(['nhi_kind_aws_iam_user', 'nhi_kind_vault_approle', 'nhi_env_dev', 'nhi_env_prod_eu_1',
                               'nhi_owner_team_platform', 'nhi_owner_alice_example_com'])
    nhi_vars = inventory.groups['nhi'].get_vars()
    assert nhi_vars['ansible_connection'] == 'local'
    assert nhi_vars['ansible_python_interpreter'] == '{{ ansible_playbook_python }}'
    host_vars = inventory.hosts['ci-deployer'].vars
    assert set(host_vars) - {'inventory_file', 'inventory_dir'} == {'nhi'}
    ident = host_vars['nhi']
    assert ident['name'] == 'ci-deployer' and ident['store'] == {'mount': 'secret', 'path': 'nhi/dev/ci-deployer'}
    assert ident['source'].endswith('a.nhi.yml')


def test_trust_on_data_tagging_cores(tmp_path):
    try:
        from ansible.template import is_trusted_as_template
    except ImportError:  # pragma: no cover - ansible-core < 2.19
        pytest.skip('ansible-core < 2.19 has no data tagging')
    text = GOOD.replace('purpose: CI deploys', 'purpose: "{{ lookup(\'pipe\', \'id\') }}"')
    inventory = parse(write(tmp_path, 'a.nhi.yml', text))
    assert is_trusted_as_template(inventory.groups['nhi'].get_vars()['ansible_python_interpreter'])
    ident = inventory.hosts['ci-deployer'].get_vars()['nhi']
    # anything that could start a template stays untrusted: it is never rendered
    assert ident['purpose'] == "{{ lookup('pipe', 'id') }}" and not is_trusted_as_template(ident['purpose'])
    # inert strings (no "{") render to themselves; trusting them keeps --list output free of unsafe markers
    assert is_trusted_as_template(ident['owner']) and is_trusted_as_template(ident['aws']['managed_policies'][0])


def test_invalid_file_adds_no_host_and_names_everything(tmp_path):
    text = GOOD + ('  - name: third\n'
                   '    kind: aws_iam_user\n'
                   '    aws: {}\n'
                   '    rotation: {max_age_days: ninety}\n')
    path = write(tmp_path, 'bad.nhi.yml', text)
    inventory = InventoryData()
    with pytest.raises(AnsibleParserError) as info:
        parse(path, inventory)
    message = str(info.value)
    assert "bad.nhi.yml: identity 'third' (#3): field 'rotation.max_age_days': expected a positive integer, " \
           "got 'ninety'" in message
    assert not inventory.hosts and 'nhi' not in inventory.groups
    errors = inventory.groups['all'].get_vars()['nhi_catalog_errors']
    assert errors[0]['source'].endswith('bad.nhi.yml') and 'rotation.max_age_days' in errors[0]['errors'][0]


def test_names_are_unique_across_files(tmp_path):
    inventory = parse(write(tmp_path, 'a.nhi.yml', GOOD))
    second = GOOD.replace('etl-approle', 'other-approle')
    with pytest.raises(AnsibleParserError) as info:
        parse(write(tmp_path, 'b.nhi.yml', second), inventory)
    assert "identity 'ci-deployer' (#1): field 'name': expected a name unique in the inventory" in str(info.value)
    assert 'other-approle' not in inventory.hosts


def test_not_a_catalog_and_bad_yaml(tmp_path):
    with pytest.raises(AnsibleParserError, match='not a catalog'):
        parse(write(tmp_path, 'x.nhi.yml', 'plugin: ansible.builtin.constructed\n'))
    with pytest.raises(AnsibleParserError, match='expected valid YAML'):
        parse(write(tmp_path, 'y.nhi.yml', 'plugin: [\n'))


def test_constructable_keyed_groups_and_compose(tmp_path):
    text = GOOD + textwrap.dedent("""\
        keyed_groups:
          - key: nhi.store.mount
            prefix: nhi_store
        groups:
          nhi_long_lived: nhi.rotation.max_age_days > 30
        compose:
          nhi_store_path: nhi.store.path
        """)
    inventory = parse(write(tmp_path, 'c.nhi.yml', text))
    assert group_hosts(inventory, 'nhi_store_secret') == ['ci-deployer', 'etl-approle']
    assert group_hosts(inventory, 'nhi_long_lived') == ['ci-deployer', 'etl-approle']
    assert inventory.hosts['ci-deployer'].get_vars()['nhi_store_path'] == 'nhi/dev/ci-deployer'


def test_plugin_documentation_parses():
    import yaml
    from ansible_collections.nhi.lifecycle.plugins.inventory import catalog
    doc = yaml.safe_load(catalog.DOCUMENTATION)
    assert doc['name'] == 'catalog' and 'identities' in doc['options']
    yaml.safe_load(catalog.EXAMPLES)


# --------------------------------------------------------------- real CLIs

def collections_root():
    import ansible_collections
    for entry in ansible_collections.__path__:
        if os.path.isdir(os.path.join(entry, 'nhi', 'lifecycle')):
            return os.path.dirname(entry)
    pytest.skip('nhi.lifecycle is not importable from an ansible_collections directory')


def cli_env(tmp_path):
    cfg = tmp_path / 'ansible.cfg'
    cfg.write_text(textwrap.dedent("""\
        [defaults]
        collections_path = %s
        interpreter_python = auto_silent
        [inventory]
        enable_plugins = nhi.lifecycle.catalog, ansible.builtin.host_list
        unparsed_is_failed = True
        any_unparsed_is_failed = True
        """ % collections_root()))
    env = dict(os.environ)
    for key in list(env):
        if key.startswith('ANSIBLE_'):
            del env[key]
    env.update(ANSIBLE_CONFIG=str(cfg), ANSIBLE_INVENTORY_UNPARSED_FAILED='1', ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_HOME=str(tmp_path / 'home'))
    return env


def cli(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def test_ansible_inventory_fails_on_a_bad_catalog(tmp_path):
    good = write(tmp_path, 'good.nhi.yml', GOOD)
    bad = write(tmp_path, 'bad.nhi.yml', GOOD.replace('etl-approle', 'etl2').replace('ci-deployer', 'ci2')
                .replace('aws: {managed', 'rotation: {max_age_days: ninety}\n    aws: {managed'))
    proc = subprocess.run([cli('ansible-inventory'), '-i', good, '-i', bad, '--list'], env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "identity 'ci2' (#1): field 'rotation.max_age_days': expected a positive integer, got 'ninety'" in proc.stderr
    assert 'bad.nhi.yml' in proc.stderr


def test_ansible_inventory_graph_of_a_good_catalog(tmp_path):
    good = write(tmp_path, 'good.nhi.yml', GOOD)
    proc = subprocess.run([cli('ansible-inventory'), '-i', good, '--list'], env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(proc.stdout)
    ident = data['_meta']['hostvars']['ci-deployer']['nhi']
    assert ident['kind'] == 'aws_iam_user' and ident['purpose'] == 'CI deploys'  # no __ansible_unsafe wrappers
    assert ident['store'] == {'mount': 'secret', 'path': 'nhi/dev/ci-deployer'}
    assert sorted(data['nhi']['hosts']) == ['ci-deployer', 'etl-approle']


def test_catalog_strings_are_never_templated(tmp_path):
    """A catalog value that looks like a template stays a string; the lookup never runs."""
    marker = tmp_path / 'pwned'
    text = GOOD.replace('purpose: CI deploys', 'purpose: "{{ lookup(\'pipe\', \'touch %s\') }}"' % marker)
    text = text.replace('owner: alice@example.com', 'owner: "{{ lookup(\'pipe\', \'touch %s\') }}"' % marker)
    catalog = write(tmp_path, 'evil.nhi.yml', text)
    playbook = tmp_path / 'show.yml'
    playbook.write_text(textwrap.dedent("""\
        - hosts: nhi
          gather_facts: false
          tasks:
            - name: a module runs through the group's local connection and interpreter
              ansible.builtin.ping:
            - name: show the values
              ansible.builtin.debug:
                msg: "{{ nhi.purpose }}|{{ nhi.owner }}"
        """))
    proc = subprocess.run([cli('ansible-playbook'), '-i', catalog, str(playbook)], env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not marker.exists(), 'a catalog value was templated'
    assert "lookup('pipe', 'touch" in proc.stdout
    assert 'ok=2' in proc.stdout

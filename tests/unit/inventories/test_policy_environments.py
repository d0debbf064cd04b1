# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The shipped inventories: valid catalogs, valid policy, and the same decision in every environment.

The policy is environment-independent: ``nhi_policy_rules`` is the same in
inventories/dev, staging and prod, and the environment is an input to the
rules (``request.environment``). So any request, wherever it comes from, is
decided the same way by each environment's rules file.
"""

from __future__ import annotations

import datetime
import glob
import itertools
import os

import pytest
import yaml

from ansible_collections.nhi.lifecycle.plugins.module_utils import _catalog as cat
from ansible_collections.nhi.lifecycle.plugins.module_utils import _policy as pol

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
INVENTORIES = os.path.join(ROOT, 'inventories')
ENVIRONMENTS = ('dev', 'staging', 'prod')
NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)


def policy_file(env):
    with open(os.path.join(INVENTORIES, env, 'group_vars', 'all', 'policy.yml')) as handle:
        return yaml.safe_load(handle)


def catalog(env):
    identities = []
    known = {}
    for path in sorted(glob.glob(os.path.join(INVENTORIES, env, '*.nhi.y*ml'))):
        source = os.path.relpath(path, ROOT)
        with open(path, 'rb') as handle:
            found = cat.validate_catalog(cat.load_catalog_text(handle.read(), source), source, known_names=known)
        known.update((i['name'], source) for i in found)
        identities.extend(found)
    return identities


@pytest.mark.parametrize('env', ENVIRONMENTS + ('example',))
def test_inventory_is_valid(env):
    identities = catalog(env)
    assert identities
    data = policy_file(env)
    assert set(data) == {'nhi_policy_rules', 'nhi_exceptions'}
    pol.effective_rules(data['nhi_policy_rules'])
    pol.validate_exceptions(data['nhi_exceptions'])
    for ident in identities:
        assert ident['owner'] and ident['purpose']
        if env != 'example':
            assert ident['environment'] == env


def test_example_inventory_is_what_the_demo_needs():
    by_name = dict((i['name'], i) for i in catalog('example'))
    assert sorted(by_name) == ['demo-ci-deployer', 'demo-etl-approle', 'demo-gcp-reporter', 'demo-saas-bot']
    kinds = [by_name[n]['kind'] for n in sorted(by_name)]
    assert kinds == ['aws_iam_user', 'vault_approle', 'gcp_service_account', 'scim_service_user']
    assert by_name['demo-gcp-reporter']['gcp']['project'] == 'nhi-demo'
    for ident in by_name.values():
        assert ident['environment'] == 'dev' and ident['store']['mount'] == 'secret'
        assert ident['store']['path'] == 'nhi/example/' + ident['name']


def test_rules_are_identical_in_every_environment():
    rules = [policy_file(env)['nhi_policy_rules'] for env in ENVIRONMENTS]
    assert rules[0] == rules[1] == rules[2]


def test_prod_has_an_example_exception():
    register = pol.validate_exceptions(policy_file('prod')['nhi_exceptions'])
    assert register
    names = {i['name'] for i in catalog('prod')}
    rule_ids = {r['id'] for r in pol.effective_rules(policy_file('prod')['nhi_policy_rules'])}
    for item in register:
        assert item['identity'] in names and item['rule'] in rule_ids


def all_requests():
    identities = list(itertools.chain.from_iterable(catalog(env) for env in ENVIRONMENTS + ('example',)))
    for ident, event, approvals in itertools.product(identities, pol.EVENTS, ([], ['CHG-1234'])):
        yield pol.build_request(ident, event, NOW, approvals=approvals, run={'id': 'test', 'check_mode': True})


def test_same_request_same_decision_in_every_environment():
    rulesets = dict((env, pol.effective_rules(policy_file(env)['nhi_policy_rules'])) for env in ENVIRONMENTS)
    count = 0
    for request in all_requests():
        decisions = dict((env, pol.evaluate(request, rulesets[env], [], NOW)) for env in ENVIRONMENTS)
        assert decisions['dev'] == decisions['staging'] == decisions['prod'], (request['identity']['name'], decisions)
        count += 1
    assert count >= 100


def test_worked_decisions_of_the_shipped_policy():
    rules = pol.effective_rules(policy_file('prod')['nhi_policy_rules'])
    register = policy_file('prod')['nhi_exceptions']
    prod = dict((i['name'], i) for i in catalog('prod'))

    def decide(name, event, approvals=(), now=NOW, exceptions=register, ident=None):
        request = pol.build_request(ident or prod[name], event, now, approvals=approvals)
        return pol.evaluate(request, rules, exceptions, now)

    assert decide('prod-ci-deployer', 'rotate')['rule'] == 'nhi.baseline.prod_approval'
    assert decide('prod-ci-deployer', 'rotate', ['CHG-1'])['rule'] == 'org.standard_change'
    waived = decide('prod-legacy-batch', 'rotate', ['CHG-1'])
    assert waived['effect'] == 'allow' and waived['waived_by'] == 'EXC-0042'
    later = decide('prod-legacy-batch', 'rotate', ['CHG-1'], now=datetime.datetime(2027, 7, 1, tzinfo=datetime.timezone.utc))
    assert later['effect'] == 'deny' and later['rule'] == 'org.prod_rotation_90_days'
    assert decide('prod-legacy-batch', 'rotate', ['CHG-1'], exceptions=[])['rule'] == 'org.prod_rotation_90_days'
    temp = decide('prod-breakglass-ticketing', 'provision', ['CHG-1'])
    assert temp['effect'] == 'allow'
    too_long = dict(prod['prod-breakglass-ticketing'], expires_at='2027-12-31T00:00:00Z')
    assert decide(None, 'provision', ['CHG-1'], ident=too_long)['rule'] == 'org.temporary_at_most_90_days'
    plain_http = dict(prod['prod-breakglass-ticketing'], scim=dict(prod['prod-breakglass-ticketing']['scim'],
                                                                   base_url='http://scim.example.com'))
    assert decide(None, 'provision', ['CHG-1'], ident=plain_http)['rule'] == 'org.https_outside_dev'
    admin = dict(prod['prod-ci-deployer'], aws=dict(prod['prod-ci-deployer']['aws'], managed_policies=[
        'arn:aws:iam::aws:policy/AdministratorAccess']))
    assert decide(None, 'provision', ['CHG-1'], ident=admin)['rule'] == 'org.no_admin_policies'
    assert decide('prod-ci-deployer', 'reconcile')['effect'] == 'allow'

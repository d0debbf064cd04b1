# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Policy as code (plugins/module_utils/_policy.py)."""

from __future__ import annotations

import copy
import datetime
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.nhi.lifecycle.plugins.module_utils import _policy as pol
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

NOW = '2026-11-23T12:00:00Z'
NOW_EPOCH = 1795435200


def identity(**kw):
    base = {
        'name': 'ci-deployer', 'owner': 'team-platform', 'purpose': 'CI', 'environment': 'dev',
        'kind': 'aws_iam_user', 'temporary': False, 'expires_at': None, 'source': 'inventories/dev/a.nhi.yml',
        'aws': {'user_name': 'ci-deployer', 'path': '/nhi/', 'managed_policies': [], 'inline_policies': {}, 'tags': {}},
        'store': {'mount': 'secret', 'path': 'nhi/dev/ci-deployer'},
        'authority': dict.fromkeys(('create', 'rotate', 'suspend', 'delete'), 'nhi.lifecycle'),
        'on_foreign_authority': 'skip', 'rotation': {'max_age_days': 90, 'overlap_hours': 0},
        'offboard': {'mode': 'delete'},
    }
    base.update(kw)
    return base


def rule(rid, condition, effect='deny', events=('provision', 'rotate'), reason=None):
    return {'id': rid, 'events': list(events), 'condition': condition, 'effect': effect,
            'reason': reason or 'reason of %s' % rid}


def exception(eid='EXC-1', ident='ci-deployer', rid='org.deny', expires='2027-01-01T00:00:00Z'):
    return {'id': eid, 'identity': ident, 'rule': rid, 'owner': 'team-platform', 'reason': 'vendor lock-in',
            'expires': expires}


def decide(ident=None, event='provision', rules=(), exceptions=(), approvals=(), now=NOW, baseline=True):
    request = pol.build_request(ident or identity(), event, now, approvals=approvals)
    return pol.evaluate(request, pol.effective_rules(list(rules), include_baseline=baseline), list(exceptions), now)


# --------------------------------------------------------------- request

def test_request_shape_and_types():
    request = pol.build_request(identity(environment='prod', expires_at='2027-01-01T00:00:00Z', temporary=True),
                                'rotate', NOW, approvals=['CHG-1'], run={'id': 'run-1', 'check_mode': True})
    assert set(request) == {'identity', 'event', 'environment', 'now', 'now_iso', 'expires_at_epoch', 'approvals', 'run'}
    assert request['event'] == 'rotate' and request['environment'] == 'prod'
    assert request['now'] == NOW_EPOCH and request['now_iso'] == NOW
    assert request['expires_at_epoch'] == 1798761600
    assert request['approvals'] == ['CHG-1'] and request['run'] == {'id': 'run-1', 'check_mode': True}
    assert json.loads(json.dumps(request)) == request


def test_request_is_a_deep_copy_in_plain_types():
    class Tagged(str):
        pass

    ident = identity(owner=Tagged('team-platform'), aws={'managed_policies': (Tagged('arn:x'),)})
    request = pol.build_request(ident, 'provision', NOW)
    assert request['identity']['owner'].__class__ is str
    assert request['identity']['aws']['managed_policies'] == ['arn:x']
    assert request['identity']['aws']['managed_policies'][0].__class__ is str
    request['identity']['rotation']['max_age_days'] = 1
    assert ident['rotation']['max_age_days'] == 90


@pytest.mark.parametrize('now', [NOW, NOW_EPOCH, float(NOW_EPOCH), datetime.datetime(2026, 11, 23, 12, tzinfo=datetime.timezone.utc),
                                 '2026-11-23T13:00:00+01:00'])
def test_now_forms(now):
    request = pol.build_request(identity(), 'provision', now)
    assert request['now'] == NOW_EPOCH and request['now_iso'] == NOW


@pytest.mark.parametrize('approvals, expected', [
    (None, []), ('', []), ((), []), ('CHG-1', ['CHG-1']), ('CHG-1,CHG-2', ['CHG-1', 'CHG-2']),
    ("['CHG-1']", ['CHG-1']), ('[CHG-1, CHG-2]', ['CHG-1', 'CHG-2']), (['CHG-1', 'CHG-1', ' CHG-2 '], ['CHG-1', 'CHG-2']),
    ([1234], ['1234']), ('["CHG-9"]', ['CHG-9']), (["['CHG-1'", " 'CHG-2']"], ['CHG-1', 'CHG-2']), (["['CHG-3']"], ['CHG-3']),
])
def test_approvals_forms(approvals, expected):
    assert pol.build_request(identity(), 'provision', NOW, approvals=approvals)['approvals'] == expected


@pytest.mark.parametrize('kwargs', [
    {'event': 'destroy'}, {'identity': 'ci-deployer'}, {'now': 'yesterday'}, {'now': True}, {'now': float('nan')},
    {'approvals': [{'a': 1}]}, {'approvals': [None]}, {'identity': identity(expires_at='soon')},
    {'identity': identity(extra=object())}, {'run': 'x'},
])
def test_bad_request_inputs_raise_nhierror(kwargs):
    args = {'identity': identity(), 'event': 'provision', 'now': NOW}
    args.update(kwargs)
    with pytest.raises(NHIError):
        pol.build_request(args['identity'], args['event'], args['now'], approvals=kwargs.get('approvals', ()),
                          run=kwargs.get('run'))


# --------------------------------------------------------------- rules and exceptions validation

def test_validate_rules_names_index_id_and_field():
    with pytest.raises(pol.PolicyError) as info:
        pol.validate_rules([
            rule('org.ok', 'identity.owner'),
            {'id': 'org.bad', 'events': ['provision', 'deploy'], 'condition': 'identity.[', 'effect': 'block', 'reason': ' '},
            rule('org.ok', 'identity.owner'),
            {'id': 'bad id', 'events': [], 'condition': 'x' * 2001, 'effect': 'deny', 'reason': 'r', 'colour': 1},
            'rule',
        ], source='inventories/prod/group_vars/all/policy.yml')
    text = str(info.value)
    errors = info.value.errors
    assert "rule #2 'org.bad': field 'condition': expected a valid JMESPath expression" in text
    assert "rule #2 'org.bad': field 'effect': expected allow or deny, got 'block'" in text
    assert "rule #2 'org.bad': field 'reason': expected a non-empty string" in text
    assert "rule #2 'org.bad': field 'events': expected a subset of provision, rotate, offboard, reconcile, got ['deploy']" in text
    assert "rule #3 'org.ok': field 'id': expected a unique id, but rule #1 has it too" in text
    assert "rule #4: field 'id': expected an id matching" in text
    assert "rule #4: field 'condition': expected at most 2000 characters, got 2001" in text
    assert "rule #4: field 'events': expected a non-empty list of events" in text
    assert "rule #4: field 'colour': unknown field" in text
    assert "rule #5: expected a mapping" in text
    assert all(e.startswith('inventories/prod/group_vars/all/policy.yml: rule #') for e in errors)


def test_validate_rules_normalises():
    (out,) = pol.validate_rules([rule('org.x', 'identity.owner', events=['rotate', 'provision', 'offboard'])])
    assert out == {'id': 'org.x', 'description': '', 'events': ['provision', 'rotate', 'offboard'],
                   'condition': 'identity.owner', 'effect': 'deny', 'reason': 'reason of org.x'}
    assert pol.validate_rules(None) == []


def test_validate_exceptions():
    with pytest.raises(pol.PolicyError) as info:
        pol.validate_exceptions([
            exception(), exception(expires='next week'), dict(exception('EXC-3'), owner=''),
            exception(), {'id': 'EXC-5'}, dict(exception('EXC-6'), identity='has space'),
        ])
    text = str(info.value)
    assert "exception #2 'EXC-1': field 'expires': expected an ISO-8601 time" in text
    assert "exception #3 'EXC-3': field 'owner': expected a non-empty string" in text
    assert "exception #4 'EXC-1': field 'id': expected a unique id, but exception #1 has it too" in text
    assert "exception #5 'EXC-5': field 'identity': required, but missing" in text
    assert "exception #6 'EXC-6': field 'identity': expected an identity name" in text
    (out,) = pol.validate_exceptions([exception(expires=datetime.date(2027, 1, 1))])
    assert out['expires'] == '2027-01-01T00:00:00Z'


def test_effective_rules_reserves_baseline_prefix():
    assert [r['id'] for r in pol.effective_rules([])] == [r['id'] for r in pol.BASELINE_RULES]
    assert pol.effective_rules([], include_baseline=False) == []
    with pytest.raises(pol.PolicyError, match='reserved prefix'):
        pol.effective_rules([rule('nhi.baseline.mine', 'identity.owner')])


def test_baseline_rules_are_valid_and_prefixed():
    rules = pol.validate_rules(pol.BASELINE_RULES)
    ids = [r['id'] for r in rules]
    assert all(i.startswith('nhi.baseline.') for i in ids)
    assert {'nhi.baseline.owner_required', 'nhi.baseline.max_age_limit', 'nhi.baseline.prod_approval',
            'nhi.baseline.temporary_must_expire', 'nhi.baseline.not_expired'} <= set(ids)


# --------------------------------------------------------------- evaluation

def test_default_allow():
    decision = decide(baseline=False)
    assert decision == {'effect': 'allow', 'rule': 'nhi.default', 'reason': 'no rule denied the request',
                        'waived_by': None, 'matched': [], 'evaluated_at': NOW}


def test_first_matching_allow_decides_when_nothing_denies():
    decision = decide(rules=[rule('org.a', '`false`', effect='allow'), rule('org.b', '`true`', effect='allow'),
                             rule('org.c', 'identity.owner', effect='allow')])
    assert decision['effect'] == 'allow' and decision['rule'] == 'org.b' and decision['matched'] == ['org.b', 'org.c']


def test_deny_wins_over_allow_regardless_of_order():
    rules = [rule('org.allow', '`true`', effect='allow'), rule('org.deny', "identity.kind == 'aws_iam_user'")]
    decision = decide(rules=rules)
    assert decision['effect'] == 'deny' and decision['rule'] == 'org.deny' and decision['reason'] == 'reason of org.deny'
    assert decision['matched'] == ['org.allow', 'org.deny'] and decision['waived_by'] is None


def test_rule_applies_only_to_its_events():
    rules = [rule('org.deny', '`true`', events=['offboard'])]
    assert decide(rules=rules, event='provision')['effect'] == 'allow'
    assert decide(rules=rules, event='offboard')['effect'] == 'deny'


def test_waiver_before_and_after_expiry():
    rules = [rule('org.deny', '`true`')]
    register = [exception(expires='2026-12-01T00:00:00Z')]
    before = decide(rules=rules, exceptions=register, now='2026-11-30T23:59:59Z')
    assert before['effect'] == 'allow' and before['waived_by'] == 'EXC-1' and before['rule'] == 'org.deny'
    assert 'waived by exception EXC-1' in before['reason']
    at = decide(rules=rules, exceptions=register, now='2026-12-01T00:00:00Z')
    assert at['effect'] == 'deny' and at['waived_by'] is None
    after = decide(rules=rules, exceptions=register, now='2027-01-01T00:00:00Z')
    assert after['effect'] == 'deny' and after['rule'] == 'org.deny'


def test_waiver_is_for_one_identity_and_one_rule():
    rules = [rule('org.deny', '`true`'), rule('org.other', '`true`')]
    assert decide(rules=rules, exceptions=[exception()])['rule'] == 'org.other'
    assert decide(rules=rules[:1], exceptions=[exception(ident='someone-else')])['effect'] == 'deny'
    both = decide(rules=rules, exceptions=[exception(), exception('EXC-2', rid='org.other')])
    assert both['effect'] == 'allow' and both['waived_by'] == 'EXC-1' and 'org.other by EXC-2' in both['reason']


def test_condition_error_fails_closed_even_for_allow_rules_and_is_not_waivable():
    rules = [rule('org.broken', 'length(identity.missing)', effect='allow')]
    decision = decide(rules=rules, exceptions=[exception(rid='org.broken')])
    assert decision['effect'] == 'deny' and decision['rule'] == 'org.broken'
    assert decision['reason'].startswith('condition error: ') and decision['waived_by'] is None


def test_conditions_see_the_request_and_nothing_else():
    expected = "['approvals', 'environment', 'event', 'expires_at_epoch', 'identity', 'now', 'now_iso', 'run']"
    rules = [rule('org.keys', 'sort(keys(@)) != ' + expected)]
    assert decide(rules=rules, baseline=False)['effect'] == 'allow'


def test_jmespath_truthiness():
    assert decide(rules=[rule('org.zero', '`0`')], baseline=False)['effect'] == 'deny'  # 0 is true in JMESPath
    for falsy in ("''", '`[]`', '`{}`', '`null`', '`false`'):
        assert decide(rules=[rule('org.f', falsy)], baseline=False)['effect'] == 'allow', falsy


def test_evaluation_does_not_mutate_inputs():
    request = pol.build_request(identity(), 'provision', NOW)
    rules = pol.effective_rules([rule('org.deny', '`true`')])
    register = [exception()]
    snapshot = copy.deepcopy((request, rules, register))
    pol.evaluate(request, rules, register, NOW)
    assert (request, rules, register) == snapshot


def test_evaluate_rejects_invalid_inputs_with_nhierror():
    request = pol.build_request(identity(), 'provision', NOW)
    with pytest.raises(NHIError):
        pol.evaluate({'event': 'x'}, [], [], NOW)
    with pytest.raises(pol.PolicyError):
        pol.evaluate(request, [{'id': 'x'}], [], NOW)
    with pytest.raises(pol.PolicyError):
        pol.evaluate(request, [], [{'id': 'x'}], NOW)


# --------------------------------------------------------------- baseline rules

@pytest.mark.parametrize('ident, event, approvals, rule_id', [
    (identity(owner=''), 'provision', (), 'nhi.baseline.owner_required'),
    (identity(owner=None), 'rotate', (), 'nhi.baseline.owner_required'),
    (identity(rotation={'max_age_days': 366, 'overlap_hours': 0}), 'rotate', (), 'nhi.baseline.max_age_limit'),
    (identity(environment='prod'), 'provision', (), 'nhi.baseline.prod_approval'),
    (identity(environment='prod'), 'offboard', (), 'nhi.baseline.prod_approval'),
    (identity(temporary=True), 'provision', (), 'nhi.baseline.temporary_must_expire'),
    (identity(temporary=True, expires_at='2026-11-01T00:00:00Z'), 'provision', (), 'nhi.baseline.not_expired'),
    (identity(expires_at='2026-11-23T12:00:00Z'), 'rotate', (), 'nhi.baseline.not_expired'),
])
def test_baseline_denies(ident, event, approvals, rule_id):
    decision = decide(ident, event, approvals=approvals)
    assert decision['effect'] == 'deny' and decision['rule'] == rule_id, decision


@pytest.mark.parametrize('ident, event, approvals', [
    (identity(), 'provision', ()),
    (identity(rotation={'max_age_days': 365, 'overlap_hours': 0}), 'rotate', ()),
    (identity(environment='prod'), 'provision', ['CHG-1']),
    (identity(environment='prod'), 'reconcile', ()),
    (identity(environment='production'), 'provision', ()),
    (identity(temporary=True, expires_at='2027-01-01T00:00:00Z'), 'provision', ()),
    (identity(temporary=True, expires_at='2026-11-01T00:00:00Z'), 'offboard', ()),
    (identity(owner=''), 'offboard', ()),
])
def test_baseline_allows(ident, event, approvals):
    decision = decide(ident, event, approvals=approvals)
    assert decision['effect'] == 'allow' and decision['rule'] == 'nhi.default', decision


def test_baseline_deny_is_waived_by_an_exception():
    ident = identity(rotation={'max_age_days': 400, 'overlap_hours': 0})
    decision = decide(ident, 'rotate', exceptions=[exception(rid='nhi.baseline.max_age_limit')])
    assert decision['effect'] == 'allow' and decision['waived_by'] == 'EXC-1'


def test_exceptions_report():
    report = pol.exceptions_report([exception('EXC-2', expires='2026-11-20T12:00:00Z'),
                                    exception('EXC-1', expires='2026-11-30T12:00:00Z')], NOW)
    assert [e['id'] for e in report['open']] == ['EXC-1'] and report['open'][0]['days_until_expiry'] == 7.0
    assert [e['id'] for e in report['expired']] == ['EXC-2'] and report['expired'][0]['days_since_expiry'] == 3.0
    assert pol.exceptions_report([], NOW) == {'open': [], 'expired': []}


def test_determinism_same_request_same_decision():
    rules = pol.effective_rules([rule('org.a', "environment == 'prod'"), rule('org.b', '`true`', effect='allow')])
    request = pol.build_request(identity(environment='prod', source='inventories/prod/x.nhi.yml'), 'rotate', NOW,
                                approvals=['CHG-1'])
    first = pol.evaluate(request, rules, [], NOW)
    for dummy in range(5):  # pylint: disable=unused-variable
        assert pol.evaluate(copy.deepcopy(request), copy.deepcopy(rules), [], NOW) == first


# --------------------------------------------------------------- properties

PROPERTY = settings(deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**9, max_value=10**9),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=10)
junk = st.one_of(json_values, st.sampled_from([object(), b'bytes', float('nan'), {1: 2}, (1, 2), {'a': object()}]))

EXPRESSIONS = [
    'identity.owner', '!identity.owner', "environment == 'prod'", 'identity.rotation.max_age_days > `30`',
    'length(approvals) > `0`', 'length(identity.nope)', '!identity.owner', '!(identity.owner)', "contains(identity.aws.managed_policies, 'x')",
    'expires_at_epoch <= now', 'sum([now, `10`]) > now', 'identity.*', '@', 'to_number(identity.name)',
    "starts_with(identity.name, 'ci')", 'max_by(identity.aws.managed_policies, &@)', 'not_null(a, b, `1`)',
    'sort(keys(identity))', "join(',', approvals)", 'abs(now)',
    'reverse(identity.name)', 'type(identity.expires_at)', 'merge(identity, run)', '`"x"`', 'foo[?bar > `1`]',
]
conditions = st.one_of(st.sampled_from(EXPRESSIONS), st.text(max_size=60),
                       st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=3).map(' && '.join),
                       st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=3).map(' || '.join))
rules_strategy = st.lists(st.fixed_dictionaries(
    {'id': st.one_of(st.sampled_from(['org.a', 'org.b', 'org.c', 'org.d']), st.text(max_size=10)),
     'events': st.one_of(st.lists(st.sampled_from(pol.EVENTS), min_size=1, max_size=4, unique=True),
                         st.lists(st.text(max_size=8), max_size=2), json_scalars),
     'condition': conditions,
     'effect': st.one_of(st.sampled_from(['allow', 'deny']), st.text(max_size=5)),
     'reason': st.one_of(st.just('because'), json_scalars)},
    optional={'description': json_scalars, 'extra': json_scalars}), max_size=5)
valid_rules = st.lists(st.fixed_dictionaries(
    {'id': st.sampled_from(['org.a', 'org.b', 'org.c', 'org.d', 'org.e']),
     'events': st.lists(st.sampled_from(pol.EVENTS), min_size=1, max_size=4, unique=True),
     'condition': st.sampled_from(EXPRESSIONS) | st.lists(st.sampled_from(EXPRESSIONS), min_size=2, max_size=3).map(' && '.join),
     'effect': st.sampled_from(['allow', 'deny']), 'reason': st.just('because')}),
    max_size=5, unique_by=lambda r: r['id'])
dates = st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1),
                     timezones=st.just(datetime.timezone.utc))
exceptions_strategy = st.lists(st.fixed_dictionaries(
    {'id': st.one_of(st.sampled_from(['EXC-1', 'EXC-2', 'EXC-3']), st.text(max_size=6)),
     'identity': st.one_of(st.just('ci-deployer'), st.text(max_size=6), json_scalars),
     'rule': st.one_of(st.sampled_from(['org.a', 'org.b', 'nhi.baseline.prod_approval']), json_scalars),
     'owner': st.one_of(st.just('team'), json_scalars),
     'reason': st.one_of(st.just('why'), json_scalars),
     'expires': st.one_of(dates.map(lambda d: d.strftime('%Y-%m-%dT%H:%M:%SZ')), dates, st.text(max_size=12))}),
    max_size=4)


@settings(PROPERTY, max_examples=1200)
@given(rules_strategy)
def test_property_rules_validate_or_policy_error(rules):
    try:
        out = pol.validate_rules(rules)
    except pol.PolicyError as exc:
        assert exc.errors and all(e.startswith('nhi_policy_rules: rule #') for e in exc.errors)
        return
    assert len(out) == len(rules)
    for item in out:
        assert set(item['events']) <= set(pol.EVENTS) and item['effect'] in ('allow', 'deny')


@settings(PROPERTY, max_examples=600)
@given(st.one_of(exceptions_strategy, junk))
def test_property_exceptions_validate_or_policy_error(register):
    try:
        out = pol.validate_exceptions(register)
    except pol.PolicyError as exc:
        assert exc.errors
        return
    for item in out:
        assert item['expires'].endswith('Z')


@settings(PROPERTY, max_examples=1200)
@given(valid_rules, st.sampled_from(pol.EVENTS), st.dictionaries(st.sampled_from(
    ['owner', 'environment', 'temporary', 'expires_at', 'rotation', 'aws', 'name', 'kind']), json_values, max_size=4),
    st.lists(st.text(min_size=1, max_size=8).filter(lambda s: ',' not in s and s.strip() and '[' not in s), max_size=2),
    exceptions_strategy, dates)
def test_property_evaluation_reads_only_the_request(rules, event, changes, approvals, register, now):
    """Every decision is well formed, inputs are untouched, and conditions see a private copy of the request only."""
    ident = identity()
    ident.update(changes)
    try:
        request = pol.build_request(ident, event, now, approvals=approvals)
    except NHIError:
        return
    try:
        pol.validate_exceptions(register)
    except pol.PolicyError:
        register = []
    effective = pol.effective_rules(rules)
    snapshot = copy.deepcopy((request, effective, register))

    seen = []
    real_compile = pol._compile  # pylint: disable=protected-access

    class Spy(object):
        def __init__(self, compiled):
            self.compiled = compiled

        def search(self, value, options=None):
            assert options is None  # no custom functions
            assert value == request and value is not request
            assert json.loads(json.dumps(value)) == value  # plain JSON data only
            seen.append(value)
            return self.compiled.search(value)

    pol._compile = lambda expression: Spy(real_compile(expression))  # pylint: disable=protected-access
    try:
        decision = pol.evaluate(request, effective, register, now)
    finally:
        pol._compile = real_compile  # pylint: disable=protected-access
    assert (request, effective, register) == snapshot
    assert len(set(map(id, seen))) <= 1  # one private copy per evaluation, shared by the (pure) conditions
    assert all(value == request for value in seen)  # and no condition changed it
    assert set(decision) == {'effect', 'rule', 'reason', 'waived_by', 'matched', 'evaluated_at'}
    assert decision['effect'] in ('allow', 'deny') and decision['reason']
    assert decision['rule'] in [r['id'] for r in effective] + ['nhi.default']
    assert set(decision['matched']) <= {r['id'] for r in effective}
    if decision['effect'] == 'deny':
        assert decision['waived_by'] is None and decision['rule'] in decision['matched']
    assert pol.evaluate(copy.deepcopy(request), effective, register, now) == decision  # deterministic

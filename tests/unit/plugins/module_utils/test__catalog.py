# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Catalog schema, normalisation and validation (plugins/module_utils/_catalog.py)."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils import _catalog as cat
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

SRC = 'inventories/dev/a.nhi.yml'

NORMALISED_KEYS = {
    'name', 'owner', 'purpose', 'environment', 'kind', 'temporary', 'expires_at', 'source',
    'store', 'authority', 'on_foreign_authority', 'rotation', 'offboard',
}


def doc(*identities, **extra):
    out = {'plugin': 'nhi.lifecycle.catalog', 'identities': list(identities)}
    out.update(extra)
    return out


def aws(name='ci-deployer', **kw):
    item = {'name': name, 'kind': 'aws_iam_user', 'owner': 'team-platform', 'environment': 'dev', 'aws': {}}
    item.update(kw)
    return item


def errors_of(document, source=SRC, **kw):
    return raised(document, source, **kw).errors


def raised(document, source=SRC, **kw):
    with pytest.raises(cat.CatalogError) as info:
        cat.validate_catalog(document, source, **kw)
    assert isinstance(info.value, NHIError)
    return info.value


# --------------------------------------------------------------- normalisation

def test_minimal_identity_gets_every_default():
    (ident,) = cat.validate_catalog(doc(aws()), SRC)
    assert set(ident) == NORMALISED_KEYS | {'aws'}
    assert ident['aws'] == {'user_name': 'ci-deployer', 'path': '/nhi/', 'managed_policies': [],
                            'inline_policies': {}, 'tags': {}}
    assert ident['store'] == {'mount': 'secret', 'path': 'nhi/ci-deployer'}
    assert ident['authority'] == dict.fromkeys(('create', 'rotate', 'suspend', 'delete'), 'nhi.lifecycle')
    assert ident['rotation'] == {'max_age_days': 90, 'overlap_hours': 0}
    assert ident['offboard'] == {'mode': 'delete'}
    assert ident['on_foreign_authority'] == 'skip'
    assert ident['temporary'] is False and ident['expires_at'] is None
    assert ident['purpose'] == '' and ident['source'] == SRC


def test_defaults_deep_merge_and_identity_wins():
    defaults = {'owner': 'team-a', 'environment': 'prod',
                'store': {'mount': 'kv', 'path_prefix': 'nhi/prod/'},
                'rotation': {'max_age_days': 30, 'overlap_hours': 2},
                'authority': {'delete': 'terraform'}}
    (ident,) = cat.validate_catalog(doc(
        {'name': 'x-user', 'kind': 'aws_iam_user', 'aws': {}, 'rotation': {'max_age_days': 7},
         'authority': {'create': 'okta'}}, defaults=defaults), SRC)
    assert ident['owner'] == 'team-a' and ident['environment'] == 'prod'
    assert ident['store'] == {'mount': 'kv', 'path': 'nhi/prod/x-user'}
    assert ident['rotation'] == {'max_age_days': 7, 'overlap_hours': 2}
    assert ident['authority'] == {'create': 'okta', 'rotate': 'nhi.lifecycle', 'suspend': 'nhi.lifecycle',
                                  'delete': 'terraform'}


def test_defaults_kind_blocks_apply_only_to_their_kind():
    defaults = {'owner': 'o', 'environment': 'dev', 'vault': {'mount': 'approle-ci', 'token_ttl': '5m'},
                'aws': {'path': '/svc/'}}
    ids = cat.validate_catalog(dict(doc(
        {'name': 'role-1', 'kind': 'vault_approle', 'vault': {}},
        {'name': 'user-1', 'kind': 'aws_iam_user', 'aws': {'tags': {'a': 'b'}}}), defaults=defaults), SRC)
    role, user = ids
    assert 'aws' not in role and role['vault']['mount'] == 'approle-ci' and role['vault']['token_ttl'] == '5m'
    assert role['vault']['role_name'] == 'role-1' and role['vault']['token_max_ttl'] == '4h'
    assert 'vault' not in user and user['aws']['path'] == '/svc/' and user['aws']['tags'] == {'a': 'b'}


def test_kind_block_can_come_from_defaults():
    (ident,) = cat.validate_catalog(dict(doc({'name': 'svc-reports', 'kind': 'gcp_service_account'}),
                                         defaults={'owner': 'o', 'environment': 'dev', 'gcp': {'project': 'nhi-demo'}}), SRC)
    assert ident['gcp'] == {'project': 'nhi-demo', 'account_id': 'svc-reports', 'display_name': 'svc-reports',
                            'description': ''}


def test_explicit_store_path_and_null_means_default():
    (a, b) = cat.validate_catalog(doc(aws('u-1', store={'path': 'custom/place'}),
                                      aws('u-2', purpose=None, rotation={'max_age_days': None})), SRC)
    assert a['store']['path'] == 'custom/place'
    assert b['purpose'] == '' and b['rotation']['max_age_days'] == 90


def test_each_kind_normalises():
    ids = cat.validate_catalog(doc(
        {'name': 'a-1', 'kind': 'vault_approle', 'owner': 'o', 'environment': 'dev', 'vault': {'token_ttl': 3600}},
        {'name': 'b-1', 'kind': 'scim_service_user', 'owner': 'o', 'environment': 'dev',
         'scim': {'base_url': 'https://scim.example.com/v2/'}},
        {'name': 'c-1', 'kind': 'scim_service_user', 'owner': 'o', 'environment': 'dev', 'scim': {}},
        {'name': 'gcp-account', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev',
         'purpose': 'p', 'gcp': {'project': 'nhi-demo'}},
    ), SRC)
    assert ids[0]['vault'] == {'mount': 'approle', 'role_name': 'a-1', 'token_policies': [], 'token_ttl': 3600,
                               'token_max_ttl': '4h', 'secret_id_ttl': 0, 'secret_id_bound_cidrs': [],
                               'token_bound_cidrs': []}
    assert ids[1]['scim'] == {'base_url': 'https://scim.example.com/v2', 'user_name': 'b-1', 'display_name': 'b-1',
                              'groups': [], 'external_id': 'b-1'}
    assert ids[2]['scim']['base_url'] is None
    assert ids[3]['gcp']['description'] == 'p'


@pytest.mark.parametrize('value, expected', [
    (datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), '2027-01-02T03:04:05Z'),
    (datetime.datetime(2027, 1, 2, 3, 4, 5), '2027-01-02T03:04:05Z'),
    (datetime.date(2027, 1, 2), '2027-01-02T00:00:00Z'),
    ('2027-01-02T04:04:05+01:00', '2027-01-02T03:04:05Z'),
    ('2027-01-02', '2027-01-02T00:00:00Z'),
])
def test_expires_at_is_normalised_to_utc(value, expected):
    (ident,) = cat.validate_catalog(doc(aws(temporary=True, expires_at=value)), SRC)
    assert ident['expires_at'] == expected and ident['temporary'] is True


def test_inputs_are_not_mutated_and_results_share_nothing():
    defaults = {'owner': 'o', 'environment': 'dev', 'aws': {'managed_policies': ['arn:aws:iam::aws:policy/A']}}
    document = dict(doc({'name': 'u-1', 'kind': 'aws_iam_user'}, {'name': 'u-2', 'kind': 'aws_iam_user'}),
                    defaults=defaults)
    import copy
    before = copy.deepcopy(document)
    a, b = cat.validate_catalog(document, SRC)
    assert document == before
    a['aws']['managed_policies'].append('x')
    a['rotation']['max_age_days'] = 1
    assert b['aws']['managed_policies'] == ['arn:aws:iam::aws:policy/A']
    assert defaults['aws']['managed_policies'] == ['arn:aws:iam::aws:policy/A']
    (c,) = cat.validate_catalog(dict(doc({'name': 'u-3', 'kind': 'aws_iam_user'}), defaults=defaults), SRC)
    assert c['rotation']['max_age_days'] == 90


def test_normalise_identity_reuse_entry_point():
    ident = cat.normalise_identity({'name': 'n-1', 'kind': 'aws_iam_user', 'aws': {}},
                                   {'owner': 'o', 'environment': 'dev'}, 'x.nhi.yml')
    assert ident['name'] == 'n-1' and ident['source'] == 'x.nhi.yml'
    with pytest.raises(cat.CatalogError) as info:
        cat.normalise_identity({'name': 'n-1', 'kind': 'aws_iam_user'}, {}, 'x.nhi.yml')
    assert "field 'owner': required, but missing" in str(info.value)


def test_safe_group_name():
    assert cat.safe_group_name('nhi_owner_', 'alice@example.com') == 'nhi_owner_alice_example_com'
    assert cat.safe_group_name('nhi_env_', 'prod-eu.1') == 'nhi_env_prod_eu_1'


def test_public_constants():
    assert cat.KINDS == ('aws_iam_user', 'gcp_service_account', 'vault_approle', 'scim_service_user')


# --------------------------------------------------------------- error messages

def test_error_message_names_file_identity_index_field_and_expectation():
    exc = raised(doc(aws('a-1'), aws('b-1'), aws('ci-deployer', rotation={'max_age_days': 'ninety'})))
    errors, text = exc.errors, str(exc)
    assert errors == ["inventories/dev/a.nhi.yml: identity 'ci-deployer' (#3): field 'rotation.max_age_days': "
                      "expected a positive integer, got 'ninety'"]
    assert text.startswith('inventories/dev/a.nhi.yml: catalog is invalid (1 error)')


@pytest.mark.parametrize('identity, field, expectation', [
    (aws(rotation={'max_age_days': 0}), 'rotation.max_age_days', 'expected a positive integer, got 0'),
    (aws(rotation={'max_age_days': True}), 'rotation.max_age_days', 'expected a positive integer, got True'),
    (aws(rotation={'overlap_hours': -1}), 'rotation.overlap_hours', 'expected an integer >= 0'),
    (aws(kind='azure_sp'), 'kind', 'expected one of: aws_iam_user, gcp_service_account'),
    (aws(owner=''), 'owner', 'expected a non-empty string'),
    (aws(owner=None), 'owner', 'required, but missing'),
    (aws(environment=None), 'environment', 'required, but missing'),
    (aws(environment='prod env'), 'environment', 'expected an environment name'),
    (aws(temporary='yes'), 'temporary', 'expected a boolean'),
    (aws(temporary=True), 'expires_at', 'required when temporary is true'),
    (aws(expires_at='next tuesday'), 'expires_at', 'expected an ISO-8601 time'),
    (aws(expires_at='2027-13-45'), 'expires_at', 'expected an ISO-8601 time'),
    (aws(store={'mount': '/secret'}), 'store.mount', 'without leading "/"'),
    (aws(store={'path_prefix': 'nhi/../other'}), 'store.path_prefix', '".." segments'),
    (aws(store={'path': 'a//b'}), 'store.path', 'empty'),
    (aws(authority={'create': 'okta', 'approve': 'me'}), 'authority.approve', 'unknown field'),
    (aws(authority={'create': ''}), 'authority.create', 'expected a system name'),
    (aws(on_foreign_authority='ignore'), 'on_foreign_authority', 'expected one of: skip, fail'),
    (aws(offboard={'mode': 'archive'}), 'offboard.mode', 'expected one of: delete, suspend'),
    (aws(colour='blue'), 'colour', 'unknown field'),
    (aws(aws={'user_name': 'has space'}), 'aws.user_name', 'expected an IAM user name'),
    (aws(aws={'user_name': 'x' * 65}), 'aws.user_name', 'expected an IAM user name'),
    (aws('a' * 70, aws={}), 'aws.user_name', 'so set aws.user_name'),
    (aws(aws={'path': 'nhi'}), 'aws.path', 'starts and ends with "/"'),
    (aws(aws={'path': '/nhi'}), 'aws.path', 'starts and ends with "/"'),
    (aws(aws={'managed_policies': ['ReadOnlyAccess']}), 'aws.managed_policies', 'managed policy ARN'),
    (aws(aws={'inline_policies': {'bad name!': {}}}), 'aws.inline_policies', 'policy names'),
    (aws(aws={'tags': {'k': 1}}), 'aws.tags', 'tag names to strings'),
    (aws(aws='user'), 'aws', 'expected a mapping'),
    (aws(aws=None), 'aws', "required for kind 'aws_iam_user'"),
    (aws(gcp={'project': 'p'}), 'gcp', "not allowed for kind 'aws_iam_user'"),
    ({'name': 'sa-1', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev', 'gcp': {}},
     'gcp.project', 'required, but missing'),
    ({'name': 'sa-1', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev',
      'gcp': {'project': 'Bad_Project'}}, 'gcp.project', 'expected a GCP project id'),
    ({'name': 'sa-1', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev',
      'gcp': {'project': 'nhi-demo', 'account_id': 'short'}}, 'gcp.account_id', '6-30 characters'),
    ({'name': 'Sa_1', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev',
      'gcp': {'project': 'nhi-demo'}}, 'gcp.account_id', 'so set gcp.account_id'),
    ({'name': 'sa-1', 'kind': 'gcp_service_account', 'owner': 'o', 'environment': 'dev',
      'gcp': {'project': 'nhi-demo', 'account_id': 'a' * 31}}, 'gcp.account_id', '6-30 characters'),
    ({'name': 'r-1', 'kind': 'vault_approle', 'owner': 'o', 'environment': 'dev', 'vault': {'token_ttl': '1 hour'}},
     'vault.token_ttl', 'expected a Vault duration'),
    ({'name': 'r-1', 'kind': 'vault_approle', 'owner': 'o', 'environment': 'dev', 'vault': {'mount': '../sys'}},
     'vault.mount', '".." segments'),
    ({'name': 'r-1', 'kind': 'scim_service_user', 'owner': 'o', 'environment': 'dev',
      'scim': {'base_url': 'ftp://x'}}, 'scim.base_url', 'http(s) URL'),
    ({'name': 'r-1', 'kind': 'scim_service_user', 'owner': 'o', 'environment': 'dev',
      'scim': {'groups': 'admins', 'surprise': 1}}, 'scim.surprise', 'unknown field'),
])
def test_field_errors(identity, field, expectation):
    errors = errors_of(doc(identity))
    matching = [e for e in errors if "field '%s'" % field in e]
    assert matching, errors
    assert any(expectation in e for e in matching), matching
    assert all(e.startswith(SRC + ': identity ') for e in errors)


@pytest.mark.parametrize('name', ['', ' x', '-lead', 'has space', 'semi;colon', 'a' * 129, '{{ x }}', 'ünï', None, True, ['x']])
def test_bad_names(name):
    errors = errors_of(doc(aws(name)))
    assert any("field 'name'" in e for e in errors), errors


@pytest.mark.parametrize('name', ['a', 'A1', 'ci.deployer@x+y=z,w', 'x' * 128, '9lives', 'a_b-c', 12])
def test_good_names(name):
    (ident,) = cat.validate_catalog(doc(aws(name, aws={'user_name': 'ok-user'})), SRC)
    assert ident['name'] == str(name)  # YAML numbers are accepted and become strings


def test_all_errors_of_a_file_are_collected_and_capped():
    exc = raised(doc(*[aws('u-%d' % i, rotation={'max_age_days': -i}) for i in range(80)]))
    errors, text = exc.errors, str(exc)
    assert len(errors) == cat.MAX_ERRORS
    assert 'catalog is invalid (80 errors)' in text and '30 more error(s) not shown' in text
    assert "identity 'u-0' (#1)" in errors[0] and "identity 'u-49' (#50)" in errors[49]


def test_multiple_errors_for_one_identity_and_across_identities():
    errors = errors_of(doc(aws('a-1', owner='', rotation={'max_age_days': 'x'}), aws('b-1', kind='nope'), 'junk'))
    assert len(errors) == 4
    assert errors[-1] == SRC + ": identity #3: expected a mapping with name, kind, owner, ..., got 'junk'"


def test_unique_names_in_file_and_across_the_inventory():
    errors = errors_of(doc(aws('dup'), aws('other'), aws('dup')))
    assert errors == [SRC + ": identity 'dup' (#3): field 'name': expected a unique name, but identity #1 has the same name"]
    errors = errors_of(doc(aws('taken')), known_names={'taken': 'inventories/dev/b.nhi.yml'})
    assert 'inventories/dev/b.nhi.yml already defines it' in errors[0]


def test_known_owners():
    errors = errors_of(doc(aws(owner='team-x'), known_owners=['team-a', 'team-b']))
    assert "field 'owner': expected one of the known_owners of this file (team-a, team-b), got 'team-x'" in errors[0]


@pytest.mark.parametrize('document, fragment', [
    ([], 'expected a mapping with plugin, defaults and identities'),
    ({'plugin': 'nhi.lifecycle.catalog'}, "field 'identities': required, but missing"),
    (doc(aws(), idenities=[]), "field 'idenities': unknown field"),
    (doc(aws(), defaults={'name': 'x'}), "defaults: field 'name': not allowed in defaults"),
    (doc(aws(), defaults={'rotation': {'max_age_days': 'x'}}), "defaults: field 'rotation.max_age_days': expected a positive integer"),
    (doc(aws(), defaults=[1]), "field 'defaults': expected a mapping"),
    (doc(aws(), plugin=None), "field 'plugin': expected a non-empty string, got None"),
])
def test_file_level_errors(document, fragment):
    errors = errors_of(document)
    assert any(fragment in e for e in errors), errors


# --------------------------------------------------------------- YAML loading

def test_load_uses_safe_loader_and_reports_position():
    with pytest.raises(cat.CatalogError) as info:
        cat.load_catalog_text('plugin: nhi.lifecycle.catalog\nidentities:\n  - name: [unclosed\n', SRC)
    assert 'expected valid YAML' in str(info.value) and 'line' in str(info.value)
    with pytest.raises(cat.CatalogError):
        cat.load_catalog_text('x: !!python/object/apply:os.system ["id"]\n', SRC)
    with pytest.raises(cat.CatalogError) as info:
        cat.load_catalog_text(b'$ANSIBLE_VAULT;1.1;AES256\n6162\n', SRC)
    assert 'vault-encrypted' in str(info.value)
    with pytest.raises(cat.CatalogError):
        cat.load_catalog_text(b'\xff\xfe\x00', SRC)


def test_load_timestamps_become_normalised_strings():
    text = ('plugin: nhi.lifecycle.catalog\nidentities:\n  - {name: t-1, kind: aws_iam_user, owner: o, '
            'environment: dev, aws: {}, temporary: true, expires_at: 2027-01-15T00:00:00Z}\n')
    (ident,) = cat.validate_catalog(cat.load_catalog_text(text, SRC), SRC)
    assert ident['expires_at'] == '2027-01-15T00:00:00Z'


def test_deep_merge_helper_copies():
    base = {'a': {'b': [1]}, 'c': 1}
    out = cat.deep_merge(base, {'a': {'d': 2}})
    assert out == {'a': {'b': [1], 'd': 2}, 'c': 1}
    out['a']['b'].append(2)
    assert base['a']['b'] == [1]


def test_block_cache_does_not_leak_between_identities():
    cat._BLOCK_CACHE.clear()
    ids = cat.validate_catalog(doc(aws('a-1'), aws('a-2'), aws('a-3')), SRC)
    ids[0]['authority']['create'] = 'mutated'
    (again,) = cat.validate_catalog(doc(aws('a-4')), SRC)
    assert again['authority']['create'] == 'nhi.lifecycle'


def test_ten_thousand_identities_validate_quickly():
    import time
    defaults = {'owner': 'team', 'environment': 'dev', 'store': {'path_prefix': 'nhi/dev'}}
    ids = [{'name': 'id-%05d' % i, 'kind': 'aws_iam_user', 'purpose': 'p %d' % i,
            'aws': {'managed_policies': ['arn:aws:iam::aws:policy/ReadOnlyAccess']}} for i in range(10000)]
    start = time.process_time()
    out = cat.validate_catalog(dict(doc(*ids), defaults=defaults), SRC)
    elapsed = time.process_time() - start
    assert len(out) == 10000
    assert elapsed < 6.0, 'validation of 10,000 identities took %.2f s of CPU' % elapsed


# --------------------------------------------------------------- properties
# Every input ends in either a valid, fully normalised catalog or a CatalogError
# (an NHIError) whose lines name the file; never another exception type.

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

PROPERTY = settings(deadline=None, database=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

FIELDS = sorted(NORMALISED_KEYS - {'source'}) + ['aws', 'gcp', 'vault', 'scim', 'colour']
SUBFIELDS = ['user_name', 'path', 'managed_policies', 'inline_policies', 'tags', 'project', 'account_id',
             'display_name', 'description', 'mount', 'role_name', 'token_policies', 'token_ttl', 'token_max_ttl',
             'secret_id_ttl', 'base_url', 'groups', 'external_id', 'path_prefix', 'max_age_days',
             'overlap_hours', 'mode', 'create', 'rotate', 'suspend', 'delete', 'bogus']

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(['', '..', '/abs', 'a/../b', '1h', '90m', 'ninety', 'prod', 'nhi.lifecycle', 'okta',
                     '{{ lookup("pipe", "id") }}', 'https://scim.example.com/v2', 'arn:aws:iam::aws:policy/X',
                     '2027-01-01T00:00:00Z', '2027-02-30', 'skip', 'fail', 'delete', 'suspend'] + list(cat.KINDS)),
    st.datetimes(), st.dates(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(SUBFIELDS), st.text(max_size=8), st.integers()), inner, max_size=5)),
    max_leaves=12)


def valid_identity(i, kind):
    base = {'name': 'id-%d' % i, 'kind': kind, 'owner': 'team', 'environment': 'dev'}
    base[cat.KIND_BLOCKS[kind]] = {'project': 'nhi-demo'} if kind == 'gcp_service_account' else {}
    if kind == 'gcp_service_account':
        base['gcp']['account_id'] = 'account-%d' % i
    return base


@st.composite
def mutated_catalogs(draw):
    count = draw(st.integers(min_value=0, max_value=6))
    identities = []
    for i in range(count):
        ident = valid_identity(i, draw(st.sampled_from(cat.KINDS)))
        for dummy in range(draw(st.integers(min_value=0, max_value=3))):  # pylint: disable=unused-variable
            field = draw(st.sampled_from(FIELDS))
            if draw(st.booleans()) and isinstance(ident.get(field), dict):
                ident[field] = dict(ident[field])
                ident[field][draw(st.sampled_from(SUBFIELDS))] = draw(values)
            elif draw(st.integers(min_value=0, max_value=9)) == 0:
                ident.pop(field, None)
            else:
                ident[field] = draw(values)
        identities.append(ident if draw(st.integers(min_value=0, max_value=19)) else draw(values))
    document = {'plugin': 'nhi.lifecycle.catalog', 'identities': identities}
    if draw(st.booleans()):
        document['defaults'] = draw(st.dictionaries(st.sampled_from(FIELDS + ['name']), values, max_size=3))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        document[draw(st.sampled_from(['known_owners', 'plugin', 'identities', 'extra']))] = draw(values)
    return document


JSONISH = (str, int, float, bool, type(None))


def assert_plain(value):
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str)
            assert_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain(item)
    else:
        assert isinstance(value, JSONISH), type(value)


def check_outcome(document):
    try:
        identities = cat.validate_catalog(document, SRC)
    except cat.CatalogError as exc:
        assert exc.errors and all(e.startswith(SRC + ':') for e in exc.errors)
        assert str(exc).startswith(SRC + ': catalog is invalid')
        return None
    for ident in identities:
        assert set(ident) == NORMALISED_KEYS | {cat.KIND_BLOCKS[ident['kind']]}
        assert cat.NAME_RE.match(ident['name'])
        assert ident['rotation']['max_age_days'] > 0
        assert not ident['store']['path'].startswith('/') and '..' not in ident['store']['path'].split('/')
        if ident['temporary']:
            assert ident['expires_at']
        for key in ('owner', 'purpose', 'environment'):
            assert isinstance(ident[key], str)
    return identities


@settings(PROPERTY, max_examples=1500)
@given(mutated_catalogs())
def test_property_catalog_valid_or_catalog_error(document):
    check_outcome(document)


@settings(PROPERTY, max_examples=700)
@given(st.one_of(values, st.dictionaries(
    st.sampled_from(['plugin', 'defaults', 'identities', 'known_owners', 'compose', 'strict']), values, max_size=4)))
def test_property_any_document_valid_or_catalog_error(document):
    check_outcome(document)


@settings(PROPERTY, max_examples=500)
@given(st.one_of(
    st.text(max_size=300),
    st.binary(max_size=200),
    st.lists(st.sampled_from(['plugin: nhi.lifecycle.catalog\n', 'identities:\n', '  - name: a-1\n',
                              '    kind: aws_iam_user\n', '    aws: {}\n', '    owner: o\n', '    environment: dev\n',
                              '  - [\n', '&a x\n', '*a\n', '!!binary x\n', 'defaults: {owner: o}\n', '\t\n',
                              '    expires_at: 2027-01-01\n', '    temporary: yes\n', '- 1\n', ': :\n']),
             max_size=12).map(''.join)))
def test_property_yaml_text_loads_and_validates_or_catalog_error(text):
    try:
        document = cat.load_catalog_text(text, SRC)
    except cat.CatalogError as exc:
        assert exc.errors and exc.errors[0].startswith(SRC + ':')
        return
    check_outcome(document)

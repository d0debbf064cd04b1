# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The NHI catalog: schema, normalisation and validation.

Used by the ``nhi.lifecycle.catalog`` inventory plugin, by the ``plan`` action
plugin and by the tests. Types, choices and required fields are checked with
ansible-core's ``ArgumentSpecValidator`` (the same engine as role
argument_specs); the cross-field rules it cannot express are checked here.

The public surface:

* ``KINDS``, ``KIND_BLOCKS``, ``AUTHORITY_EVENTS``
* ``load_catalog_text(text, source)`` - libyaml C loader, errors as CatalogError
* ``validate_catalog(doc, source, known_names=None)`` - list of normalised identities
* ``normalise_identity(raw, defaults, source)`` - one normalised identity
* ``CatalogError`` - an ``NHIError`` that carries every message of a file
* ``safe_group_name(prefix, value)``
"""

from __future__ import annotations

import copy
import datetime
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, parse_time

try:
    import yaml
    try:
        _YAML_LOADER = yaml.CSafeLoader
    except AttributeError:  # PyYAML built without libyaml
        _YAML_LOADER = yaml.SafeLoader
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    yaml = None
    _YAML_LOADER = None


KINDS = ('aws_iam_user', 'gcp_service_account', 'vault_approle', 'scim_service_user')
KIND_BLOCKS = {
    'aws_iam_user': 'aws',
    'gcp_service_account': 'gcp',
    'vault_approle': 'vault',
    'scim_service_user': 'scim',
}
BLOCK_NAMES = tuple(KIND_BLOCKS.values())
AUTHORITY_EVENTS = ('create', 'rotate', 'suspend', 'delete')
DEFAULT_AUTHORITY = 'nhi.lifecycle'
MAX_ERRORS = 50

NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$')
ENV_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
AUTHORITY_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$')
AWS_USER_RE = re.compile(r'^[\w+=,.@-]{1,64}$', re.ASCII)
AWS_PATH_RE = re.compile(r'^(/|/[\x21-\x7e]{1,510}/)$')
AWS_POLICY_ARN_RE = re.compile(r'^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/[\x21-\x7e]{1,512}$')
AWS_INLINE_NAME_RE = re.compile(r'^[\w+=,.@-]{1,128}$', re.ASCII)
GCP_ACCOUNT_RE = re.compile(r'^[a-z][a-z0-9-]{4,28}[a-z0-9]$')
GCP_PROJECT_RE = re.compile(r'^[a-z][a-z0-9-]{4,28}[a-z0-9]$')
VAULT_NAME_RE = re.compile(r'^\w([\w.@-]{0,126}\w)?$', re.ASCII)
VAULT_DURATION_RE = re.compile(r'^(\d+|(\d+[smhd])+)$')
URL_RE = re.compile(r'^https?://[^\s/?#]+(/[^\s]*)?$')
_CONTROL_RE = re.compile(r'[\x00-\x1f\x7f]')
_GROUP_UNSAFE_RE = re.compile(r'[^A-Za-z0-9_]')


class CatalogError(NHIError):
    """A catalog file (or one identity) failed validation.

    ``errors`` holds one self-contained line per problem, each naming the file,
    the identity (name and 1-based index), the field path and what was
    expected. ``str()`` renders all of them.
    """

    def __init__(self, errors, source=None, truncated=0):
        self.errors = list(errors)
        self.source = source
        self.truncated = truncated
        count = len(self.errors) + truncated
        message = '%s: catalog is invalid (%d error%s); no identity from this file was loaded' % (
            source or '<catalog>', count, '' if count == 1 else 's')
        super().__init__(message, where=source,
                         hint='fix the fields listed above; see docs/catalog.md for the format')

    def __str__(self):
        lines = [self.message]
        lines.extend('  - ' + e for e in self.errors)
        if self.truncated:
            lines.append('  - ... and %d more error(s) not shown' % self.truncated)
        lines.append('  ' + self.hint)
        return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Type callables for ArgumentSpecValidator. Each raises ValueError with an
# "expected ..., got ..." sentence that is lifted verbatim into the error line.
# ---------------------------------------------------------------------------

def _show(value):
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + '...'
    return text


def _typed(name, func):
    """Name a type callable: ArgumentSpecValidator reports the type by the callable's name."""
    func.__name__ = name
    return func


def _named(name):
    return lambda func: _typed(name, func)


def _text(value, what):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError('expected %s, got %s' % (what, _show(value)))
    return value if isinstance(value, str) else str(value)


@_named('string')
def _nonempty_str(value):
    text = _text(value, 'a non-empty string')
    if not text.strip() or _CONTROL_RE.search(text):
        raise ValueError('expected a non-empty string without control characters, got %s' % _show(value))
    return text


@_named('text')
def _free_str(value):
    text = _text(value, 'a string')
    if '\x00' in text:
        raise ValueError('expected a string without NUL characters, got %s' % _show(value))
    return text


def _pattern(name, regex, what):
    def check(value):
        text = _text(value, what)
        if not regex.match(text):
            raise ValueError('expected %s, got %s' % (what, _show(value)))
        return text
    return _typed(name, check)


def _choice(name, choices):
    what = 'one of: %s' % ', '.join(choices)

    def check(value):
        if isinstance(value, str) and value in choices:
            return value
        raise ValueError('expected %s, got %s' % (what, _show(value)))
    return _typed(name, check)


@_named('boolean')
def _boolean(value):
    if isinstance(value, bool):
        return value
    raise ValueError('expected a boolean (true or false), got %s' % _show(value))


@_named('positive_int')
def _positive_int(value):
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise ValueError('expected a positive integer, got %s' % _show(value))


@_named('non_negative_int')
def _non_negative_int(value):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError('expected an integer >= 0, got %s' % _show(value))


@_named('duration')
def _duration(value):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and VAULT_DURATION_RE.match(value):
        return value
    raise ValueError('expected a Vault duration such as 3600, 90m, 1h or 1h30m, got %s' % _show(value))


@_named('mapping')
def _mapping(value):
    if isinstance(value, dict):
        return value
    raise ValueError('expected a mapping, got %s' % _show(value))


@_named('timestamp')
def _timestamp(value):
    if isinstance(value, (datetime.datetime, datetime.date)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            parse_time(value)
            return value
        except NHIError:
            pass
    raise ValueError('expected an ISO-8601 time such as 2026-12-01T00:00:00Z, got %s' % _show(value))


def _store_path(name):
    what = 'a relative path without leading "/", empty, "." or ".." segments'

    def check(value):
        text = _text(value, what)
        stripped = text.rstrip('/')
        if (not stripped or stripped.startswith('/') or _CONTROL_RE.search(stripped)
                or any(seg in ('', '.', '..') for seg in stripped.split('/'))):
            raise ValueError('expected %s, got %s' % (what, _show(value)))
        return stripped
    return _typed(name, check)


@_named('tags')
def _tag_map(value):
    if not isinstance(value, dict):
        raise ValueError('expected a mapping of tag names to strings, got %s' % _show(value))
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise ValueError('expected a mapping of tag names to strings, got %s: %s' % (_show(key), _show(item)))
    return value


@_named('inline_policies')
def _inline_policies(value):
    if not isinstance(value, dict):
        raise ValueError('expected a mapping of policy name to policy document, got %s' % _show(value))
    for key, item in value.items():
        if not isinstance(key, str) or not AWS_INLINE_NAME_RE.match(key):
            raise ValueError('expected policy names of 1-128 characters [A-Za-z0-9+=,.@_-], got %s' % _show(key))
        if not isinstance(item, (dict, str)):
            raise ValueError('expected policy %r to be a policy document (mapping or JSON string), got %s' % (key, _show(item)))
    return value


_name = _pattern('name', NAME_RE, 'a name matching ^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$')
_env = _pattern('environment', ENV_RE, 'an environment name matching ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
_authority = _pattern('authority', AUTHORITY_RE,
                      'a system name such as nhi.lifecycle, okta or terraform (^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$)')
_aws_user = _pattern('aws_user_name', AWS_USER_RE, 'an IAM user name of 1-64 characters [A-Za-z0-9+=,.@_-]')
_aws_path = _pattern('aws_path', AWS_PATH_RE, 'an IAM path that starts and ends with "/" (e.g. /nhi/), at most 512 printable ASCII characters')
_aws_arn = _pattern('policy_arn', AWS_POLICY_ARN_RE, 'a managed policy ARN such as arn:aws:iam::aws:policy/ReadOnlyAccess')
_gcp_account = _pattern('account_id', GCP_ACCOUNT_RE, 'a GCP account id of 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$')
_gcp_project = _pattern('project', GCP_PROJECT_RE, 'a GCP project id of 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$')
_vault_name = _pattern('vault_name', VAULT_NAME_RE, 'a Vault name of word characters, ".", "@" or "-", starting and ending with a word character')
_url = _pattern('url', URL_RE, 'an http(s) URL such as https://scim.example.com/scim/v2')
_kind = _choice('kind', KINDS)
_on_foreign = _choice('on_foreign_authority', ('skip', 'fail'))
_offboard_mode = _choice('mode', ('delete', 'suspend'))
_store_mount = _store_path('store_mount')
_store_rel = _store_path('store_path')


def _opt(type_, **kw):
    kw['type'] = type_
    return kw


def _list_of(elements, **kw):
    kw.update(type='list', elements=elements)
    return kw


BLOCK_SPECS = {
    'aws': {
        'user_name': _opt(_aws_user),
        'path': _opt(_aws_path, default='/nhi/'),
        'managed_policies': _list_of(_aws_arn, default=[]),
        'inline_policies': _opt(_inline_policies, default={}),
        'tags': _opt(_tag_map, default={}),
    },
    'gcp': {
        'project': _opt(_gcp_project, required=True),
        'account_id': _opt(_gcp_account),
        'display_name': _opt(_free_str),
        'description': _opt(_free_str),
    },
    'vault': {
        'mount': _opt(_store_mount, default='approle'),
        'role_name': _opt(_vault_name),
        'token_policies': _list_of(_vault_name, default=[]),
        'token_ttl': _opt(_duration, default='1h'),
        'token_max_ttl': _opt(_duration, default='4h'),
        'secret_id_ttl': _opt(_duration, default=0),
        'secret_id_bound_cidrs': _list_of(_nonempty_str, default=[]),
        'token_bound_cidrs': _list_of(_nonempty_str, default=[]),
    },
    'scim': {
        'base_url': _opt(_url),
        'user_name': _opt(_nonempty_str),
        'display_name': _opt(_free_str),
        'groups': _list_of(_nonempty_str, default=[]),
        'external_id': _opt(_nonempty_str),
    },
}

COMMON_SPEC = {
    'name': _opt(_name, required=True),
    'kind': _opt(_kind, required=True),
    'owner': _opt(_nonempty_str, required=True),
    'purpose': _opt(_free_str, default=''),
    'environment': _opt(_env, required=True),
    'temporary': _opt(_boolean, default=False),
    'expires_at': _opt(_timestamp),
    'store': {'type': 'dict', 'apply_defaults': True, 'options': {
        'mount': _opt(_store_mount, default='secret'),
        'path_prefix': _opt(_store_rel, default='nhi'),
        'path': _opt(_store_rel),
    }},
    'authority': {'type': 'dict', 'apply_defaults': True, 'options': dict(
        (event, _opt(_authority, default=DEFAULT_AUTHORITY)) for event in AUTHORITY_EVENTS)},
    'on_foreign_authority': _opt(_on_foreign, default='skip'),
    'rotation': {'type': 'dict', 'apply_defaults': True, 'options': {
        'max_age_days': _opt(_positive_int, default=90),
        'overlap_hours': _opt(_non_negative_int, default=0),
    }},
    'offboard': {'type': 'dict', 'apply_defaults': True, 'options': {
        'mode': _opt(_offboard_mode, default='delete'),
    }},
}


def _relax(spec):
    """The same spec with nothing required and no defaults applied (for the file's ``defaults``)."""
    out = {}
    for key, opt in spec.items():
        opt = dict(opt)
        opt.pop('required', None)
        opt.pop('default', None)
        opt.pop('apply_defaults', None)
        if 'options' in opt:
            opt['options'] = _relax(opt['options'])
        out[key] = opt
    return out


FILE_SPEC = {
    'plugin': _opt(_nonempty_str, required=True),
    'defaults': _opt(_mapping, default={}),
    'known_owners': _list_of(_nonempty_str),
    'identities': _opt('list', required=True),
    # Constructable options, interpreted by the inventory plugin
    'strict': _opt(_boolean, default=False),
    'compose': _opt(_mapping, default={}),
    'groups': _opt(_mapping, default={}),
    'keyed_groups': _list_of('dict', default=[]),
    'use_extra_vars': _opt(_boolean, default=False),
    'leading_separator': _opt(_boolean, default=True),
}

# Validation is split into a flat top-level spec (one run per identity) and one
# validator per block whose results are memoised by content: across a catalog
# of thousands of identities the blocks repeat (rotation, store, authority ...),
# so a 10,000-identity file validates in well under a second.
_NESTED = ('store', 'authority', 'rotation', 'offboard')
_BLOCK_VALIDATORS = dict((block, ArgumentSpecValidator(BLOCK_SPECS[block])) for block in BLOCK_NAMES)
_BLOCK_VALIDATORS.update((block, ArgumentSpecValidator(COMMON_SPEC[block]['options'])) for block in _NESTED)


def _top_spec(kind):
    spec = {}
    for key, opt in COMMON_SPEC.items():
        spec[key] = _opt(_mapping) if key in _NESTED else opt
    for block in ([KIND_BLOCKS[kind]] if kind in KIND_BLOCKS else BLOCK_NAMES):
        spec[block] = _opt(_mapping)
    return spec


_TOP_VALIDATORS = dict((kind, ArgumentSpecValidator(_top_spec(kind))) for kind in KINDS)
_TOP_VALIDATORS[None] = ArgumentSpecValidator(_top_spec(None))
_BLOCK_CACHE = {}
_EMPTY = {}
_BLOCK_CACHE_MAX = 8192


def _copy_plain(value):
    """A fast deep copy for the plain YAML/JSON types a validated block holds."""
    if isinstance(value, dict):
        return dict((k, _copy_plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_copy_plain(v) for v in value]
    return value


class _ShallowCopied(dict):
    """A dict that ArgumentSpecValidator copies shallowly.

    ``ValidationResult`` deep-copies its input; for our inputs (scalars, and
    lists and mappings that the validator replaces rather than mutates) a
    shallow copy is equivalent and several times cheaper.
    """

    def __deepcopy__(self, memo):
        return dict(self)


def _run(validator, params, raw, prefix=()):
    """Run a validator; return (validated parameters or None, [(path, message)]). Never raises."""
    bad = [k for k in params if not isinstance(k, str)]
    if bad:
        where = '.'.join(prefix) if prefix else 'the top level'
        return None, [('.'.join(list(prefix) + [_show(k)]), 'unknown field (field names in %s are strings)' % where)
                      for k in bad]
    try:
        result = validator.validate(_ShallowCopied(params))
    except Exception as exc:  # pylint: disable=broad-except  # junk the validator itself trips on
        return None, [('.'.join(prefix) or '?', 'could not be validated (%s: %s)' % (type(exc).__name__, exc))]
    problems = _spec_errors(result, raw, prefix=prefix)
    return (None if problems else result.validated_parameters), problems


def _validate_block(block, value):
    """Return (validated copy or None, [(path, message)]) for one block, memoised by content."""
    try:
        key = (block, repr(value))
    except Exception:  # pragma: no cover - repr of plain YAML data does not fail
        key = None
    hit = _BLOCK_CACHE.get(key) if key is not None else None
    if hit is None:
        hit = _run(_BLOCK_VALIDATORS[block], _strip_nulls(value), value, prefix=(block,))
        if key is not None:
            if len(_BLOCK_CACHE) >= _BLOCK_CACHE_MAX:
                _BLOCK_CACHE.clear()
            _BLOCK_CACHE[key] = hit
    params, problems = hit
    return (_copy_plain(params) if params is not None else None), list(problems)


_DEFAULTS_VALIDATOR = ArgumentSpecValidator(dict((k, v) for k, v in _relax(_top_spec(None)).items() if k != 'name'))
_RELAXED_BLOCK_VALIDATORS = dict((block, ArgumentSpecValidator(_relax(BLOCK_SPECS[block]))) for block in BLOCK_NAMES)
_RELAXED_BLOCK_VALIDATORS.update((block, ArgumentSpecValidator(_relax(COMMON_SPEC[block]['options']))) for block in _NESTED)
_FILE_VALIDATOR = ArgumentSpecValidator(FILE_SPEC)


# ---------------------------------------------------------------------------
# Turning ArgumentSpecValidator errors into "field 'a.b': expected ..., got ..."
# ---------------------------------------------------------------------------

_RE_REQUIRED = re.compile(r"^missing required arguments: (?P<names>.+?)(?: found in (?P<ctx>.+))?$")
_RE_TYPE = re.compile(r"^argument '(?P<name>[^']+)' is of type \S+(?: found in '(?P<ctx>[^']+)'\.)?"
                      r" and we were unable to convert to \S+: (?P<msg>.*)$", re.S)
_RE_ELEMENT = re.compile(r"^Elements value for option '(?P<name>[^']+)'(?: found in '(?P<ctx>[^']+)')?"
                         r" is of type \S+ and we were unable to convert to \S+: (?P<msg>.*)$", re.S)


def _ctx_path(ctx):
    return [part.strip() for part in ctx.split('->')] if ctx else []


def _lookup(doc, path):
    cur = doc
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _spec_errors(result, raw, prefix=()):
    """Yield (path, message) pairs for a ValidationResult."""
    out = []
    unsupported = sorted(tuple(item) if isinstance(item, tuple) else (item,) for item in result.unsupported_parameters)
    for item in unsupported:
        out.append(('.'.join(list(prefix) + [str(part) for part in item]), 'unknown field'))
    for err in result.errors:
        name = type(err).__name__
        text = getattr(err, 'error_message', None) or str(err)
        if name == 'UnsupportedError':
            continue  # reported from unsupported_parameters above
        match = _RE_REQUIRED.match(text)
        if match:
            ctx = list(prefix) + _ctx_path(match.group('ctx'))
            for field in match.group('names').split(', '):
                out.append(('.'.join(ctx + [field]), 'required, but missing'))
            continue
        match = _RE_TYPE.match(text) or _RE_ELEMENT.match(text)
        if match:
            path = list(prefix) + _ctx_path(match.group('ctx')) + [match.group('name')]
            msg = match.group('msg')
            if not msg.startswith('expected '):
                expected = _EXPECT_BUILTIN.get(name, 'a valid value')
                msg = 'expected %s, got %s (%s)' % (expected, _show(_lookup(raw, path[len(prefix):])), msg)
            if text.startswith('Elements value'):
                msg = 'every element: ' + msg
            out.append(('.'.join(path), msg))
            continue
        if 'dictionary requested' in text or "is of type" in text:
            # ansible's own dict/list type checks; name the field if we can
            m = re.search(r"argument '([^']+)'", text)
            field = m.group(1) if m else '?'
            out.append(('.'.join(list(prefix) + [field]), 'expected a mapping, got %s' % _show(_lookup(raw, [field]))))
            continue
        out.append(('?', text))
    return out


_EXPECT_BUILTIN = {'ArgumentTypeError': 'a value of the documented type', 'ElementError': 'a list'}


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------

def _merge(base, override):
    """Merge ``override`` over ``base``: mappings merge recursively, anything else replaces.

    New dicts are made where mappings meet; leaves are shared with the inputs
    (the validators copy what they keep).
    """
    if not base:
        return override
    out = dict(base)
    for key, value in override.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = _merge(below, value)
        else:
            out[key] = value
    return out


def deep_merge(base, override):
    """Return ``base`` deep-merged under ``override``; neither input is modified or shared."""
    return copy.deepcopy(_merge(base, override))


def _strip_nulls(doc):
    """Drop keys whose value is null at the top level and inside the blocks ("null means unset")."""
    out = {}
    for key, value in doc.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = dict((k, v) for k, v in value.items() if v is not None)
        out[key] = value
    return out


def iso_utc(value):
    """A datetime, date or ISO-8601 string as ``YYYY-MM-DDTHH:MM:SSZ`` (seconds precision, UTC)."""
    return parse_time(value).strftime('%Y-%m-%dT%H:%M:%SZ')


def safe_group_name(prefix, value):
    return prefix + _GROUP_UNSAFE_RE.sub('_', str(value))


def _label(raw, index):
    name = raw.get('name') if isinstance(raw, dict) else None
    if isinstance(name, str) and NAME_RE.match(name):
        return "identity '%s' (#%d)" % (name, index)
    if isinstance(name, str) and name:
        return "identity %s (#%d)" % (_show(name), index)
    return 'identity #%d' % index


def _defaults_for(defaults, kind):
    """File defaults with only the kind block that belongs to ``kind``."""
    if not defaults:
        return {}
    own = KIND_BLOCKS.get(kind)
    return dict((k, v) for k, v in defaults.items() if k not in BLOCK_NAMES or k == own)


def _normalise(raw, defaults, source, index, known_owners=None):
    """Return (identity or None, [error lines]) for one catalog entry."""
    if not isinstance(raw, dict):
        return None, ['%s: identity #%d: expected a mapping with name, kind, owner, ..., got %s' % (source, index, _show(raw))]
    label = _label(raw, index)
    errors = []

    def err(field, msg):
        errors.append("%s: %s: field '%s': %s" % (source, label, field, msg))

    for key in raw:
        if not isinstance(key, str):
            err(_show(key), 'unknown field (field names are strings)')
    if errors:
        return None, errors

    kind = raw.get('kind', (defaults or {}).get('kind'))
    kind_key = kind if isinstance(kind, str) and kind in KINDS else None
    own = KIND_BLOCKS.get(kind_key)
    if kind_key:
        for block in BLOCK_NAMES:
            if block != own and block in raw:
                err(block, "not allowed for kind '%s' (only the '%s' block belongs to it)" % (kind_key, own))
    merged = _strip_nulls(_merge(_defaults_for(defaults, kind_key), raw))
    # blocks are validated on their own below; the top-level pass only sees whether they are mappings
    top = dict((k, _EMPTY if isinstance(v, dict) else v) for k, v in merged.items())
    params, problems = _run(_TOP_VALIDATORS[kind_key], top, merged)
    for path, msg in problems:
        if kind_key and path in BLOCK_NAMES and msg == 'unknown field':
            continue  # already explained above
        err(path, msg)
    if params is None:
        params = {}
    for block in _NESTED + ((own,) if own else ()):
        value = merged.get(block)
        if block == own and value is None:
            continue
        if not isinstance(value, dict):
            value = {}
        checked, problems = _validate_block(block, value)
        for path, msg in problems:
            err(path, msg)
        params[block] = checked
    if errors:
        return None, errors

    # ---- cross-field checks the spec cannot express -------------------------
    name = params['name']
    if own not in params or params.get(own) is None:
        err(own, "required for kind '%s' (give at least '%s: {}' or set it in defaults)" % (kind_key, own))
        return None, errors
    block = params[own]
    if known_owners is not None and params['owner'] not in known_owners:
        err('owner', 'expected one of the known_owners of this file (%s), got %s'
            % (', '.join(known_owners), _show(params['owner'])))
    expires_at = params.get('expires_at')
    if expires_at is not None:
        try:
            expires_at = iso_utc(expires_at)
        except (NHIError, ValueError, OverflowError) as exc:
            err('expires_at', 'expected an ISO-8601 time such as 2026-12-01T00:00:00Z, got %s (%s)'
                % (_show(params.get('expires_at')), exc))
    if params['temporary'] and expires_at is None:
        err('expires_at', 'required when temporary is true (temporary access must expire)')

    if own == 'aws':
        user_name = block.get('user_name') or name
        if not AWS_USER_RE.match(user_name):
            err('aws.user_name', "expected an IAM user name of 1-64 characters [A-Za-z0-9+=,.@_-]; the name %s "
                "cannot be used, so set aws.user_name" % _show(name))
        block = dict(block, user_name=user_name)
        block.setdefault('path', '/nhi/')
    elif own == 'gcp':
        account_id = block.get('account_id') or name
        if not GCP_ACCOUNT_RE.match(account_id):
            err('gcp.account_id', 'expected 6-30 characters matching ^[a-z][a-z0-9-]{4,28}[a-z0-9]$; '
                'the name %s is not one, so set gcp.account_id' % _show(name))
        block = {
            'project': block['project'],
            'account_id': account_id,
            'display_name': block.get('display_name') or name,
            'description': block.get('description') if block.get('description') is not None else params['purpose'],
        }
        if len(block['display_name']) > 100:
            err('gcp.display_name', 'expected at most 100 characters, got %d' % len(block['display_name']))
        if len(block['description']) > 256:
            err('gcp.description', 'expected at most 256 characters, got %d' % len(block['description']))
    elif own == 'vault':
        role_name = block.get('role_name') or name
        if not VAULT_NAME_RE.match(role_name):
            err('vault.role_name', 'expected a Vault role name of word characters, ".", "@" or "-"; the name %s '
                'is not one, so set vault.role_name' % _show(name))
        block = dict(block, role_name=role_name)
    elif own == 'scim':
        block = {
            'base_url': block['base_url'].rstrip('/') if block.get('base_url') else None,
            'user_name': block.get('user_name') or name,
            'display_name': block.get('display_name') or name,
            'groups': block.get('groups') or [],
            'external_id': block.get('external_id') or name,
        }

    store = params['store']
    store_path = store.get('path') or '%s/%s' % (store['path_prefix'], name)
    if len(store_path) > 512:
        err('store.path', 'expected at most 512 characters, got %d' % len(store_path))
    if errors:
        return None, errors

    identity = {
        'name': name,
        'owner': params['owner'],
        'purpose': params['purpose'],
        'environment': params['environment'],
        'kind': kind_key,
        'temporary': params['temporary'],
        'expires_at': expires_at,
        'source': source,
        own: block,
        'store': {'mount': store['mount'], 'path': store_path},
        'authority': dict((event, params['authority'][event]) for event in AUTHORITY_EVENTS),
        'on_foreign_authority': params['on_foreign_authority'],
        'rotation': {'max_age_days': params['rotation']['max_age_days'],
                     'overlap_hours': params['rotation']['overlap_hours']},
        'offboard': {'mode': params['offboard']['mode']},
    }
    return identity, []


def _check_defaults(defaults, source):
    """Validate the file's ``defaults`` with the identity specs relaxed (nothing required)."""
    if not defaults:
        return {}, []
    errors = []
    if 'name' in defaults:
        errors.append("%s: defaults: field 'name': not allowed in defaults (every identity names itself)" % source)
    candidate = _strip_nulls(dict((k, v) for k, v in defaults.items() if k != 'name'))
    top = dict((k, _EMPTY if isinstance(v, dict) else v) for k, v in candidate.items())
    problems = _run(_DEFAULTS_VALIDATOR, top, candidate)[1]
    for block in _NESTED + BLOCK_NAMES:
        if isinstance(candidate.get(block), dict):
            problems.extend(_run(_RELAXED_BLOCK_VALIDATORS[block], _strip_nulls(candidate[block]),
                                 candidate[block], prefix=(block,))[1])
    for path, msg in problems:
        errors.append("%s: defaults: field '%s': %s" % (source, path, msg))
    return (None if errors else defaults), errors


def _raise(errors, source):
    shown = errors[:MAX_ERRORS]
    raise CatalogError(shown, source=source, truncated=max(0, len(errors) - MAX_ERRORS))


def normalise_identity(raw, defaults, source, index=1):
    """Validate and normalise one catalog entry; raise CatalogError listing every problem.

    ``defaults`` is the file's ``defaults`` mapping (or None); ``source`` names
    the file in messages and becomes ``nhi.source``.
    """
    checked, errors = _check_defaults(defaults, source)
    if errors:
        _raise(errors, source)
    identity, errors = _normalise(raw, checked, source, index)
    if errors:
        _raise(errors, source)
    return identity


def validate_catalog(doc, source, known_names=None):
    """Validate a whole parsed catalog document and return its normalised identities.

    ``known_names`` maps names already loaded in this inventory run to the file
    that defined them, so that a name is unique across the whole run. Every
    problem of the file is collected (up to MAX_ERRORS shown) and raised as one
    CatalogError; a file with any error yields nothing.
    """
    if not isinstance(doc, dict):
        _raise(['%s: expected a mapping with plugin, defaults and identities, got %s' % (source, _show(doc))], source)
    if any(not isinstance(k, str) for k in doc):
        _raise(['%s: top-level field names must be strings' % source], source)
    params, problems = _run(_FILE_VALIDATOR, doc, doc)
    errors = ["%s: field '%s': %s" % (source, path, msg) for path, msg in problems]
    if errors:
        _raise(errors, source)
    defaults, errors = _check_defaults(params.get('defaults') or {}, source)
    if errors:
        _raise(errors, source)
    known_owners = params.get('known_owners')
    identities = []
    seen = {}
    for index, raw in enumerate(params['identities'], start=1):
        identity, problems = _normalise(raw, defaults, source, index, known_owners)
        errors.extend(problems)
        name = identity['name'] if identity else (raw.get('name') if isinstance(raw, dict) else None)
        if isinstance(name, (int, float)) and not isinstance(name, bool):
            name = str(name)
        if isinstance(name, str):
            if name in seen:
                errors.append("%s: %s: field 'name': expected a unique name, but identity #%d has the same name"
                              % (source, _label({'name': name}, index), seen[name]))
                identity = None
            elif known_names and name in known_names:
                errors.append("%s: %s: field 'name': expected a name unique in the inventory, but %s already "
                              "defines it" % (source, _label({'name': name}, index), known_names[name]))
                identity = None
            seen.setdefault(name, index)
        if identity is not None and not errors:
            identities.append(identity)
        if len(errors) > MAX_ERRORS * 4:
            break
    if errors:
        _raise(errors, source)
    return identities


def load_catalog_text(text, source):
    """Parse catalog YAML with libyaml's C safe loader (no Ansible templating tags, no Python objects)."""
    if yaml is None:  # pragma: no cover
        raise CatalogError(['%s: PyYAML is not installed' % source], source=source)
    if isinstance(text, bytes):
        if text.lstrip().startswith(b'$ANSIBLE_VAULT'):
            raise CatalogError(['%s: the catalog is vault-encrypted; catalogs hold no secrets, keep them in clear text'
                                % source], source=source)
        try:
            text = text.decode('utf-8')
        except UnicodeDecodeError as exc:
            raise CatalogError(['%s: expected UTF-8 text (%s)' % (source, exc)], source=source)
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # nosec B506 - a SafeLoader
    except yaml.YAMLError as exc:
        where = ''
        mark = getattr(exc, 'problem_mark', None)
        if mark is not None:
            where = ' at line %d, column %d' % (mark.line + 1, mark.column + 1)
        problem = getattr(exc, 'problem', None) or str(exc).splitlines()[0]
        raise CatalogError(['%s: expected valid YAML; %s%s' % (source, problem, where)], source=source)
    except RecursionError:
        raise CatalogError(['%s: expected valid YAML; the document nests too deeply' % source], source=source)

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Policy as code: rule and exception validation, the request, evaluation.

A rule is data: ``{id, description, events, condition, effect, reason}``. The
condition is a JMESPath expression evaluated over the request document (see
``build_request``) and nothing else: no custom functions, no Python objects,
only a deep copy of plain JSON types. Every rule whose ``events`` include the
request's event and whose condition is truthy (JMESPath truthiness) matches.
An unwaived matching deny wins; a condition that fails to evaluate is a deny
(fail closed); otherwise the decision is allow.

Public surface: ``EVENTS``, ``BASELINE_RULES``, ``validate_rules``,
``validate_exceptions``, ``effective_rules``, ``build_request``, ``evaluate``,
``exceptions_report``, ``PolicyError``.
"""

from __future__ import annotations

import copy
import datetime
import math
import re

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, parse_time

try:
    import jmespath
    from jmespath import exceptions as _jp_exc
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - jmespath is a runtime requirement
    jmespath = None
    _jp_exc = None
    HAS_JMESPATH = False


EVENTS = ('provision', 'rotate', 'offboard', 'reconcile')
EFFECTS = ('allow', 'deny')
DEFAULT_RULE = 'nhi.default'
BASELINE_PREFIX = 'nhi.baseline.'
MAX_CONDITION_LEN = 2000
MAX_RULES = 1000
MAX_ERRORS = 50

RULE_ID_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$')
IDENTITY_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@+=,-]{0,127}$')
_CONTROL_RE = re.compile(r'[\x00-\x08\x0b-\x1f\x7f]')


class PolicyError(NHIError):
    """Rules, exceptions or a request are invalid; ``errors`` lists every problem."""

    def __init__(self, errors, source, hint=None):
        self.errors = list(errors)[:MAX_ERRORS]
        self.source = source
        count = len(errors)
        message = '%s is invalid (%d error%s)' % (source, count, '' if count == 1 else 's')
        super().__init__(message, where=source, hint=hint or 'see docs/policies.md for the format')

    def __str__(self):
        lines = [self.message]
        lines.extend('  - ' + e for e in self.errors)
        lines.append('  ' + self.hint)
        return '\n'.join(lines)


# ---------------------------------------------------------------------------
# Specs (ArgumentSpecValidator) with type callables that explain themselves
# ---------------------------------------------------------------------------

def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


def _typed(name):
    def wrap(func):
        func.__name__ = name
        return func
    return wrap


@_typed('rule_id')
def _rule_id(value):
    if isinstance(value, str) and RULE_ID_RE.match(value):
        return value
    raise ValueError('expected an id matching ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$, got %s' % _show(value))


@_typed('identity_name')
def _identity_name(value):
    if isinstance(value, str) and IDENTITY_RE.match(value):
        return value
    raise ValueError('expected an identity name (the catalog name), got %s' % _show(value))


@_typed('text')
def _text(value):
    if isinstance(value, str) and value.strip() and not _CONTROL_RE.search(value):
        return value
    raise ValueError('expected a non-empty string, got %s' % _show(value))


@_typed('optional_text')
def _optional_text(value):
    if isinstance(value, str):
        return value
    raise ValueError('expected a string, got %s' % _show(value))


@_typed('event')
def _event(value):
    if isinstance(value, str) and value in EVENTS:
        return value
    raise ValueError('expected one of: %s, got %s' % (', '.join(EVENTS), _show(value)))


@_typed('effect')
def _effect(value):
    if isinstance(value, str) and value in EFFECTS:
        return value
    raise ValueError('expected allow or deny, got %s' % _show(value))


@_typed('condition')
def _condition(value):
    if not isinstance(value, str) or not value.strip():
        raise ValueError('expected a JMESPath expression (a non-empty string), got %s' % _show(value))
    if len(value) > MAX_CONDITION_LEN:
        raise ValueError('expected at most %d characters, got %d' % (MAX_CONDITION_LEN, len(value)))
    _compile(value)  # raises ValueError with the parser's message
    return value


@_typed('timestamp')
def _timestamp(value):
    try:
        parse_time(value)
    except (NHIError, ValueError, OverflowError, TypeError):
        raise ValueError('expected an ISO-8601 time such as 2026-12-01T00:00:00Z, got %s' % _show(value))
    return value


@_typed('events')
def _events(value):
    if not isinstance(value, list) or not value:
        raise ValueError('expected a non-empty list of events (%s), got %s' % (', '.join(EVENTS), _show(value)))
    return value


RULE_SPEC = {
    'id': {'type': _rule_id, 'required': True},
    'description': {'type': _optional_text, 'default': ''},
    'events': {'type': _events, 'required': True},
    'condition': {'type': _condition, 'required': True},
    'effect': {'type': _effect, 'required': True},
    'reason': {'type': _text, 'required': True},
}
EXCEPTION_SPEC = {
    'id': {'type': _rule_id, 'required': True},
    'identity': {'type': _identity_name, 'required': True},
    'rule': {'type': _rule_id, 'required': True},
    'owner': {'type': _text, 'required': True},
    'reason': {'type': _text, 'required': True},
    'expires': {'type': _timestamp, 'required': True},
}
_RULE_VALIDATOR = ArgumentSpecValidator(RULE_SPEC)
_EXCEPTION_VALIDATOR = ArgumentSpecValidator(EXCEPTION_SPEC)

_RE_REQUIRED = re.compile(r'^missing required arguments: (?P<names>.+)$')
_RE_TYPE = re.compile(r"^argument '(?P<name>[^']+)' is of type \S+ and we were unable to convert to \S+: (?P<msg>.*)$", re.S)


def _spec_problems(result):
    out = []
    for item in sorted(str(i if not isinstance(i, tuple) else '.'.join(map(str, i))) for i in result.unsupported_parameters):
        out.append((item, 'unknown field'))
    for err in result.errors:
        if type(err).__name__ == 'UnsupportedError':
            continue
        text = getattr(err, 'error_message', None) or str(err)
        match = _RE_REQUIRED.match(text)
        if match:
            out.extend((name, 'required, but missing') for name in match.group('names').split(', '))
            continue
        match = _RE_TYPE.match(text)
        if match:
            out.append((match.group('name'), match.group('msg')))
            continue
        out.append(('?', text))
    return out


def _plain(value):
    """Shallow mapping for the validator (its own deep copy would copy our values for nothing)."""
    return dict(value)


def _label(kind, index, item):
    ident = item.get('id') if isinstance(item, dict) else None
    if isinstance(ident, str) and RULE_ID_RE.match(ident):
        return "%s #%d '%s'" % (kind, index, ident)
    return '%s #%d' % (kind, index)


# ---------------------------------------------------------------------------
# JMESPath: compile once, evaluate over plain data only
# ---------------------------------------------------------------------------

_COMPILED = {}
_COMPILED_MAX = 2048


def _compile(expression):
    compiled = _COMPILED.get(expression)
    if compiled is not None:
        return compiled
    if not HAS_JMESPATH:  # pragma: no cover
        raise ValueError('the jmespath Python library is required for policy conditions')
    if len(expression) > MAX_CONDITION_LEN:
        raise ValueError('expected at most %d characters, got %d' % (MAX_CONDITION_LEN, len(expression)))
    try:
        compiled = jmespath.compile(expression)
    except _jp_exc.JMESPathError as exc:
        raise ValueError('expected a valid JMESPath expression: %s' % ' '.join(str(exc).split()))
    except (RecursionError, MemoryError):
        raise ValueError('expected a valid JMESPath expression: it nests too deeply')
    except Exception as exc:  # pylint: disable=broad-except  # jmespath can raise odd errors on junk input
        raise ValueError('expected a valid JMESPath expression: %s: %s' % (type(exc).__name__, exc))
    if len(_COMPILED) >= _COMPILED_MAX:
        _COMPILED.clear()
    _COMPILED[expression] = compiled
    return compiled


def _truthy(value):
    """JMESPath truthiness: false, null, empty string, list and object are false; 0 is true."""
    if value is None or value is False:
        return False
    if isinstance(value, (str, list, dict)) and len(value) == 0:
        return False
    return True


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

def validate_rules(rules, source='nhi_policy_rules'):
    """Validate a list of rules; return normalised copies or raise PolicyError listing every problem."""
    if rules is None:
        return []
    if not isinstance(rules, (list, tuple)):
        raise PolicyError(['%s: expected a list of rules, got %s' % (source, _show(rules))], source)
    if len(rules) > MAX_RULES:
        raise PolicyError(['%s: expected at most %d rules, got %d' % (source, MAX_RULES, len(rules))], source)
    errors = []
    out = []
    seen = {}
    for index, rule in enumerate(rules, start=1):
        label = _label('rule', index, rule)
        if not isinstance(rule, dict):
            errors.append('%s: %s: expected a mapping with id, events, condition, effect, reason, got %s'
                          % (source, label, _show(rule)))
            continue
        if any(not isinstance(k, str) for k in rule):
            errors.append('%s: %s: field names must be strings' % (source, label))
            continue
        result = _RULE_VALIDATOR.validate(_plain(rule))
        problems = _spec_problems(result)
        params = result.validated_parameters
        events = params.get('events')
        if isinstance(events, list) and not any(p[0] == 'events' for p in problems):
            bad = [e for e in events if not (isinstance(e, str) and e in EVENTS)]
            if bad:
                problems.append(('events', 'expected a subset of %s, got %s' % (', '.join(EVENTS), _show(bad))))
            elif len(set(events)) != len(events):
                problems.append(('events', 'expected each event once, got %s' % _show(events)))
        for field, msg in problems:
            errors.append("%s: %s: field '%s': %s" % (source, label, field, msg))
        if problems:
            continue
        rid = params['id']
        if rid in seen:
            errors.append("%s: %s: field 'id': expected a unique id, but rule #%d has it too" % (source, label, seen[rid]))
            continue
        seen[rid] = index
        out.append({
            'id': rid,
            'description': params.get('description') or '',
            'events': [e for e in EVENTS if e in events],
            'condition': params['condition'],
            'effect': params['effect'],
            'reason': params['reason'],
        })
    if errors:
        raise PolicyError(errors, source)
    return out


def validate_exceptions(exceptions, source='nhi_exceptions'):
    """Validate the exception register; return normalised copies (``expires`` as ISO-8601 UTC)."""
    if exceptions is None:
        return []
    if not isinstance(exceptions, (list, tuple)):
        raise PolicyError(['%s: expected a list of exceptions, got %s' % (source, _show(exceptions))], source)
    errors = []
    out = []
    seen = {}
    for index, item in enumerate(exceptions, start=1):
        label = _label('exception', index, item)
        if not isinstance(item, dict):
            errors.append('%s: %s: expected a mapping with id, identity, rule, owner, reason, expires, got %s'
                          % (source, label, _show(item)))
            continue
        if any(not isinstance(k, str) for k in item):
            errors.append('%s: %s: field names must be strings' % (source, label))
            continue
        result = _EXCEPTION_VALIDATOR.validate(_plain(item))
        problems = _spec_problems(result)
        for field, msg in problems:
            errors.append("%s: %s: field '%s': %s" % (source, label, field, msg))
        if problems:
            continue
        params = result.validated_parameters
        if params['id'] in seen:
            errors.append("%s: %s: field 'id': expected a unique id, but exception #%d has it too"
                          % (source, label, seen[params['id']]))
            continue
        seen[params['id']] = index
        out.append({
            'id': params['id'],
            'identity': params['identity'],
            'rule': params['rule'],
            'owner': params['owner'],
            'reason': params['reason'],
            'expires': _iso(parse_time(params['expires'])),
        })
    if errors:
        raise PolicyError(errors, source)
    return out


# ---------------------------------------------------------------------------
# Baseline rules shipped with the collection
# ---------------------------------------------------------------------------

BASELINE_RULES = [
    {
        'id': 'nhi.baseline.owner_required',
        'description': 'Every identity has an owner who answers for it (OWASP NHI: ownership; NIST CSF PR.AA-01).',
        'events': ['provision', 'rotate'],
        'condition': '!(identity.owner)',
        'effect': 'deny',
        'reason': 'the identity has no owner; set owner in the catalog',
    },
    {
        'id': 'nhi.baseline.max_age_limit',
        'description': 'Credentials live at most a year between rotations (OWASP NHI7 long-lived secrets).',
        'events': ['provision', 'rotate'],
        'condition': 'identity.rotation.max_age_days > `365`',
        'effect': 'deny',
        'reason': 'rotation.max_age_days is above the limit of 365 days',
    },
    {
        'id': 'nhi.baseline.prod_approval',
        'description': 'Changes in production carry an approval reference (change ticket).',
        'events': ['provision', 'rotate', 'offboard'],
        'condition': "environment == 'prod' && !approvals",
        'effect': 'deny',
        'reason': "a change in prod needs an approval reference; pass -e nhi_approvals=['CHG-1234']",
    },
    {
        'id': 'nhi.baseline.temporary_must_expire',
        'description': 'Temporary and break-glass identities carry an expiry date.',
        'events': ['provision', 'rotate'],
        'condition': 'identity.temporary && !(identity.expires_at)',
        'effect': 'deny',
        'reason': 'a temporary identity must have expires_at',
    },
    {
        'id': 'nhi.baseline.not_expired',
        'description': 'An identity whose expires_at has passed is not provisioned or given new credentials.',
        'events': ['provision', 'rotate'],
        'condition': 'expires_at_epoch != `null` && expires_at_epoch <= now',
        'effect': 'deny',
        'reason': 'the identity expired (expires_at is in the past); offboard it or extend expires_at',
    },
]


def effective_rules(user_rules, include_baseline=True, source='nhi_policy_rules'):
    """The validated rule list: the baseline rules first (unless left out), then the user's rules.

    User rules may not reuse the reserved ``nhi.baseline.`` prefix; a baseline
    deny is waived per identity with an exception, never overridden.
    """
    users = validate_rules(user_rules, source=source)
    reserved = ['%s: rule \'%s\': field \'id\': expected an id outside the reserved prefix %s'
                % (source, r['id'], BASELINE_PREFIX) for r in users
                if r['id'].startswith(BASELINE_PREFIX) or r['id'] == DEFAULT_RULE]
    if reserved:
        raise PolicyError(reserved, source)
    if not include_baseline:
        return users
    return validate_rules(BASELINE_RULES, source='BASELINE_RULES') + users


# ---------------------------------------------------------------------------
# Request
# ---------------------------------------------------------------------------

def _iso(dt):
    return dt.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def _to_datetime(now, where='now'):
    """A datetime, an ISO-8601 string or epoch seconds as an aware UTC datetime."""
    if isinstance(now, bool):
        raise NHIError('expected a time, got %r' % (now,), where=where)
    if isinstance(now, (int, float)):
        if not math.isfinite(now):
            raise NHIError('expected a finite epoch time, got %r' % (now,), where=where)
        try:
            return datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            raise NHIError('expected an epoch time in range, got %r (%s)' % (now, exc), where=where)
    try:
        return parse_time(now, where=where)
    except NHIError:
        raise
    except (ValueError, OverflowError, TypeError) as exc:
        raise NHIError('expected an ISO-8601 time, got %r (%s)' % (now, exc), where=where)


def _epoch(dt):
    return int(math.floor(dt.timestamp()))


class _NotJSON(Exception):
    def __init__(self, message, path=''):
        super().__init__(message)
        self.message = message
        self.path = path


def _plain_copy(value, depth):
    cls = value.__class__
    if cls is str or cls is int or cls is bool or value is None:
        return value
    if depth > 64:
        raise _NotJSON('expected data nested at most 64 levels deep')
    if cls is dict:
        out = {}
        for key, item in value.items():
            if key.__class__ is not str:
                if not isinstance(key, str):
                    raise _NotJSON('expected string keys, got %r' % (key,))
                key = str.__str__(key)
            try:
                out[key] = _plain_copy(item, depth + 1)
            except _NotJSON as exc:
                exc.path = '.%s%s' % (key, exc.path)
                raise
        return out
    if cls is list or cls is tuple:
        out = []
        for index, item in enumerate(value):
            try:
                out.append(_plain_copy(item, depth + 1))
            except _NotJSON as exc:
                exc.path = '[%d]%s' % (index, exc.path)
                raise
        return out
    # the slower cases: subclasses (Ansible's tagged values), floats, dates
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON('expected a finite number, got %r' % (value,))
        return float(value)
    if isinstance(value, datetime.datetime):
        return _iso(value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc))
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return _plain_copy(dict(value), depth)
    if isinstance(value, (list, tuple)):
        return _plain_copy(list(value), depth)
    raise _NotJSON('expected JSON data, got %s' % type(value).__name__)


def to_json_data(value, where='request'):
    """A deep copy of ``value`` in plain JSON types (str, int, float, bool, None, list, dict with str keys).

    Subclasses (Ansible's tagged and unsafe strings among them) become the plain
    base type; dates become ISO-8601 strings; anything else is an NHIError.
    """
    try:
        return _plain_copy(value, 0)
    except _NotJSON as exc:
        raise NHIError(exc.message, where=where + exc.path)
    except RecursionError:
        raise NHIError('expected data nested at most 64 levels deep', where=where)


def normalise_approvals(approvals):
    """Approval references as a de-duplicated list of strings.

    Accepts a list, a single reference (``CHG-1``), a comma-separated string
    (``CHG-1,CHG-2``) or the text of a YAML/JSON list (``['CHG-1']``, as
    ``-e nhi_approvals=['CHG-1']`` delivers it).
    """
    if approvals is None or approvals == '':
        return []
    if isinstance(approvals, str):
        text = approvals.strip()
        if text.startswith('['):
            try:
                import yaml  # pylint: disable=import-outside-toplevel
                parsed = yaml.safe_load(text)
            except Exception:  # pylint: disable=broad-except
                parsed = None
            if isinstance(parsed, list):
                approvals = parsed
            else:
                approvals = text.strip('[]').split(',')
        else:
            approvals = text.split(',')
    if not isinstance(approvals, (list, tuple)):
        approvals = [approvals]
    out = []
    for item in approvals:
        if item is None or isinstance(item, (dict, list, tuple)) or isinstance(item, bool):
            raise NHIError('expected approval references as strings, got %r' % (item,), where='approvals',
                           hint="pass -e nhi_approvals=['CHG-1234']")
        # tolerate the pieces of a list text split by a caller: "['CHG-1'" and " 'CHG-2']"
        ref = str.__str__(item).strip().strip('[]').strip().strip('\'"').strip() if isinstance(item, str) else str(item)
        if not ref:
            continue
        if len(ref) > 128 or _CONTROL_RE.search(ref):
            raise NHIError('expected an approval reference of at most 128 characters, got %r' % (ref[:40],),
                           where='approvals')
        if ref not in out:
            out.append(ref)
    return out


def build_request(identity, event, now, approvals=(), run=None):
    """The request document the rules see (docs/architecture.md), as a deep copy of plain JSON data."""
    if event not in EVENTS:
        raise NHIError('expected an event among %s, got %r' % (', '.join(EVENTS), event), where='event')
    if not isinstance(identity, dict):
        raise NHIError('expected the identity (the nhi host variable) as a mapping, got %s' % type(identity).__name__,
                       where='identity')
    ident = to_json_data(identity, 'identity')
    when = _to_datetime(now)
    expires_at_epoch = None
    if ident.get('expires_at') not in (None, ''):
        expires_at_epoch = _epoch(_to_datetime(ident['expires_at'], where='identity.expires_at'))
    run = run or {}
    if not isinstance(run, dict):
        raise NHIError('expected run as a mapping {id, check_mode}, got %s' % type(run).__name__, where='run')
    environment = ident.get('environment')
    return {
        'identity': ident,
        'event': event,
        'environment': environment if isinstance(environment, str) else None,
        'now': _epoch(when),
        'now_iso': _iso(when),
        'expires_at_epoch': expires_at_epoch,
        'approvals': normalise_approvals(approvals),
        'run': {'id': to_json_data(run.get('id'), 'run.id'), 'check_mode': bool(run.get('check_mode', False))},
    }


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

_RULESET_CACHE = []
_RULESET_CACHE_MAX = 16


def _prepared(items, validate, source):
    """Validate a rule list or exception register once per distinct content (plan() evaluates per identity)."""
    for cached_source, snapshot, validated in _RULESET_CACHE:
        try:
            if cached_source == source and snapshot.__class__ is items.__class__ and snapshot == items:
                return validated  # a C-level comparison, no serialisation
        except Exception:  # pylint: disable=broad-except  # odd objects compare badly: validate afresh
            break
    validated = validate(items, source=source)
    try:
        snapshot = copy.deepcopy(items)
    except Exception:  # pylint: disable=broad-except
        return validated
    if len(_RULESET_CACHE) >= _RULESET_CACHE_MAX:
        del _RULESET_CACHE[0]
    _RULESET_CACHE.append((source, snapshot, validated))
    return validated


def _error_text(exc):
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + '...'


def evaluate(request, rules, exceptions, now):
    """Decide a request: ``{effect, rule, reason, waived_by, matched, evaluated_at}``.

    ``rules`` is a rule list (validated here, once per distinct content; pass
    ``effective_rules(...)`` to include the baseline) and ``exceptions`` the
    exception register. A condition sees a private copy of the request only.
    """
    if not isinstance(request, dict) or request.get('event') not in EVENTS:
        raise NHIError('expected a request built by build_request()', where='request')
    rules = _prepared(rules if rules is not None else [], validate_rules, 'nhi_policy_rules')
    register = _prepared(exceptions if exceptions is not None else [], validate_exceptions, 'nhi_exceptions')
    when = _to_datetime(now)
    # one private copy: conditions cannot reach (or change) the caller's data; JMESPath functions are pure
    data = to_json_data(request, 'request')
    identity = data.get('identity') if isinstance(data.get('identity'), dict) else {}
    name = identity.get('name')
    event = data['event']

    matched = []
    denies = []  # (rule, error text or None)
    first_allow = None
    for rule in rules:
        if event not in rule['events']:
            continue
        error = None
        try:
            result = _compile(rule['condition']).search(data)
            hit = _truthy(result)
        except Exception as exc:  # pylint: disable=broad-except
            # fail closed: a condition that cannot be evaluated is a deny, whatever the rule's effect
            hit = True
            error = _error_text(exc)
        if not hit:
            continue
        matched.append(rule['id'])
        if error is not None or rule['effect'] == 'deny':
            denies.append((rule, error))
        elif first_allow is None:
            first_allow = rule

    waivers = []
    unwaived = []
    for rule, error in denies:
        waiver = None
        if error is None:  # a broken condition is never waived: fix the rule
            for item in register:
                if item['identity'] == name and item['rule'] == rule['id'] and parse_time(item['expires']) > when:
                    waiver = item
                    break
        if waiver is None:
            unwaived.append((rule, error))
        else:
            waivers.append((rule, waiver))

    decision = {'matched': matched, 'evaluated_at': _iso(when), 'waived_by': None}
    if unwaived:
        rule, error = unwaived[0]
        decision.update(effect='deny', rule=rule['id'],
                        reason=('condition error: %s' % error) if error is not None else rule['reason'])
    elif waivers:
        rule, waiver = waivers[0]
        others = ', '.join('%s by %s' % (r['id'], w['id']) for r, w in waivers[1:])
        decision.update(effect='allow', rule=rule['id'], waived_by=waiver['id'],
                        reason='deny waived by exception %s (owner %s, until %s): %s%s' % (
                            waiver['id'], waiver['owner'], waiver['expires'], rule['reason'],
                            ('; also waived: ' + others) if others else ''))
    elif first_allow is not None:
        decision.update(effect='allow', rule=first_allow['id'], reason=first_allow['reason'])
    else:
        decision.update(effect='allow', rule=DEFAULT_RULE, reason='no rule denied the request')
    return {
        'effect': decision['effect'],
        'rule': decision['rule'],
        'reason': decision['reason'],
        'waived_by': decision['waived_by'],
        'matched': decision['matched'],
        'evaluated_at': decision['evaluated_at'],
    }


def exceptions_report(exceptions, now):
    """Split the register into ``open`` and ``expired`` entries, each with days until or since expiry."""
    register = validate_exceptions(exceptions)
    when = _to_datetime(now)
    report = {'open': [], 'expired': []}
    for item in sorted(register, key=lambda e: (e['expires'], e['id'])):
        delta = (parse_time(item['expires']) - when).total_seconds() / 86400.0
        entry = dict(item)
        if delta > 0:
            entry['days_until_expiry'] = round(delta, 2)
            report['open'].append(entry)
        else:
            entry['days_since_expiry'] = round(-delta, 2)
            report['expired'].append(entry)
    return report

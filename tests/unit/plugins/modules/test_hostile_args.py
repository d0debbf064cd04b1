# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Hostile module arguments, for every module that changes something.

Each generated case runs the module's ``main()`` in-process with every
backend factory (and, below them, every client class, ``requests`` and the
socket layer) patched to record the call and raise. Two properties:

* ``must reject``: a valid target with at least one mutation that is invalid
  by construction (unknown key, a value of the wrong type, a choice that is
  not one, path traversal in a store path or mount, a negative or non-finite
  number, a name the backend cannot hold, a cross-field conflict). The
  module must end in ``failed`` with a message, and no backend client may
  have been constructed or called: that is the unit-level proof that a
  rejected input changes nothing in any backend. One bad item in a batch of
  good ones rejects the whole batch.
* ``garbage``: options replaced by arbitrary nested JSON (unicode, huge
  strings, template-looking strings, negative numbers). The module must
  end in a clean failure (rejected, or the patched backend factory's
  error), never a traceback, an unexpected exception or ``changed``.

The catalog and the policy engine have their own generated cases
(``tests/unit/plugins/module_utils/test__catalog.py``, ``test__policy.py``);
this file covers the modules' own arguments, which users can pass directly.
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import io
import json
import sys

import pytest

from ansible.module_utils.testing import patch_module_args
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.nhi.lifecycle.plugins.module_utils import _module

import backend_guard  # noqa: E402  pylint: disable=wrong-import-order
from backend_guard import cut_off  # noqa: E402  pylint: disable=wrong-import-order

STORE = {"mount": "secret", "path": "nhi/unit/hostile"}
# One valid target per mutating module: it passes validation and reaches the backend factory.
BASE = {
    "aws_access_key": {"user_name": "ci-deployer", "store": STORE},
    "aws_iam_user": {"user_name": "ci-deployer", "path": "/nhi/", "tags": {"team": "a"},
                     "inline_policies": {"read": {"Version": "2012-10-17", "Statement": []}}},
    "vault_approle": {"role_name": "etl-job", "token_policies": ["default"], "token_ttl": "1h", "store": STORE},
    "vault_kv_secret": {"path": "apps/billing/db", "data": {"user": "billing"}},
    "vault_token": {"store": STORE, "policies": ["default"], "ttl": "1h"},
    "gcp_service_account": {"project": "nhi-unit", "account_id": "ci-reporter", "display_name": "CI"},
    "gcp_service_account_key": {"project": "nhi-unit", "account_id": "ci-reporter", "store": STORE},
    "scim_service_user": {"user_name": "saas-bot", "base_url": "https://scim.example.com/v2", "store": STORE},
    "credential_verify": {"kind": "aws_access_key", "store": STORE},
}
NAMES = sorted(BASE)
MODULES = {name: importlib.import_module("ansible_collections.nhi.lifecycle.plugins.modules.%s" % name)
           for name in NAMES}

TEMPLATES = [
    "{{ lookup('pipe','id') }}", "{{ lookup('ansible.builtin.env', 'VAULT_TOKEN') }}", "{% raw %}x{% endraw %}",
    "{{ 7*7 }}", "${jndi:ldap://127.0.0.1/a}", "$(id)", "`id`", "'; DROP TABLE users; --", "%s%s%n",
    "{{ hostvars | to_json }}", "<script>alert(1)</script>", "\u202egnp.exe", "A\x00B", "line\nbreak",
]
TRAVERSAL = [
    "..", "../x", "../../sys/policies/acl/root", "nhi/../../sys/raw", "nhi/x/..", "/etc/passwd", "/", "",
    "nhi//x", ".", "./x", "nhi/./x", "nhi/x/.", "nhi/\x00x", "nhi/x\n", "nhi/\x1bx", "nhi/\x7fx",
]
BAD_IAM_USER = ["", "a/b", "../x", "x" * 65, "ünïcödé", "a b", "a\nb", "ci-deployer\n"] + TEMPLATES[:3]
BAD_ROLE = ["", "a/b", "../x", " lead", "x\n", "ünï", "role?x=1", "role#frag"] + TEMPLATES[:3]
BAD_GCP_ACCOUNT = ["ab", "UPPER-case", "x" * 31, "abcdef\n", "1starts-digit", "ends-dash-", "../../x",
                   "ci-reporter@../../projects/other", "ci-reporter@x/y", "ci-reporter@\n"] + TEMPLATES[:2]
BAD_GCP_PROJECT = ["../..", "../../v1/projects/other", "a/b", "UPPER-case", "x" * 31, "ab", "nhi-unit\n",
                   "nhi unit", "nhi-unit/serviceAccounts"] + TEMPLATES[:2]
BAD_URL = ["ftp://scim.example.com", "javascript:alert(1)", "file:///etc/passwd", "//evil.example",
           "scim.example.com/v2"] + TEMPLATES[:2]
BAD_DURATION = ["1 hour", "forever", "-5", "1e999h", "9" * 400 + "h", "\u00b2", "\u00b2h", "5m1", "h", True,
                [1], {"h": 1}, float("inf"), float("nan"), -1]
NEGATIVE = st.one_of(st.integers(min_value=-10**12, max_value=-1), st.sampled_from([-1, -2**63]))
NOT_POSITIVE = st.one_of(st.just(0), NEGATIVE)
BAD_FLOAT = st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                      st.sampled_from([float("inf"), float("-inf"), float("nan"), "inf", "nan", "-Infinity", "1e999"]))

# Values that cannot be converted to the option type (the Ansible argument checker must refuse them).
WRONG_TYPE = {
    "int": ["abc", "plain words", {"x": 1}, [1, 2], 1.5, "0x10", "", "nan", "1,2", "inf", "-Infinity"],
    "float": ["abc", {"x": 1}, [1], "", "yes", "1,2"],
    "bool": ["maybe", 2, -1, 1.5, {"x": 1}, [1], "", "nan", "inf"],
    "list": [{"x": 1}, {"": []}],
    "dict": ["plain words", [1, 2], 5, 1.5, True, "1,2", ""],
}


STATS = collections.Counter()


# --- the backend guard (backend_guard.py) -----------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def guard():
    """Cut off every way to a backend for the whole file; print the case counts afterwards."""
    with cut_off() as touches:
        yield touches
    total = sum(v for k, v in STATS.items() if k[0] == "case")
    if total:
        lines = ["hostile module arguments: %d cases" % total]
        for key in sorted(k for k in STATS if k[0] == "case"):
            lines.append("  %-9s %-26s %-22s %d" % (key + (STATS[key],)))
        sys.__stdout__.write("\n" + "\n".join(lines) + "\n")


def run(name, args):
    """Run ``name``'s main() with ``args``; return what it printed, parsed, and what it touched."""
    return backend_guard.run(MODULES[name], args, name)


def _results_all_failed(result):
    items = result.get("results")
    return bool(items) and all(r.get("failed") and r.get("msg") for r in items)


def assert_clean_failure(case, must_reject):
    """The module failed cleanly with a message; for a rejected input, no backend was touched."""
    assert case.raised is None, "unexpected exception\n" + case.describe()
    result = case.result
    assert isinstance(result, dict), "no JSON result\n" + case.describe()
    assert not result.get("changed"), "a rejected input reported a change\n" + case.describe()
    if result.get("failed"):
        msg = result.get("msg")
        assert isinstance(msg, str) and msg.strip(), "failed without a message\n" + case.describe()
        assert "Traceback (most recent call last)" not in msg, case.describe()
    else:
        # Only a batch with fail_on_error=false may end "ok" overall: then every target failed.
        assert case.args.get("targets") is not None and case.args.get("fail_on_error") is False \
            and _results_all_failed(result), "a hostile input did not fail\n" + case.describe()
    if must_reject:
        assert case.touched == [], "a rejected input reached a backend\n" + case.describe()
        assert result.get("failed"), case.describe()
    else:
        # Accepted input goes to the factory first, and nowhere else.
        assert all(t.endswith(".client") for t in case.touched), case.describe()
    STATS[("case", case.name, "rejected" if not case.touched else "reached factory")] += 1


# --- introspection: each module's target options --------------------------------------------

class _Spec(Exception):
    pass


def _target_spec(name):
    """The module's per-target spec and its top-level option names, captured from NHIModule."""
    captured = {}

    def capture(self):
        captured["target"] = dict(self.target_spec)
        captured["top"] = set()
        for opt_name, opt in self.module.argument_spec.items():
            captured["top"].add(opt_name)
            captured["top"].update(opt.get("aliases") or ())
        raise _Spec()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_module.NHIModule, "_targets", capture)
        with patch_module_args({}):
            with contextlib.redirect_stdout(io.StringIO()):
                try:
                    MODULES[name].main()
                except (_Spec, SystemExit):
                    pass
    assert captured, "could not capture the target spec of %s" % name
    return captured


SPECS = {}


def _captured(name):
    if name not in SPECS:
        SPECS[name] = _target_spec(name)
    return SPECS[name]


def spec(name):
    """The per-target options of module ``name``."""
    return _captured(name)["target"]


def _all_option_names(name):
    """Every option name and alias the module knows, at the top level or in a target."""
    names = set(_captured(name)["top"])
    for opt_name, opt in spec(name).items():
        names.add(opt_name)
        names.update(opt.get("aliases") or ())
    return names


# --- strategies ---------------------------------------------------------------------------

huge = st.one_of(st.integers(min_value=1000, max_value=200_000).map(lambda n: "A" * n),
                 st.integers(min_value=100, max_value=20_000).map(lambda n: "\u00e9\U0001f600" * n),
                 st.integers(min_value=10, max_value=5_000).map(lambda n: "../" * n))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.sampled_from(TEMPLATES + TRAVERSAL),
    huge,
)
garbage = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=8)


def _invalid_choice(choices):
    allowed = {str(c) for c in choices}
    return st.one_of(st.sampled_from(["", "PRESENT", "deleted", "enabled", " present"] + TEMPLATES[:2]),
                     st.text(max_size=12)).filter(lambda v: v not in allowed)


def _store_of(target):
    store = target.get("store")
    return store if isinstance(store, dict) else STORE


def _store_mutations():
    return [
        ("store path traversal", lambda t, d: t.update(store=dict(_store_of(t), path=d.draw(st.sampled_from(TRAVERSAL))))),
        ("store mount traversal", lambda t, d: t.update(store=dict(_store_of(t), mount=d.draw(st.sampled_from(
            [m for m in TRAVERSAL if m not in ("",)]))))),
        ("store path with .. segment", lambda t, d: t.update(store=dict(_store_of(t), path=d.draw(
            st.lists(st.text(alphabet="abcxyz-_", min_size=1, max_size=6), min_size=1, max_size=4).flatmap(
                lambda parts: st.integers(min_value=0, max_value=len(parts)).map(
                    lambda i: "/".join(parts[:i] + [".."] + parts[i:]))))))),
        ("store is not a dict", lambda t, d: t.update(store=d.draw(st.sampled_from(["plain words", [1, 2], 5, True])))),
    ]


def _numbers(*fields):
    out = []
    for field in fields:
        if field == "proof_deadline":
            out.append(("bad %s" % field, lambda t, d, f=field: t.update({f: d.draw(BAD_FLOAT)})))
        elif field == "max_age_days":
            out.append(("bad %s" % field, lambda t, d, f=field: t.update({f: d.draw(NOT_POSITIVE)})))
        else:
            out.append(("negative %s" % field, lambda t, d, f=field: t.update({f: d.draw(NEGATIVE)})))
    return out


def _pick(field, values):
    return ("bad %s" % field, lambda t, d: t.update({field: d.draw(st.sampled_from(values))}))


# Mutations that make a target invalid whatever else it holds.
SPECIFIC = {
    "aws_access_key": _store_mutations() + _numbers("max_age_days", "overlap_hours", "proof_deadline") + [
        _pick("user_name", BAD_IAM_USER)],
    "aws_iam_user": [
        _pick("user_name", BAD_IAM_USER),
        _pick("path", ["nhi", "/nhi", "nhi/", "/" + "x" * 600 + "/"]),
        ("bad inline policy", lambda t, d: t.update(inline_policies={"p": d.draw(st.sampled_from(
            ["not json", "[]", "5", "null", "NaN", "[" * 100_000 + "]" * 100_000, '{"Version": "2012-10-17"}']))})),
        ("bad managed policy", lambda t, d: t.update(managed_policies=[d.draw(st.sampled_from(
            ["not-an-arn", "ReadOnlyAccess", ""] + TEMPLATES[:2]))])),
    ],
    "vault_approle": _store_mutations() + _numbers("max_age_days", "overlap_hours", "proof_deadline",
                                                   "secret_id_num_uses") + [
        _pick("role_name", BAD_ROLE),
        _pick("mount", [m for m in TRAVERSAL if m]),
        _pick("token_ttl", BAD_DURATION),
        _pick("secret_id_ttl", BAD_DURATION),
        ("token_ttl above token_max_ttl", lambda t, d: t.update(token_ttl="2h", token_max_ttl="1h")),
        _pick("secret_id_bound_cidrs", [["10.0.0.1"], ["not-an-ip/8"], ["10.0.0.0/33"], ["{{ x }}"]]),
        _pick("token_bound_cidrs", [["not-an-ip"], ["10.0.0.0/33"], ["::1/200"]]),
    ],
    "vault_kv_secret": [
        _pick("path", TRAVERSAL),
        _pick("mount", TRAVERSAL),
        _numbers("cas")[0],
        _numbers("max_versions")[0],
        ("data with state absent", lambda t, d: t.update(state="absent")),
        ("versions outside destroyed", lambda t, d: t.update(state="present", versions=[1])),
        ("versions below 1", lambda t, d: t.update(
            state="destroyed", data=None, versions=[d.draw(st.integers(max_value=0, min_value=-10**9))])),
    ],
    "vault_token": _store_mutations() + _numbers("max_age_days", "overlap_hours", "proof_deadline") + [
        _pick("ttl", BAD_DURATION),
        _pick("explicit_max_ttl", BAD_DURATION),
        ("accessor with state present", lambda t, d: t.update(accessor="hmac-accessor")),
        ("no store", lambda t, d: t.update(store=None, state=d.draw(st.sampled_from(["present", "rotated"])))),
    ],
    "gcp_service_account": [
        _pick("account_id", BAD_GCP_ACCOUNT),
        _pick("project", BAD_GCP_PROJECT),
        ("display_name over 100 bytes", lambda t, d: t.update(display_name="\u00e9" * 51)),
        ("description over 256 bytes", lambda t, d: t.update(description="x" * 257)),
    ],
    "gcp_service_account_key": _store_mutations() + _numbers("max_age_days", "overlap_hours", "proof_deadline") + [
        _pick("account_id", BAD_GCP_ACCOUNT),
        _pick("project", BAD_GCP_PROJECT),
    ],
    "scim_service_user": _store_mutations() + _numbers("max_age_days") + [
        _pick("base_url", BAD_URL),
        _pick("user_name", ["", "   ", "\t"]),
    ],
    "credential_verify": _store_mutations() + _numbers("proof_deadline") + [
        ("version below 1", lambda t, d: t.update(version=d.draw(st.integers(max_value=0, min_value=-10**9)))),
        ("no store", lambda t, d: t.update(store=None)),
    ],
}

GENERIC_KINDS = ["unknown key", "wrong type", "bad choice"]


def _generic(name, kind, target, draw):
    options = spec(name)
    if kind == "unknown key":
        known = _all_option_names(name)
        key = draw(st.one_of(st.sampled_from(["bogus", "vault_token", "targets", "Store", "user-name", "__class__"]),
                             st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12))
                   .filter(lambda k: k not in known and not k.startswith("_")))
        target[key] = draw(garbage)
        return "unknown key"
    if kind == "wrong type":
        typed = sorted(n for n, o in options.items() if o.get("type", "str") in WRONG_TYPE)
        field = draw(st.sampled_from(typed))
        target[field] = draw(st.sampled_from(WRONG_TYPE[options[field].get("type", "str")]))
        return "wrong type"
    choices = sorted(n for n, o in options.items() if o.get("choices"))
    field = draw(st.sampled_from(choices))
    target[field] = draw(_invalid_choice(options[field]["choices"]))
    return "bad choice"


def _place(name, draw, target, top_level_ok=True):
    """Put the target in the module's arguments: alone, in a batch of good ones, or as the batch defaults."""
    forms = ["batch", "batch-defaults"] + (["single"] if top_level_ok else [])
    form = draw(st.sampled_from(forms))
    if form == "single":
        args = dict(target)
    elif form == "batch":
        goods = [dict(BASE[name]) for _index in range(draw(st.integers(min_value=0, max_value=3)))]
        goods.insert(draw(st.integers(min_value=0, max_value=len(goods))), target)
        args = {"targets": goods}
    else:
        args = dict(target)
        args["targets"] = [{} for _index in range(draw(st.integers(min_value=1, max_value=3)))]
    if form != "single":
        args["fail_on_error"] = draw(st.booleans())
    args["workers"] = draw(st.integers(min_value=1, max_value=4))
    if draw(st.booleans()):
        args["_ansible_check_mode"] = True
    if draw(st.booleans()):
        args["_ansible_diff"] = True
    return form, args


PROPERTY = settings(deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much, HealthCheck.large_base_example])


# --- the tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("form", ["single", "batch"])
def test_the_valid_baseline_reaches_the_backend_factory(name, form):
    """Control: the harness sees a connection attempt when the input is valid."""
    args = dict(BASE[name]) if form == "single" else {"targets": [dict(BASE[name]), dict(BASE[name])]}
    case = run(name, args)
    assert case.raised is None, case.describe()
    assert case.touched and case.touched[0].endswith(".client"), case.describe()
    assert "is disabled in this unit test" in json.dumps(case.result), case.describe()


@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=180)
@given(data=st.data())
def test_property_invalid_input_is_rejected_before_any_backend(name, data):
    target = dict(BASE[name])
    kinds = [m[0] for m in SPECIFIC[name]] + GENERIC_KINDS
    chosen = data.draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=3, unique=True), label="mutations")
    specific = dict(SPECIFIC[name])
    for kind in chosen:
        if kind in specific:
            specific[kind](target, data)
        else:
            _generic(name, kind, target, data.draw)
    # ansible-core's own argument checker fails with OverflowError on an int option given "inf" at the top
    # level (ansible/ansible#87253); the collection works around it, so the single form stays in.
    form, args = _place(name, data.draw, target)
    case = run(name, args)
    assert_clean_failure(case, must_reject=True)
    STATS[("form", name, form)] += 1


@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=120)
@given(data=st.data())
def test_property_garbage_fails_cleanly(name, data):
    target = dict(BASE[name])
    fields = sorted(spec(name))
    for field in data.draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique=True), label="fields"):
        target[field] = data.draw(garbage, label=field)
    form, args = _place(name, data.draw, target)
    case = run(name, args)
    assert_clean_failure(case, must_reject=False)


@pytest.mark.parametrize("name", NAMES)
@settings(PROPERTY, max_examples=40)
@given(data=st.data())
def test_property_hostile_top_level_arguments_are_rejected(name, data):
    """Garbage in the batch plumbing itself: targets, workers, fail_on_error."""
    args = dict(BASE[name])
    which = data.draw(st.sampled_from(["targets", "workers", "fail_on_error", "item"]))
    if which == "targets":
        args["targets"] = data.draw(st.one_of(st.sampled_from([{"a": 1}, 5, True, [[1]], [5], ["x"], [None, 5]]),
                                              st.lists(st.one_of(st.integers(), st.text(min_size=1, max_size=5),
                                                                 st.lists(st.integers(), max_size=2)),
                                                       min_size=1, max_size=4)))
    elif which == "workers":
        args["workers"] = data.draw(st.sampled_from(WRONG_TYPE["int"]))
    elif which == "fail_on_error":
        args["fail_on_error"] = data.draw(st.sampled_from(WRONG_TYPE["bool"]))
    else:
        junk = st.one_of(st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3))
        args = {"targets": [dict(BASE[name]), data.draw(junk)]}
    case = run(name, args)
    assert_clean_failure(case, must_reject=True)


# --- regressions found by the properties above (kept as plain examples) ------------------------

@pytest.mark.parametrize("name,change", [
    ("vault_approle", {"token_ttl": "1e999h"}),
    ("vault_approle", {"token_ttl": "9" * 400 + "h"}),
    ("vault_approle", {"token_ttl": "\u00b2"}),
    ("vault_approle", {"secret_id_ttl": float("inf")}),
    ("vault_approle", {"token_max_ttl": float("nan")}),
    ("vault_approle", {"role_name": "etl-job\n"}),
    ("vault_approle", {"mount": "approle/./x"}),
    ("vault_token", {"ttl": "\u00b2h"}),
    ("vault_token", {"explicit_max_ttl": float("inf")}),
    ("aws_access_key", {"proof_deadline": float("inf")}),
    ("aws_access_key", {"proof_deadline": "nan"}),
    ("aws_access_key", {"max_age_days": "inf"}),
    ("aws_access_key", {"user_name": "{{ lookup('pipe','id') }}"}),
    ("aws_access_key", {"store": {"mount": "secret", "path": "nhi/./x"}}),
    ("aws_access_key", {"store": {"mount": "secret", "path": "nhi/x\n"}}),
    ("aws_iam_user", {"user_name": "a/b"}),
    ("aws_iam_user", {"inline_policies": {"p": "[" * 100_000 + "]" * 100_000}}),
    ("vault_kv_secret", {"path": "apps/./db"}),
    ("vault_kv_secret", {"path": "apps/\x00db"}),
    ("gcp_service_account", {"project": "../../v1/projects/other"}),
    ("gcp_service_account", {"account_id": "ci-reporter@x/../../y"}),
    ("gcp_service_account", {"account_id": "ci-reporter\n"}),
    ("gcp_service_account_key", {"account_id": "../../projects/other/serviceAccounts/x"}),
    ("gcp_service_account_key", {"project": "a/b"}),
    ("gcp_service_account_key", {"proof_deadline": float("inf")}),
    ("credential_verify", {"version": -1}),
    ("credential_verify", {"proof_deadline": float("inf")}),
    ("scim_service_user", {"store": {"mount": "secret", "path": "nhi/."}}),
])
@pytest.mark.parametrize("form", ["single", "batch"])
def test_regressions_are_rejected_before_any_backend(name, change, form):
    target = dict(BASE[name])
    target.update(change)
    args = target if form == "single" else {"targets": [dict(BASE[name]), target]}
    case = run(name, args)
    assert_clean_failure(case, must_reject=True)

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Every task in every module's EXAMPLES is accepted by the module it calls.

Users copy EXAMPLES; an example that the module would refuse is a defect.
Each task that calls one of this collection's modules runs that module's
real main() in-process (backend_guard.py cuts off every backend): its
arguments must pass the argument spec and the module's own validation, so
that it goes on to connect. The action plugins (plan, drift, outcome,
evidence_verify) have no main(); their tasks must use documented options
only. Templated values stay as the strings they are, except a templated
``targets`` list, which only exists at run time: those tasks are listed as
skipped, and every module must still have at least one task that ran.
"""

from __future__ import annotations

import importlib
import pathlib

import pytest
import yaml

from backend_guard import cut_off, run  # noqa: E402  pylint: disable=wrong-import-order

PREFIX = "nhi.lifecycle."
MODULES_DIR = pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules"
NAMES = sorted(p.stem for p in MODULES_DIR.glob("*.py") if not p.stem.startswith("_"))


def _module(name):
    return importlib.import_module("ansible_collections.nhi.lifecycle.plugins.modules.%s" % name)


def _tasks(items):
    for task in items or []:
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))
        for key, args in task.items():
            if key.startswith(PREFIX):
                yield task.get("name", "(unnamed)"), key[len(PREFIX):], args


def _templated(value):
    return isinstance(value, str) and "{{" in value


def examples():
    """``(documented in, task name, module, args)`` for every task of every EXAMPLES block."""
    out = []
    for name in NAMES:
        for task_name, used, args in _tasks(yaml.safe_load(_module(name).EXAMPLES)):
            out.append(pytest.param(name, task_name, used, args, id="%s: %s" % (name, task_name)))
    return out


EXAMPLES = examples()


@pytest.fixture(scope="module", autouse=True)
def guard():
    with cut_off() as touches:
        yield touches


@pytest.mark.parametrize("name", NAMES)
def test_every_module_has_examples_of_itself(name):
    used = [p.values[2] for p in EXAMPLES if p.values[0] == name]
    assert name in used, "EXAMPLES of %s never calls %s%s" % (name, PREFIX, name)
    if hasattr(_module(name), "main"):
        runnable = [p for p in EXAMPLES if p.values[0] == name and p.values[2] == name
                    and not _templated((p.values[3] or {}).get("targets"))]
        assert runnable, "no example of %s can be run without run-time values" % name


@pytest.mark.parametrize("documented_in, task_name, used, args", EXAMPLES)
def test_the_example_is_accepted(documented_in, task_name, used, args):
    module = _module(used)
    assert isinstance(args, dict), "%s: task %r passes %r, not a dict of options" % (documented_in, task_name, args)
    if not hasattr(module, "main"):
        options = set((yaml.safe_load(module.DOCUMENTATION).get("options") or {}))
        unknown = sorted(set(args) - options)
        assert not unknown, "%s: task %r passes undocumented options %s to %s" % (
            documented_in, task_name, unknown, used)
        return
    if _templated(args.get("targets")):
        pytest.skip("targets is a run-time value (%s)" % args["targets"])
    outcome = run(module, dict(args), used)
    assert outcome.raised is None, outcome.describe()
    assert outcome.accepted, "%s: task %r is refused by %s: %s" % (
        documented_in, task_name, used, (outcome.result or {}).get("msg") or outcome.describe())

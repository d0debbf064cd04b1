# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Run a module's main() in-process with every way to a backend cut off, and see what it touched.

Every backend factory (``_aws.client`` ...) is patched to record the call and
raise a known NHIError; below them every client class, ``requests`` and the
socket layer are patched to record and raise. A module that reaches a
factory has accepted its input; one that fails before it has rejected it.
Used by test_hostile_args.py (bad input changes nothing) and
test_examples.py (every EXAMPLES task is accepted).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import socket

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _gcp, _scim, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

DISABLED = "is disabled in this unit test"


class Touches(object):
    """Every attempt to build a backend client or open a connection, in order."""

    def __init__(self):
        self.calls = []

    def record(self, what):
        self.calls.append(what)


TOUCHES = Touches()


def _factory(name):
    def factory(*_args, **_kwargs):
        TOUCHES.record(name)
        raise NHIError("backend %s %s" % (name, DISABLED), where="test",
                       hint="the input was accepted, so the module went on to connect")
    return factory


def _forbidden(name, exc=RuntimeError):
    def forbidden(*_args, **_kwargs):
        TOUCHES.record(name)
        raise exc("%s must not be reached in this unit test" % name)
    return forbidden


@contextlib.contextmanager
def cut_off():
    """Patch every way to a backend; restore afterwards. Yields TOUCHES."""
    with pytest.MonkeyPatch.context() as mp:
        for mod, name in ((_aws, "aws"), (_vault, "vault"), (_gcp, "gcp"), (_scim, "scim")):
            mp.setattr(mod, "client", _factory("%s.client" % name))
        mp.setattr(_aws.AWSConnection, "__init__", _forbidden("AWSConnection"))
        mp.setattr(_vault.VaultConnection, "__init__", _forbidden("VaultConnection"))
        mp.setattr(_gcp.GCPConnection, "__init__", _forbidden("GCPConnection"))
        mp.setattr(_scim.SCIMConnection, "__init__", _forbidden("SCIMConnection"))
        for modname, attr, label in (("hvac", "Client", "hvac.Client"), ("boto3.session", "Session", "boto3.Session")):
            try:
                target = getattr(importlib.import_module(modname), attr)
            except ImportError:
                continue
            mp.setattr(target, "__init__", _forbidden(label))
        import requests  # pylint: disable=import-outside-toplevel
        mp.setattr(requests.Session, "request", _forbidden("requests.Session.request"))
        mp.setattr(socket.socket, "connect", _forbidden("socket.connect", OSError))
        mp.setattr(socket, "create_connection", _forbidden("socket.create_connection", OSError))
        mp.setenv("NHI_PROGRESS", "0")
        yield TOUCHES


class Run(object):
    def __init__(self, name, args, result, touched, raised, output):
        self.name = name
        self.args = args
        self.result = result
        self.touched = touched
        self.raised = raised
        self.output = output

    @property
    def accepted(self):
        """The module took its input and went on to connect (and met the disabled factory)."""
        return bool(self.touched) and DISABLED in str((self.result or {}).get("msg", ""))

    def describe(self):
        return "%s with %s\n-> result %s\n-> touched %s\n-> raised %r" % (
            self.name, short(self.args), short(self.result), self.touched, self.raised)


def short(value, limit=1500):
    text = json.dumps(value, default=repr, ensure_ascii=True)
    return text if len(text) <= limit else text[:limit] + "... (%d chars)" % len(text)


def run(module, args, name=None):
    """Run ``module``'s main() with ``args`` (inside cut_off()); what it printed, parsed, and what it touched."""
    TOUCHES.calls = []
    out = io.StringIO()
    raised = None
    with patch_module_args(args):
        with contextlib.redirect_stdout(out):
            try:
                module.main()
                raised = "main() returned without calling exit_json or fail_json"
            except SystemExit:
                pass
            except BaseException as exc:  # pylint: disable=broad-except
                raised = "%s: %s" % (type(exc).__name__, exc)
    text = out.getvalue().strip()
    try:
        result = json.loads(text) if text else None
    except ValueError:
        result = None
        raised = raised or "the module printed something that is not JSON: %r" % text[:300]
    return Run(name or module.__name__.rsplit(".", 1)[-1], args, result, list(TOUCHES.calls), raised, text)

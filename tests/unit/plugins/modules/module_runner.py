# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Run a module's main() in-process, as Ansible would, and return its JSON result."""

from __future__ import annotations

import json

import pytest


def run_module(module, args, capsys, check_mode=False, diff=False, defaults=None):
    """``defaults`` are options set unless ``args`` gives them (connection options, say).

    The output must be valid JSON: a module that printed anything else fails the test here.
    """
    from ansible.module_utils.testing import patch_module_args

    merged = dict(defaults or {})
    merged.update(args)
    if check_mode:
        merged["_ansible_check_mode"] = True
    if diff:
        merged["_ansible_diff"] = True
    with patch_module_args(merged):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""An action plugin instance with mocked task and connection, for the action unit tests."""

from __future__ import annotations

from unittest.mock import MagicMock


def make_action(cls, name, args, check_mode=False):
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.action = name
    connection = MagicMock()
    connection._shell.tmpdir = "/tmp"
    return cls(task, connection, MagicMock(), MagicMock(), MagicMock(), None)

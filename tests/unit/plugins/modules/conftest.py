# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Fixtures shared by the module tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """moto's in-process IAM/STS behind ``_aws.client`` (``aws_fakes.MotoAWS``), with no users; stopped after."""
    pytest.importorskip("moto")  # requirements/test.txt
    from aws_fakes import MotoAWS  # pylint: disable=import-outside-toplevel

    fake = MotoAWS().start(monkeypatch, tmp_path)
    yield fake
    fake.stop()

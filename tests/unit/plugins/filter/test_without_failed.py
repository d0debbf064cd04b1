# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from ansible_collections.nhi.lifecycle.plugins.filter.without_failed import without_failed


def test_drops_failed_identities_and_ignores_skipped_results():
    targets = [{"identity": "a"}, {"identity": "b"}, {"identity": "c"}]
    assert without_failed(targets, {"failed_identities": ["b"]}, {"skipped": True}) == [
        {"identity": "a"}, {"identity": "c"}]
    assert without_failed(targets) == targets
    assert without_failed(None, {"failed_identities": ["a"]}) == []

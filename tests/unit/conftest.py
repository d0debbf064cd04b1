# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Make ``import ansible_collections.nhi.lifecycle...`` work in plain pytest.

Python finds ``ansible_collections`` through ``sys.path``, so the directory
that *contains* ``ansible_collections/nhi/lifecycle`` has to be on it
(``ANSIBLE_COLLECTIONS_PATH`` alone is not enough). ``make venv`` creates
``.run/collections/ansible_collections/nhi/lifecycle`` as a symlink to this
checkout and the Makefile puts ``.run/collections`` on ``PYTHONPATH``; this
file does the same for a bare ``pytest tests/unit``. When the checkout already
sits in a real ``ansible_collections/nhi/lifecycle`` tree (as in ansible-test's
copy under ``.run/ac``), that tree is used instead.
"""

from __future__ import annotations

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _collections_dir() -> pathlib.Path:
    parts = ROOT.parts
    if parts[-3:] == ("ansible_collections", "nhi", "lifecycle"):
        return ROOT.parents[2]
    link = ROOT / ".run" / "collections" / "ansible_collections" / "nhi" / "lifecycle"
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():  # dangling
            link.unlink()
        link.symlink_to(os.path.relpath(ROOT, link.parent))
    return ROOT / ".run" / "collections"


_COLLECTIONS = str(_collections_dir())
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

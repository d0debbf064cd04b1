# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import json
import os

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.nhi.lifecycle.plugins.action.evidence_verify import ActionModule
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

from action_mocks import make_action  # noqa: E402


def action(args):
    return make_action(ActionModule, "nhi.lifecycle.evidence_verify", args)


def make_run(directory, key=None, seal=True, n=3):
    os.makedirs(directory, exist_ok=True)
    writer = chain.ChainWriter(os.path.join(directory, chain.EVIDENCE_FILE), key=key)
    for i in range(n):
        writer.append({"identity": "id-%d" % i, "event": "rotate", "step": "mint", "outcome": "changed",
                       "controls": ["NHI7"]})
    if seal:
        writer.seal("r1")
    else:
        writer.close()
    return directory


@pytest.fixture(autouse=True)
def no_run_env(monkeypatch):
    monkeypatch.delenv("NHI_EVIDENCE_DIR", raising=False)


def test_a_good_run_verifies(tmp_path):
    path = make_run(str(tmp_path / "r1"))
    result = action({"path": path}).run(task_vars={})
    assert not result.get("failed") and result["changed"] is False
    assert result["ok"] and result["count"] == 3 and result["sealed"]
    assert result["head"] == chain.verify(path).head and result["first_bad_seq"] is None
    assert "3 records verified and sealed" in result["msg"]


def test_a_tampered_run_fails_and_names_the_record(tmp_path):
    path = make_run(str(tmp_path / "r1"))
    file = os.path.join(path, chain.EVIDENCE_FILE)
    lines = open(file).read().splitlines(True)
    lines[1] = lines[1].replace("id-1", "id-9")
    open(file, "w").write("".join(lines))
    result = action({"path": path}).run(task_vars={})
    assert result["failed"] and not result["ok"] and result["first_bad_seq"] == 2
    assert "first failure at seq 2" in result["msg"]


def test_hmac_key(tmp_path):
    path = make_run(str(tmp_path / "k"), key="the-key")
    assert action({"path": path, "hmac_key": "the-key"}).run(task_vars={})["hmac_checked"]
    result = action({"path": path, "hmac_key": "other"}).run(task_vars={})
    assert result["failed"] and "HMAC" in result["reason"]
    assert "other" not in json.dumps(result) and "the-key" not in json.dumps(result)
    unchecked = action({"path": path}).run(task_vars={})
    assert not unchecked.get("failed") and unchecked["keyed"] and not unchecked["hmac_checked"]
    assert unchecked["warnings"]


def test_the_current_run_in_progress(tmp_path, monkeypatch):
    path = make_run(str(tmp_path / "cur"), seal=False)
    monkeypatch.setenv("NHI_EVIDENCE_DIR", path)
    assert action({}).run(task_vars={})["failed"]
    result = action({"require_seal": False}).run(task_vars={})
    assert not result.get("failed") and not result["sealed"] and "not sealed yet" in result["msg"]
    assert "warnings" not in result


def test_expected_head(tmp_path):
    path = make_run(str(tmp_path / "h"))
    head = chain.verify(path).head
    assert not action({"path": path, "expected_head": head}).run(task_vars={}).get("failed")
    assert action({"path": path, "expected_head": "1" * 64}).run(task_vars={})["failed"]


def test_input_errors(tmp_path):
    with pytest.raises(AnsibleActionFail, match="NHI_EVIDENCE_DIR"):
        action({}).run(task_vars={})
    with pytest.raises(AnsibleActionFail, match="no evidence at"):
        action({"path": str(tmp_path / "missing")}).run(task_vars={})
    with pytest.raises(AnsibleActionFail):
        action({"path": str(tmp_path), "bogus": 1}).run(task_vars={})

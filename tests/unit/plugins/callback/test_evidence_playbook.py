# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Run a real ansible-playbook with the evidence callback enabled: real TaskResult objects, real no_log."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.callback import evidence as cbmod
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
COLLECTIONS = str(pathlib.Path(cbmod.__file__).parents[5])

MODULE = r'''#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule


def main():
    m = AnsibleModule(argument_spec=dict(identity=dict(), step=dict(), fail=dict(type="bool", default=False),
                                         password=dict(no_log=True)), supports_check_mode=True)
    p = m.params
    entry = dict(identity=p["identity"], event="rotate", step=p["step"], system="aws_iam", action="iam:Test",
                 target="arn:aws:iam::123456789012:user/nhi/" + p["identity"], authority="nhi.lifecycle",
                 decision=None, outcome="failed" if p["fail"] else ("would_change" if m.check_mode else "changed"),
                 verified=None, error="AccessDenied" if p["fail"] else None,
                 started="2026-11-23T19:27:03.123Z", ended="2026-11-23T19:27:03.456Z",
                 details={"secret_access_key": "SHOULD-NOT-APPEAR", "key_id": "AKIA1", "note": p["password"] or ""})
    if p["fail"]:
        m.fail_json(msg="AccessDenied", evidence=[entry])
    m.exit_json(changed=True, evidence=[entry])


main()
'''

PLAYBOOK = r'''
- name: Rotate (test)
  hosts: nhi
  gather_facts: false
  tasks:
    - name: Per-host step
      fake_step: {identity: "{{ inventory_hostname }}", step: mint, password: "hunter2-very-secret"}
    - name: Loop
      fake_step: {identity: "{{ inventory_hostname }}", step: "{{ item }}"}
      loop: [store, prove_new]
    - name: A collection task that fails without evidence
      nhi.lifecycle.evidence_verify: {path: /nonexistent/evidence}
      ignore_errors: true
      run_once: true
    - name: A collection task with no_log
      nhi.lifecycle.evidence_verify: {require_seal: false}
      no_log: true
      run_once: true
    - name: A step that fails with evidence
      fake_step: {identity: "{{ inventory_hostname }}", step: delete_old, fail: true}
      ignore_errors: true
      when: inventory_hostname == 'id-b'
    - name: The evidence so far is whole
      nhi.lifecycle.evidence_verify: {require_seal: false}
      run_once: true
      register: so_far
    - name: Seen by the playbook
      ansible.builtin.assert:
        that: [so_far.ok, so_far.count == 9, not so_far.sealed]
      run_once: true
'''


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook is not installed next to %s"
                    % sys.executable)
def test_a_real_playbook_run(tmp_path):
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "fake_step.py").write_text(MODULE)
    (tmp_path / "rotate.yml").write_text(PLAYBOOK)
    (tmp_path / "inventory.ini").write_text(
        "[nhi]\nid-a\nid-b\n[nhi:vars]\nansible_connection=local\nansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_CALLBACKS_ENABLED="nhi.lifecycle.evidence",
               NHI_EVIDENCE_ROOT=str(tmp_path / "evidence"), NHI_RUN_ID="pb-1", ANSIBLE_NOCOLOR="1",
               ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_FORKS="2")
    for name in ("NHI_EVIDENCE_HMAC_KEY", "NHI_EVIDENCE_DIR", "NHI_EVIDENCE_ERROR", "JOB_ID"):
        env.pop(name, None)
    proc = subprocess.run([PLAYBOOK_BIN, "-i", "inventory.ini", "rotate.yml"], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "evidence" / "pb-1"
    assert "nhi.lifecycle evidence report: %s" % (run_dir / "report.html") in proc.stdout
    result = chain.verify(str(run_dir))
    assert result.ok and result.count == 9 and result.sealed
    records = [json.loads(line) for line in (run_dir / chain.EVIDENCE_FILE).read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    by_step = {}
    for record in steps:
        by_step.setdefault(record["step"], []).append(record)
    assert sorted(r["identity"] for r in by_step["mint"]) == ["id-a", "id-b"]
    assert sorted(r["identity"] for r in by_step["store"] + by_step["prove_new"]) == ["id-a", "id-a", "id-b", "id-b"]
    assert by_step["store"][0]["task"] == "Loop"
    failed = by_step["delete_old"][0]
    assert failed["identity"] == "id-b" and failed["outcome"] == "failed" and failed["error"] == "AccessDenied"
    synthetic = by_step["task"]
    assert len(synthetic) == 2
    assert synthetic[0]["outcome"] == "failed" and "no evidence at /nonexistent/evidence" in synthetic[0]["error"]
    assert synthetic[1]["details"] == {"censored": True}  # no_log hid the result from every callback
    text = (run_dir / chain.EVIDENCE_FILE).read_text()
    assert "SHOULD-NOT-APPEAR" not in text and "hunter2" not in text
    assert all(r["playbook"] == "rotate.yml" and r["controls"] for r in steps)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["counts"]["records"] == 9 and summary["verification"]["ok"] is True
    assert summary["censored_results"] == 1
    assert summary["stats"]["ignored"] == 2

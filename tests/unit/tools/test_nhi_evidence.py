# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The nhi-evidence command, run the way users run it: as a separate process."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

ROOT = pathlib.Path(chain.__file__).parents[2]
TOOL = str(ROOT / "tools" / "nhi-evidence")
sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "plugin_utils"))
import evidence_synth as synth  # noqa: E402


@pytest.fixture(autouse=True)
def clean_env():
    with synth.isolated_env():
        yield


def run(*args, env=None):
    environment = dict(os.environ)
    environment.pop("PYTHONPATH", None)  # the tool must find the collection by itself
    environment.update(env or {})
    return subprocess.run([sys.executable, TOOL] + [str(a) for a in args], capture_output=True, text=True,
                          env=environment, check=False, timeout=120)


@pytest.fixture
def run_dir(tmp_path):
    cb, _display = synth.make_callback(tmp_path / "evidence", run_id="job-7")
    synth.drive_batches(cb, synth.batches(20, fail_every=7))
    return tmp_path / "evidence" / "job-7"


def tamper(directory, index):
    path = directory / chain.EVIDENCE_FILE
    lines = path.read_text(encoding="utf-8").splitlines(True)
    lines[index] = lines[index].replace('"changed"', '"unchanged"', 1)
    path.write_text("".join(lines), encoding="utf-8")


def test_verify_ok(run_dir):
    proc = run("verify", run_dir)
    assert proc.returncode == 0, proc.stderr
    head = chain.verify(str(run_dir)).head
    assert "OK: 120 records, sealed" in proc.stdout and head in proc.stdout


def test_verify_json_and_expected_head(run_dir):
    head = chain.verify(str(run_dir)).head
    proc = run("verify", run_dir, "--json", "--expect-head", head)
    data = json.loads(proc.stdout)
    assert proc.returncode == 0 and data["ok"] and data["count"] == 120 and data["head"] == head
    proc = run("verify", run_dir, "--expect-head", "0" * 64)
    assert proc.returncode == 1 and "expected head" in proc.stdout


def test_verify_names_the_first_bad_record(run_dir):
    tamper(run_dir, 41)
    proc = run("verify", run_dir)
    assert proc.returncode == 1
    assert "FAILED at seq 42 (line 42)" in proc.stdout and "edited" in proc.stdout


def test_verify_with_an_hmac_key(tmp_path, monkeypatch):
    monkeypatch.setenv("NHI_EVIDENCE_HMAC_KEY", "k-123")
    cb, _display = synth.make_callback(tmp_path, run_id="keyed")
    synth.drive_batches(cb, synth.batches(5))
    monkeypatch.delenv("NHI_EVIDENCE_HMAC_KEY")
    directory = tmp_path / "keyed"
    assert run("verify", directory, "--hmac-key-env", "K", env={"K": "k-123"}).returncode == 0
    bad = run("verify", directory, "--hmac-key-env", "K", env={"K": "nope"})
    assert bad.returncode == 1 and "HMAC does not match" in bad.stdout
    missing = run("verify", directory, "--hmac-key-env", "UNSET_VAR_FOR_TEST")
    assert missing.returncode == 2 and "UNSET_VAR_FOR_TEST" in missing.stderr
    unchecked = run("verify", directory)
    assert unchecked.returncode == 0 and "HMAC not checked" in unchecked.stdout


def test_usage_errors(tmp_path):
    assert run("verify", tmp_path / "none").returncode == 2
    assert run().returncode == 2


def test_merge_slices_and_catch_tampering(tmp_path):
    for index, run_id in enumerate(("101", "102")):
        cb, _display = synth.make_callback(tmp_path / "slices", run_id=run_id)
        synth.drive_batches(cb, synth.batches(10, seed=index))
    out = tmp_path / "merged"
    proc = run("merge", out, tmp_path / "slices" / "101", tmp_path / "slices" / "102", "--run-id", "workflow-9")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK: 120 records" in proc.stdout
    assert (out / "report.html").exists() and (out / "summary.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_id"] == "workflow-9" and summary["counts"]["records"] == 120
    assert [s["run_id"] for s in summary["chain"]["merged_slices"]] == ["101", "102"]
    assert run("verify", out).returncode == 0
    tamper(out, 70)
    proc = run("verify", out)
    assert proc.returncode == 1 and "seq 71" in proc.stdout


def test_merge_refuses_a_tampered_slice(tmp_path):
    for run_id in ("a", "b"):
        cb, _display = synth.make_callback(tmp_path, run_id=run_id)
        synth.drive_batches(cb, synth.batches(3))
    tamper(tmp_path / "b", 2)
    proc = run("merge", tmp_path / "m", tmp_path / "a", tmp_path / "b")
    assert proc.returncode == 1 and "does not verify" in proc.stderr
    assert not (tmp_path / "m" / chain.EVIDENCE_FILE).exists()


def test_report_regenerates_the_files(run_dir):
    for name in ("report.html", "report.md", "summary.json"):
        (run_dir / name).unlink()
    proc = run("report", run_dir, "--timeline-limit", "5")
    assert proc.returncode == 0, proc.stderr
    for name in ("report.html", "report.md", "summary.json"):
        assert (run_dir / name).exists()
    html = (run_dir / "report.html").read_text()
    assert "Showing" in html and "of 20 identities" in html
    tamper(run_dir, 3)
    proc = run("report", run_dir)
    assert proc.returncode == 1 and "FAILED at seq 4" in proc.stdout
    assert "FAILED at seq 4" in (run_dir / "report.html").read_text()

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Smoke test of `make bench` (bench/run.py) at a small N.

Runs the bench's own code (seed, floor, ours, the measurements and the table)
on the backends of conftest.py, for rotate at N=20 and offboard at N=5 with the
floor and ours. The peer joins (rotate, N=3) only when .venv-peer already
exists, because installing the ansible package is slow. Then checks with raw
boto3 and hvac, independently of the bench's own verification, that every
rotated user has exactly one active key and that it is the stored one.
"""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import sys
import types
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        module = importlib.import_module("run")
    finally:
        sys.path.remove(str(BENCH))
    return module


def _positive(row, *keys):
    for key in keys:
        assert isinstance(row.get(key), (int, float)) and row[key] > 0, (key, row)


def _check_rotated(iam, vault, names, rotations):
    """Raw boto3/hvac: one key per user, active, the one Vault holds, after ``rotations`` rotations."""
    for name in names:
        path = "nhi/bench/%s" % name
        stored = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                         raise_on_deleted_version=False)["data"]
        key_id = stored["data"]["access_key_id"]
        assert stored["data"]["secret_access_key"] and stored["data"]["identity"] == name
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key_id, "Active")], (name, keys, key_id)
        # the seed wrote version 1; every rotation wrote one more and destroyed the one before
        versions = vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]["versions"]
        assert stored["metadata"]["version"] == 1 + rotations, (name, stored["metadata"])
        assert all(versions[str(v)]["destroyed"] for v in range(1, 1 + rotations)), (name, versions)


def test_bench_smoke(bench, backends, iam, vault, tmp_path):
    args = types.SimpleNamespace(workers=8, timeout=900)
    handle = bench.Backends.running()
    handle.env = dict(backends)
    peer = bench.peer_available()
    tag = uuid.uuid4().hex[:4]
    rotated = bench.names_for("rotate", 20, tag)
    rows = []
    try:
        rows += bench.run_cycle(bench.OPERATIONS["rotate"], 20, ["floor", "ours"], args, handle, str(tmp_path),
                                run_tag=tag)
        rows += bench.run_cycle(bench.OPERATIONS["offboard"], 5, ["floor", "ours"], args, handle, str(tmp_path),
                                run_tag=tag)
        if peer:
            rows += bench.run_cycle(bench.OPERATIONS["rotate"], 3, ["peer"], args, handle, str(tmp_path),
                                    run_tag=tag + "p")

        for row in rows:
            assert row["rc"] == 0 and not row["timed_out"], row
            assert row["verified"], (row["problems"], row["log"])
            _positive(row, "wall_s", "cpu_s", "peak_rss_mb", "tree_rss_mb")
            assert row["aws_requests"] is None or row["aws_requests"] >= row["n"] * 3, row

        # The rotations really happened: floor then ours rotated each key once.
        _check_rotated(iam, vault, rotated, rotations=2)
        if peer:
            _check_rotated(iam, vault, bench.names_for("rotate", 3, tag + "p"), rotations=1)

        table = bench.derive(rows, peer_n=3)
        by = {(r["op"], r["n"], r["contender"]): r for r in table}
        for op, n in (("rotate", 20), ("offboard", 5)):
            ours = by[(op, n, "ours")]
            _positive(ours, "ms_per_id", "cpu_ms_per_id", "ours_over_floor")
            _positive(by[(op, n, "floor")], "ms_per_id", "cpu_ms_per_id")
            assert ours["evidence_entries"] >= n * 5, ours
        if peer:
            extrapolated = by[("rotate", 20, "peer")]
            assert extrapolated["measured"] is False and extrapolated["extrapolated_from"] == 3
            _positive(extrapolated, "wall_s", "peer_over_ours")

        text = bench.table(table)
        assert "ours" in text and "floor" in text
        meta = {"started": "2026-01-01T00:00:00Z", "cpus": os.cpu_count(), "loadavg_start": "0",
                "versions": {"python": sys.version.split()[0]}}
        paths = bench.write_results(table, meta, str(tmp_path / "results"), peer_n=3)
        doc = json.loads(pathlib.Path(paths[0]).read_text(encoding="utf-8"))
        assert len(doc["rows"]) == len(table)
        assert "| rotate | 20 | ours |" in pathlib.Path(paths[1]).read_text(encoding="utf-8")
    finally:
        # Leave the shared backends as they were: offboard what rotate seeded.
        leftovers = [name for name in rotated if _user_exists(iam, name)]
        if leftovers:
            summary = bench.floor.run("offboard", leftovers, env=backends, workers=8, prefix=bench.PREFIX)
            assert summary["failed"] == 0, summary


def _user_exists(iam, name):
    try:
        iam.get_user(UserName=name)
        return True
    except iam.exceptions.NoSuchEntityException:
        return False

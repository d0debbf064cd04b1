# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Races: two rotations of the same identities at once, and a module used on its own against the playbook.

The identity lock (docs/reliability.md, "Races") must make exactly one run
change each identity; the other stops for it with a clear message. Never a
double mint, never a lost store: the mint records (outcome changed) of both
runs' evidence are counted, and IAM and the KV store are checked with raw
boto3 and hvac.

To make the interleavings deterministic rather than lucky, the run that
starts first reaches moto through the fault proxy with added latency (every
request 0.5 s slower), so that it holds its locks for several seconds; the
second run starts at once, or a seeded random delay after the first run's
locks are visible in Vault.
"""
from __future__ import annotations

import json
import os
import pathlib
import random
import sys
import time

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
_COLLECTIONS = str(ROOT / ".run" / "collections")
_LINK = ROOT / ".run" / "collections" / "ansible_collections" / "nhi" / "lifecycle"
if not _LINK.exists():  # `make venv` makes it; the same for a bare pytest run
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(os.path.relpath(ROOT, _LINK.parent))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.nhi.lifecycle.tests.faults import harness  # noqa: E402
from ansible_collections.nhi.lifecycle.tests.faults.proxy import FaultProxy  # noqa: E402

SEED = int(os.environ.get("NHI_RACE_SEED", "20261123"))
BATCH = 6
LOCKED = ("is being changed by run", "was locked by another run a moment ago")


class Run(object):
    """One ansible-playbook run in the background, with its own evidence root."""

    def __init__(self, backends, tmp_path, label, playbook, inventory, extra_vars=None, env=None):
        self.label = label
        self.root = tmp_path / ("evidence-" + label)
        self.log = tmp_path / ("%s.log" % label)
        self.proc = harness.spawn_playbook(playbook, inventory, harness.playbook_env(backends, self.root, env),
                                           extra_vars, log=self.log)

    def wait(self, timeout=300):
        self.rc = self.proc.wait(timeout=timeout)
        self.stdout = self.log.read_text()
        return self

    def records(self):
        dirs = sorted(self.root.iterdir(), key=lambda p: p.stat().st_mtime) if self.root.is_dir() else []
        if not dirs or not (dirs[-1] / "evidence.jsonl").is_file():
            return []
        return [json.loads(line) for line in (dirs[-1] / "evidence.jsonl").read_text().splitlines() if line.strip()]


def wait_for_locks(vault, names, timeout=120.0):
    """Until every identity's run lock is held (the first run's plan has taken them)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        held = 0
        for name in names:
            try:
                data = vault.secrets.kv.v2.read_secret_version(path="nhi-locks/%s" % name, mount_point="secret",
                                                               raise_on_deleted_version=False)["data"]["data"]
            except Exception:  # pylint: disable=broad-except
                data = None
            held += bool(data and data.get("run_id"))
        if held == len(names):
            return True
        time.sleep(0.05)
    return False


def lock_messages(stdout):
    """``{identity: line}`` for the identities a run stopped for because another run held them."""
    out = {}
    for line in stdout.splitlines():
        match = harness.OUTCOME_LINE.match(line)
        if match and match.group(1) == "failed" and any(m in line for m in LOCKED):
            out[match.group(2)] = line.strip()
    return out


@pytest.fixture
def slow_aws(backends):
    proxy = FaultProxy(backends["AWS_ENDPOINT_URL"], {"rate": 1.0, "kinds": ["slow"], "slow_seconds": 0.5}).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def test_two_rotations_at_once_with_varied_interleavings(tmp_path, backends, run_playbook, iam, vault, unique_name,
                                                         aws_client_factory, slow_aws, record_property):
    rng = random.Random(SEED)
    names = [unique_name("race") for _unused in range(BATCH)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks")
    run_playbook(books["provision"], inventory=inv).check()
    seen = harness.remember(vault, names, {})
    # Interleavings: both at once; the second a random moment after the first holds its locks (twice).
    rounds = [("at once", None), ("after locks", round(rng.uniform(0.0, 1.0), 2)),
              ("after locks", round(rng.uniform(1.0, 2.5), 2))]
    summary = []
    for index, (how, delay) in enumerate(rounds):
        before = {n: harness.stored(vault, n)["access_key_id"] for n in names}
        force = {"nhi_rotate_force": True}
        first = Run(backends, tmp_path, "r%d-first" % index, books["rotate"], inv, force,
                    env={"AWS_ENDPOINT_URL": slow_aws.url})
        if delay is not None:
            assert wait_for_locks(vault, names), "the first run never took its locks"
            time.sleep(delay)
        second = Run(backends, tmp_path, "r%d-second" % index, books["rotate"], inv, force)
        runs = [first.wait(), second.wait()]
        assert all(r.rc in (0, 2) for r in runs), [(r.label, r.rc, r.stdout[-2000:]) for r in runs]

        mints = {n: [r.label for r in runs for _unused in range(harness.mint_counts(r.records()).get(n, 0))]
                 for n in names}
        assert {n: len(m) for n, m in mints.items()} == {n: 1 for n in names}, (how, delay, mints)
        for name in names:
            winner = mints[name][0]
            loser = [r for r in runs if r.label != winner][0]
            message = lock_messages(loser.stdout).get(name)
            assert message, "%s: %s neither rotated it nor said it was locked:\n%s" % (
                name, loser.label, loser.stdout[-3000:])
        if delay is not None:
            assert lock_messages(second.stdout).keys() == set(names), "the first run held every lock"
        harness.remember(vault, names, seen)
        problems = [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen[n])]
        assert problems == []
        assert all(harness.stored(vault, n)["access_key_id"] != before[n] for n in names)
        summary.append({"round": index, "how": how, "delay": delay,
                        "rotated_by": {r.label: sum(1 for m in mints.values() if m[0] == r.label) for r in runs}})
    print("\n[races] %s" % json.dumps(summary))
    record_property("races", json.dumps(summary))


def module_playbook(tmp_path, names, force=True):
    """A play that uses nhi.lifecycle.aws_access_key on its own (no plan, no run lock), as a user would."""
    results = tmp_path / "module-results.json"
    play = {"name": "aws_access_key on its own", "hosts": "localhost", "gather_facts": False,
            "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
            "tasks": [
                {"name": "Rotate the keys", "register": "rotated",
                 "nhi.lifecycle.aws_access_key": {
                     "state": "rotated", "force": force, "workers": len(names), "include_last_used": False,
                     "fail_on_error": False,
                     "targets": [{"identity": n, "user_name": n, "store": {"mount": "secret",
                                                                           "path": harness.store_path(n)}}
                                 for n in names]}},
                {"name": "Keep the results", "ansible.builtin.copy": {
                    "content": "{{ rotated.results | to_json }}", "dest": str(results)}}]}
    path = tmp_path / "module.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path, results


def test_a_module_on_its_own_races_the_playbook(tmp_path, backends, run_playbook, iam, vault, unique_name,
                                                aws_client_factory, slow_aws, record_property):
    names = [unique_name("modrace") for _unused in range(BATCH)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks")
    localhost = tmp_path / "localhost.ini"
    localhost.write_text("localhost ansible_connection=local\n")
    run_playbook(books["provision"], inventory=inv).check()
    seen = harness.remember(vault, names, {})
    book, results_file = module_playbook(tmp_path, names)
    summary = []

    # 1. The playbook first (slowed, it holds its run locks); then the module: it changes nothing.
    play = Run(backends, tmp_path, "m1-playbook", books["rotate"], inv, {"nhi_rotate_force": True},
               env={"AWS_ENDPOINT_URL": slow_aws.url})
    assert wait_for_locks(vault, names)
    module = Run(backends, tmp_path, "m1-module", book, localhost).wait()
    play.wait()
    assert module.rc == 0 and play.rc == 0, (module.stdout[-2000:], play.stdout[-2000:])
    results = {r["identity"]: r for r in json.loads(results_file.read_text())}
    for name in names:
        assert results[name]["failed"] and any(m in results[name]["msg"] for m in LOCKED), results[name]
        assert "nothing was changed" in results[name]["msg"]
    assert harness.mint_counts(module.records()) == {}
    assert harness.mint_counts(play.records()) == {n: 1 for n in names}
    harness.remember(vault, names, seen)
    assert [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen[n])] == []
    summary.append({"round": "playbook first", "module_rotated": 0, "playbook_rotated": len(names)})

    # 2. The module first (slowed, it holds each identity's lock while it works on it); then the playbook.
    module = Run(backends, tmp_path, "m2-module", book, localhost, env={"AWS_ENDPOINT_URL": slow_aws.url})
    assert wait_for_locks(vault, names)
    play = Run(backends, tmp_path, "m2-playbook", books["rotate"], inv, {"nhi_rotate_force": True}).wait()
    module.wait()
    assert module.rc == 0 and play.rc in (0, 2), (module.stdout[-2000:], play.stdout[-2000:])
    module_mints = harness.mint_counts(module.records())
    play_mints = harness.mint_counts(play.records())
    refused = lock_messages(play.stdout)
    assert module_mints == {n: 1 for n in names}, module_mints
    assert refused, "the playbook never met the module's locks"
    module_end = {}
    for record in module.records():
        if record.get("identity") in names:
            module_end[record["identity"]] = max(module_end.get(record["identity"], ""), record["ended"])
    for name in names:
        if name in refused:
            assert play_mints.get(name, 0) == 0, name
        else:
            # The playbook took the identity only after the module was done with it: one after the other.
            assert play_mints.get(name) == 1, (name, play.stdout[-2000:])
            [mint] = [r for r in play.records() if r.get("identity") == name and r.get("step") == "mint"]
            assert mint["started"] > module_end[name], (name, mint["started"], module_end[name])
    harness.remember(vault, names, seen)
    assert [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen[n])] == []
    summary.append({"round": "module first", "module_rotated": len(module_mints),
                    "playbook_refused": len(refused), "playbook_rotated_after": len(play_mints)})
    print("\n[races] %s" % json.dumps(summary))
    record_property("module_races", json.dumps(summary))

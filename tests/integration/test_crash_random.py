# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Rotate and offboard killed with SIGKILL at random points, then re-run: the invariants hold.

A batch of BATCH identities is worked on concurrently by one module run, so
one kill catches the identities at different steps. Each kill counts as
BATCH kill points (one per identity caught); the state each identity was
left in is classified with raw boto3/hvac before the next run, and reported.

Kills are of two kinds, chosen by a seeded RNG:

* the test-only hook ``NHI_TEST_CRASH_AFTER=<step>`` (the module SIGKILLs
  itself right after the first identity finishes that step), every step in
  turn;
* an external SIGKILL of the whole ansible-playbook process group, after a
  random delay from the start of the batch module (or from the launch, which
  may catch the plan while it takes the identity locks).

After every kill the same playbook runs again (rotate without force, or
offboard) and must succeed, and then, checked with raw boto3 and hvac: every
identity has exactly one key, Active, the stored one, and it works; no key
that nothing knows about; no old key still works; no KV version but the
current one holds data (offboarded: no user, no key, no stored copy).

Sizes: BATCH = 8 identities; kills go on until NHI_CRASH_POINTS (default
50) kill points have hit a running batch, rotate first (55 %), then
offboard: with the default, 7 kills (4 rotate, 3 offboard: 56 kill points)
and about 18 playbook runs: 1 minute on a quiet 2-core machine, 2 under load (a kill that
misses, because the run ended first, adds one more).
For a soak: ``NHI_CRASH_POINTS=400 NHI_CRASH_SEED=7 pytest tests/integration/test_crash_random.py``.
"""
from __future__ import annotations

import collections
import json
import os
import pathlib
import random
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
_COLLECTIONS = str(ROOT / ".run" / "collections")
_LINK = ROOT / ".run" / "collections" / "ansible_collections" / "nhi" / "lifecycle"
if not _LINK.exists():  # `make venv` makes it; the same for a bare pytest run
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(os.path.relpath(ROOT, _LINK.parent))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.nhi.lifecycle.tests.faults import harness  # noqa: E402

BATCH = 8
POINTS = int(os.environ.get("NHI_CRASH_POINTS", "50"))
SEED = int(os.environ.get("NHI_CRASH_SEED", "20261123"))
ROTATE_STEPS = ["mint", "store", "prove_new", "deactivate_old", "delete_old", "prove_old_rejected", "destroy_stored"]
# The steps an offboard of a live AWS identity goes through (its keys are
# deactivated by the suspension, so aws_access_key has no deactivate_old).
OFFBOARD_STEPS = ["suspend", "update_identity", "delete_old", "prove_old_rejected", "destroy_stored",
                  "delete_identity"]


def rotation_state(iam, vault, name, before_id):
    """Where a rotation of ``name`` stands, from IAM and the store only."""
    keys = harness.keys_of(iam, name) or []
    data = harness.stored(vault, name) or {}
    stored_id = data.get("access_key_id")
    _current, live = harness.live_versions(vault, name)
    if stored_id == before_id:
        if keys == [(before_id, "Active")]:
            return "not started"
        if len(keys) == 2 and (before_id, "Active") in keys:
            return "minted, not stored"
        return "unexpected: stored %s, keys %s" % (stored_id, keys)
    old = [k for k in keys if k[0] != stored_id]
    if old and old[0][1] == "Active":
        return "stored, old key active"
    if old:
        return "old key inactive"
    if len(live) > 1:
        return "old key deleted, its version live"
    return "done"


def offboard_state(iam, vault, name):
    keys = harness.keys_of(iam, name)
    stored = harness.kv_metadata(vault, name) is not None
    if keys is None:
        return "done" if not stored else "user deleted, store left"
    parts = []
    if "nhi-suspended" in iam.list_user_policies(UserName=name)["PolicyNames"]:
        parts.append("suspended")
    if any(status == "Active" for _k, status in keys):
        parts.append("key active")
    elif keys:
        parts.append("key inactive")
    else:
        parts.append("no key")
    parts.append("stored" if stored else "store gone")
    return ", ".join(parts)


# The state the identity that triggers the hook is left in (rotate: the
# module is the only one of the run, so the kill freezes that identity there).
AFTER_STEP = {
    "mint": "minted, not stored",
    "store": "stored, old key active",
    "prove_new": "stored, old key active",
    "deactivate_old": "old key inactive",
    "delete_old": "old key deleted, its version live",
    "prove_old_rejected": "old key deleted, its version live",
    "destroy_stored": "done",
}


def next_kill(rng, event, counter, order):
    """The next kill of ``event``: (how, step or delay in seconds, workers).

    Hook and external kills alternate; the hook walks through the steps in
    a seeded order, the external kill's delay is seeded.
    """
    workers = rng.randint(2, BATCH)
    if counter % 2 == 0:
        steps = order[event]
        return "hook", steps[(counter // 2) % len(steps)], workers
    if rng.random() < 0.8:
        # From the moment the batch module starts: it spends about 1 s
        # importing and reading before the first identity changes.
        return "module", round(rng.uniform(1.0, 2.8), 2), workers
    return "launch", round(rng.uniform(1.5, 6.0), 2), workers


def test_random_kills_during_rotate_and_offboard_converge(tmp_path, backends, run_playbook, iam, vault, unique_name,
                                                          aws_client_factory, record_property):
    started = time.monotonic()
    rng = random.Random(SEED)
    names = [unique_name("crash") for _unused in range(BATCH)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks")
    seen = {}
    run_playbook(books["provision"], inventory=inv).check()
    harness.remember(vault, names, seen)

    points, states, log = 0, collections.Counter(), []
    done = {"rotate": 0, "offboard": 0}
    counters = {"rotate": 0, "offboard": 0}
    order = {"rotate": ROTATE_STEPS[:], "offboard": OFFBOARD_STEPS[:]}
    rng.shuffle(order["rotate"])
    rng.shuffle(order["offboard"])
    index = -1
    while points < POINTS and index < 4 * POINTS // BATCH + 4:
        index += 1
        event = "rotate" if done["rotate"] < 0.55 * POINTS else "offboard"
        how, what, workers = next_kill(rng, event, counters[event], order)
        counters[event] += 1
        if event == "offboard" and harness.keys_of(iam, names[0]) is None:
            run_playbook(books["provision"], inventory=inv).check()
            harness.remember(vault, names, seen)
        before = {n: (harness.stored(vault, n) or {}).get("access_key_id") for n in names}
        extra_vars = {"nhi_workers": workers}
        if event == "rotate":
            extra_vars["nhi_rotate_force"] = True
        env = harness.playbook_env(backends, tmp_path / "evidence-kill",
                                   {"NHI_TEST_CRASH_AFTER": what} if how == "hook" else None)
        proc = harness.spawn_playbook(books[event], inv, env, extra_vars, log=tmp_path / ("kill-%02d.log" % index))
        if how == "hook":
            rc = proc.wait(timeout=300)
            hit = rc != 0
        else:
            if how == "module":
                harness.wait_for_module(proc, "aws_access_key" if event == "rotate" else "aws_iam_user")
            time.sleep(what)
            hit = harness.kill_group(proc)
        harness.remember(vault, names, seen)
        caught = {}
        for name in names:
            if event == "rotate":
                caught[name] = rotation_state(iam, vault, name, before[name])
            else:
                caught[name] = offboard_state(iam, vault, name)
        if hit:
            points += len(names)
            done[event] += len(names)
            states.update("%s: %s" % (event, state) for state in caught.values())
        assert not [s for s in caught.values() if s.startswith("unexpected")], caught
        if how == "hook":
            assert hit, "the hook %s did not fire during %s" % (what, event)
            if event == "rotate":
                assert AFTER_STEP[what] in caught.values(), \
                    "killed after %s, yet no identity is at %r: %s" % (what, AFTER_STEP[what], caught)

        resumed = run_playbook(books[event], inventory=inv)
        resumed.check()
        if event == "rotate":
            problems = [p for n in names for p in
                        harness.rotation_problems(iam, vault, aws_client_factory, n, seen.get(n))]
        else:
            problems = [p for n in names for p in
                        harness.offboard_problems(iam, vault, aws_client_factory, n, seen.get(n))]
        assert problems == [], "after kill %d (%s %s %s): %s" % (index, event, how, what, problems)
        log.append({"kill": index, "event": event, "how": how, "at": what, "workers": workers, "hit": hit,
                    "states": dict(collections.Counter(caught.values()))})

    elapsed = time.monotonic() - started
    summary = {"seed": SEED, "kills": len(log), "kill_points": points, "by_event": done, "seconds": round(elapsed, 1),
               "states": dict(sorted(states.items()))}
    print("\n[crash] %s" % json.dumps(summary, sort_keys=True))
    for entry in log:
        print("[crash] %s" % json.dumps(entry, sort_keys=True))
    record_property("crash_summary", json.dumps(summary, sort_keys=True))
    assert points >= POINTS, "only %d kill points hit the runs (%s)" % (points, log)

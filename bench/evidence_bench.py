# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""How fast is the evidence? Write, seal, report and verify a large run.

    python bench/evidence_bench.py                      # 10,000 identities x 6 steps = 60,000 records
    python bench/evidence_bench.py --per-host           # one task result per identity and step
    python bench/evidence_bench.py --identities 2000 --hmac --keep /tmp/ev

Drives the real nhi.lifecycle.evidence callback with TaskResult-shaped
objects (by default six run_once batch results of 10,000 entries each, as the
roles produce), then verifies the chain with the same code as
``nhi-evidence verify``. Prints wall-clock and CPU seconds for each phase.
Needs ansible-core (the callback imports it) and Jinja2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _bootstrap():
    try:
        import ansible_collections.nhi.lifecycle.plugins.plugin_utils._evidence_chain  # noqa: F401
        return
    except ImportError:
        pass
    for name, path in (("ansible_collections", []), ("ansible_collections.nhi", []),
                       ("ansible_collections.nhi.lifecycle", [ROOT])):
        module = sys.modules.get(name) or types.ModuleType(name)
        module.__path__ = path
        sys.modules[name] = module


_bootstrap()
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "plugin_utils"))

import evidence_synth as synth  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain  # noqa: E402


class Clock(object):
    def __init__(self):
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def lap(self):
        wall, cpu = time.perf_counter(), time.process_time()
        out = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--identities", type=int, default=10000)
    parser.add_argument("--per-host", action="store_true", help="one task result per identity and step")
    parser.add_argument("--hmac", action="store_true", help="key the chain (HMAC-SHA256)")
    parser.add_argument("--keep", metavar="DIR", help="write the evidence here and keep it")
    args = parser.parse_args(argv)

    for name in ("NHI_EVIDENCE_DIR", "NHI_RUN_ID", "NHI_EVIDENCE_ERROR", "JOB_ID"):
        os.environ.pop(name, None)
    key_env = "NHI_BENCH_HMAC_KEY"
    if args.hmac:
        os.environ[key_env] = "bench-key-0123456789"
    root = args.keep or tempfile.mkdtemp(prefix="nhi-evidence-bench-")
    steps = synth.batches(args.identities, event="rotate", fail_every=97)
    total = sum(len(s) for s in steps)
    # timeline_limit unset: the callback's default, as a run gets it
    cb, display = synth.make_callback(root, run_id="bench-%d" % os.getpid(), hmac_key_env=key_env, timeline_limit=None)

    clock = Clock()
    cb.v2_playbook_on_start(synth.FakePlaybook("/bench/rotate.yml"))
    cb.v2_playbook_on_play_start(synth.FakePlay("Rotate NHI credentials"))
    hosts = set()
    for entries in steps:
        task = synth.FakeTask("nhi.lifecycle %s" % entries[0]["step"], args={"event": "rotate"})
        cb.v2_playbook_on_task_start(task, False)
        if args.per_host:
            for one in entries:
                cb.v2_runner_on_ok(synth.FakeResult(one["identity"], task, {"changed": True, "evidence": [one]}))
        else:
            cb.v2_runner_on_ok(synth.FakeResult(entries[0]["identity"], task, {"changed": True, "evidence": entries}))
        hosts.update(e["identity"] for e in entries)
    write = clock.lap()
    cb.v2_playbook_on_stats(synth.FakeStats(sorted(hosts)))
    seal_report = clock.lap()
    if cb.error or display.warnings:
        print("errors: %s %s" % (cb.error, display.warnings), file=sys.stderr)
        return 1
    result = chain.verify(cb.directory, hmac_key=os.environ.get(key_env))
    verify = clock.lap()
    sizes = {name: os.path.getsize(os.path.join(cb.directory, name))
             for name in ("evidence.jsonl", "summary.json", "report.html", "report.md")}

    print("nhi.lifecycle evidence benchmark: %d identities, %d records (%s, %s)" % (
        args.identities, total, "one result per identity and step" if args.per_host else "run_once batch results",
        "HMAC-SHA256" if args.hmac else "SHA-256"))
    print("  %-38s %8s %8s" % ("phase", "wall s", "cpu s"))
    print("  %-38s %8.2f %8.2f" % ("write %d records (flushed per task)" % total, write[0], write[1]))
    print("  %-38s %8.2f %8.2f" % ("seal + read-back + reports", seal_report[0], seal_report[1]))
    print("  %-38s %8.2f %8.2f" % ("total in the callback", write[0] + seal_report[0], write[1] + seal_report[1]))
    print("  %-38s %8.2f %8.2f" % ("verify (nhi-evidence verify)", verify[0], verify[1]))
    print("  verified: %s, %d records, head %s" % (result.ok, result.count, result.head))
    print("  sizes: " + ", ".join("%s %.1f MB" % (n, s / 1e6) for n, s in sizes.items()))
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print("  kept in %s" % cb.directory)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())

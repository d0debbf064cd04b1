# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Render the auditor's report in headless Chromium.

The report is generated from synthetic entries by the real callback code,
then opened offline in Chromium: the DOM must hold the timeline and both SVG
charts, the page must not try to reach the network or log console errors,
and a screenshot is saved to tests/output/report.png for a person to look at.

Needs Debian's ``chromium`` package. Skipped when it is missing, unless
NHI_REQUIRE_CHROMIUM is set (CI sets it), then it fails.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

ROOT = pathlib.Path(chain.__file__).parents[2]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "plugin_utils"))
import evidence_synth as synth  # noqa: E402

CHROMIUM = os.environ.get("NHI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOT = ROOT / "tests" / "output" / "report.png"

if not os.path.exists(CHROMIUM):
    if os.environ.get("NHI_REQUIRE_CHROMIUM"):
        raise RuntimeError("NHI_REQUIRE_CHROMIUM is set but %s does not exist (apt-get install chromium)" % CHROMIUM)
    pytest.skip("headless Chromium is not installed (Debian package: chromium); set NHI_REQUIRE_CHROMIUM=1 to "
                "make this a failure", allow_module_level=True)


def chromium(tmp_path, *args):
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
               "--user-data-dir=%s" % profile] + list(args)
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=180)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    with synth.isolated_env():
        cb, display = synth.make_callback(root, run_id="20261123T192703Z-3fa9c1")
        synth.rich_run(cb)
    path = root / "20261123T192703Z-3fa9c1" / "report.html"
    assert path.exists(), display.warnings
    return path


def test_the_dom_has_the_timeline_and_both_charts(report, tmp_path):
    proc = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<title>NHI lifecycle evidence" in dom
    assert len(re.findall(r'<details class="identity', dom)) == 19
    assert 'id="chart-age"' in dom and 'id="chart-ttr"' in dom
    age = dom[dom.index('id="chart-age"'):]
    age = age[:age.index("</svg>")]
    assert len(re.findall(r'<rect class="bar"', age)) == 7
    ttr = dom[dom.index('id="chart-ttr"'):]
    ttr = ttr[:ttr.index("</svg>")]
    assert len(re.findall(r'<rect class="bar"', ttr)) == 10
    assert "verified" in dom and "ci-deployer-5" in dom
    # the hostile string is text, not markup
    assert "&lt;script&gt;alert" in dom
    assert "<script" not in dom.lower()


def test_it_renders_offline_without_errors_and_the_screenshot_is_saved(report, tmp_path):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    if SCREENSHOT.exists():
        SCREENSHOT.unlink()
    proc = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--screenshot=%s" % SCREENSHOT,
                    "--window-size=1280,2000", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    problems = [line for line in proc.stderr.splitlines()
                if re.search(r"CONSOLE[:(]|Uncaught|Refused to|net::ERR_|Failed to load resource", line)]
    assert not problems, "\n".join(problems)
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1280, 2000)
    assert len(data) > 60000  # a page with text and charts, not a blank image

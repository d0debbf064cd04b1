# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""meta/execution-environment.yml builds a context, and serves ansible-builder's introspection.

There is no container runtime here, so no image is built: ``ansible-builder
create`` writes the build context (Containerfile and _build/), and the
introspection script it ships is run the way the image build runs it, over
the collection as ``ansible-galaxy collection install`` lays it out. That
second reader resolves the file's paths from the collection root, not from
meta/ (see the comment at the top of the file).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "meta" / "execution-environment.yml"
BIN = pathlib.Path(sys.executable).parent


def tool(name):
    for candidate in (BIN / name, ROOT / ".venv" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(name)


def requirement_lines(path):
    lines = []
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def pins(path):
    return dict(line.split("==", 1) for line in requirement_lines(path) if "==" in line)


@pytest.fixture(scope="module")
def definition():
    with open(EE_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    builder = tool("ansible-builder")
    if builder is None:
        pytest.skip("ansible-builder is not installed in this environment (it is in .venv: requirements/test.txt)")
    out = tmp_path_factory.mktemp("ee") / "context"
    proc = subprocess.run([builder, "create", "--file", str(EE_FILE), "--context", str(out),
                           "--output-filename", "Containerfile", "-v", "3"],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, "ansible-builder create failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    return out


def test_it_is_an_ansible_builder_v3_definition(definition):
    assert definition["version"] == 3
    assert definition["images"]["base_image"]["name"]
    deps = definition["dependencies"]
    assert set(deps) >= {"python_interpreter", "ansible_core", "ansible_runner", "python", "galaxy"}


def test_the_pins_match_the_requirements_files(definition):
    deps = definition["dependencies"]
    runtime = pins(ROOT / "requirements" / "runtime.txt")
    test = pins(ROOT / "requirements" / "test.txt")
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % runtime["ansible-core"]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % test["ansible-runner"]


def test_the_only_collection_is_this_one_at_this_version(definition):
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    collections = definition["dependencies"]["galaxy"]["collections"]
    assert collections == [{"name": "%s.%s" % (galaxy["namespace"], galaxy["name"]), "version": galaxy["version"]}], (
        "bump meta/execution-environment.yml with galaxy.yml (CONTRIBUTING.md, Releasing)")
    assert galaxy.get("dependencies") in (None, {}), "galaxy.yml gained dependencies: add them to the EE"


def test_python_dependencies_resolve_from_meta_and_from_the_collection_root(definition):
    relative = definition["dependencies"]["python"]
    assert isinstance(relative, str) and not os.path.isabs(relative) and ".." not in relative.split("/"), (
        "introspection resolves it from the collection root: use a plain relative path")
    from_meta = ROOT / "meta" / relative
    from_root = ROOT / relative
    assert from_root == ROOT / "requirements" / "runtime.txt"
    assert from_meta.is_file() and not from_meta.is_symlink(), (
        "ansible-builder copies a symlink as a symlink, which dangles in the build context")
    assert requirement_lines(from_meta) == requirement_lines(from_root), (
        "meta/%s differs from %s: cp requirements/runtime.txt meta/requirements/runtime.txt" % (relative, relative))
    system = definition["dependencies"].get("system")
    assert system is None or ((ROOT / "meta" / system).is_file() and (ROOT / system).is_file()), (
        "dependencies.system must be a file path that resolves from meta/ and from the root (introspection "
        "joins it to the collection root, so inline bindep text breaks every EE that installs nhi.lifecycle)")


def test_create_writes_the_build_context(context, definition):
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    base = definition["images"]["base_image"]["name"]
    assert 'ARG EE_BASE_IMAGE="%s"' % base in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==' in containerfile and "ansible-runner==" in containerfile
    # python requirements copied, and handed to the introspection step
    copied = context / "_build" / "requirements.txt"
    assert copied.is_file() and not copied.is_symlink()
    assert requirement_lines(copied) == requirement_lines(ROOT / "requirements" / "runtime.txt")
    assert "--user-pip=requirements.txt" in containerfile
    # the collection, and nothing else, installed from the galaxy requirements
    galaxy_reqs = yaml.safe_load((context / "_build" / "requirements.yml").read_text(encoding="utf-8"))
    assert [c["name"] for c in galaxy_reqs["collections"]] == ["nhi.lifecycle"]
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert (context / "_build" / "scripts" / "introspect.py").is_file()


def test_introspection_of_the_installed_collection(context, tmp_path):
    """What the image build's builder stage does once nhi.lifecycle is installed."""
    galaxy_cli = tool("ansible-galaxy")
    if galaxy_cli is None:
        pytest.skip("no ansible-galaxy")
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    build = subprocess.run([galaxy_cli, "collection", "build", "--force", "--output-path", str(tmp_path / "dist"),
                            str(ROOT)], capture_output=True, text=True, timeout=300, check=False, env=env)
    assert build.returncode == 0, build.stdout + build.stderr
    [tarball] = (tmp_path / "dist").glob("nhi-lifecycle-*.tar.gz")
    # --force: the checkout's ansible.cfg may already show nhi.lifecycle on its collections_path
    install = subprocess.run([galaxy_cli, "collection", "install", "--offline", "--force", "--no-deps",
                              "-p", str(tmp_path / "installed"), str(tarball)],
                             cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    proc = subprocess.run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect",
                           str(tmp_path / "installed"), "--sanitize",
                           "--write-pip", str(tmp_path / "pip.txt")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, "introspection of the installed collection failed:\n%s" % proc.stderr[-3000:]
    found = [line.split("#", 1)[0].strip() for line in (tmp_path / "pip.txt").read_text().splitlines()]
    expected = [line for line in requirement_lines(ROOT / "requirements" / "runtime.txt")
                if line.split("==", 1)[0].lower() not in ("ansible-core", "pyyaml")]
    assert sorted(set(filter(None, found))) == sorted(expected)

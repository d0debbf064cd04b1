# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Build the documentation site into docs/build/html (``make docs``), offline, with no warnings.

1. antsibull-docs renders the reference of every plugin, module and role of
   nhi.lifecycle, as ansible-doc sees it through .run/collections (the
   checkout), into docs/build/source/collection/;
2. the guides, docs/*.md, are copied to docs/build/source/guides/, and
   docs/docsite/index.md becomes the root page; a guide that index.md does not
   list is added to a "More" section, so that a new page is never left out;
3. ``sphinx-build -W --keep-going -n`` with docs/docsite/conf.py: any warning
   (a broken link or heading anchor, a reference that does not resolve, a page
   in no table of contents) fails the build.

Run it with the Python of .venv after ``pip install -r requirements/docs.txt``.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MARKER = "<!-- nhi-docsite: guides that are not listed above are added here by build.py -->"
# The labels of Ansible's own documentation that the antsibull-docs pages link
# to. They become a local intersphinx inventory (conf.py), so that the links
# point at docs.ansible.com without the build fetching anything. A new plugin
# type may need another line here: Sphinx then names the label it misses.
ANSIBLE_DOCS = [
    # name, domain:role, uri (relative to the docs.ansible.com base in conf.py), title
    ("common_return_values", "std:label", "reference_appendices/common_return_values.html#common-return-values",
     "Return Values"),
    ("ansible_configuration_settings", "std:label", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
    ("action_plugins", "std:label", "plugins/action.html#action-plugins", "Action plugins"),
    ("callback_plugins", "std:label", "plugins/callback.html#callback-plugins", "Callback plugins"),
    ("inventory_plugins", "std:label", "plugins/inventory.html#inventory-plugins", "Inventory plugins"),
    ("lookup_plugins", "std:label", "plugins/lookup.html#lookup-plugins", "Lookup plugins"),
    ("filter_plugins", "std:label", "plugins/filter.html#filter-plugins", "Filter plugins"),
    ("test_plugins", "std:label", "plugins/test.html#test-plugins", "Test plugins"),
    ("ANSIBLE_CALLBACKS_ENABLED", "std:envvar", "reference_appendices/config.html#envvar-ANSIBLE_CALLBACKS_ENABLED",
     "-"),
    ("ANSIBLE_INVENTORY_ENABLED", "std:envvar", "reference_appendices/config.html#envvar-ANSIBLE_INVENTORY_ENABLED",
     "-"),
]


def run(cmd, env):
    print("+ " + " ".join(str(part) for part in cmd), flush=True)
    proc = subprocess.run([str(part) for part in cmd], cwd=str(ROOT), env=env, check=False)
    if proc.returncode != 0:
        sys.exit("docs: %s failed with exit status %d" % (pathlib.Path(str(cmd[0])).name, proc.returncode))


def write_ansible_inventory(path):
    """A Sphinx objects.inv (version 2) of ANSIBLE_DOCS."""
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = "".join("%s %s -1 %s %s\n" % entry for entry in ANSIBLE_DOCS)
    path.write_bytes(header.encode("utf-8") + zlib.compress(body.encode("utf-8")))


def stage_guides(source):
    guides = source / "guides"
    guides.mkdir(parents=True)
    names = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        shutil.copy2(page, guides / page.name)
        names.append(page.stem)
    index = (HERE / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^guides/([A-Za-z0-9_.-]+)\s*$", index, flags=re.MULTILINE))
    missing = [name for name in listed if name not in names]
    if missing:
        sys.exit("docs: docs/docsite/index.md lists guides that docs/ does not have: %s" % ", ".join(sorted(missing)))
    extra = [name for name in names if name not in listed]
    if extra:
        more = "```{toctree}\n:caption: More\n:maxdepth: 1\n\n%s\n```\n" % "\n".join("guides/" + n for n in extra)
        index = index.replace(MARKER, more)
    (source / "index.md").write_text(index, encoding="utf-8")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "build"), help="output directory (default docs/build)")
    parser.add_argument("--allow-plugin-errors", action="store_true",
                        help="render a plugin whose documentation does not validate as an error page instead of "
                             "failing (antsibull-docs without --fail-on-error); Sphinx warnings still fail")
    args = parser.parse_args(argv)

    out = pathlib.Path(args.out).resolve()
    source, html, doctrees = out / "source", out / "html", out / "doctrees"
    for path in (source, html, doctrees):
        shutil.rmtree(path, ignore_errors=True)
    source.mkdir(parents=True)

    bindir = pathlib.Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = "%s%s%s" % (bindir, os.pathsep, env.get("PATH", ""))
    # ansible-doc finds nhi.lifecycle in the checkout through .run/collections (make venv links it).
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / ".run" / "collections")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("PYTHONPATH", None)

    collection = source / "collection"
    collection.mkdir()
    os.chmod(collection, 0o755)  # antsibull-docs wants its output directory writable by its owner only
    strict = [] if args.allow_plugin_errors else ["--fail-on-error"]
    run([bindir / "antsibull-docs", "--config-file", HERE / "antsibull-docs.cfg", "collection", "--use-current",
         "--squash-hierarchy"] + strict + ["--cleanup", "everything", "--dest-dir", collection, "nhi.lifecycle"], env)
    guides = stage_guides(source)
    write_ansible_inventory(source / "ansible.inv")
    run([bindir / "sphinx-build", "-b", "html", "-W", "--keep-going", "-n", "-q", "-c", HERE, "-d", doctrees,
         source, html], env)
    print("docs: %d guides and the collection reference in %s" % (len(guides), html / "index.html"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

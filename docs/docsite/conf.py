# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Sphinx configuration of the nhi.lifecycle documentation site (``make docs``).

docs/docsite/build.py stages the sources under docs/build/source (the guides
from docs/*.md, the plugin reference that antsibull-docs renders, and the
index) and runs ``sphinx-build -W -n -c docs/docsite``, so this file is the
configuration and docs/build/source the source directory. It starts from
what ``antsibull-docs sphinx-init --use-current nhi.lifecycle`` writes, with
two changes: the Markdown guides are read with MyST, and intersphinx reads a
local inventory only, so that the build never goes to the network.
"""

from __future__ import annotations

project = "nhi.lifecycle"
author = "nhi.lifecycle contributors"
copyright = "2026, nhi.lifecycle contributors"  # pylint: disable=redefined-builtin
title = "nhi.lifecycle documentation"
html_short_title = "nhi.lifecycle"
html_title = "nhi.lifecycle documentation"

extensions = [
    "myst_parser",           # the guides are Markdown (docs/*.md)
    "sphinx_antsibull_ext",  # the roles and directives of the antsibull-docs plugin pages
    "sphinx.ext.intersphinx",
]
root_doc = "index"
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# The guides link to their own headings the way GitHub renders them
# (``evidence.md#the-chain-and-the-seal``): MyST generates the same slugs.
myst_heading_anchors = 4
myst_enable_extensions = ["deflist"]

pygments_style = "ansible"
highlight_language = "YAML+Jinja"
html_theme = "sphinx_ansible_theme"
html_theme_options = {"collapse_navigation": False}
html_show_sphinx = False
html_copy_source = False
html_use_index = False
html_use_modindex = False
display_version = False

# Offline: the plugin pages link to a few pages of Ansible's own documentation
# (return values, configuration settings, plugin types). Their labels come
# from ansible.inv, a small local inventory that build.py writes into the
# source directory, so nothing is fetched. Every other reference must resolve
# inside this site (-n, nitpicky).
intersphinx_mapping = {
    "ansible_devel": ("https://docs.ansible.com/projects/ansible/devel/", "ansible.inv"),
}
intersphinx_timeout = 1
nitpicky = True
default_role = "any"

# Snippets in the guides elide with "..." (for example a summary.json or a
# seal with "{...}"); they are shown as they are, without colour, instead of
# failing the build because they are not complete JSON.
suppress_warnings = ["misc.highlighting_failure"]

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Give a lookup its real option definitions: DOCUMENTATION plus its doc fragment, as Ansible's loader would."""

from __future__ import annotations

import yaml

from ansible import constants as C
from ansible.utils.plugin_docs import add_fragments


class Fragments(object):
    """The one doc fragment a lookup extends, for ``add_fragments``."""

    def __init__(self, name, fragment_module):
        self.name = name
        self.module = fragment_module

    def get(self, name):
        if name != self.name:
            return None
        return type("ModuleDocFragment", (self.module.ModuleDocFragment,), {"ansible_name": name})


def configured_lookup(plugin_module, fragment_name, fragment_module):
    """A LookupModule of ``plugin_module`` whose options are defined the way the plugin loader defines them."""
    doc = yaml.safe_load(plugin_module.DOCUMENTATION)
    add_fragments(doc, plugin_module.__file__, Fragments(fragment_name, fragment_module))
    plugin = plugin_module.LookupModule()
    plugin._load_name = "nhi.lifecycle.%s" % plugin_module.__name__.rsplit(".", 1)[-1]
    C.config.initialize_plugin_configuration_definitions("lookup", plugin._load_name, doc["options"])
    return plugin, doc

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The custom credential types in awx/credential_types/, and what AWX does with them.

Shared by tests/unit/test_awx_credential_types.py (shape and names) and
tests/integration/test_ansible_runner.py (which runs the playbooks with the
environment these types inject, as an AWX job would get it).

``validate(ctype)`` applies AWX's rules for a custom credential type: the JSON
schemas of ``inputs`` and ``injectors``, unique field ids, no ``tower`` field,
no env variable that AWX refuses, and every template renders with
StrictUndefined over the defined fields.

``inject(ctype, values, private_data_dir)`` does what AWX's
``CredentialType.inject_credential`` does with the credential's values:
fields left empty are not in the template namespace (they render as ``''``),
every file template is written to a private file under ``<dir>/env`` and
named by ``tower.filename`` (one file) or ``tower.filename.<name>`` (several),
and every env template is rendered in a sandbox. It returns the environment.
"""

from __future__ import annotations

import os
import pathlib
import stat
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TYPES_DIR = ROOT / "awx" / "credential_types"

# AWX's JSON schemas for CredentialType.inputs and .injectors (awx/main/fields.py).
INPUTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "required": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"enum": ["string", "boolean"]},
                    "format": {"enum": ["ssh_private_key", "url"]},
                    "choices": {"type": "array", "minItems": 1, "items": {"type": "string"}, "uniqueItems": True},
                    "id": {"type": "string", "pattern": "^[a-zA-Z_]+[a-zA-Z0-9_]*$"},
                    "label": {"type": "string"},
                    "help_text": {"type": "string"},
                    "multiline": {"type": "boolean"},
                    "secret": {"type": "boolean"},
                    "ask_at_runtime": {"type": "boolean"},
                    "default": {},
                },
                "additionalProperties": False,
                "required": ["id", "label"],
            },
        },
    },
}
INJECTORS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "file": {
            "type": "object",
            "patternProperties": {r"^template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?$": {"type": "string"}},
            "additionalProperties": False,
        },
        "env": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string", "pattern": "^[\x00-\x7F]*$"}},
            "additionalProperties": False,
        },
        "extra_vars": {
            "type": "object",
            "patternProperties": {"^[a-zA-Z_]+[a-zA-Z0-9_]*$": {"type": "string"}},
            "additionalProperties": False,
        },
    },
}
# Variables that AWX sets itself for every job and refuses in a credential type
# (besides every name that starts with ANSIBLE_).
AWX_RESERVED_ENV = frozenset((
    "VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
    "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES",
    "CALLBACK_QUEUE", "CALLBACK_CONNECTION", "CACHE", "JOB_CALLBACK_DEBUG", "INVENTORY_HOSTVARS",
    "AWX_HOST", "PROJECT_REVISION", "SUPERVISOR_CONFIG_PATH",
))
API_KEYS = ("name", "description", "kind", "inputs", "injectors")


def load_all() -> dict:
    """{file stem: credential type} for every awx/credential_types/*.yml."""
    found = {}
    for path in sorted(TYPES_DIR.glob("*.yml")):
        with open(path, encoding="utf-8") as handle:
            found[path.stem] = yaml.safe_load(handle)
    return found


def fields(ctype) -> dict:
    return {field["id"]: field for field in ctype["inputs"].get("fields", [])}


def validate(ctype) -> list:
    """The problems AWX would refuse the type for (an empty list when it is valid)."""
    import jsonschema  # pylint: disable=import-outside-toplevel
    from jinja2 import StrictUndefined  # pylint: disable=import-outside-toplevel
    from jinja2.exceptions import TemplateError  # pylint: disable=import-outside-toplevel
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # pylint: disable=import-outside-toplevel

    problems = []
    unknown = set(ctype) - set(API_KEYS)
    if unknown:
        problems.append("keys the API does not take: %s" % sorted(unknown))
    if ctype.get("kind") not in ("cloud", "net"):
        problems.append("a custom credential type must be kind cloud or net, not %r" % ctype.get("kind"))
    for name, schema in (("inputs", INPUTS_SCHEMA), ("injectors", INJECTORS_SCHEMA)):
        for error in jsonschema.Draft4Validator(schema).iter_errors(ctype.get(name) or {}):
            problems.append("%s: %s at %s" % (name, error.message, list(error.path)))
    ids = [field.get("id") for field in ctype["inputs"].get("fields", [])]
    if len(ids) != len(set(ids)):
        problems.append("field ids are not unique: %s" % ids)
    if "tower" in ids:
        problems.append("'tower' is a reserved field id")
    for field in ctype["inputs"].get("fields", []):
        if field.get("type", "string") != "string":
            problems.extend("%s: %s is allowed only for strings" % (field["id"], key)
                            for key in ("choices", "multiline", "format", "secret") if key in field)
        if "default" in field and not isinstance(field["default"], str if field.get("type", "string") == "string" else bool):
            problems.append("%s: the default does not match the field's type" % field["id"])
    for required in ctype["inputs"].get("required", []):
        if required not in ids:
            problems.append("required field %r is not defined" % required)
    injectors = ctype.get("injectors") or {}
    for name in injectors.get("env", {}):
        if name.startswith("ANSIBLE_") or name in AWX_RESERVED_ENV:
            problems.append("AWX refuses the env variable %s in a credential type" % name)

    # Render every template with StrictUndefined, as AWX does when the type is saved.
    class Names:  # pylint: disable=too-few-public-methods
        pass

    tower = Names()
    files = list(injectors.get("file", {}))
    if "template" in files:
        tower.filename = "EXAMPLE_FILENAME"
        if len(files) > 1:
            problems.append("several files need the template.<name> syntax only")
    elif files:
        tower.filename = Names()
        for label in files:
            setattr(tower.filename, label.split(".", 1)[1], "EXAMPLE_FILENAME")
    namespace = {field_id: "EXAMPLE" for field_id in ids}
    namespace["tower"] = tower
    sandbox = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind in ("file", "env", "extra_vars"):
        for key, template in injectors.get(kind, {}).items():
            try:
                sandbox.from_string(template).render(namespace)
            except (TemplateError, AttributeError) as exc:
                problems.append("%s %s: %s" % (kind, key, exc))
    return problems


def inject(ctype, values: dict, private_data_dir) -> dict:
    """The environment an AWX job gets from a credential of this type with these values."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # pylint: disable=import-outside-toplevel

    class Names:  # pylint: disable=too-few-public-methods
        pass

    tower = Names()
    namespace = {"tower": tower}
    for field in ctype["inputs"].get("fields", []):
        value = values.get(field["id"])
        if field.get("type") == "boolean":
            namespace[field["id"]] = bool(value)
        elif value:  # AWX leaves empty fields out of the namespace
            namespace[field["id"]] = value
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = os.path.join(str(private_data_dir), "env")
    os.makedirs(env_dir, exist_ok=True)
    for label, template in (ctype.get("injectors") or {}).get("file", {}).items():
        handle, path = tempfile.mkstemp(dir=env_dir)
        with os.fdopen(handle, "w") as out:
            out.write(sandbox.from_string(template).render(**namespace))
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if "." not in label:
            tower.filename = path
        else:
            if not hasattr(tower, "filename"):
                tower.filename = Names()
            setattr(tower.filename, label.split(".", 1)[1], path)
    return {name: sandbox.from_string(template).render(**namespace)
            for name, template in (ctype.get("injectors") or {}).get("env", {}).items()}

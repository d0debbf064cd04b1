# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""awx/credential_types/*.yml inject exactly the environment variables the connectors read.

The names the connectors read are not written down here: they come from the
``env_fallback`` lists of ``argument_spec()`` in plugins/module_utils/_vault.py,
_aws.py, _gcp.py and _scim.py, and from the evidence callback's documented
``hmac_key_env`` option, so that renaming a variable there fails this test.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys

import pytest
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import awx_credentials as awx  # noqa: E402

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402

from ansible_collections.nhi.lifecycle.plugins.callback import evidence as evidence_callback  # noqa: E402
from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _gcp, _scim, _vault  # noqa: E402

# Which connector reads the variables of which credential type.
READER = {
    "vault": _vault,
    "aws": _aws,
    "aws_endpoint": _aws,
    "gcp": _gcp,
    "scim": _scim,
    "evidence": None,  # the evidence callback
}
# The variables the issue asks AWX to inject, all types together.
EXPECTED = {
    "VAULT_ADDR", "VAULT_TOKEN", "VAULT_NAMESPACE", "VAULT_CACERT",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "NHI_SCIM_URL", "NHI_SCIM_TOKEN",
    "NHI_EVIDENCE_HMAC_KEY",
}
# Injected as a file whose path the variable holds: the file's content is the credential.
FILE_VARIABLES = {"VAULT_CACERT", "GOOGLE_APPLICATION_CREDENTIALS"}
# Path options whose file is secret material (a private key), not only its name.
SECRET_FILES = {"gcp_credentials_file"}

TYPES = awx.load_all()
PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUExample\n-----END CERTIFICATE-----\n"
GCP_KEY = json.dumps({"type": "service_account", "project_id": "p", "private_key_id": "k1",
                      "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
                      "client_email": "automation@p.iam.gserviceaccount.com",
                      "token_uri": "https://oauth2.googleapis.com/token"})


def env_readers(module):
    """{variable: (option, position in its fallback list, no_log)} of one connector."""
    found = {}
    for option, spec in module.argument_spec().items():
        fallback = spec.get("fallback")
        if not fallback:
            continue
        _function, names = fallback
        for position, name in enumerate(names):
            found[name] = (option, position, bool(spec.get("no_log")))
    return found


def callback_readers():
    """The evidence callback reads the HMAC key from the variable named by hmac_key_env."""
    doc = yaml.safe_load(evidence_callback.DOCUMENTATION)
    return {doc["options"]["hmac_key_env"]["default"]: ("hmac_key", 0, True)}


def readers(stem):
    module = READER[stem]
    return callback_readers() if module is None else env_readers(module)


def referenced_fields(ctype, variable):
    """The input fields whose value ends up in this variable, directly or through a file."""
    from jinja2 import meta  # pylint: disable=import-outside-toplevel
    from jinja2.sandbox import ImmutableSandboxedEnvironment  # pylint: disable=import-outside-toplevel

    sandbox = ImmutableSandboxedEnvironment()
    injectors = ctype["injectors"]
    template = injectors["env"][variable]
    names = meta.find_undeclared_variables(sandbox.parse(template)) - {"tower"}
    files = re.findall(r"tower\.filename(?:\.([A-Za-z_][A-Za-z0-9_]*))?", template)
    through_file = set()
    for label in files:
        key = "template.%s" % label if label else "template"
        through_file |= meta.find_undeclared_variables(sandbox.parse(injectors["file"][key])) - {"tower"}
    return names, through_file


def test_there_is_a_type_for_every_system():
    assert set(TYPES) == set(READER), "awx/credential_types/ holds %s" % sorted(TYPES)


@pytest.mark.parametrize("stem", sorted(TYPES))
def test_awx_accepts_the_type(stem):
    assert awx.validate(TYPES[stem]) == []
    assert TYPES[stem]["name"].startswith("nhi.lifecycle ")


@pytest.mark.parametrize("stem", sorted(TYPES))
def test_every_injected_variable_is_one_its_connector_reads(stem):
    known = readers(stem)
    for variable in TYPES[stem]["injectors"].get("env", {}):
        assert variable in known, "%s injects %s, which %s does not read (it reads %s)" % (
            stem, variable, READER[stem].__name__ if READER[stem] else "the evidence callback", sorted(known))
        option, position, _no_log = known[variable]
        assert position == 0, "%s injects %s, an alias of %s: inject the first name of its fallback list" % (
            stem, variable, option)


def test_together_the_types_inject_exactly_the_expected_variables():
    injected = [name for ctype in TYPES.values() for name in ctype["injectors"].get("env", {})]
    assert len(injected) == len(set(injected)), "a variable is injected by two types: %s" % sorted(injected)
    assert set(injected) == EXPECTED


def test_the_expected_variables_are_all_read_by_a_connector():
    everything = {}
    for stem in TYPES:
        everything.update(readers(stem))
    assert EXPECTED <= set(everything), sorted(EXPECTED - set(everything))


@pytest.mark.parametrize("stem", sorted(TYPES))
def test_secret_fields_are_exactly_the_secret_material(stem):
    ctype = TYPES[stem]
    known = readers(stem)
    secret_material = set()
    mapped = set()
    for variable in ctype["injectors"].get("env", {}):
        option, _position, no_log = known[variable]
        direct, through_file = referenced_fields(ctype, variable)
        if variable in FILE_VARIABLES:
            assert through_file, "%s should be injected as a file" % variable
        mapped |= direct | through_file
        if no_log:
            secret_material |= direct | through_file
        if option in SECRET_FILES:
            secret_material |= through_file
    fields = awx.fields(ctype)
    assert set(fields) == mapped, "fields that no variable uses: %s" % sorted(set(fields) - mapped)
    for field_id, field in fields.items():
        if field_id in secret_material:
            assert field.get("secret") is True, "%s.%s holds a secret: mark it secret: true" % (stem, field_id)
        else:
            assert not field.get("secret"), "%s.%s is not secret; AWX would hide it for nothing" % (stem, field_id)


@pytest.mark.parametrize("stem", sorted(TYPES))
def test_required_fields_are_what_a_connection_needs(stem):
    ctype = TYPES[stem]
    optional = {"vault_namespace", "vault_cacert", "aws_session_token"}
    assert set(ctype["inputs"]["required"]) == set(awx.fields(ctype)) - optional


def _resolve(module, env, monkeypatch):
    """The connector's options as a module resolves them from this environment."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "VAULT_", "GOOGLE_", "NHI_", "CLOUDSDK_")):
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = ArgumentSpecValidator(module.argument_spec()).validate({})
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_vault_with_only_the_required_fields(tmp_path, monkeypatch):
    env = awx.inject(TYPES["vault"], {"vault_addr": "https://vault.example.com:8200", "vault_token": "s.x"}, tmp_path)
    assert env == {"VAULT_ADDR": "https://vault.example.com:8200", "VAULT_TOKEN": "s.x", "VAULT_NAMESPACE": "",
                   "VAULT_CACERT": ""}
    options = _resolve(_vault, env, monkeypatch)
    assert options["vault_url"] == "https://vault.example.com:8200" and options["vault_token"] == "s.x"
    assert not options["vault_ca_cert"], "an empty CA field must leave the system trust store in use"
    assert not options["vault_namespace"]


def test_vault_with_a_ca_and_a_namespace(tmp_path, monkeypatch):
    env = awx.inject(TYPES["vault"], {"vault_addr": "https://vault.example.com:8200", "vault_token": "s.x",
                                      "vault_namespace": "team-a", "vault_cacert": PEM}, tmp_path)
    options = _resolve(_vault, env, monkeypatch)
    assert options["vault_namespace"] == "team-a"
    with open(options["vault_ca_cert"], encoding="utf-8") as handle:
        assert handle.read() == PEM
    assert stat.S_IMODE(os.stat(options["vault_ca_cert"]).st_mode) == 0o600


def test_aws_without_an_endpoint_reaches_aws(tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    env = awx.inject(TYPES["aws"], {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret",
                                    "aws_region": "eu-west-1"}, tmp_path)
    assert "AWS_ENDPOINT_URL" not in env
    connection = _aws.client(_resolve(_aws, env, monkeypatch))
    assert connection.region == "eu-west-1"
    assert connection.iam.meta.endpoint_url == "https://iam.amazonaws.com"
    assert connection.sts.meta.endpoint_url.endswith(".amazonaws.com")


def test_aws_with_the_endpoint_type(tmp_path, monkeypatch):
    pytest.importorskip("boto3")
    env = awx.inject(TYPES["aws"], {"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "secret",
                                    "aws_session_token": "token", "aws_region": "us-east-1"}, tmp_path)
    env.update(awx.inject(TYPES["aws_endpoint"], {"aws_endpoint_url": "http://127.0.0.1:5000"}, tmp_path))
    options = _resolve(_aws, env, monkeypatch)
    assert options["aws_session_token"] == "token"
    connection = _aws.client(options)
    assert connection.iam.meta.endpoint_url == "http://127.0.0.1:5000"


def test_gcp_gets_its_key_as_a_private_file(tmp_path, monkeypatch):
    env = awx.inject(TYPES["gcp"], {"gcp_service_account_key": GCP_KEY}, tmp_path)
    options = _resolve(_gcp, env, monkeypatch)
    path = options["gcp_credentials_file"]
    with open(path, encoding="utf-8") as handle:
        assert json.load(handle) == json.loads(GCP_KEY)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_scim(tmp_path, monkeypatch):
    env = awx.inject(TYPES["scim"], {"scim_url": "https://api.example.com/scim/v2", "scim_token": "t"}, tmp_path)
    options = _resolve(_scim, env, monkeypatch)
    assert (options["scim_base_url"], options["scim_token"]) == ("https://api.example.com/scim/v2", "t")


def test_the_evidence_key(tmp_path):
    env = awx.inject(TYPES["evidence"], {"hmac_key": "k" * 64}, tmp_path)
    assert env == {"NHI_EVIDENCE_HMAC_KEY": "k" * 64}


def test_the_validator_catches_what_awx_refuses():
    broken = {"name": "x", "kind": "cloud",
              "inputs": {"fields": [{"id": "token", "label": "Token", "secret": True}], "required": ["url"]},
              "injectors": {"env": {"ANSIBLE_X": "{{ token }}", "JOB_ID": "1", "Y": "{{ missing }}"}}}
    problems = " | ".join(awx.validate(broken))
    assert "required field 'url'" in problems and "ANSIBLE_X" in problems and "JOB_ID" in problems
    assert "missing" in problems


def test_the_job_template_and_inventory_source_fit_the_project_skeleton():
    """awx/job_templates/rotate.yml runs a playbook of awx/project/ that imports a playbook of this collection."""
    awx_dir = awx.ROOT / "awx"
    template = yaml.safe_load((awx_dir / "job_templates" / "rotate.yml").read_text(encoding="utf-8"))
    assert template["job_slice_count"] >= 2
    assert [q["variable"] for q in template["survey_spec"]["spec"]] == ["nhi_approvals"]
    playbook = yaml.safe_load((awx_dir / "project" / template["playbook"]).read_text(encoding="utf-8"))
    [play] = playbook
    imported = play["ansible.builtin.import_playbook"]
    assert imported == "nhi.lifecycle.rotate"
    for path in sorted((awx_dir / "project" / "playbooks").glob("*.yml")):
        [play] = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = play["ansible.builtin.import_playbook"].split(".")[-1]
        assert (awx.ROOT / "playbooks" / ("%s.yml" % name)).is_file(), "%s imports a playbook that does not exist" % path
    source = yaml.safe_load((awx_dir / "inventory_sources" / "catalog.yml").read_text(encoding="utf-8"))
    assert source["source"] == "scm" and source["overwrite"] is True
    assert source["inventory"] == template["inventory"] and source["source_project"] == template["project"]

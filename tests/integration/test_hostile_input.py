# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Hostile input against the real backends.

* A batch with one good and one bad target is rejected as a whole, by every
  mutating module, and no backend changes (checked with raw boto3, hvac and
  requests). A check-mode run of the good targets alone shows they were viable.
* Policy conditions see the request document and nothing else: names that look
  like Ansible's (hostvars, vars, env, lookup ...) are null in it, no host
  variable or environment value reaches it, and a template-looking catalog
  value stays a literal string all the way to the backend (never rendered).

The unit-level properties over thousands of generated arguments are in
tests/unit/plugins/modules/test_hostile_args.py.
"""

from __future__ import annotations

import json
import uuid

import pytest
import requests
import yaml

PROJECT = "nhi-hostile"
INVALID = "invalid input, nothing was changed"


def _playbook(tmp_path, out):
    """One task per module, each with the batch from extra vars, results collected in ``out``."""
    tasks = []
    for module in ("aws_iam_user", "aws_access_key", "vault_approle", "vault_kv_secret", "gcp_service_account",
                   "gcp_service_account_key", "scim_service_user"):
        tasks.append({"name": module, "nhi.lifecycle.%s" % module: {"targets": "{{ batches.%s }}" % module},
                      "register": "r_%s" % module, "ignore_errors": True, "check_mode": "{{ control }}"})
    tasks.append({"name": "keep the results", "ansible.builtin.copy": {
        "dest": str(out), "content": "{{ %s | to_json }}" % (
            "{" + ", ".join("'%s': r_%s" % (m, m) for m in (
                "aws_iam_user", "aws_access_key", "vault_approle", "vault_kv_secret", "gcp_service_account",
                "gcp_service_account_key", "scim_service_user")) + "}")},
        "check_mode": False})
    book = tmp_path / "hostile.yml"
    book.write_text(yaml.safe_dump([{"name": "hostile batches", "hosts": "localhost", "connection": "local",
                                     "gather_facts": False,
                                     "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
                                     "tasks": tasks}], sort_keys=False))
    return book


def _batches(names, prefix, bad=True):
    def store(name):
        return {"mount": "secret", "path": "%s/%s" % (prefix, name)}

    good = {
        "aws_iam_user": {"user_name": names["user"], "path": "/nhi-hostile/"},
        "aws_access_key": {"user_name": names["keyuser"], "store": store(names["keyuser"]), "proof_deadline": 5},
        "vault_approle": {"role_name": names["role"], "token_policies": ["default"], "store": store(names["role"])},
        "vault_kv_secret": {"path": "%s/%s" % (prefix, names["kv"]), "data": {"note": "hostile-input test"}},
        "gcp_service_account": {"project": PROJECT, "account_id": names["gcp"]},
        "gcp_service_account_key": {"project": PROJECT, "account_id": names["gcpkey"], "store": store(names["gcpkey"])},
        "scim_service_user": {"user_name": names["scim"], "store": store(names["scim"])},
    }
    hostile = {
        "aws_iam_user": {"user_name": "../%s" % names["user"], "path": "/nhi-hostile/"},
        "aws_access_key": {"user_name": names["keyuser"], "store": {"mount": "secret", "path": "%s/../../escape" % prefix}},
        "vault_approle": {"role_name": "%s/secret-id" % names["role"], "store": store("x")},
        "vault_kv_secret": {"path": "%s/./%s" % (prefix, names["kv"]), "data": {"note": "x"}},
        "gcp_service_account": {"project": "../../v1/projects/%s" % PROJECT, "account_id": names["gcp"] + "x"},
        "gcp_service_account_key": {"project": PROJECT, "account_id": "%s@x/../../y" % names["gcpkey"],
                                    "store": store("y")},
        "scim_service_user": {"user_name": names["scim"] + "x", "base_url": "file:///etc/passwd"},
    }
    return {module: [good[module]] + ([hostile[module]] if bad else []) for module in good}


def test_a_rejected_batch_changes_nothing_in_any_backend(tmp_path, backends, run_playbook, iam, vault, scim,
                                                         unique_name):
    if not backends.get("NHI_GCP_ACCESS_TOKEN"):
        pytest.fail("NHI_GCP_ACCESS_TOKEN is missing from .run/backends.env; restart the backends", pytrace=False)
    names = {k: unique_name("hi-%s" % k) for k in ("user", "keyuser", "role", "kv", "gcp", "gcpkey", "scim")}
    prefix = "nhi/hostile-%s" % uuid.uuid4().hex[:8]
    iam.create_user(UserName=names["keyuser"], Path="/nhi-hostile/")   # so that its key could be minted
    gcp_session = requests.Session()
    gcp_session.headers["Authorization"] = "Bearer " + backends["NHI_GCP_ACCESS_TOKEN"]
    gcp_url = "%s/v1/projects/%s/serviceAccounts" % (backends["NHI_GCP_ENDPOINT"], PROJECT)
    made = gcp_session.post(gcp_url, json={"accountId": names["gcpkey"]}, timeout=10)
    assert made.status_code == 200, made.text
    env = {"GOOGLE_CLOUD_PROJECT": PROJECT, "NHI_PROGRESS": "0"}

    out = tmp_path / "results.json"
    run = run_playbook(_playbook(tmp_path, out), inventory="localhost,", env=env,
                       extra_vars={"batches": _batches(names, prefix), "control": False})
    assert out.is_file(), run.stdout[-3000:]
    results = json.loads(out.read_text())
    for module, result in results.items():
        assert result.get("failed") and INVALID in result.get("msg", ""), "%s accepted a hostile batch: %s" % (
            module, json.dumps(result)[:1500])
        assert "targets[1]" in result["msg"] and "targets[0]" not in result["msg"], result["msg"]
        assert not result.get("changed") and not result.get("evidence"), module

    # Nothing changed anywhere: raw clients, not the modules.
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=names["user"])
    assert iam.list_access_keys(UserName=names["keyuser"])["AccessKeyMetadata"] == []
    with pytest.raises(Exception):
        vault.auth.approle.read_role(names["role"])
    listing = None
    try:
        listing = vault.secrets.kv.v2.list_secrets(path=prefix, mount_point="secret")
    except Exception:  # pylint: disable=broad-except  # InvalidPath: nothing under the prefix
        pass
    assert listing is None, "the store was written: %s" % listing
    assert gcp_session.get("%s/%s@%s.iam.gserviceaccount.com" % (gcp_url, names["gcp"], PROJECT),
                           timeout=10).status_code == 404
    keys = gcp_session.get("%s/%s@%s.iam.gserviceaccount.com/keys" % (gcp_url, names["gcpkey"], PROJECT),
                           params={"keyTypes": "USER_MANAGED"}, timeout=10).json().get("keys", [])
    assert keys == []
    assert scim.get("/Users", params={"filter": 'userName eq "%s"' % names["scim"]}).json()["totalResults"] == 0

    # Control: the good targets alone are accepted and would change something (check mode: nothing is written).
    control = run_playbook(_playbook(tmp_path, out), inventory="localhost,", env=env,
                           extra_vars={"batches": _batches(names, prefix, bad=False), "control": True})
    results = json.loads(out.read_text())
    for module, result in results.items():
        assert not result.get("failed") and result.get("changed"), "%s: the good target alone failed: %s\n%s" % (
            module, json.dumps(result)[:1500], control.stdout[-2000:])
    assert iam.list_access_keys(UserName=names["keyuser"])["AccessKeyMetadata"] == []


OUTSIDE_NAMES = ["hostvars", "vars", "env", "ansible_env", "groups", "group_names", "inventory_hostname",
                 "nhi_policy_rules", "nhi_exceptions", "lookup", "query", "ansible_facts", "playbook_dir",
                 "omit", "nhi_leaky_marker", "ansible_playbook_python", "nhi"]
REQUEST_KEYS = ["approvals", "environment", "event", "expires_at_epoch", "identity", "now", "now_iso", "run"]


def test_policy_conditions_see_only_the_request(tmp_path, run_playbook, scim, unique_name):
    name = unique_name("hi-policy")
    token = "leak-%s" % uuid.uuid4().hex
    marker = tmp_path / ("rendered-%s" % uuid.uuid4().hex[:8])
    template = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "hostile.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "owner": "team-hostile",
                     "store": {"mount": "secret", "path_prefix": "nhi/hostile-policy"}},
        "identities": [{"name": name, "kind": "scim_service_user", "purpose": template,
                        "scim": {"display_name": template}}]}, sort_keys=False))
    rules = [
        {"id": "org.no_outside_names", "events": ["provision"], "effect": "deny",
         "reason": "a name from outside the request resolved",
         "condition": " || ".join("%s != null" % n for n in OUTSIDE_NAMES)},
        {"id": "org.request_shape", "events": ["provision"], "effect": "deny", "reason": "unexpected request keys",
         "condition": "sort(keys(@)) != [%s]" % ", ".join("'%s'" % k for k in REQUEST_KEYS)},
        {"id": "org.no_host_or_env_value", "events": ["provision"], "effect": "deny",
         "reason": "a host variable or environment value reached the request",
         "condition": "contains(to_string(@), '%s')" % token},
        {"id": "org.template_stays_literal", "events": ["provision"], "effect": "deny",
         "reason": "a catalog value was rendered or altered",
         "condition": "identity.scim.display_name != identity.purpose || !starts_with(identity.purpose, '{') || "
                      "!contains(identity.purpose, 'touch %s')" % marker},
        {"id": "org.standard", "events": ["provision", "offboard"], "effect": "allow", "reason": "standard change",
         "condition": "`true`"},
    ]
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({
        "nhi_policy_rules": rules, "nhi_exceptions": [], "nhi_leaky_marker": token}))

    run = run_playbook("playbooks/provision.yml", inventory=inv, env={"NHI_LEAKY_MARKER": token})
    run.check()
    [policy] = [r for r in run.evidence_records() if r.get("step") == "policy" and r.get("identity") == name]
    assert policy["outcome"] != "denied" and policy["decision"]["effect"] == "allow", policy
    assert policy["decision"]["rule"] == "org.standard", policy["decision"]
    assert not marker.exists(), "a template in the catalog was rendered"
    [user] = scim.get("/Users", params={"filter": 'userName eq "%s"' % name}).json()["Resources"]
    assert user["displayName"] == template, "the backend got %r" % user["displayName"]
    run_playbook("playbooks/offboard.yml", inventory=inv).check()
    assert not marker.exists()

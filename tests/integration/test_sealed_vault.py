# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""A sealed Vault stops a run before anything changes, says so in one line, and the run resumes once unsealed.

A second OpenBao dev server of this test's own is the store (the shared
backends are not touched) and is sealed with the real ``sys/seal`` API, so
that it answers 503 "Vault is sealed" like any sealed Vault. AWS is the
shared moto.
"""

from __future__ import annotations

import re

import pytest
import yaml


def _catalog(tmp_path, name):
    inv = tmp_path / "inventory"
    (inv / "group_vars" / "all").mkdir(parents=True)
    (inv / "sealed.nhi.yml").write_text(yaml.safe_dump({
        "plugin": "nhi.lifecycle.catalog",
        "defaults": {"environment": "dev", "store": {"mount": "secret", "path_prefix": "nhi/sealed"}},
        "identities": [{"name": name, "kind": "aws_iam_user", "owner": "team-test", "purpose": "sealed vault test",
                        "aws": {"path": "/nhi-test/"}}]}, sort_keys=False))
    (inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump({"nhi_policy_rules": [],
                                                                           "nhi_exceptions": []}))
    return inv


def test_a_sealed_vault_changes_nothing_and_the_run_resumes_once_unsealed(
        tmp_path, private_bao, run_playbook, iam, unique_name):
    import hvac  # pylint: disable=import-outside-toplevel

    name = unique_name("seal")
    inv = _catalog(tmp_path, name)
    with private_bao(tmp_path / "bao") as server:
        vault = hvac.Client(url=server["addr"], token=server["token"], timeout=10)
        env = {"VAULT_ADDR": server["addr"], "BAO_ADDR": server["addr"], "VAULT_TOKEN": server["token"],
               "BAO_TOKEN": server["token"]}
        vault.sys.seal()
        assert vault.sys.is_sealed()

        sealed = run_playbook("playbooks/provision.yml", inventory=inv, env=env)
        assert sealed.rc != 0
        lines = [line for line in sealed.stdout.splitlines() if line.startswith("fatal: ")]
        assert len(lines) == 1, sealed.stdout[-3000:]
        msg = lines[0]
        # What (sealed), where (the server), what to do (unseal, run again), and that nothing changed.
        assert "Vault is sealed" in msg and server["addr"] in msg and "unseal Vault" in msg, msg
        assert msg.count("nothing was changed") == 1, msg
        assert "Traceback" not in sealed.stdout + sealed.stderr
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_user(UserName=name)

        key = re.search(r"Unseal Key: (\S+)", server["log"].read_text()).group(1)
        vault.sys.submit_unseal_key(key)
        assert not vault.sys.is_sealed()

        resumed = run_playbook("playbooks/provision.yml", inventory=inv, env=env).check()
        assert "1 changed" in resumed.stdout
        assert iam.get_user(UserName=name)["User"]["Path"] == "/nhi-test/"
        stored = vault.secrets.kv.v2.read_secret_version(path="nhi/sealed/%s" % name, mount_point="secret",
                                                         raise_on_deleted_version=True)["data"]["data"]
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        assert [k["AccessKeyId"] for k in keys] == [stored["access_key_id"]]

        run_playbook("playbooks/offboard.yml", inventory=inv, env=env).check()

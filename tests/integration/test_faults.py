# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lifecycle playbooks with faults injected between them and the backends.

A fault-injecting proxy (tests/faults/proxy.py) sits in front of moto and of
OpenBao; the playbooks reach the backends only through it (AWS_ENDPOINT_URL,
VAULT_ADDR), the checks go straight to the backends with raw boto3 and hvac.

* 10 % of requests fail (429, 500, 503, reset, stall past the timeout, slow):
  retries and backoff absorb it, every identity is provisioned, rotated and
  offboarded.
* One system at 100 %: the identities that need it stop cleanly (named,
  recorded, nothing half-made, a minted key whose store fails is rolled
  back), the others complete, and a later run without faults finishes.
* Lost answers (the backend acted, the client never heard): no key that
  nothing knows about, no stored key that does not work.

The injected counts are printed (``pytest -s``) and attached to the test
report as user properties.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_COLLECTIONS = str(ROOT / ".run" / "collections")
_LINK = ROOT / ".run" / "collections" / "ansible_collections" / "nhi" / "lifecycle"
if not _LINK.exists():  # `make venv` makes it; the same for a bare pytest run
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    _LINK.symlink_to(os.path.relpath(ROOT, _LINK.parent))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.nhi.lifecycle.tests.faults import harness  # noqa: E402
from ansible_collections.nhi.lifecycle.tests.faults.proxy import FaultProxy  # noqa: E402

# The modules' timeouts in these tests, and a stall just past them.
TIMEOUT = 3
STALL = TIMEOUT + 1.5
ALL_KINDS = {"429": 1, "500": 1, "503": 1, "reset": 1, "stall": 1, "slow": 1}
SEED = int(os.environ.get("NHI_FAULT_SEED", "20261123"))


@pytest.fixture
def proxies(backends):
    """A fault proxy in front of moto and one in front of OpenBao (no faults until configured)."""
    aws = FaultProxy(backends["AWS_ENDPOINT_URL"], seed=SEED).start()
    vault = FaultProxy(backends["VAULT_ADDR"], seed=SEED + 1).start()

    class Proxies(object):
        pass

    out = Proxies()
    out.aws, out.vault = aws, vault
    out.env = {"AWS_ENDPOINT_URL": aws.url, "VAULT_ADDR": vault.url, "BAO_ADDR": vault.url}
    try:
        yield out
    finally:
        aws.stop()
        vault.stop()


def report(record_property, label, proxies):
    stats = {"aws": proxies.aws.stats(), "vault": proxies.vault.stats()}
    line = {name: {"requests": s["requests"], "injected": {k: v for k, v in s["injected"].items() if v},
                   "total": s["injected_total"]} for name, s in stats.items()}
    print("\n[faults] %s: %s" % (label, json.dumps(line, sort_keys=True)))
    record_property("faults_" + label, json.dumps(line, sort_keys=True))
    return stats


def failed_records(run, name):
    return [r for r in run.evidence_records() if r.get("identity") == name and r.get("outcome") == "failed"]


# --------------------------------------------------------------------------------------------

def test_the_proxy_keeps_sigv4_and_bodies_intact(proxies, backends, aws_client_factory, vault, unique_name):
    """Through the proxy, moto (auth on) still validates signatures; OpenBao gets bodies as sent."""
    import boto3  # pylint: disable=import-outside-toplevel
    import botocore.exceptions  # pylint: disable=import-outside-toplevel
    import hvac  # pylint: disable=import-outside-toplevel

    def client(service, **creds):
        return boto3.client(service, endpoint_url=proxies.aws.url, region_name=backends["AWS_REGION"],
                            aws_access_key_id=creds.get("key", backends["AWS_ACCESS_KEY_ID"]),
                            aws_secret_access_key=creds.get("secret", backends["AWS_SECRET_ACCESS_KEY"]))

    name = unique_name("sig")
    iam = client("iam")
    iam.create_user(UserName=name, Path="/nhi-test/", Tags=[{"Key": "purpose", "Value": "a=b&c d"}])
    try:
        key = iam.create_access_key(UserName=name)["AccessKey"]
        arn = client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).get_caller_identity()["Arn"]
        assert arn.endswith("/%s" % name)
        secret = key["SecretAccessKey"]
        wrong = secret[:-1] + ("y" if secret.endswith("x") else "x")  # always differs from the real one
        assert wrong != secret
        with pytest.raises(botocore.exceptions.ClientError) as info:
            client("sts", key=key["AccessKeyId"], secret=wrong).get_caller_identity()
        assert info.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidClientTokenId")
        tags = iam.list_user_tags(UserName=name)["Tags"]
        assert {"Key": "purpose", "Value": "a=b&c d"} in tags
        iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    finally:
        iam.delete_user(UserName=name)

    through = hvac.Client(url=proxies.vault.url, token=backends["VAULT_TOKEN"])
    payload = {"text": "caf\u00e9 \u2603 & = %", "nested": "{\"a\": [1, 2]}"}
    path = "nhi/itest/%s" % unique_name("body")
    through.secrets.kv.v2.create_or_update_secret(path=path, secret=payload, mount_point="secret")
    try:
        direct = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret",
                                                         raise_on_deleted_version=True)["data"]["data"]
        assert direct == payload
    finally:
        vault.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point="secret")
    stats = proxies.aws.stats()
    assert stats["injected_total"] == 0 and stats["forwarded"] == stats["requests"] >= 6


def test_ten_percent_faults_every_identity_completes(tmp_path, run_playbook, proxies, iam, vault, unique_name,
                                                     aws_client_factory, record_property):
    """(a) 10 % faults of every kind on both backends: provision, rotate and offboard all complete."""
    names = [unique_name("flt") for _unused in range(10)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT},
                                    vault={"vault_timeout": TIMEOUT})
    config = {"rate": 0.10, "kinds": ALL_KINDS, "stall_seconds": STALL, "slow_seconds": 0.4, "retry_after": 1}
    proxies.aws.configure(config, seed=SEED)
    proxies.vault.configure(config, seed=SEED + 1)
    seen = {}

    provisioned = run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    assert "10 changed" in provisioned.stdout
    harness.remember(vault, names, seen)
    problems = [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n)]
    assert problems == []

    rotated = run_playbook(books["rotate"], inventory=inv, env=proxies.env,
                           extra_vars={"nhi_rotate_force": True}).check()
    assert "10 changed" in rotated.stdout
    assert harness.mint_counts(rotated.evidence_records()) == {n: 1 for n in names}
    harness.remember(vault, names, seen)
    problems = [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen.get(n))]
    assert problems == []
    assert all(len(seen[n]) == 2 for n in names), "every identity went through two keys"

    offboarded = run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()
    assert "10 changed" in offboarded.stdout
    problems = [p for n in names for p in harness.offboard_problems(iam, vault, aws_client_factory, n, seen.get(n))]
    assert problems == []

    stats = report(record_property, "ten_percent", proxies)
    for kind in ALL_KINDS:
        assert stats["aws"]["injected"][kind] + stats["vault"]["injected"][kind] >= 1, \
            "no %s fault was injected; the test proved nothing about it" % kind
    assert stats["aws"]["injected_total"] >= 15 and stats["vault"]["injected_total"] >= 10


def test_iam_down_stops_its_identities_cleanly_and_the_others_complete(tmp_path, run_playbook, proxies, iam, vault,
                                                                       scim, unique_name, aws_client_factory,
                                                                       record_property):
    """(b) IAM answers 503 to everything: the AWS identities fail by name, the SCIM one completes."""
    aws_names = [unique_name("down") for _unused in range(3)]
    scim_name = unique_name("scim")
    inv = harness.write_catalog(tmp_path / "inventory",
                                aws_names + [harness.scim_identity(scim_name)])
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT, "aws_max_attempts": 3},
                                    vault={"vault_timeout": TIMEOUT})
    proxies.aws.configure({"rate": 1.0, "kinds": ["503"], "retry_after": 0})

    down = run_playbook(books["provision"], inventory=inv, env=proxies.env)
    down.check(rc=2)
    status = harness.status_lines(down.stdout)
    assert {n: status.get(n) for n in aws_names} == {n: "failed" for n in aws_names}, down.stdout[-3000:]
    assert status.get(scim_name) == "changed"
    assert "3 identities failed: %s" % ", ".join(sorted(aws_names)) in down.stdout
    for name in aws_names:
        failures = failed_records(down, name)
        assert failures, "no evidence of the failure of %s" % name
        assert any("503" in (r.get("error") or "") or "ServiceUnavailable" in (r.get("error") or "")
                   or "unavailable" in (r.get("error") or "").lower() for r in failures), failures
        assert harness.keys_of(iam, name) is None, "nothing may be created for %s" % name
        assert harness.stored(vault, name) is None
    users = scim.get("/Users", params={"filter": 'userName eq "%s"' % scim_name}).json()
    assert users["totalResults"] == 1 and users["Resources"][0]["active"] is True
    assert harness.stored(vault, scim_name)["user_name"] == scim_name
    report(record_property, "iam_down", proxies)

    proxies.aws.configure({})
    healed = run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    status = harness.status_lines(healed.stdout)
    assert {n: status.get(n) for n in aws_names} == {n: "changed" for n in aws_names}
    assert status.get(scim_name) == "unchanged"
    problems = [p for n in aws_names for p in harness.rotation_problems(iam, vault, aws_client_factory, n)]
    assert problems == []
    run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()


def test_vault_down_changes_nothing_and_says_so(tmp_path, run_playbook, proxies, iam, vault, unique_name,
                                                aws_client_factory, record_property):
    """(b) Vault answers 503 to everything: no lock can be taken, so no system is touched."""
    names = [unique_name("vdown") for _unused in range(2)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT},
                                    vault={"vault_timeout": TIMEOUT})
    proxies.vault.configure({"rate": 1.0, "kinds": ["503"], "retry_after": 0})
    down = run_playbook(books["provision"], inventory=inv, env=proxies.env)
    assert down.rc != 0
    assert "could not take the run's identity locks, nothing was changed" in down.stdout, down.stdout[-3000:]
    assert all(harness.keys_of(iam, n) is None for n in names), "a user was created while Vault was down"
    assert proxies.aws.stats()["requests"] == 0, "no AWS call may be made"
    report(record_property, "vault_down", proxies)

    proxies.vault.configure({})
    run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    assert [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n)] == []
    run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()


def test_a_store_that_fails_rolls_the_minted_key_back(tmp_path, run_playbook, proxies, iam, vault, unique_name,
                                                      aws_client_factory, record_property):
    """(b) Vault refuses every write to the AWS identities' stores: each minted key is deleted again."""
    aws_names = ["%s" % unique_name("stfail") for _unused in range(3)]
    scim_name = unique_name("scim")
    inv = harness.write_catalog(tmp_path / "inventory", aws_names + [harness.scim_identity(scim_name)])
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT},
                                    vault={"vault_timeout": TIMEOUT, "vault_retries": 2})
    run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    before = {n: harness.stored(vault, n) for n in aws_names}
    seen = harness.remember(vault, aws_names, {})

    proxies.vault.configure({"rules": [{"name": "store", "method": "POST",
                                        "path": r"^/v1/secret/data/nhi/itest/stfail-",
                                        "rate": 1.0, "kinds": ["503"], "retry_after": 0}]})
    failing = run_playbook(books["rotate"], inventory=inv, env=proxies.env, extra_vars={"nhi_rotate_force": True})
    failing.check(rc=2)
    status = harness.status_lines(failing.stdout)
    assert {n: status.get(n) for n in aws_names} == {n: "failed" for n in aws_names}, failing.stdout[-3000:]
    assert status.get(scim_name) == "changed"
    records = failing.evidence_records()
    for name in aws_names:
        steps = {r["step"]: r for r in records if r.get("identity") == name}
        minted = steps["mint"]["details"]["key_id"]
        assert steps["store"]["outcome"] == "failed" and "Vault" in steps["store"]["error"]
        assert steps["rollback"]["outcome"] == "changed" and steps["rollback"]["details"]["key_id"] == minted
        # Nothing half-made: the minted key is gone, the old one is still the stored, working one.
        assert harness.keys_of(iam, name) == [(before[name]["access_key_id"], "Active")]
        assert harness.stored(vault, name) == before[name]
        assert harness.rotation_problems(iam, vault, aws_client_factory, name) == []
    assert proxies.vault.stats()["by_rule"]["store"]["503"] >= 3
    report(record_property, "store_down", proxies)

    proxies.vault.configure({})
    healed = run_playbook(books["rotate"], inventory=inv, env=proxies.env, extra_vars={"nhi_rotate_force": True})
    healed.check()
    harness.remember(vault, aws_names, seen)
    problems = [p for n in aws_names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen.get(n))]
    assert problems == []
    assert all(harness.stored(vault, n)["access_key_id"] != before[n]["access_key_id"] for n in aws_names)
    run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()


def test_a_metadata_write_that_fails_keeps_the_stored_key(tmp_path, run_playbook, proxies, iam, vault, unique_name,
                                                          aws_client_factory, record_property):
    """The key pair is written but its custom metadata is not: the key stays (it is the stored one)."""
    names = [unique_name("meta") for _unused in range(2)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT},
                                    vault={"vault_timeout": TIMEOUT, "vault_retries": 2})
    run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    seen = harness.remember(vault, names, {})
    proxies.vault.configure({"rules": [{"name": "metadata", "method": "POST",
                                        "path": r"^/v1/secret/metadata/nhi/itest/meta-",
                                        "rate": 1.0, "kinds": ["503"], "retry_after": 0}]})
    failing = run_playbook(books["rotate"], inventory=inv, env=proxies.env, extra_vars={"nhi_rotate_force": True})
    failing.check(rc=2)
    for name in names:
        data = harness.stored(vault, name)
        assert data["access_key_id"] not in seen[name], "the new key was stored"
        assert harness.works(aws_client_factory, data["access_key_id"], data["secret_access_key"]), \
            "the stored key must work: a stored key was rolled back"
        assert (data["access_key_id"], "Active") in harness.keys_of(iam, name)
        assert not [r for r in failing.evidence_records() if r.get("identity") == name and r["step"] == "rollback"]
    report(record_property, "metadata_down", proxies)

    proxies.vault.configure({})
    run_playbook(books["rotate"], inventory=inv, env=proxies.env).check()
    harness.remember(vault, names, seen)
    problems = [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen.get(n))]
    assert problems == []
    run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()


def test_lost_answers_leave_no_orphan_and_no_dead_stored_key(tmp_path, run_playbook, proxies, iam, vault,
                                                             unique_name, aws_client_factory, record_property):
    """The backend acted but the answer was lost (reset or stall after forwarding) on mints and stores."""
    names = [unique_name("lost") for _unused in range(4)]
    inv = harness.write_catalog(tmp_path / "inventory", names)
    books = harness.write_playbooks(tmp_path / "playbooks", aws={"aws_timeout": TIMEOUT},
                                    vault={"vault_timeout": TIMEOUT})
    run_playbook(books["provision"], inventory=inv, env=proxies.env).check()
    seen = harness.remember(vault, names, {})
    proxies.aws.configure({"rules": [{"name": "mint", "method": "POST", "body": "Action=CreateAccessKey",
                                      "rate": 1.0, "kinds": {"reset_after": 1, "stall_after": 1}, "limit": 2,
                                      "stall_seconds": STALL}]}, seed=SEED)
    proxies.vault.configure({"rules": [{"name": "store", "method": "POST", "path": r"^/v1/secret/data/nhi/itest/lost-",
                                        "rate": 1.0, "kinds": {"reset_after": 1, "stall_after": 1}, "limit": 2,
                                        "stall_seconds": STALL}]}, seed=SEED)
    rotated = run_playbook(books["rotate"], inventory=inv, env=proxies.env, extra_vars={"nhi_rotate_force": True})
    stats = report(record_property, "lost_answers", proxies)
    assert stats["aws"]["by_rule"]["mint"]["reset_after"] + stats["aws"]["by_rule"]["mint"]["stall_after"] == 2
    assert stats["vault"]["by_rule"]["store"]["reset_after"] + stats["vault"]["by_rule"]["store"]["stall_after"] == 2
    rotated.check()
    harness.remember(vault, names, seen)
    problems = [p for n in names for p in harness.rotation_problems(iam, vault, aws_client_factory, n, seen.get(n))]
    assert problems == []
    assert all(len(seen[n]) == 2 for n in names)
    run_playbook(books["offboard"], inventory=inv, env=proxies.env).check()

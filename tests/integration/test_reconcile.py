# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The reconcile playbook against the real backends.

Each test provisions a small catalog with the playbooks, checks that a clean
estate has no drift, then makes every drift class by hand with raw boto3,
hvac and requests (never with the collection), and checks that reconcile
reports each one exactly once, that ``remediate=true`` fixes what
nhi.lifecycle may fix (a second reconcile finds only the report-only drift),
and that the ``fail_on`` gate sets the exit code.
"""
from __future__ import annotations

import collections
import datetime
import importlib.util
import json
import pathlib
import secrets
import uuid

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DENY_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
GCP_PROJECT = "nhi-rc-project"


def when(days):
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Estate(object):
    """A catalog of one test (unique IAM path and store prefix), and how to change it."""

    def __init__(self, tmp_path, tag):
        self.tag = tag
        self.inv = tmp_path / "inventory"
        (self.inv / "group_vars" / "all").mkdir(parents=True, exist_ok=True)
        self.path = "/nhi-rc-%s/" % tag
        self.prefix = "nhi/rc-%s" % tag
        self.identities = []
        self.group_vars = {"nhi_policy_rules": [], "nhi_exceptions": []}
        self.known_owners = None

    def add(self, name, kind="aws_iam_user", **extra):
        item = {"name": name, "kind": kind, "owner": "team-test", "purpose": "reconcile test"}
        if kind == "aws_iam_user":
            item["aws"] = {"path": self.path}
        elif kind == "vault_approle":
            item["vault"] = {}
        elif kind == "scim_service_user":
            item["scim"] = {}
        elif kind == "gcp_service_account":
            item["gcp"] = {"project": GCP_PROJECT}
        item.update(extra)
        self.identities.append(item)
        return name

    def identity(self, name):
        return next(i for i in self.identities if i["name"] == name)

    def write(self):
        doc = {"plugin": "nhi.lifecycle.catalog",
               "defaults": {"environment": "dev", "store": {"mount": "secret", "path_prefix": self.prefix}},
               "identities": self.identities}
        if self.known_owners:
            doc["known_owners"] = self.known_owners
        (self.inv / "test.nhi.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
        (self.inv / "group_vars" / "all" / "policy.yml").write_text(yaml.safe_dump(self.group_vars))
        return self.inv

    def store_path(self, name):
        return "%s/%s" % (self.prefix, name)


def found(run, final=None):
    """``[(identity, class)]`` of the drift records of a run (of its last compare when ``final``)."""
    out = []
    for record in run.evidence_records():
        if record.get("step") != "drift" or record.get("outcome") != "unchanged":
            continue
        details = record.get("details") or {}
        second = "remediated" in details
        if final is None or final == second:
            out.append((record["identity"], details["drift_class"]))
    return out


def drift_records(run):
    return {(r["identity"], r["details"]["drift_class"]): r for r in run.evidence_records()
            if r.get("step") == "drift" and r.get("outcome") == "unchanged" and "remediated" not in r["details"]}


def assert_exactly(run, expected, final=None):
    got = found(run, final)
    twice = [k for k, n in collections.Counter(got).items() if n > 1]
    assert not twice, "reported more than once: %s" % twice
    assert sorted(got) == sorted(expected), "\n$ %s\n%s" % (" ".join(run.cmd), run.stdout[-5000:])


def kv_metadata(vault, path):
    try:
        return vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]
    except Exception:  # pylint: disable=broad-except
        return None


def active_keys(iam, user):
    return sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
                  if k["Status"] == "Active")


def delete_user(iam, user):
    for key in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=user)["PolicyNames"]:
        iam.delete_user_policy(UserName=user, PolicyName=policy)
    iam.delete_user(UserName=user)


def test_every_drift_class_found_once_remediated_and_gated(tmp_path, run_playbook, iam, vault, unique_name):
    estate = Estate(tmp_path, uuid.uuid4().hex[:8])
    estate.known_owners = ["team-test"]
    ok = estate.add(unique_name("ok"))
    dis = estate.add(unique_name("dis"))
    gone = estate.add(unique_name("gone"))
    untr = estate.add(unique_name("untr"))
    mult = estate.add(unique_name("mult"))
    nokey = estate.add(unique_name("nokey"))
    noown = estate.add(unique_name("noown"))
    badown = estate.add(unique_name("badown"))
    exc = estate.add(unique_name("exc"))
    temp = estate.add(unique_name("temp"), temporary=True, expires_at=when(30))
    foreign = estate.add(unique_name("foreign"), authority={"rotate": "terraform"})
    role = estate.add(unique_name("role"), kind="vault_approle")
    svc = estate.add(unique_name("svc"), kind="scim_service_user")
    estate.group_vars["nhi_reconcile_disabled_policies"] = ["nhi-suspended", "incident-deny-all"]
    inv = estate.write()
    run_playbook("playbooks/provision.yml", inventory=inv).check()

    # A clean estate: no drift at all, and the default gate passes even at "low".
    clean = run_playbook("playbooks/reconcile.yml", inventory=inv, extra_vars={"fail_on": "low"}).check()
    assert_exactly(clean, [])
    assert "nhi.lifecycle reconcile: 0 drift" in clean.stdout

    # --- drift, made by hand -------------------------------------------------
    # stored_credential_orphaned: the team disables the user in IAM; its key stays live in Vault.
    iam.put_user_policy(UserName=dis, PolicyName="incident-deny-all", PolicyDocument=DENY_ALL)
    # stored_credential_orphaned + identity_missing: the user is deleted, its stored copy remains.
    delete_user(iam, gone)
    # credential_untracked: an extra key that is not active.
    extra = iam.create_access_key(UserName=untr)["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName=untr, AccessKeyId=extra, Status="Inactive")
    # credential_multiple_active: an extra active key (and one on an identity whose rotation is terraform's).
    iam.create_access_key(UserName=mult)
    iam.create_access_key(UserName=foreign)
    # credential_missing: the stored key is deleted in IAM.
    [stored_key] = iam.list_access_keys(UserName=nokey)["AccessKeyMetadata"]
    iam.delete_access_key(UserName=nokey, AccessKeyId=stored_key["AccessKeyId"])
    # owner_missing / owner_unknown: the owner tag removed, or naming a team that known_owners lacks.
    iam.untag_user(UserName=noown, TagKeys=["owner"])
    iam.tag_user(UserName=badown, Tags=[{"Key": "owner", "Value": "team-gone"}])
    # identity_unmanaged: a user under the managed path that is in no catalog.
    shadow = unique_name("shadow")
    iam.create_user(UserName=shadow, Path=estate.path)
    # credential_multiple_active (AppRole): a second secret_id made by hand.
    vault.auth.approle.generate_secret_id(role_name=role, mount_point="approle")
    # credential_stale (SCIM): the stored credential was minted 200 days ago.
    path = estate.store_path(svc)
    current = vault.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    data = dict(current["data"]["data"], minted_at=when(-200))
    vault.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point="secret",
                                                cas=current["data"]["metadata"]["version"])
    meta = kv_metadata(vault, path)["custom_metadata"]
    vault.secrets.kv.v2.update_metadata(path=path, mount_point="secret",
                                        custom_metadata=dict(meta, minted_at=when(-200)))
    # stored_credential_orphaned (no catalog): a credential that nhi.lifecycle stored for an identity that has
    # since left every catalog; and, beside it, a secret that nhi.lifecycle never wrote (not drift).
    ghost = unique_name("ghost")
    vault.secrets.kv.v2.create_or_update_secret(path=estate.store_path(ghost), mount_point="secret",
                                                secret={"access_key_id": "AKIAGHOST", "secret_access_key": "x"})
    vault.secrets.kv.v2.update_metadata(path=estate.store_path(ghost), mount_point="secret",
                                        custom_metadata={"nhi_identity": ghost, "kind": "aws_iam_user"})
    vault.secrets.kv.v2.create_or_update_secret(path=estate.store_path("team-notes/readme"), mount_point="secret",
                                                secret={"note": "not a credential"})
    # identity_missing: an identity added to the catalog but never provisioned.
    never = estate.add(unique_name("never"))
    # temporary_expired: the temporary identity's expiry moved into the past.
    estate.identity(temp)["expires_at"] = when(-1)
    # exception_expired: an exception that ran out.
    estate.group_vars["nhi_exceptions"] = [{"id": "EXC-RC-1", "identity": exc, "rule": "nhi.baseline.prod_approval",
                                            "owner": "security", "reason": "migration", "expires": when(-2)}]
    inv = estate.write()

    remediable = [(dis, "stored_credential_orphaned"), (gone, "stored_credential_orphaned"),
                  (gone, "identity_missing"), (never, "identity_missing"), (untr, "credential_untracked"),
                  (mult, "credential_multiple_active"), (role, "credential_multiple_active"),
                  (nokey, "credential_missing"), (svc, "credential_stale"), (temp, "temporary_expired")]
    report_only = [(noown, "owner_missing"), (badown, "owner_unknown"), (shadow, "identity_unmanaged"),
                   (exc, "exception_expired"), (foreign, "credential_multiple_active"),
                   (ghost, "stored_credential_orphaned")]

    # --- read-only: every class exactly once; the gate at "critical" trips -----
    read = run_playbook("playbooks/reconcile.yml", inventory=inv, extra_vars={"fail_on": "critical"})
    read.check(rc=2)
    assert_exactly(read, remediable + report_only)
    assert "reconcile gate fail_on=critical" in read.stdout
    records = drift_records(read)
    orphan = records[(dis, "stored_credential_orphaned")]["details"]
    assert orphan["severity"] == "critical" and orphan["remediation"] == "revoke_stored"
    assert orphan["authority_ok"] is True and "incident-deny-all" in orphan["detail"]
    assert records[(gone, "stored_credential_orphaned")]["details"]["severity"] == "high"
    delegated = records[(foreign, "credential_multiple_active")]["details"]
    assert delegated["remediation"] == "report" and delegated["authority_ok"] is False
    assert "terraform" in delegated["reason"]
    assert records[(temp, "temporary_expired")]["details"]["remediation"] == "offboard"
    assert records[(never, "identity_missing")]["details"]["remediation"] == "provision"
    assert records[(svc, "credential_stale")]["details"]["remediation"] == "rotate"
    assert records[(exc, "exception_expired")]["details"]["owner"] == "security"
    ghostly = records[(ghost, "stored_credential_orphaned")]["details"]
    assert ghostly["remediation"] == "report" and estate.store_path(ghost) in ghostly["detail"]
    assert len(active_keys(iam, dis)) == 1 and len(active_keys(iam, mult)) == 2, "read-only changed something"
    summary = json.loads((read.evidence_dir / "summary.json").read_text())
    assert summary["drift"]["total"] == len(remediable + report_only)

    # --- check mode: the plan of the fix, and nothing written -------------------
    dry = run_playbook("playbooks/reconcile.yml", inventory=inv, check=True, extra_vars={"remediate": True}).check()
    assert "would_change" in json.dumps(dry.evidence_records())
    assert len(active_keys(iam, dis)) == 1 and len(active_keys(iam, mult)) == 2
    assert kv_metadata(vault, estate.store_path(gone)) is not None

    # --- remediate: what is left is only report-only; the gate below it passes --
    fix = run_playbook("playbooks/reconcile.yml", inventory=inv,
                       extra_vars={"remediate": True, "fail_on": "critical"}).check()
    assert_exactly(fix, remediable + report_only, final=False)
    assert_exactly(fix, report_only, final=True)
    resolved = {(r["identity"], r["details"]["drift_class"]) for r in fix.evidence_records()
                if r.get("step") == "drift" and r.get("outcome") == "changed"}
    assert resolved == set(remediable)
    # The disabled user keeps its suspension; its key is revoked and the stored copy destroyed.
    assert iam.list_access_keys(UserName=dis)["AccessKeyMetadata"] == []
    assert "incident-deny-all" in iam.list_user_policies(UserName=dis)["PolicyNames"]
    assert kv_metadata(vault, estate.store_path(dis)) is None
    # The deleted and the never-created identities exist again, with one working key each.
    for name in (gone, never, mult, untr, nokey):
        assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 1, name
    # The expired temporary identity is offboarded; the AppRole has one secret_id again.
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=temp)
    assert kv_metadata(vault, estate.store_path(temp)) is None
    accessors = vault.auth.approle.list_secret_id_accessors(role_name=role, mount_point="approle")["data"]["keys"]
    assert len(accessors) == 1
    # Report-only drift is left alone: terraform's identity keeps both keys.
    assert len(active_keys(iam, foreign)) == 2
    assert iam.get_user(UserName=shadow)["User"]["UserName"] == shadow
    assert kv_metadata(vault, estate.store_path(ghost)) is not None, "a report-only orphan was destroyed"

    # --- a second reconcile: only the report-only drift; the gate at "medium" trips
    again = run_playbook("playbooks/reconcile.yml", inventory=inv, extra_vars={"fail_on": "medium"})
    again.check(rc=2)
    assert_exactly(again, report_only)
    assert "reconcile gate fail_on=medium" in again.stdout

    # --- credential_unused, on one identity (--limit), from IAM's last-used data --
    unused = run_playbook("playbooks/reconcile.yml", inventory=inv, limit=[ok],
                          extra_vars={"nhi_reconcile_unused_days": 0, "nhi_reconcile_discover": False}).check()
    assert_exactly(unused, [(ok, "credential_unused")])


def test_the_iam_disabled_vault_key_live_case(tmp_path, run_playbook, iam, vault, aws_client_factory, unique_name):
    """The worked example of docs/reconcile.md and the README, step by step."""
    estate = Estate(tmp_path, uuid.uuid4().hex[:8])
    name = estate.add(unique_name("ci-deployer"))
    inv = estate.write()
    run_playbook("playbooks/provision.yml", inventory=inv).check()
    stored = vault.secrets.kv.v2.read_secret_version(path=estate.store_path(name), mount_point="secret",
                                                     raise_on_deleted_version=True)["data"]["data"]

    # 1. Someone disables the user in IAM by hand; the key stays live in Vault.
    iam.put_user_policy(UserName=name, PolicyName="nhi-suspended", PolicyDocument=DENY_ALL)
    sts = aws_client_factory("sts", aws_access_key_id=stored["access_key_id"],
                             aws_secret_access_key=stored["secret_access_key"])
    assert sts.get_caller_identity()["Arn"].endswith("/%s" % name), "the stored key still authenticates"

    # 2. reconcile finds it.
    found_it = run_playbook("playbooks/reconcile.yml", inventory=inv).check()
    assert_exactly(found_it, [(name, "stored_credential_orphaned")])
    assert "critical stored_credential_orphaned" in found_it.stdout

    # 3. -e remediate=true revokes the key and destroys the stored copy, and proves the key rejected.
    fixed = run_playbook("playbooks/reconcile.yml", inventory=inv, extra_vars={"remediate": "true"}).check()
    proofs = [r for r in fixed.evidence_records() if r.get("step") == "prove_old_rejected"]
    assert proofs and all(p["verified"]["ok"] for p in proofs)
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"] == []
    assert kv_metadata(vault, estate.store_path(name)) is None
    assert "nhi-suspended" in iam.list_user_policies(UserName=name)["PolicyNames"], "never re-enabled"

    # 4. A second reconcile is clean.
    clean = run_playbook("playbooks/reconcile.yml", inventory=inv, extra_vars={"fail_on": "low"}).check()
    assert_exactly(clean, [])


@pytest.fixture(scope="module")
def gcp(backends):
    """``(endpoint, admin token)``: the shared GCP stand-in, or a private one while
    scripts/backends.sh does not export NHI_GCP_ACCESS_TOKEN yet."""
    endpoint, token = backends.get("NHI_GCP_ENDPOINT"), backends.get("NHI_GCP_ACCESS_TOKEN")
    if endpoint and token:
        yield endpoint, token
        return
    standin = ROOT / "tests" / "backends" / "gcp_iam.py"
    if not standin.is_file():
        pytest.skip("no NHI_GCP_ACCESS_TOKEN in .run/backends.env and no %s to start a private stand-in" % standin)
    spec = importlib.util.spec_from_file_location("nhi_gcp_iam_rc", standin)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "serve_in_thread"):
        pytest.skip("no NHI_GCP_ACCESS_TOKEN in .run/backends.env, and the stand-in cannot be started privately")
    token = secrets.token_urlsafe(24)
    server, endpoint = module.serve_in_thread(token)
    yield endpoint, token
    server.shutdown()
    server.server_close()


def test_gcp_disabled_account_and_extra_key(tmp_path, run_playbook, vault, gcp, unique_name):
    requests = pytest.importorskip("requests")
    endpoint, token = gcp
    env = {"NHI_GCP_ENDPOINT": endpoint, "NHI_GCP_ACCESS_TOKEN": token, "GOOGLE_CLOUD_PROJECT": GCP_PROJECT}
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token

    def account_url(account_id):
        return "%s/v1/projects/%s/serviceAccounts/%s@%s.iam.gserviceaccount.com" % (
            endpoint, GCP_PROJECT, account_id, GCP_PROJECT)

    def keys(account_id):
        r = session.get(account_url(account_id) + "/keys", params={"keyTypes": "USER_MANAGED"}, timeout=10)
        r.raise_for_status()
        return r.json().get("keys", [])

    estate = Estate(tmp_path, uuid.uuid4().hex[:8])
    off = estate.add(unique_name("gcpoff"), kind="gcp_service_account")
    two = estate.add(unique_name("gcptwo"), kind="gcp_service_account")
    inv = estate.write()
    run_playbook("playbooks/provision.yml", inventory=inv, env=env).check()
    assert_exactly(run_playbook("playbooks/reconcile.yml", inventory=inv, env=env).check(), [])

    session.post(account_url(off) + ":disable", json={}, timeout=10).raise_for_status()
    session.post(account_url(two) + "/keys", json={}, timeout=10).raise_for_status()
    read = run_playbook("playbooks/reconcile.yml", inventory=inv, env=env, extra_vars={"fail_on": "critical"})
    read.check(rc=2)
    assert_exactly(read, [(off, "stored_credential_orphaned"), (two, "credential_multiple_active")])

    run_playbook("playbooks/reconcile.yml", inventory=inv, env=env, extra_vars={"remediate": True}).check()
    assert keys(off) == [] and kv_metadata(vault, estate.store_path(off)) is None
    assert len(keys(two)) == 1
    assert session.get(account_url(off), timeout=10).json().get("disabled") is True, "never re-enabled"
    assert_exactly(run_playbook("playbooks/reconcile.yml", inventory=inv, env=env).check(), [])

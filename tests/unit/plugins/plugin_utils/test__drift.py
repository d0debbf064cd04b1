# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""The drift classes of reconcile over synthetic states of every system."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, iso
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _drift

NOW = datetime.datetime(2026, 11, 23, 12, 0, 0, tzinfo=datetime.timezone.utc)


def ago(days):
    return iso(NOW - datetime.timedelta(days=days))


def ident(name, kind="aws_iam_user", **extra):
    nhi = {"name": name, "kind": kind, "owner": "team-a", "environment": "dev", "source": "cat.nhi.yml",
           "store": {"mount": "secret", "path": "nhi/dev/%s" % name}, "rotation": {"max_age_days": 90},
           "authority": {"create": "nhi.lifecycle", "rotate": "nhi.lifecycle", "suspend": "nhi.lifecycle",
                         "delete": "nhi.lifecycle"}, "offboard": {"mode": "delete"}, "expires_at": None}
    if kind == "aws_iam_user":
        nhi["aws"] = {"user_name": name, "path": "/nhi/", "managed_policies": [], "inline_policies": {}, "tags": {}}
    elif kind == "vault_approle":
        nhi["vault"] = {"mount": "approle", "role_name": name}
    elif kind == "gcp_service_account":
        nhi["gcp"] = {"project": "p1", "account_id": name}
    elif kind == "scim_service_user":
        nhi["scim"] = {"base_url": None, "user_name": name}
    nhi.update(extra)
    return nhi


class Estate(object):
    """Synthetic registered results of the read modules, built per identity."""

    def __init__(self):
        self.reads = {k: {"results": []} for k in _drift.READ_KEYS}
        self.reads["aws_paths"] = {"results": []}

    def stored(self, name, id_field=None, cred_id=None, minted_days=1.0, live=True, state=None, exists=True):
        custom = {"nhi_identity": name, "minted_at": ago(minted_days)}
        if id_field:
            custom[id_field] = cred_id
        if state:
            custom["credential_state"] = state
        versions = [{"version": 1, "created_time": ago(minted_days), "deletion_time": None if live else ago(0),
                     "destroyed": False}]
        self.reads["store"]["results"].append({
            "identity": name, "exists": exists, "live": live and exists, "current_version": 1 if exists else None,
            "custom_metadata": custom if exists else {}, "versions": versions if exists else [],
            "age_days": minted_days})
        return self

    def nothing_stored(self, name):
        return self.stored(name, exists=False)

    def aws(self, name, keys=(), exists=True, suspended=False, tags=None, inline=(), managed=()):
        user = None
        if exists:
            user = {"user_name": name, "path": "/nhi/", "tags": {"owner": "team-a"} if tags is None else tags,
                    "managed_policies": list(managed), "inline_policies": list(inline), "suspended": suspended}
        self.reads["aws_user"]["results"].append({"identity": name, "user": user})
        self.reads["aws_keys"]["results"].append({
            "identity": name, "user_exists": exists,
            "keys": [{"access_key_id": k[0], "status": k[1], "age_days": k[2] if len(k) > 2 else 1.0,
                      "last_used": k[3] if len(k) > 3 else ago(0.5)} for k in keys]})
        return self

    def listing(self, prefix, users):
        self.reads["aws_paths"]["results"].append({"item": prefix, "users": [
            {"user_name": u, "path": prefix, "arn": "arn:aws:iam::1:user%s%s" % (prefix, u)} for u in users]})
        return self

    def approle(self, name, secret_ids=(), exists=True):
        roles = [{"role_name": name, "secret_ids": [
            {"secret_id_accessor": s[0], "age_days": s[1], "expired": bool(s[2]) if len(s) > 2 else False}
            for s in secret_ids]}] if exists else []
        self.reads["approle"]["results"].append({"identity": name, "exists": exists, "roles": roles})
        return self

    def gcp(self, name, keys=(), exists=True, disabled=False):
        accounts = [{"account_id": name, "disabled": disabled, "keys": [
            {"key_id": k[0], "disabled": k[1], "age_days": k[2] if len(k) > 2 else 1.0} for k in keys]}] if exists else []
        self.reads["gcp"]["results"].append({"identity": name, "exists": exists, "accounts": accounts})
        return self

    def scim(self, name, user_id="u1", exists=True, active=True):
        users = [{"id": user_id, "user_name": name, "active": active}] if exists else []
        self.reads["scim"]["results"].append({"identity": name, "exists": exists, "users": users})
        return self


def healthy_aws(estate, name, key="AKIA1"):
    return estate.aws(name, keys=[(key, "Active")]).stored(name, "access_key_id", key)


def run(identities, estate, catalog=None, report=None, **options):
    options.setdefault("unused_days", 90)
    return _drift.compare(identities, estate.reads, catalog=catalog, exceptions_report=report, now=NOW,
                          options=options)


def classes(found):
    return sorted((d["identity"], d["class"]) for d in found["drift"])


# --- a clean estate ---------------------------------------------------------

def test_a_clean_estate_has_no_drift():
    ids = [ident("a"), ident("r", "vault_approle"), ident("g", "gcp_service_account"), ident("s", "scim_service_user")]
    estate = healthy_aws(Estate(), "a")
    estate.approle("r", [("acc1", 2.0)]).stored("r", "secret_id_accessor", "acc1")
    estate.gcp("g", [("k1", False)]).stored("g", "key_id", "k1")
    estate.scim("s", user_id="u1").stored("s", "user_id", "u1", state="active")
    estate.listing("/nhi/", ["a"])
    found = run(ids, estate)
    assert found == {"drift": [], "unread": {}, "errors": []}


# --- each class, exactly once --------------------------------------------------

def test_a_disabled_iam_user_with_a_live_stored_key_is_orphaned_and_critical():
    estate = Estate().aws("a", keys=[("AKIA1", "Active")], inline=["nhi-suspended"]).stored("a", "access_key_id", "AKIA1")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "stored_credential_orphaned" and item["severity"] == "critical"
    assert item["remediation"] == "revoke_stored" and item["authority_ok"] is True
    assert "disabled (nhi-suspended)" in item["detail"] and "AKIA1" in item["detail"]
    assert item["systems"] == ["aws_iam", "vault"] and item["owner"] == "team-a"


def test_an_aws_quarantine_policy_counts_as_disabled_and_inactive_keys_are_only_high():
    estate = Estate().aws("a", keys=[("AKIA1", "Inactive")],
                          managed=["arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"])
    estate.stored("a", "access_key_id", "AKIA1")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "stored_credential_orphaned" and item["severity"] == "high"


def test_the_disabled_policies_are_configurable():
    estate = Estate().aws("a", keys=[("AKIA1", "Active")], inline=["incident-deny"]).stored("a", "access_key_id", "AKIA1")
    assert run([ident("a")], estate)["drift"] == []
    found = run([ident("a")], estate, disabled_policies=["incident-deny"])
    assert classes(found) == [("a", "stored_credential_orphaned")]


def test_a_disabled_identity_without_credentials_is_clean_and_never_re_enabled():
    estate = Estate().aws("a", suspended=True).nothing_stored("a")
    assert run([ident("a")], estate)["drift"] == []


def test_a_disabled_identity_with_an_unstored_key_has_it_revoked():
    estate = Estate().aws("a", keys=[("AKIA9", "Inactive")], suspended=True).nothing_stored("a")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "credential_untracked" and item["remediation"] == "revoke_stored"


def test_a_deleted_identity_with_a_stored_copy_is_orphaned_and_missing():
    estate = Estate().aws("a", exists=False).stored("a", "access_key_id", "AKIA1")
    found = run([ident("a")], estate)
    assert classes(found) == [("a", "identity_missing"), ("a", "stored_credential_orphaned")]
    orphan = next(d for d in found["drift"] if d["class"] == "stored_credential_orphaned")
    assert orphan["severity"] == "high"  # the key went with the user


@pytest.mark.parametrize("old_deletion, orphaned", [
    ("2099-01-01T00:00:00.123456789Z", True),  # delete_version_after: scheduled, still readable
    ("2026-01-01T00:00:00Z", False),  # deleted
])
def test_an_old_version_is_live_until_its_deletion_time(old_deletion, orphaned):
    estate = Estate().aws("a", exists=False).stored("a", "access_key_id", "AKIA2", live=False)
    stored = estate.reads["store"]["results"][-1]
    stored["current_version"] = 2
    stored["versions"] = [{"version": 1, "created_time": ago(5), "deletion_time": old_deletion, "destroyed": False},
                          {"version": 2, "created_time": ago(1), "deletion_time": ago(0.5), "destroyed": False}]
    found = run([ident("a")], estate)
    assert (("a", "stored_credential_orphaned") in classes(found)) is orphaned


def test_a_catalog_identity_that_was_never_created_is_missing():
    estate = Estate().aws("a", exists=False).nothing_stored("a")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "identity_missing" and item["remediation"] == "provision"


def test_nothing_stored_is_a_missing_credential_and_its_key_untracked():
    estate = Estate().aws("a", keys=[("AKIA1", "Active")]).nothing_stored("a")
    assert classes(run([ident("a")], estate)) == [("a", "credential_missing"), ("a", "credential_untracked")]


def test_a_stored_key_that_is_gone_or_deactivated_is_a_missing_credential():
    estate = Estate().aws("a", keys=[]).stored("a", "access_key_id", "AKIA1")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "credential_missing" and "no longer exists" in item["detail"]
    estate = Estate().aws("b", keys=[("AKIA2", "Inactive")]).stored("b", "access_key_id", "AKIA2")
    [item] = run([ident("b")], estate)["drift"]
    assert item["class"] == "credential_missing" and "deactivated" in item["detail"]


def test_an_inactive_extra_key_is_untracked_and_an_active_one_multiple():
    estate = Estate().aws("a", keys=[("AKIA1", "Active"), ("AKIA2", "Inactive")]).stored("a", "access_key_id", "AKIA1")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "credential_untracked" and item["severity"] == "high" and "AKIA2 (inactive)" in item["detail"]
    estate = Estate().aws("b", keys=[("AKIA1", "Active"), ("AKIA2", "Active")]).stored("b", "access_key_id", "AKIA1")
    [item] = run([ident("b")], estate)["drift"]
    assert item["class"] == "credential_multiple_active" and item["remediation"] == "rotate"


def test_a_credential_older_than_max_age_is_stale():
    estate = Estate().aws("a", keys=[("AKIA1", "Active", 91.0)]).stored("a", "access_key_id", "AKIA1")
    [item] = run([ident("a")], estate)["drift"]
    assert item["class"] == "credential_stale" and "91.0 days" in item["detail"]
    estate = Estate().approle("r", [("acc", 10.0)]).stored("r", "secret_id_accessor", "acc")
    [item] = run([ident("r", "vault_approle", rotation={"max_age_days": 7})], estate)["drift"]
    assert item["class"] == "credential_stale"


def test_a_scim_credential_is_stale_by_when_it_was_minted():
    estate = Estate().scim("s").stored("s", "user_id", "u1", minted_days=200, state="active")
    [item] = run([ident("s", "scim_service_user")], estate)["drift"]
    assert item["class"] == "credential_stale" and item["systems"] == ["scim"]


def test_a_scim_credential_of_a_former_user_or_never_set_is_missing():
    estate = Estate().scim("s", user_id="u2").stored("s", "user_id", "u1")
    assert classes(run([ident("s", "scim_service_user")], estate)) == [("s", "credential_missing")]
    estate = Estate().scim("t").stored("t", "user_id", "u1", state="pending")
    [item] = run([ident("t", "scim_service_user")], estate)["drift"]
    assert item["class"] == "credential_missing" and "interrupted" in item["detail"]


def test_a_deactivated_scim_user_with_a_stored_credential_is_orphaned_but_not_critical():
    estate = Estate().scim("s", active=False).stored("s", "user_id", "u1")
    [item] = run([ident("s", "scim_service_user")], estate)["drift"]
    assert item["class"] == "stored_credential_orphaned" and item["severity"] == "high"


def test_unused_needs_last_use_data_and_the_threshold():
    estate = Estate().aws("a", keys=[("AKIA1", "Active", 200.0, ago(120))]).stored("a", "access_key_id", "AKIA1")
    ids = [ident("a", rotation={"max_age_days": 365})]
    [item] = run(ids, estate)["drift"]
    assert item["class"] == "credential_unused" and item["remediation"] == "report" and item["severity"] == "low"
    never = Estate().aws("b", keys=[("AKIA2", "Active", 100.0, None)]).stored("b", "access_key_id", "AKIA2")
    assert classes(run([ident("b", rotation={"max_age_days": 365})], never)) == [("b", "credential_unused")]
    young = Estate().aws("c", keys=[("AKIA3", "Active", 1.0, None)]).stored("c", "access_key_id", "AKIA3")
    assert run([ident("c")], young)["drift"] == []
    # Vault does not report last use: an old, unused secret_id is not "unused".
    estate = Estate().approle("r", [("acc", 80.0)]).stored("r", "secret_id_accessor", "acc")
    assert run([ident("r", "vault_approle")], estate, unused_days=1)["drift"] == []


def test_owner_tags_missing_or_unknown():
    estate = healthy_aws(Estate(), "a").aws("b", keys=[("K2", "Active")], tags={}).stored("b", "access_key_id", "K2")
    estate.aws("c", keys=[("K3", "Active")], tags={"owner": "team-gone"}).stored("c", "access_key_id", "K3")
    found = run([ident("a"), ident("b"), ident("c")], estate, known_owners={"cat.nhi.yml": ["team-a"]})
    assert classes(found) == [("b", "owner_missing"), ("c", "owner_unknown")]
    assert all(d["remediation"] == "report" for d in found["drift"])
    # Without known_owners in the file, any named owner is accepted.
    assert classes(run([ident("c")], estate)) == []


def test_an_unmanaged_user_under_a_managed_path_is_reported_once():
    estate = healthy_aws(Estate(), "a").listing("/nhi/", ["a", "shadow", "other"]).listing("/nhi/", ["shadow"])
    catalog = [ident("a"), ident("other")]  # "other" is in the catalog but not in this play (--limit)
    found = run([ident("a")], estate, catalog=catalog)
    [item] = found["drift"]
    assert (item["identity"], item["class"], item["remediation"]) == ("shadow", "identity_unmanaged", "report")
    assert item["authority_ok"] is False and "no catalog" in item["detail"]
    assert run([ident("a")], estate, catalog=catalog, discover=False)["drift"] == []


def test_the_root_path_is_never_a_managed_scope():
    ids = [ident("a", aws={"user_name": "a", "path": "/"}), ident("b")]
    read = _drift.read_targets(ids)
    assert read["aws_paths"] == ["/nhi/"]
    assert read["store_prefixes"] == [{"mount": "secret", "path_prefix": "nhi/dev", "exclude": ["nhi/dev/a", "nhi/dev/b"]}]


def test_store_prefixes_list_each_top_folder_once_and_exclude_what_is_claimed():
    ids = [ident("a"), ident("b", store={"mount": "secret", "path": "nhi/dev/team/b"}),
           ident("c", store={"mount": "kv", "path": "nhi/dev/c"}), ident("d", store={"mount": "secret", "path": "top"})]
    assert _drift.read_targets(ids)["store_prefixes"] == [
        {"mount": "kv", "path_prefix": "nhi/dev", "exclude": ["nhi/dev/c"]},
        {"mount": "secret", "path_prefix": "nhi/dev", "exclude": ["nhi/dev/a", "nhi/dev/team/b"]},
    ]
    assert _drift.read_targets(ids, discover=False)["store_prefixes"] == []


def test_a_stored_credential_that_no_catalog_claims_is_reported():
    listing = {"results": [{"item": {"mount": "secret", "path_prefix": "nhi/dev"}, "secrets": [
        {"path": "nhi/dev/a", "live": True, "custom_metadata": {"nhi_identity": "a"}},
        {"path": "nhi/dev/old", "live": True, "custom_metadata": {"nhi_identity": "old", "kind": "aws_access_key"}},
        {"path": "nhi/dev/notes", "live": True, "custom_metadata": {}},
        {"path": "nhi/dev/dead", "live": False, "custom_metadata": {"nhi_identity": "dead"}, "versions": []},
    ]}]}
    estate = healthy_aws(Estate(), "a")
    estate.reads["store_listing"] = listing
    [item] = run([ident("a")], estate)["drift"]
    assert (item["identity"], item["class"], item["remediation"]) == ("old", "stored_credential_orphaned", "report")


def test_expired_exceptions_one_entry_per_identity():
    report = {"open": [{"id": "E0", "identity": "a"}], "expired": [
        {"id": "E1", "identity": "a", "rule": "r1", "owner": "security", "expires": "2026-01-01T00:00:00Z"},
        {"id": "E2", "identity": "a", "rule": "r2", "owner": "security", "expires": "2026-02-01T00:00:00Z"},
        {"id": "E3", "identity": "gone", "rule": "r1", "owner": "security", "expires": "2026-02-01T00:00:00Z"},
        {"id": "E4", "identity": "b", "rule": "r1", "owner": "security", "expires": "2026-02-01T00:00:00Z"}]}
    estate = healthy_aws(Estate(), "a")
    found = run([ident("a")], estate, catalog=[ident("a"), ident("b")], report=report)
    assert classes(found) == [("a", "exception_expired"), ("gone", "exception_expired")]
    item = next(d for d in found["drift"] if d["identity"] == "a")
    assert "E1" in item["detail"] and "E2" in item["detail"] and item["owner"] == "security"


def test_expired_temporary_access_is_offboarded_and_nothing_else_is_reported():
    nhi = ident("t", temporary=True, expires_at=ago(1))
    estate = Estate().aws("t", keys=[("K1", "Active"), ("K2", "Active")], tags={}).stored("t", "access_key_id", "K1")
    [item] = run([nhi], estate)["drift"]
    assert item["class"] == "temporary_expired" and item["remediation"] == "offboard" and item["severity"] == "high"
    gone = Estate().aws("t", exists=False).nothing_stored("t")
    assert run([nhi], gone)["drift"] == []
    suspended = Estate().aws("t", suspended=True).nothing_stored("t")
    assert run([nhi], suspended)["drift"] == []


def test_gcp_disabled_account_with_a_live_key():
    estate = Estate().gcp("g", [("k1", False)], disabled=True).stored("g", "key_id", "k1")
    [item] = run([ident("g", "gcp_service_account")], estate)["drift"]
    assert item["class"] == "stored_credential_orphaned" and item["severity"] == "critical"
    estate = Estate().gcp("h", [("k1", False), ("k2", False)]).stored("h", "key_id", "k1")
    assert classes(run([ident("h", "gcp_service_account")], estate)) == [("h", "credential_multiple_active")]


def test_approle_extra_and_expired_secret_ids():
    estate = Estate().approle("r", [("acc1", 1.0), ("acc2", 1.0)]).stored("r", "secret_id_accessor", "acc1")
    assert classes(run([ident("r", "vault_approle")], estate)) == [("r", "credential_multiple_active")]
    estate = Estate().approle("q", [("acc1", 1.0), ("old", 9.0, True)]).stored("q", "secret_id_accessor", "acc1")
    assert classes(run([ident("q", "vault_approle")], estate)) == [("q", "credential_untracked")]
    estate = Estate().approle("p", exists=False).stored("p", "secret_id_accessor", "acc1")
    assert classes(run([ident("p", "vault_approle")], estate)) == [("p", "identity_missing"),
                                                                   ("p", "stored_credential_orphaned")]


# --- reads that failed --------------------------------------------------------

def test_an_identity_whose_read_failed_is_unread_not_clean():
    estate = healthy_aws(Estate(), "a")
    estate.reads["aws_keys"]["results"][0] = {"identity": "a", "failed": True, "msg": "throttled"}
    found = run([ident("a")], estate)
    assert found["drift"] == [] and "throttled" in found["unread"]["a"]
    estate = healthy_aws(Estate(), "b")
    estate.reads["store"] = {"failed": True, "msg": "permission denied"}
    assert "permission denied" in run([ident("b")], estate)["unread"]["b"]
    estate = Estate()
    estate.reads["approle"] = {"skipped": True}
    assert "no result" in run([ident("r", "vault_approle")], estate)["unread"]["r"]


def test_a_failed_listing_is_an_error_not_silence():
    estate = healthy_aws(Estate(), "a")
    estate.reads["aws_paths"] = {"results": [{"item": "/nhi/", "failed": True, "msg": "AccessDenied"}]}
    found = run([ident("a")], estate)
    assert found["errors"] == ["listing IAM users under /nhi/: AccessDenied"]


# --- authority and remediation --------------------------------------------------

def test_a_fix_that_belongs_to_another_system_is_reported_with_the_reason():
    nhi = ident("a", authority={"create": "nhi.lifecycle", "rotate": "terraform", "suspend": "nhi.lifecycle",
                                "delete": "nhi.lifecycle"})
    estate = Estate().aws("a", keys=[("K1", "Active"), ("K2", "Active")]).stored("a", "access_key_id", "K1")
    [item] = run([nhi], estate)["drift"]
    assert item["remediation"] == "report" and item["authority_ok"] is False and item["fix"] == "rotate"
    assert "authority.rotate" in item["reason"] and "terraform" in item["reason"]
    planned = _drift.plan_remediation([item], [nhi], [], [], now=NOW)
    assert planned["targets"] == {} and planned["allowed"] == []


def test_remediation_targets_have_the_plan_shape():
    ids = [ident("dis"), ident("mult"), ident("gone"), ident("tmp", temporary=True, expires_at=ago(1)),
           ident("s", "scim_service_user"), ident("ok")]
    estate = Estate().aws("dis", keys=[("K1", "Active")], inline=["nhi-suspended"]).stored("dis", "access_key_id", "K1")
    estate.aws("mult", keys=[("K2", "Active"), ("K3", "Active")]).stored("mult", "access_key_id", "K2")
    estate.aws("gone", exists=False).stored("gone", "access_key_id", "K4")
    estate.aws("tmp", keys=[("K5", "Active")]).stored("tmp", "access_key_id", "K5")
    estate.scim("s", active=False).stored("s", "user_id", "u1")
    healthy_aws(estate, "ok", "K6")
    found = run(ids, estate)
    planned = _drift.plan_remediation(found["drift"], ids, [], [], now=NOW, run={"id": "r1"})
    assert planned["remediation"] == {"dis": "revoke_stored", "mult": "rotate", "gone": "provision",
                                      "tmp": "offboard", "s": "revoke_stored"}
    keys = {t["identity"]: t for t in planned["targets"]["aws_access_key"]}
    assert keys["dis"]["state"] == "absent" and keys["mult"]["state"] == "rotated" and keys["mult"]["force"] is False
    assert keys["gone"]["state"] == "present" and keys["tmp"]["state"] == "absent"
    # A revoke never touches the identity: no suspend, no delete for "dis".
    assert [t["identity"] for t in planned["targets"]["aws_iam_user_suspend"]] == ["tmp"]
    assert [t["identity"] for t in planned["targets"]["aws_iam_user_delete"]] == ["tmp"]
    assert [t["identity"] for t in planned["targets"]["aws_iam_user"]] == ["gone"]
    [kv] = planned["targets"]["vault_kv_secret_destroy"]
    assert kv == {"identity": "s", "event": "offboard", "decision": kv["decision"], "authority": "nhi.lifecycle",
                  "mount": "secret", "path": "nhi/dev/s", "state": "destroyed"}
    assert "scim_service_user" not in planned["targets"]
    policy = {e["identity"]: e for e in planned["evidence"]}
    assert policy["mult"]["event"] == "rotate" and policy["dis"]["event"] == "offboard"
    assert policy["gone"]["details"]["drift_classes"] == ["identity_missing", "stored_credential_orphaned"]


def test_remediation_is_decided_by_policy_as_the_event_it_amounts_to():
    nhi = ident("p", environment="prod")
    estate = Estate().aws("p", keys=[("K1", "Active"), ("K2", "Active")]).stored("p", "access_key_id", "K1")
    found = run([nhi], estate)
    planned = _drift.plan_remediation(found["drift"], [nhi], [], [], now=NOW)
    assert planned["denied"] == ["p"] and planned["targets"] == {}
    assert planned["decisions"]["p"]["rule"] == "nhi.baseline.prod_approval"
    approved = _drift.plan_remediation(found["drift"], [nhi], [], [], approvals=["CHG-1"], now=NOW)
    assert approved["allowed"] == ["p"] and approved["targets"]["aws_access_key"][0]["state"] == "rotated"


def test_offboard_keeps_the_identity_when_delete_belongs_elsewhere():
    nhi = ident("t", temporary=True, expires_at=ago(1), authority={
        "create": "nhi.lifecycle", "rotate": "nhi.lifecycle", "suspend": "nhi.lifecycle", "delete": "okta"})
    estate = Estate().aws("t", keys=[("K1", "Active")]).stored("t", "access_key_id", "K1")
    planned = _drift.plan_remediation(run([nhi], estate)["drift"], [nhi], [], [], now=NOW)
    assert "aws_iam_user_delete" not in planned["targets"] and planned["targets"]["aws_iam_user_suspend"]


# --- gate, counts, evidence -------------------------------------------------------

@pytest.mark.parametrize("fail_on,failed", [("none", False), ("low", True), ("medium", True), ("high", False),
                                            ("critical", False)])
def test_the_gate_fails_at_or_above_the_severity(fail_on, failed):
    drift = [{"identity": "a", "class": "credential_multiple_active", "severity": "medium"},
             {"identity": "b", "class": "owner_unknown", "severity": "low"}]
    drift.sort(key=lambda d: -_drift.severity_rank(d["severity"]))
    assert _drift.gate(drift, fail_on)["failed"] is failed


def test_the_gate_fails_when_the_estate_could_not_be_read():
    gate = _drift.gate([], "critical", unread={"a": "throttled"})
    assert gate["failed"] and "could not be read" in gate["msg"]
    assert not _drift.gate([], "none", unread={"a": "x"})["failed"]
    with pytest.raises(NHIError):
        _drift.gate([], "severe")


def test_evidence_records_found_and_resolved_drift():
    first = [{"identity": "a", "class": "credential_multiple_active", "severity": "medium", "systems": ["aws_iam"],
              "owner": "team-a", "detail": "2 keys", "remediation": "rotate", "authority_ok": True, "kind": "aws_iam_user"},
             {"identity": "b", "class": "owner_missing", "severity": "medium", "systems": ["aws_iam"],
              "owner": "team-a", "detail": "no tag", "remediation": "report", "authority_ok": True,
              "kind": "aws_iam_user"}]
    found = _drift.evidence(first, remediate=True, planned={"a": "rotate"}, now=NOW)
    assert [(e["identity"], e["step"], e["outcome"], e["event"]) for e in found] == [
        ("a", "drift", "unchanged", "reconcile"), ("b", "drift", "unchanged", "reconcile")]
    assert found[0]["details"]["drift_class"] == "credential_multiple_active"
    assert found[0]["details"]["remediation_planned"] == "rotate" and "remediation_planned" not in found[1]["details"]
    after = _drift.evidence(first[1:], previous=first, now=NOW)
    assert [(e["identity"], e["outcome"], e["details"]["remediated"]) for e in after] == [
        ("b", "unchanged", False), ("a", "changed", True)]
    assert _drift.counts(first) == {"total": 2, "by_class": {"credential_multiple_active": 1, "owner_missing": 1},
                                    "by_severity": {"medium": 2}}


def test_every_class_is_documented_with_a_known_severity_and_remediation():
    for name, (severity, remediation, meaning) in _drift.CLASSES.items():
        assert severity in _drift.SEVERITIES and remediation in _drift.REMEDIATIONS and meaning


def test_read_targets_are_one_batch_per_system():
    ids = [ident("a"), ident("r", "vault_approle"), ident("g", "gcp_service_account"),
           ident("s", "scim_service_user", scim={"base_url": "https://scim.example/v2", "user_name": "svc-s"})]
    read = _drift.read_targets(ids)
    assert [t["identity"] for t in read["store"]] == ["a", "r", "g", "s"]
    assert read["aws_user"] == [{"identity": "a", "user_name": "a"}]
    assert read["aws_keys"] == [{"identity": "a", "user_name": "a", "include_last_used": True}]
    assert read["approle"] == [{"identity": "r", "role_name": "r", "mount": "approle", "include_secret_ids": True}]
    assert read["gcp"] == [{"identity": "g", "account_id": "g", "include_keys": True, "project": "p1"}]
    assert read["scim"] == [{"identity": "s", "user_name": "svc-s", "include_groups": False,
                             "base_url": "https://scim.example/v2"}]
    assert _drift.read_targets(ids, discover=False)["aws_paths"] == []

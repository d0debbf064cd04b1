# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Compare the catalog with the real state of every system: the drift of reconcile.

Pure functions over plain data (no Ansible objects, no network), so that every
drift class is unit-testable over synthetic states:

* :func:`read_targets` turns the catalog into the batch targets of the read-only
  ``_info`` modules (one module run per system, never one per identity);
* :func:`observe` folds the registered results of those modules into one view
  per identity (does it exist, is it disabled, which credentials does it have,
  which one does the store hold);
* :func:`compare` finds the drift, and, for ``remediate``, plans the fix
  through the same policy, authority and target builders as ``nhi.lifecycle.plan``.

The drift classes, their severity and their remediation are documented in
docs/reconcile.md; ``CLASSES`` below is the single source of that table.
"""

from __future__ import annotations

import posixpath

from ansible_collections.nhi.lifecycle.plugins.module_utils import _policy
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import (
    NHIError, age_days, iso, kv_version_deleted, parse_time, utcnow)
from ansible_collections.nhi.lifecycle.plugins.module_utils._evidence import entry as evidence_entry
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _plan

ME = _plan.ME
SEVERITIES = ("low", "medium", "high", "critical")
FAIL_ON = ("none",) + SEVERITIES
REMEDIATIONS = ("rotate", "offboard", "revoke_stored", "provision", "report")

# class: (default severity, remediation, what it means). The severity of
# stored_credential_orphaned rises to critical while a credential of the
# identity still works in its system (see _orphaned).
CLASSES = {
    "stored_credential_orphaned": ("high", "revoke_stored",
                                   "a stored credential whose identity is gone, or disabled in its system"),
    "credential_untracked": ("high", "rotate", "a credential in the system that the store does not hold"),
    "identity_unmanaged": ("medium", "report", "an identity under a managed path that is not in the catalog"),
    "identity_missing": ("medium", "provision", "a catalog identity that does not exist in its system"),
    "credential_missing": ("medium", "rotate", "the identity exists but has no working stored credential"),
    "credential_stale": ("medium", "rotate", "the stored credential is older than rotation.max_age_days"),
    "credential_unused": ("low", "report", "the stored credential has not been used for a long time"),
    "credential_multiple_active": ("medium", "rotate", "more than one active credential"),
    "owner_missing": ("medium", "report", "the system does not say who owns the identity"),
    "owner_unknown": ("low", "report", "the owner the system names is not a known owner of the catalog"),
    "exception_expired": ("medium", "report", "a policy exception of the identity has expired"),
    "temporary_expired": ("high", "offboard", "temporary access past its expires_at"),
}

# The authority keys of the catalog that govern each remediation. Credentials
# belong to the system that rotates them, so revoking one (and its stored
# copy) is governed by authority.rotate; offboarding by suspend (and delete,
# which is left out when it belongs to another system, as in the plan).
REMEDIATION_AUTHORITY = {
    "rotate": ("rotate",),
    "revoke_stored": ("rotate",),
    "provision": ("create",),
    "offboard": ("suspend",),
}
# The policy event a remediation is decided as, so that the same rules
# (production approval, maximum age, ...) hold as for the playbook itself.
REMEDIATION_EVENT = {"rotate": "rotate", "revoke_stored": "offboard", "provision": "provision", "offboard": "offboard"}
# When one identity needs several fixes, the first in this order covers the
# others: an offboard revokes everything, a provision re-creates the identity
# and replaces its stored copy, a revoke removes every credential.
PRECEDENCE = ("offboard", "provision", "revoke_stored", "rotate")

KINDS = {
    # kind: (system, id field of the stored copy's custom metadata, what the credential is called)
    "aws_iam_user": ("aws_iam", "access_key_id", "access key"),
    "gcp_service_account": ("gcp_iam", "key_id", "key"),
    "vault_approle": ("vault", "secret_id_accessor", "secret_id"),
    "scim_service_user": ("scim", "user_id", "credential"),
}

# Inline policy names or managed policy names/ARNs that mean "this IAM user is
# disabled": the collection's own suspension and AWS's deny and quarantine
# policies (AWS attaches AWSCompromisedKeyQuarantine* to users whose key leaked).
DEFAULT_DISABLED_POLICIES = (
    "nhi-suspended",
    "AWSDenyAll",
    "AWSCompromisedKeyQuarantine",
    "AWSCompromisedKeyQuarantineV2",
    "AWSCompromisedKeyQuarantineV3",
)

READ_KEYS = ("store", "aws_user", "aws_keys", "approle", "gcp", "scim")


class Unread(Exception):
    """An identity whose real state could not be read, so no drift can be claimed for it."""


def _store(nhi):
    store = nhi.get("store") or {}
    return store.get("mount") or "secret", store.get("path")


def _aws_user(nhi):
    return (nhi.get("aws") or {}).get("user_name") or nhi["name"]


def system_of(nhi):
    return KINDS.get(nhi.get("kind"), ("unknown",))[0]


def severity_rank(name):
    return SEVERITIES.index(name) if name in SEVERITIES else -1


# ---------------------------------------------------------------------------
# What to read
# ---------------------------------------------------------------------------

def read_targets(identities, catalog=None, discover=True):
    """The targets of each read-only module, for the identities of the play.

    ``catalog`` is every identity of the inventory (not only the play's, so
    that ``--limit`` never makes a catalog identity look unmanaged); it gives
    the managed scopes that discovery lists: every IAM path other than ``/``
    and the parent of every store path.
    """
    out = {key: [] for key in READ_KEYS}
    for nhi in identities:
        name, kind = nhi["name"], nhi.get("kind")
        mount, path = _store(nhi)
        if path:
            out["store"].append({"identity": name, "mount": mount, "path": path})
        if kind == "aws_iam_user":
            user = _aws_user(nhi)
            out["aws_user"].append({"identity": name, "user_name": user})
            out["aws_keys"].append({"identity": name, "user_name": user, "include_last_used": True})
        elif kind == "vault_approle":
            vault = nhi.get("vault") or {}
            out["approle"].append({"identity": name, "role_name": vault.get("role_name") or name,
                                   "mount": vault.get("mount") or "approle", "include_secret_ids": True})
        elif kind == "gcp_service_account":
            gcp = nhi.get("gcp") or {}
            item = {"identity": name, "account_id": gcp.get("account_id") or name, "include_keys": True}
            if gcp.get("project"):
                item["project"] = gcp["project"]
            out["gcp"].append(item)
        elif kind == "scim_service_user":
            scim = nhi.get("scim") or {}
            item = {"identity": name, "user_name": scim.get("user_name") or name, "include_groups": False}
            if scim.get("base_url"):
                item["base_url"] = scim["base_url"]
            out["scim"].append(item)
    scope = catalog if catalog is not None else identities
    out["aws_paths"] = sorted({(n.get("aws") or {}).get("path") or "/nhi/" for n in scope
                               if n.get("kind") == "aws_iam_user"} - {"/"}) if discover else []
    out["store_prefixes"] = store_prefixes(scope) if discover else []
    return out


def store_prefixes(scope):
    """The folders to list for stored credentials that no identity claims.

    One item per top-most parent folder of the catalog's store paths (a
    folder inside another one is listed with it), each with ``exclude``: the
    claimed paths under it, whose metadata the batch read covers already.
    """
    claimed = {}
    for nhi in scope:
        mount, path = _store(nhi)
        parent = posixpath.dirname(path or "")
        if parent:
            claimed.setdefault((mount, parent), set()).add(path)
    out = []
    for mount, parent in sorted(claimed):
        if any(m == mount and parent.startswith(p + "/") for m, p in claimed):
            continue
        exclude = set()
        for (m, p), paths in claimed.items():
            if m == mount and (p == parent or p.startswith(parent + "/")):
                exclude.update(paths)
        out.append({"mount": mount, "path_prefix": parent, "exclude": sorted(exclude)})
    return out


# ---------------------------------------------------------------------------
# What was read
# ---------------------------------------------------------------------------

def index_results(registered):
    """``({identity: result}, error)`` of a registered batch ``_info`` result.

    ``error`` is the message when the module run as a whole failed (for
    example its backend could not be reached); a skipped task gives ``({}, None)``.
    """
    if not isinstance(registered, dict) or registered.get("skipped"):
        return {}, None
    by_identity = {}
    for result in registered.get("results") or []:
        if isinstance(result, dict) and result.get("identity") is not None:
            by_identity[str(result["identity"])] = result
    error = None
    if registered.get("failed") and not by_identity:
        error = str(registered.get("msg") or "the read failed")
    return by_identity, error


def listing_results(registered, key):
    """``[(item, [entries], error)]`` of a registered listing, looped (one result per item) or not."""
    if not isinstance(registered, dict) or registered.get("skipped"):
        return []
    items = registered["results"] if isinstance(registered.get("results"), list) else [registered]
    out = []
    for result in items:
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        error = str(result.get("msg") or "the listing failed") if result.get("failed") else None
        out.append((result.get("item"), list(result.get(key) or []), error))
    return out


def _one(index, error, nhi, what):
    if error:
        raise Unread("%s: %s" % (what, error))
    result = index.get(nhi["name"])
    if result is None:
        raise Unread("%s: no result for this identity" % what)
    if result.get("failed"):
        raise Unread("%s: %s" % (what, result.get("msg") or "failed"))
    return result


def _live_versions(versions):
    return [v for v in versions or [] if not kv_version_deleted(v)]


def stored_view(result, id_field):
    """What the store holds for one identity, from its metadata only (never the secret)."""
    custom = dict(result.get("custom_metadata") or {})
    live = bool(result.get("exists")) and bool(result.get("live"))
    minted = custom.get("minted_at")
    age = None
    if live:
        if minted:
            try:
                age = age_days(minted)
            except NHIError:
                age = None
        if age is None:
            age = result.get("age_days")
    return {
        "exists": bool(result.get("exists")),
        "live": live,
        "any_live": bool(result.get("exists")) and (live or bool(_live_versions(result.get("versions")))),
        "id": custom.get(id_field) if live else None,
        "version": result.get("current_version"),
        "age_days": age,
        "state": custom.get("credential_state"),
        "custom": custom,
    }


def _policy_names(user):
    names = set(user.get("inline_policies") or [])
    for arn in user.get("managed_policies") or []:
        names.add(arn)
        names.add(str(arn).rsplit("/", 1)[-1])
    return names


def observe(nhi, reads, options=None):
    """One identity's real state, from the indexed reads. Raises :class:`Unread`.

    Returns ``{exists, disabled, disabled_by, credentials, owner, owner_known,
    stored, subject}``; ``credentials`` is a list of ``{id, active, age_days,
    last_used}`` or None where the system does not show credentials (SCIM).
    """
    options = options or {}
    kind = nhi.get("kind")
    if kind not in KINDS:
        raise Unread("kind %r is not reconciled" % (kind,))
    id_field = KINDS[kind][1]
    mount, path = _store(nhi)
    view = {"exists": False, "disabled": False, "disabled_by": None, "credentials": [], "owner": None,
            "owner_known": False, "subject": None, "user_id": None,
            "stored": {"exists": False, "live": False, "any_live": False, "id": None, "version": None,
                       "age_days": None, "state": None, "custom": {}}}
    if path:
        view["stored"] = stored_view(_one(reads["store"][0], reads["store"][1], nhi, "reading %s/%s" % (mount, path)),
                                     id_field)
    if kind == "aws_iam_user":
        user_name = _aws_user(nhi)
        view["subject"] = "iam user %s" % user_name
        user = _one(reads["aws_user"][0], reads["aws_user"][1], nhi, "reading IAM user %s" % user_name).get("user")
        keys = _one(reads["aws_keys"][0], reads["aws_keys"][1], nhi, "listing the keys of %s" % user_name)
        if not user:
            return view
        markers = set(options.get("disabled_policies") or DEFAULT_DISABLED_POLICIES)
        hits = sorted(markers & _policy_names(user))
        view["exists"] = True
        view["owner_known"] = True
        view["owner"] = (user.get("tags") or {}).get("owner") or None
        if user.get("suspended") or hits:
            view["disabled"] = True
            view["disabled_by"] = ", ".join(hits) or "tag nhi:state=suspended"
        view["credentials"] = [{"id": k.get("access_key_id"), "active": k.get("status") == "Active",
                                "age_days": k.get("age_days"), "last_used": k.get("last_used")}
                               for k in keys.get("access_keys") or keys.get("keys") or []]
    elif kind == "vault_approle":
        vault = nhi.get("vault") or {}
        role_name = vault.get("role_name") or nhi["name"]
        view["subject"] = "approle %s/%s" % (vault.get("mount") or "approle", role_name)
        result = _one(reads["approle"][0], reads["approle"][1], nhi, "reading AppRole %s" % role_name)
        roles = result.get("roles") or []
        if not result.get("exists") or not roles:
            return view
        view["exists"] = True
        view["credentials"] = [{"id": s.get("secret_id_accessor"), "active": not s.get("expired"),
                                "age_days": s.get("age_days")}
                               for s in roles[0].get("secret_ids") or []]
    elif kind == "gcp_service_account":
        gcp = nhi.get("gcp") or {}
        account = gcp.get("account_id") or nhi["name"]
        view["subject"] = "service account %s (project %s)" % (account, gcp.get("project") or "default")
        result = _one(reads["gcp"][0], reads["gcp"][1], nhi, "reading service account %s" % account)
        accounts = result.get("accounts") or []
        if not result.get("exists") or not accounts:
            return view
        view["exists"] = True
        if accounts[0].get("disabled"):
            view["disabled"] = True
            view["disabled_by"] = "the account is disabled"
        view["credentials"] = [{"id": k.get("key_id"), "active": not k.get("disabled"),
                                "age_days": k.get("age_days")}
                               for k in accounts[0].get("keys") or []]
    elif kind == "scim_service_user":
        scim = nhi.get("scim") or {}
        user_name = scim.get("user_name") or nhi["name"]
        view["subject"] = "scim user %s" % user_name
        result = _one(reads["scim"][0], reads["scim"][1], nhi, "reading SCIM user %s" % user_name)
        users = result.get("users") or []
        view["credentials"] = None
        if not result.get("exists") or not users:
            return view
        view["exists"] = True
        view["user_id"] = users[0].get("id")
        if users[0].get("active") is False:
            view["disabled"] = True
            view["disabled_by"] = "active=false"
    return view


# ---------------------------------------------------------------------------
# The drift of one identity
# ---------------------------------------------------------------------------

def _drift(nhi, cls, detail, severity=None, remediation=None, systems=None, owner=None, identity=None):
    default_severity, default_remediation, _meaning = CLASSES[cls]
    return {
        "identity": identity or nhi["name"],
        "class": cls,
        "severity": severity or default_severity,
        "systems": list(systems or [system_of(nhi)]),
        "owner": owner if owner is not None else nhi.get("owner"),
        "detail": detail,
        "remediation": remediation or default_remediation,
        "kind": nhi.get("kind"),
        "authority_ok": True,
        "reason": None,
    }


def _expired(nhi, now):
    if not nhi.get("expires_at"):
        return False
    try:
        return parse_time(nhi["expires_at"]) <= now
    except NHIError:
        return False


def _where(nhi):
    mount, path = _store(nhi)
    return "%s/%s" % (mount, path)


def _orphaned(nhi, view, why):
    stored = view["stored"]
    creds = view["credentials"] or []
    active = [c for c in creds if c["active"]]
    usable = bool(active)
    what = KINDS[nhi["kind"]][2]
    held = stored["id"] or "a credential"
    detail = "%s; the store still holds %s %s (%s, version %s)" % (
        why, what, held, _where(nhi), stored["version"])
    if active:
        detail += "; %d %s(s) still active in %s: %s" % (
            len(active), what, system_of(nhi), ", ".join(str(c["id"]) for c in active))
    return _drift(nhi, "stored_credential_orphaned", detail, severity="critical" if usable else "high",
                  systems=[system_of(nhi), "vault"])


def _owner_drift(nhi, view, known_owners):
    if not view["owner_known"]:
        return []
    if not view["owner"]:
        return [_drift(nhi, "owner_missing", "%s carries no owner tag (the catalog says %s)"
                       % (view["subject"], nhi.get("owner")))]
    if known_owners and view["owner"] not in known_owners:
        return [_drift(nhi, "owner_unknown", "%s names owner %r, which is not one of the known_owners of %s"
                       % (view["subject"], view["owner"], nhi.get("source") or "its catalog file"))]
    return []


def identity_drift(nhi, view, now, options=None):
    """Every drift of one catalog identity, at most one entry per class."""
    options = options or {}
    stored = view["stored"]
    system = system_of(nhi)
    what = KINDS[nhi["kind"]][2]
    creds = view["credentials"]
    out = []

    if _expired(nhi, now):
        done = (not view["exists"] or (view["disabled"] and not creds)) and not stored["any_live"]
        if not done:
            left = []
            if view["exists"]:
                left.append("%s %s" % (view["subject"], "is disabled" if view["disabled"] else "is active"))
            if creds:
                left.append("%d %s(s) in %s" % (len(creds), what, system))
            if stored["any_live"]:
                left.append("a stored copy at %s" % _where(nhi))
            out.append(_drift(nhi, "temporary_expired", "expired at %s; still there: %s"
                              % (nhi["expires_at"], ", ".join(left)), systems=[system, "vault"]))
        return out

    if not view["exists"]:
        if stored["any_live"]:
            out.append(_orphaned(nhi, view, "%s does not exist" % view["subject"]))
        out.append(_drift(nhi, "identity_missing", "%s does not exist" % view["subject"]))
        return out

    out.extend(_owner_drift(nhi, view, (options.get("known_owners") or {}).get(nhi.get("source"))))

    if view["disabled"]:
        if stored["any_live"]:
            out.append(_orphaned(nhi, view, "%s is disabled (%s)" % (view["subject"], view["disabled_by"])))
        elif creds:
            out.append(_drift(nhi, "credential_untracked", "%s is disabled (%s) but still has %s(s) %s"
                              % (view["subject"], view["disabled_by"], what, ", ".join(str(c["id"]) for c in creds)),
                              remediation="revoke_stored"))
        return out

    # An active identity: first the stored credential, then the others.
    max_age = int((nhi.get("rotation") or {}).get("max_age_days") or 90)
    current = None
    if not stored["live"]:
        out.append(_drift(nhi, "credential_missing", "%s exists but nothing is stored at %s"
                          % (view["subject"], _where(nhi)), systems=[system, "vault"]))
    elif creds is None:
        # SCIM: the credential is a write-only attribute; the store's metadata says whose it is.
        if stored["id"] and view["user_id"] and stored["id"] != view["user_id"]:
            out.append(_drift(nhi, "credential_missing", "the credential at %s belongs to a former user %s, not %s"
                              % (_where(nhi), stored["id"], view["user_id"]), systems=[system, "vault"]))
        elif stored["state"] == "pending":
            out.append(_drift(nhi, "credential_missing", "the credential at %s was stored but never set (an "
                              "interrupted run)" % _where(nhi), systems=[system, "vault"]))
        elif stored["age_days"] is not None and stored["age_days"] >= max_age:
            out.append(_drift(nhi, "credential_stale", "the credential at %s is %.1f days old (max_age_days %d)"
                              % (_where(nhi), stored["age_days"], max_age)))
    else:
        current = next((c for c in creds if c["id"] == stored["id"]), None) if stored["id"] else None
        if current is None:
            out.append(_drift(nhi, "credential_missing", "the stored %s %s (%s) no longer exists in %s"
                              % (what, stored["id"] or "(unnamed)", _where(nhi), system), systems=[system, "vault"]))
        elif not current["active"]:
            out.append(_drift(nhi, "credential_missing", "the stored %s %s is deactivated or expired in %s"
                              % (what, current["id"], system), systems=[system, "vault"]))
        elif current["age_days"] is not None and current["age_days"] >= max_age:
            out.append(_drift(nhi, "credential_stale", "the stored %s %s is %.1f days old (max_age_days %d)"
                              % (what, current["id"], current["age_days"], max_age)))
        else:
            unused = _unused(current, options.get("unused_days"), now)
            if unused:
                out.append(_drift(nhi, "credential_unused", "the stored %s %s %s" % (what, current["id"], unused)))
    if creds:
        active = [c for c in creds if c["active"]]
        others = [c for c in creds if current is None or c["id"] != current["id"]]
        if len(active) > 1:
            out.append(_drift(nhi, "credential_multiple_active", "%d active %ss: %s" % (
                len(active), what, ", ".join(str(c["id"]) for c in active))))
        elif others:
            out.append(_drift(nhi, "credential_untracked", "%s(s) that nothing stores: %s" % (
                what, ", ".join("%s (%s)" % (c["id"], "active" if c["active"] else "inactive") for c in others))))
    return out


def _unused(cred, days, now):
    """Why a credential counts as unused, or None (only where the system reports last use)."""
    if days is None or "last_used" not in cred:
        return None
    if cred["last_used"]:
        idle = age_days(cred["last_used"], now)
        if idle is not None and idle >= days:
            return "was last used %.1f days ago (nhi_reconcile_unused_days %d)" % (idle, days)
        return None
    if cred.get("age_days") is not None and cred["age_days"] >= days:
        return "has never been used in its %.1f days (nhi_reconcile_unused_days %d)" % (cred["age_days"], days)
    return None


# ---------------------------------------------------------------------------
# Drift outside the catalog
# ---------------------------------------------------------------------------

def unmanaged_drift(listings, catalog):
    """IAM users under a managed path that no catalog identity names."""
    known = {_aws_user(n) for n in catalog if n.get("kind") == "aws_iam_user"}
    out, seen, errors = [], set(), []
    for prefix, users, error in listings:
        if error:
            errors.append("listing IAM users under %s: %s" % (prefix, error))
            continue
        for user in users:
            name = user.get("user_name")
            if not name or name in known or name in seen:
                continue
            seen.add(name)
            out.append({
                "identity": name, "class": "identity_unmanaged", "severity": CLASSES["identity_unmanaged"][0],
                "systems": ["aws_iam"], "owner": None, "kind": "aws_iam_user",
                "detail": "IAM user %s (%s) is under the managed path %s but in no catalog" % (
                    name, user.get("arn") or name, prefix),
                "remediation": "report", "authority_ok": False,
                "reason": "not in the catalog, so nothing gives it to nhi.lifecycle: add it to the catalog, or "
                          "remove it in IAM",
            })
    return out, errors


def orphaned_store_drift(listings, catalog):
    """Stored credentials under the catalog's store prefixes that no catalog identity claims.

    ``listings`` is ``[(prefix item, [secret metadata views with path], error)]``;
    only secrets whose custom metadata says nhi.lifecycle wrote them count.
    """
    claimed = {_store(n) for n in catalog}
    out, seen, errors = [], set(), []
    for item, secrets, error in listings:
        mount = (item or {}).get("mount") if isinstance(item, dict) else None
        if error:
            errors.append("listing stored credentials under %s: %s" % (item, error))
            continue
        for secret in secrets:
            where = (secret.get("mount") or mount or "secret", secret.get("path"))
            custom = secret.get("custom_metadata") or {}
            if not where[1] or where in claimed or where in seen or not custom.get("nhi_identity"):
                continue
            if not (secret.get("live") or _live_versions(secret.get("versions"))):
                continue
            seen.add(where)
            out.append({
                "identity": custom["nhi_identity"], "class": "stored_credential_orphaned",
                "severity": CLASSES["stored_credential_orphaned"][0], "systems": ["vault"], "owner": None,
                "kind": custom.get("kind"),
                "detail": "%s/%s holds a %s credential of %s, which is in no catalog" % (
                    where[0], where[1], custom.get("kind") or "stored", custom["nhi_identity"]),
                "remediation": "report", "authority_ok": False,
                "reason": "not in the catalog, so no authority map gives its credential to nhi.lifecycle: put it "
                          "back in the catalog and offboard it, or destroy the secret",
            })
    return out, errors


def exception_drift(report, names, catalog_names, uncatalogued=True):
    """One entry per identity with expired exceptions: of the play's identities, and, with
    ``uncatalogued``, of identities that are in no catalog (a register that outlived them)."""
    by_identity = {}
    for item in (report or {}).get("expired") or []:
        identity = item.get("identity")
        if identity is None or not (identity in names or (uncatalogued and identity not in catalog_names)):
            continue
        by_identity.setdefault(identity, []).append(item)
    out = []
    for identity, items in sorted(by_identity.items()):
        ids = ", ".join("%s (rule %s, expired %s)" % (i.get("id"), i.get("rule"), i.get("expires")) for i in items)
        out.append({
            "identity": identity, "class": "exception_expired", "severity": CLASSES["exception_expired"][0],
            "systems": [ME], "owner": items[0].get("owner"), "kind": None,
            "detail": "expired exception(s) %s: the rule is in force again" % ids,
            "remediation": "report", "authority_ok": True,
            "reason": "renew the exception in nhi_exceptions or remove it, and fix what the rule denies",
        })
    return out


# ---------------------------------------------------------------------------
# Authority and remediation
# ---------------------------------------------------------------------------

def _authority_for(nhi, remediation):
    keys = REMEDIATION_AUTHORITY.get(remediation, ())
    authority = nhi.get("authority") or {}
    owners = {k: authority.get(k) or ME for k in keys}
    foreign = {k: v for k, v in owners.items() if v != ME}
    return foreign


def apply_authority(item, nhi):
    """Turn a remediation that belongs to another system into ``report``, with the reason."""
    remediation = item["remediation"]
    if remediation == "report" or nhi is None:
        return item
    foreign = _authority_for(nhi, remediation)
    if foreign:
        item["authority_ok"] = False
        item["delegated_to"] = foreign
        item["reason"] = "%s would fix it, but %s belongs to %s" % (
            remediation, ", ".join("authority.%s" % k for k in sorted(foreign)),
            ", ".join(sorted(set(foreign.values()))))
        item["fix"] = remediation
        item["remediation"] = "report"
    return item


def _restrict(targets, remediation, nhi, decision, authority, event):
    """Keep only the targets a remediation needs (a revoke never touches the identity itself)."""
    if remediation != "revoke_stored":
        return targets
    kept = {k: v for k, v in targets.items() if k in ("aws_access_key", "gcp_service_account_key", "vault_approle")}
    if nhi.get("kind") == "scim_service_user":
        mount, path = _store(nhi)
        kept["vault_kv_secret_destroy"] = [{"identity": nhi["name"], "event": event, "decision": decision,
                                            "authority": authority, "mount": mount, "path": path,
                                            "state": "destroyed"}]
    return kept


def plan_remediation(drift, identities, rules, exceptions, approvals=(), now=None, run=None, include_baseline=True):
    """Policy-checked targets for the drift that nhi.lifecycle may fix.

    Returns the plan-shaped ``{targets, evidence, allowed, denied, decisions,
    remediation}``; ``remediation`` maps each identity to the one fix chosen.
    """
    now = now or utcnow()
    by_name = {n["name"]: n for n in identities}
    wanted = {}
    for item in drift:
        if item["remediation"] == "report" or item["identity"] not in by_name:
            continue
        wanted.setdefault(item["identity"], set()).add(item["remediation"])
    effective = _policy.effective_rules(rules, include_baseline=include_baseline)
    out = {"targets": {}, "evidence": [], "allowed": [], "denied": [], "decisions": {}, "remediation": {}}
    for name in sorted(wanted):
        nhi = by_name[name]
        remediation = next(r for r in PRECEDENCE if r in wanted[name])
        event = REMEDIATION_EVENT[remediation]
        started = iso()
        request = _policy.build_request(nhi, event, now, approvals=approvals, run=run or {})
        decision = _policy.evaluate(request, effective, exceptions or [], now)
        out["decisions"][name] = decision
        out["remediation"][name] = remediation
        authority = ME
        details = {"rule": decision.get("rule"), "matched": decision.get("matched"), "kind": nhi.get("kind"),
                   "owner": nhi.get("owner"), "remediation": remediation,
                   "drift_classes": sorted(i["class"] for i in drift if i["identity"] == name)}
        if decision.get("effect") != "allow":
            outcome = "denied"
            out["denied"].append(name)
        else:
            outcome = "unchanged"
            out["allowed"].append(name)
            options = {"force": False}
            delete_owner = (nhi.get("authority") or {}).get("delete") or ME
            if remediation == "offboard" and delete_owner != ME:
                options["may_delete"] = False
                details["delegated_to"] = {"delete": delete_owner}
            targets = _plan.targets_for(nhi, event, decision, authority, options, now)
            for list_name, items in _restrict(targets, remediation, nhi, decision, authority, event).items():
                out["targets"].setdefault(list_name, []).extend(items)
        out["evidence"].append(evidence_entry(
            identity=name, event=event, step="policy", system=ME, action="policy:evaluate",
            target="identity/%s" % name, authority=authority, decision=decision, outcome=outcome,
            started=started, ended=iso(), details=details))
    return out


# ---------------------------------------------------------------------------
# Everything together
# ---------------------------------------------------------------------------

def compare(identities, reads, catalog=None, exceptions_report=None, now=None, options=None):
    """Find the drift of the play's identities and of what lies outside the catalog.

    ``reads`` maps each of ``READ_KEYS`` to a registered batch result and may
    hold ``aws_paths`` (a looped ``aws_iam_user_info`` listing) and
    ``store_listing`` (a listing of stored secrets). Returns ``{drift,
    unread: {identity: reason}, errors: [listing errors]}``; the drift is
    sorted by severity (worst first), then identity and class.
    """
    now = now or utcnow()
    options = options or {}
    catalog = catalog if catalog is not None else identities
    indexed = {key: index_results(reads.get(key)) for key in READ_KEYS}
    drift, unread = [], {}
    for nhi in identities:
        try:
            view = observe(nhi, indexed, options)
        except Unread as exc:
            unread[nhi["name"]] = str(exc)
            continue
        for item in identity_drift(nhi, view, now, options):
            drift.append(apply_authority(item, nhi))
    names = {n["name"] for n in identities}
    catalog_names = {n["name"] for n in catalog}
    errors = []
    if options.get("discover", True):
        found, problems = unmanaged_drift(listing_results(reads.get("aws_paths"), "users"), catalog)
        drift.extend(found)
        errors.extend(problems)
        found, problems = orphaned_store_drift(listing_results(reads.get("store_listing"), "secrets"), catalog)
        drift.extend(found)
        errors.extend(problems)
    drift.extend(exception_drift(exceptions_report, names, catalog_names, options.get("discover", True)))
    drift.sort(key=lambda d: (-severity_rank(d["severity"]), d["identity"], d["class"]))
    return {"drift": drift, "unread": unread, "errors": errors}


def counts(drift):
    by_class, by_severity = {}, {}
    for item in drift:
        by_class[item["class"]] = by_class.get(item["class"], 0) + 1
        by_severity[item["severity"]] = by_severity.get(item["severity"], 0) + 1
    return {"total": len(drift), "by_class": dict(sorted(by_class.items())),
            "by_severity": {s: by_severity[s] for s in reversed(SEVERITIES) if s in by_severity}}


def gate(drift, fail_on, unread=None, errors=None):
    """Whether the run must fail: drift at or above ``fail_on`` remains, or the estate could not be read."""
    fail_on = fail_on or "none"
    if fail_on not in FAIL_ON:
        raise NHIError("fail_on must be one of %s, got %r" % (", ".join(FAIL_ON), fail_on), where="fail_on")
    out = {"fail_on": fail_on, "failed": False, "count": 0, "msg": "no gate (fail_on=none)"}
    if fail_on == "none":
        return out
    floor = severity_rank(fail_on)
    hits = [d for d in drift if severity_rank(d["severity"]) >= floor]
    out["count"] = len(hits)
    problems = []
    if hits:
        worst = hits[0]["severity"] if hits else None
        problems.append("%d drift item(s) at or above %s remain (worst: %s %s on %s)" % (
            len(hits), fail_on, worst, hits[0]["class"], hits[0]["identity"]))
    if unread:
        problems.append("%d identities could not be read, so their drift is unknown" % len(unread))
    if errors:
        problems.append("%d listing(s) failed, so unmanaged identities may be missed" % len(errors))
    if problems:
        out["failed"] = True
        out["msg"] = "reconcile gate fail_on=%s: %s" % (fail_on, "; ".join(problems))
    else:
        out["msg"] = "reconcile gate fail_on=%s: passed" % fail_on
    return out


def evidence(drift, decisions=None, previous=None, remediate=False, planned=None, now=None):
    """One ``drift`` evidence entry per drift item; with ``previous``, also one per resolved item.

    ``outcome`` is ``unchanged`` for drift that is only found (reported or
    about to be fixed); ``changed`` for drift of ``previous`` that a re-read no
    longer finds (remediated).
    """
    decisions = decisions or {}
    planned = planned or {}
    out = []
    stamp = iso(now) if now else None

    def add(item, outcome, extra):
        details = {"drift_class": item["class"], "severity": item["severity"], "remediation": item["remediation"],
                   "authority_ok": item["authority_ok"], "detail": item["detail"], "systems": item["systems"],
                   "owner": item["owner"]}
        if item.get("reason"):
            details["reason"] = item["reason"]
        details.update(extra)
        out.append(evidence_entry(
            identity=item["identity"], event="reconcile", step="drift", system=",".join(item["systems"]),
            action="reconcile:compare", target=item.get("kind") and "%s/%s" % (item["kind"], item["identity"])
            or item["identity"], authority=ME, decision=decisions.get(item["identity"]), outcome=outcome,
            started=stamp, ended=stamp, details=details))

    now_keys = {(d["identity"], d["class"]) for d in drift}
    before = {(p["identity"], p["class"]) for p in previous or []}
    for item in drift:
        extra = {}
        if remediate and item["remediation"] != "report":
            extra["remediation_planned"] = planned.get(item["identity"])
        if previous is not None:
            extra["remediated"] = False
            extra["found_before"] = (item["identity"], item["class"]) in before
        add(item, "unchanged", extra)
    for item in previous or []:
        if (item["identity"], item["class"]) not in now_keys:
            add(item, "changed", {"remediated": True})
    return out

# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Turn catalog identities plus policy into the targets each module acts on.

Pure functions (no Ansible objects) so that the plan is unit-testable and the
same for every entry point.
"""

from __future__ import annotations

from ansible_collections.nhi.lifecycle.plugins.module_utils import _policy
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import iso, parse_time, utcnow
from ansible_collections.nhi.lifecycle.plugins.module_utils._evidence import entry as evidence_entry

ME = "nhi.lifecycle"

# Which authority key governs each lifecycle event.
EVENT_AUTHORITY = {
    "provision": ("create",),
    "rotate": ("rotate",),
    "offboard": ("suspend", "delete"),
    "reconcile": ("rotate",),
}

# The module targets each kind contributes, per event, in the order the
# roles run them. Each entry: (target list name, builder).
KIND_SYSTEM = {
    "aws_iam_user": "aws_iam",
    "vault_approle": "vault",
    "gcp_service_account": "gcp_iam",
    "scim_service_user": "scim",
}


def _base(nhi, event, decision, authority):
    return {"identity": nhi["name"], "event": event, "decision": decision, "authority": authority}


def _store(nhi):
    store = nhi.get("store") or {}
    return {"mount": store.get("mount") or "secret", "path": store.get("path")}


def _tags(nhi):
    tags = dict((nhi.get("aws") or {}).get("tags") or {})
    tags.setdefault("owner", nhi.get("owner") or "")
    if nhi.get("purpose"):
        tags.setdefault("purpose", str(nhi["purpose"])[:256])
    if nhi.get("environment"):
        tags.setdefault("environment", nhi["environment"])
    if nhi.get("expires_at"):
        tags.setdefault("nhi:expires-at", str(nhi["expires_at"]))
    return tags


def _rotation(nhi):
    rotation = nhi.get("rotation") or {}
    return int(rotation.get("max_age_days") or 90), int(rotation.get("overlap_hours") or 0)


def _ttl_seconds(nhi, now):
    """Seconds until a temporary identity expires (for systems with credential TTLs)."""
    if not nhi.get("expires_at"):
        return None
    left = int((parse_time(nhi["expires_at"]) - now).total_seconds())
    return max(left, 60)


def targets_for(nhi, event, decision, authority, options, now):
    """Return {target_list_name: [target, ...]} for one allowed identity."""
    kind = nhi.get("kind")
    base = _base(nhi, event, decision, authority)
    max_age, overlap = _rotation(nhi)
    force = bool(options.get("force"))
    offboard_delete = (nhi.get("offboard") or {}).get("mode", "delete") == "delete" and options.get("may_delete", True)
    out = {}

    def add(name, **fields):
        item = dict(base)
        item.update(fields)
        out.setdefault(name, []).append(item)

    if kind == "aws_iam_user":
        aws = nhi.get("aws") or {}
        user = aws.get("user_name") or nhi["name"]
        if event == "provision":
            add("aws_iam_user", user_name=user, state="present", path=aws.get("path") or "/", tags=_tags(nhi),
                managed_policies=list(aws.get("managed_policies") or []),
                inline_policies=dict(aws.get("inline_policies") or {}))
            add("aws_access_key", user_name=user, state="present", store=_store(nhi), max_age_days=max_age,
                overlap_hours=overlap)
        elif event == "rotate":
            add("aws_access_key", user_name=user, state="rotated", store=_store(nhi), max_age_days=max_age,
                overlap_hours=overlap, force=force)
        elif event == "offboard":
            add("aws_iam_user_suspend", user_name=user, state="disabled", path=aws.get("path") or "/",
                tags=_tags(nhi))
            add("aws_access_key", user_name=user, state="absent", store=_store(nhi))
            if offboard_delete:
                add("aws_iam_user_delete", user_name=user, state="absent")
    elif kind == "vault_approle":
        vault = nhi.get("vault") or {}
        role = dict(role_name=vault.get("role_name") or nhi["name"], mount=vault.get("mount") or "approle")
        names = ("token_policies", "token_ttl", "token_max_ttl", "secret_id_ttl", "secret_id_num_uses",
                 "secret_id_bound_cidrs", "token_bound_cidrs")
        settings = {k: vault[k] for k in names if vault.get(k) not in (None, [], "")}
        ttl = _ttl_seconds(nhi, now)
        if ttl and "secret_id_ttl" not in settings:
            settings["secret_id_ttl"] = "%ds" % ttl
        if event == "provision":
            add("vault_approle", state="present", store=_store(nhi), **dict(role, **settings))
        elif event == "rotate":
            add("vault_approle", state="rotated", store=_store(nhi), max_age_days=max_age, force=force,
                **dict(role, **settings))
        elif event == "offboard":
            add("vault_approle", state="absent", store=_store(nhi), **role)
    elif kind == "gcp_service_account":
        gcp = nhi.get("gcp") or {}
        account = dict(project=gcp.get("project"), account_id=gcp.get("account_id"))
        if event == "provision":
            add("gcp_service_account", state="present", display_name=gcp.get("display_name") or nhi["name"],
                description=gcp.get("description") or nhi.get("purpose") or "", **account)
            add("gcp_service_account_key", state="present", store=_store(nhi), max_age_days=max_age, **account)
        elif event == "rotate":
            add("gcp_service_account_key", state="rotated", store=_store(nhi), max_age_days=max_age, force=force,
                **account)
        elif event == "offboard":
            add("gcp_service_account_suspend", state="disabled", **account)
            add("gcp_service_account_key", state="absent", store=_store(nhi), **account)
            if offboard_delete:
                add("gcp_service_account_delete", state="absent", **account)
    elif kind == "scim_service_user":
        scim = nhi.get("scim") or {}
        user = dict(user_name=scim.get("user_name") or nhi["name"])
        if scim.get("base_url"):
            user["scim_base_url"] = scim["base_url"]
        if event == "provision":
            add("scim_service_user", state="present", store=_store(nhi),
                display_name=scim.get("display_name") or nhi["name"], groups=list(scim.get("groups") or []),
                external_id=scim.get("external_id") or nhi["name"], **user)
        elif event == "rotate":
            add("scim_service_user", state="rotated", store=_store(nhi), max_age_days=max_age, force=force, **user)
        elif event == "offboard":
            add("scim_service_user", state="disabled" if not offboard_delete else "absent", store=_store(nhi),
                **user)
    return out


def plan(identities, event, rules, exceptions, approvals=(), now=None, run=None, options=None):
    """Decide, per identity, whether and how the event may proceed.

    Returns a dict with ``targets`` (per module list), ``evidence`` (one
    policy entry per identity), ``allowed``/``denied``/``delegated`` names,
    ``failed`` (identities the plan itself refused with an error) and the
    exceptions report.
    """
    now = now or utcnow()
    options = options or {}
    run = run or {}
    effective = _policy.effective_rules(rules, include_baseline=options.get("include_baseline", True))
    _policy.validate_rules(effective)
    _policy.validate_exceptions(exceptions or [])
    out = {"targets": {}, "evidence": [], "allowed": [], "denied": [], "delegated": [], "failed": [],
           "expired": [], "decisions": {}}
    for nhi in identities:
        name = nhi["name"]
        started = iso()
        nhi_event = event
        if event == "rotate" and nhi.get("expires_at") and parse_time(nhi["expires_at"]) <= now:
            # Temporary access that has expired is offboarded, not rotated.
            nhi_event = "offboard"
            out["expired"].append(name)
        request = _policy.build_request(nhi, nhi_event, now, approvals=approvals, run=run)
        decision = _policy.evaluate(request, effective, exceptions or [], now)
        out["decisions"][name] = decision
        keys = EVENT_AUTHORITY.get(nhi_event, ())
        authorities = {k: ((nhi.get("authority") or {}).get(k) or ME) for k in keys}
        foreign = {k: v for k, v in authorities.items() if v != ME}
        authority = ",".join(sorted(set(authorities.values()))) or ME
        outcome = "unchanged"
        error = None
        details = {"rule": decision.get("rule"), "matched": decision.get("matched"),
                   "kind": nhi.get("kind"), "owner": nhi.get("owner")}
        if decision.get("effect") != "allow":
            outcome = "denied"
            out["denied"].append(name)
        elif foreign and (len(foreign) == len(authorities) or nhi_event != "offboard"):
            mode = nhi.get("on_foreign_authority") or "skip"
            details["delegated_to"] = foreign
            if mode == "fail":
                outcome, error = "failed", "the %s event is owned by %s, not %s" % (
                    nhi_event, ", ".join(sorted(set(foreign.values()))), ME)
                out["failed"].append(name)
            else:
                outcome = "delegated"
                out["delegated"].append(name)
        else:
            per_event = dict(options)
            if nhi_event == "offboard" and "delete" in foreign:
                per_event["may_delete"] = False
                details["delegated_to"] = foreign
            if nhi_event != event:
                details["expired"] = True
            out["allowed"].append(name)
            for list_name, items in targets_for(nhi, nhi_event, decision, authority, per_event, now).items():
                out["targets"].setdefault(list_name, []).extend(items)
        out["evidence"].append(evidence_entry(
            identity=name, event=nhi_event, step="policy", system=ME, action="policy:evaluate",
            target="identity/%s" % name, authority=authority, decision=decision, outcome=outcome, error=error,
            started=started, ended=iso(), details=details))
    out["exceptions_report"] = _policy.exceptions_report(exceptions or [], now)
    return out

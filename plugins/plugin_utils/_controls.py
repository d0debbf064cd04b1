# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Which controls each evidence record serves.

Two frameworks: the OWASP Non-Human Identities Top 10 (2025 edition), ids
``NHI1`` .. ``NHI10``, and NIST CSF 2.0 subcategories (``PR.AA-01`` ...).
Only real CSF 2.0 identifiers are used. A record is mapped by its
``(event, step)``; a ``drift`` record also by its ``details.drift_class``; a
failed record also serves detection. Every record gets at least one control.
The mapping is copied into each record when it is written, so evidence keeps
the mapping it was made under even if this table changes later.
"""

from __future__ import annotations

OWASP = "OWASP Non-Human Identities Top 10 (2025)"
CSF = "NIST CSF 2.0"

CONTROLS = {
    # OWASP NHI Top 10, 2025
    "NHI1": (OWASP, "Improper Offboarding"),
    "NHI2": (OWASP, "Secret Leakage"),
    "NHI3": (OWASP, "Vulnerable Third-Party NHI"),
    "NHI4": (OWASP, "Insecure Authentication"),
    "NHI5": (OWASP, "Overprivileged NHI"),
    "NHI6": (OWASP, "Insecure Cloud Deployment Configurations"),
    "NHI7": (OWASP, "Long-Lived Secrets"),
    "NHI8": (OWASP, "Environment Isolation"),
    "NHI9": (OWASP, "NHI Reuse"),
    "NHI10": (OWASP, "Human Use of NHI"),
    # NIST CSF 2.0 subcategories (titles abridged)
    "GV.OC-03": (CSF, "Legal, regulatory, and contractual requirements regarding cybersecurity are understood and managed"),
    "GV.PO-01": (CSF, "Policy for managing cybersecurity risks is established, communicated, and enforced"),
    "GV.RR-02": (CSF, "Roles, responsibilities, and authorities related to cybersecurity risk management are established and enforced"),
    "GV.SC-07": (CSF, "Risks posed by suppliers and third parties are understood, recorded, responded to, and monitored"),
    "ID.AM-07": (CSF, "Inventories of data and corresponding metadata for designated data types are maintained"),
    "ID.AM-08": (CSF, "Systems, hardware, software, services, and data are managed throughout their life cycles"),
    "ID.RA-06": (CSF, "Risk responses are chosen, prioritized, planned, tracked, and communicated"),
    "PR.AA-01": (CSF, "Identities and credentials for authorized users, services, and hardware are managed by the organization"),
    "PR.AA-02": (CSF, "Identities are proofed and bound to credentials based on the context of interactions"),
    "PR.AA-03": (CSF, "Users, services, and hardware are authenticated"),
    "PR.AA-04": (CSF, "Identity assertions are protected, conveyed, and verified"),
    "PR.AA-05": (CSF, "Access permissions, entitlements, and authorizations are defined in a policy, managed, enforced, "
                      "and reviewed (least privilege, separation of duties)"),
    "PR.DS-01": (CSF, "The confidentiality, integrity, and availability of data-at-rest are protected"),
    "PR.DS-02": (CSF, "The confidentiality, integrity, and availability of data-in-transit are protected"),
    "PR.IR-01": (CSF, "Networks and environments are protected from unauthorized logical access and usage"),
    "PR.PS-01": (CSF, "Configuration management practices are established and applied"),
    "PR.PS-04": (CSF, "Log records are generated and made available for continuous monitoring"),
    "DE.CM-03": (CSF, "Personnel activity and technology usage are monitored to find potentially adverse events"),
    "DE.CM-09": (CSF, "Computing hardware and software, runtime environments, and their data are monitored "
                      "to find potentially adverse events"),
    "RS.MI-01": (CSF, "Incidents are contained"),
    "RS.MI-02": (CSF, "Incidents are eradicated"),
}

# Per step, whatever the event.
_BY_STEP = {
    "policy": ["PR.AA-05", "GV.PO-01"],
    "create_identity": ["PR.AA-01", "PR.AA-02", "ID.AM-08"],
    "update_identity": ["NHI5", "PR.AA-05", "PR.PS-01"],
    "mint": ["PR.AA-01", "PR.AA-02"],
    "store": ["NHI2", "PR.DS-01", "PR.AA-01"],
    "prove_new": ["NHI4", "PR.AA-03", "PR.AA-04"],
    "deactivate_old": ["NHI7", "PR.AA-01"],
    "delete_old": ["NHI7", "PR.AA-01", "ID.AM-08"],
    "prove_old_rejected": ["NHI7", "PR.AA-03"],
    "destroy_stored": ["NHI2", "PR.DS-01", "PR.AA-01"],
    "suspend": ["NHI1", "PR.AA-01"],
    "revoke": ["NHI1", "PR.AA-01"],
    "prove_revoked": ["NHI1", "PR.AA-03"],
    "delete_identity": ["NHI1", "ID.AM-08", "PR.AA-01"],
    "read": ["ID.AM-07", "ID.AM-08", "DE.CM-09"],
    "drift": ["DE.CM-09", "ID.AM-08"],
    "exceptions": ["GV.PO-01", "ID.RA-06"],
}

# What the event adds to a step (why the step is done).
_BY_EVENT = {
    "provision": {
        "policy": ["NHI5", "GV.RR-02"],
        "create_identity": ["NHI5", "PR.AA-05"],
        "mint": ["NHI2"],
    },
    "rotate": {
        "policy": ["NHI7"],
        "mint": ["NHI7"],
        "store": ["NHI7"],
        "prove_new": ["NHI7"],
        "destroy_stored": ["NHI7"],
    },
    "offboard": {
        "policy": ["NHI1"],
        "destroy_stored": ["NHI1"],
        "deactivate_old": ["NHI1"],
        "delete_old": ["NHI1"],
    },
    "reconcile": {
        "read": ["PR.PS-01"],
        "create_identity": ["RS.MI-02"],
        "update_identity": ["RS.MI-02"],
        "revoke": ["RS.MI-01", "RS.MI-02"],
        "suspend": ["RS.MI-01"],
        "delete_identity": ["RS.MI-02"],
        "destroy_stored": ["RS.MI-02"],
    },
}

# When a step name is unknown (or the callback made the record itself), the event decides.
_EVENT_FALLBACK = {
    "provision": ["PR.AA-01", "ID.AM-08"],
    "rotate": ["NHI7", "PR.AA-01"],
    "offboard": ["NHI1", "PR.AA-01"],
    "reconcile": ["DE.CM-09", "ID.AM-08"],
    "adhoc": ["PR.PS-04"],
}

# Drift classes found by reconcile. The first block are the classes of
# plugins/plugin_utils/_drift.py (CLASSES there is the source of their names);
# the second are classes other checks may report. Aliases are folded by drift_class().
DRIFT_CLASSES = {
    "stored_credential_orphaned": ["NHI1", "NHI2", "ID.AM-07", "PR.AA-01"],
    "credential_untracked": ["NHI2", "NHI7", "ID.AM-07", "PR.AA-01"],
    "identity_unmanaged": ["NHI1", "ID.AM-08", "PR.AA-01", "DE.CM-09"],
    "identity_missing": ["ID.AM-08", "PR.AA-01"],
    "credential_missing": ["NHI4", "PR.AA-01", "PR.AA-03"],
    "credential_stale": ["NHI7", "PR.AA-01"],
    "credential_unused": ["NHI1", "PR.AA-01", "DE.CM-03"],
    "credential_multiple_active": ["NHI7", "NHI9", "PR.AA-01"],
    "owner_missing": ["NHI1", "GV.RR-02", "ID.AM-08"],
    "owner_unknown": ["NHI1", "GV.RR-02", "ID.AM-08"],
    "exception_expired": ["GV.PO-01", "ID.RA-06"],
    "temporary_expired": ["NHI1", "NHI7", "PR.AA-05"],
    # further classes
    "identity_disabled": ["NHI1", "PR.AA-01"],
    "stored_credential_invalid": ["NHI4", "PR.AA-03", "PR.DS-01"],
    "policy_drift": ["NHI5", "PR.AA-05", "PR.PS-01"],
    "overprivileged": ["NHI5", "PR.AA-05"],
    "environment_mismatch": ["NHI8", "PR.IR-01"],
    "human_use": ["NHI10", "PR.AA-05", "DE.CM-03"],
    "third_party": ["NHI3", "GV.SC-07"],
    "insecure_configuration": ["NHI6", "PR.PS-01"],
    "secret_exposed": ["NHI2", "PR.DS-01", "RS.MI-01"],
    "shared_credential": ["NHI9", "PR.AA-01"],
}

DRIFT_ALIASES = {
    "orphaned_credential": "stored_credential_orphaned",
    "orphan_credential": "stored_credential_orphaned",
    "orphaned_secret": "stored_credential_orphaned",
    "untracked_credential": "credential_untracked",
    "unmanaged_identity": "identity_unmanaged",
    "not_in_catalog": "identity_unmanaged",
    "unmanaged": "identity_unmanaged",
    "missing_credential": "credential_missing",
    "stale_credential": "credential_stale",
    "credential_too_old": "credential_stale",
    "max_age_exceeded": "credential_stale",
    "old_credential": "credential_stale",
    "unused_credential": "credential_unused",
    "multiple_active_credentials": "credential_multiple_active",
    "too_many_active_credentials": "credential_multiple_active",
    "multiple_active_keys": "credential_multiple_active",
    "no_owner": "owner_missing",
    "missing_owner": "owner_missing",
    "unknown_owner": "owner_unknown",
    "expired_exception": "exception_expired",
    "expired_temporary_access": "temporary_expired",
    "temporary_access_expired": "temporary_expired",
    "expired_temporary": "temporary_expired",
}

_FAILED_EXTRA = ["DE.CM-09"]
_DEFAULT = ["PR.PS-04"]


def drift_class(name):
    """The canonical drift class for ``name`` (aliases folded, case-insensitive)."""
    if not name:
        return None
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    return DRIFT_ALIASES.get(key, key)


def _add(out, items):
    for item in items:
        if item not in out:
            out.append(item)


def controls_for(event, step, drift=None, outcome=None):
    """The ordered list of control ids for a record; never empty.

    OWASP ids come first, then CSF ids, each in table order, without repeats.
    """
    found = []
    _add(found, _BY_STEP.get(step, ()))
    _add(found, _BY_EVENT.get(event, {}).get(step, ()))
    if step == "drift" or drift:
        _add(found, DRIFT_CLASSES.get(drift_class(drift), ()))
    if not found:
        _add(found, _EVENT_FALLBACK.get(event, ()))
    if outcome == "failed":
        _add(found, _FAILED_EXTRA)
    if not found:
        _add(found, _DEFAULT)
    owasp = sorted((c for c in found if c.startswith("NHI")), key=lambda c: int(c[3:]))
    csf = [c for c in found if not c.startswith("NHI")]
    csf.sort(key=_csf_order)
    return owasp + csf


_CSF_FUNCTIONS = ("GV", "ID", "PR", "DE", "RS", "RC")


def _csf_order(control):
    function = control.split(".", 1)[0]
    rank = _CSF_FUNCTIONS.index(function) if function in _CSF_FUNCTIONS else len(_CSF_FUNCTIONS)
    return (rank, control)


def describe(control):
    """``{"id", "framework", "title"}`` for a control id (unknown ids are kept, untitled)."""
    framework, title = CONTROLS.get(control, (CSF if "." in control else "other", ""))
    return {"id": control, "framework": framework, "title": title}


def control_order(control):
    """Sort key: OWASP NHI1..NHI10 first, then CSF by function (GV, ID, PR, DE, RS, RC)."""
    if control.startswith("NHI") and control[3:].isdigit():
        return (0, int(control[3:]), "")
    return (1,) + _csf_order(control)


class ControlMapper(object):
    """Cache of :func:`controls_for` results; the callback maps tens of thousands of records."""

    def __init__(self):
        self._cache = {}

    def __call__(self, event, step, drift=None, outcome=None):
        key = (event, step, drift, outcome == "failed")
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = controls_for(event, step, drift, "failed" if outcome == "failed" else None)
        return list(found)

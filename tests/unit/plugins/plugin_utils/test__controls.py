# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import re

import pytest

from ansible_collections.nhi.lifecycle.plugins.module_utils._evidence import EVENTS, OUTCOMES, STEPS
from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _controls as c

# The NIST CSF 2.0 subcategories this collection may cite (checked against the CSF 2.0 core).
REAL_CSF_20 = {
    "GV.OC-03", "GV.PO-01", "GV.RR-02", "GV.SC-07", "ID.AM-07", "ID.AM-08", "ID.RA-06",
    "PR.AA-01", "PR.AA-02", "PR.AA-03", "PR.AA-04", "PR.AA-05", "PR.DS-01", "PR.DS-02",
    "PR.IR-01", "PR.PS-01", "PR.PS-04", "DE.CM-03", "DE.CM-09", "RS.MI-01", "RS.MI-02",
}


def test_the_table_names_only_owasp_nhi1_to_10_and_real_csf_ids():
    owasp = {k for k in c.CONTROLS if k.startswith("NHI")}
    assert owasp == {"NHI%d" % i for i in range(1, 11)}
    csf = set(c.CONTROLS) - owasp
    assert csf <= REAL_CSF_20
    for control in csf:
        assert re.match(r"^(GV|ID|PR|DE|RS|RC)\.[A-Z]{2}-\d{2}$", control)
    assert c.CONTROLS["NHI1"][1] == "Improper Offboarding"
    assert c.CONTROLS["NHI10"][1] == "Human Use of NHI"
    assert all(title for _framework, title in c.CONTROLS.values())


def test_every_mapped_id_is_in_the_table():
    mapped = set()
    for steps in list(c._BY_STEP.values()) + list(c.DRIFT_CLASSES.values()) + list(c._EVENT_FALLBACK.values()):
        mapped.update(steps)
    for per_event in c._BY_EVENT.values():
        for steps in per_event.values():
            mapped.update(steps)
    assert mapped <= set(c.CONTROLS)


@pytest.mark.parametrize("event", EVENTS)
@pytest.mark.parametrize("step", STEPS + ("task", "something_new"))
def test_every_record_gets_at_least_one_control(event, step):
    for outcome in OUTCOMES:
        found = c.controls_for(event, step, outcome=outcome)
        assert found, (event, step, outcome)
        assert len(found) == len(set(found))
        assert set(found) <= set(c.CONTROLS)


def test_owasp_ids_come_first_then_csf_in_function_order():
    found = c.controls_for("offboard", "destroy_stored", outcome="failed")
    assert found == ["NHI1", "NHI2", "PR.AA-01", "PR.DS-01", "DE.CM-09"]


def test_lifecycle_steps_map_to_the_expected_risks():
    assert "NHI1" in c.controls_for("offboard", "revoke")
    assert "NHI1" in c.controls_for("offboard", "prove_revoked")
    assert "PR.AA-03" in c.controls_for("offboard", "prove_revoked")
    assert "NHI7" in c.controls_for("rotate", "mint")
    assert "NHI7" in c.controls_for("rotate", "prove_old_rejected")
    assert "NHI2" in c.controls_for("provision", "store")
    assert "PR.AA-05" in c.controls_for("provision", "policy")
    assert "RS.MI-01" in c.controls_for("reconcile", "revoke")


@pytest.mark.parametrize("name,expected", [
    ("credential_stale", "NHI7"), ("stored_credential_orphaned", "NHI1"), ("identity_unmanaged", "NHI1"),
    ("credential_multiple_active", "NHI9"), ("owner_missing", "GV.RR-02"), ("owner_unknown", "GV.RR-02"),
    ("exception_expired", "ID.RA-06"), ("temporary_expired", "NHI7"), ("credential_untracked", "NHI2"),
    ("credential_missing", "NHI4"), ("credential_unused", "DE.CM-03"), ("identity_missing", "ID.AM-08"),
    ("environment_mismatch", "NHI8"), ("human_use", "NHI10"), ("third_party", "NHI3"),
    ("insecure_configuration", "NHI6"), ("shared_credential", "NHI9"), ("overprivileged", "NHI5"),
    ("Credential-Too-Old", "NHI7"), ("no_owner", "GV.RR-02"), ("unmanaged_identity", "NHI1"),
])
def test_drift_classes_and_aliases(name, expected):
    found = c.controls_for("reconcile", "drift", drift=name)
    assert expected in found
    assert "DE.CM-09" in found


def test_the_drift_classes_of_reconcile_are_all_mapped():
    try:
        from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _drift
    except ImportError:
        pytest.skip("plugins/plugin_utils/_drift.py is not there")
    for name in _drift.CLASSES:
        assert name in c.DRIFT_CLASSES, name


def test_aliases_point_at_known_classes():
    assert set(c.DRIFT_ALIASES.values()) <= set(c.DRIFT_CLASSES)


def test_unknown_drift_class_still_maps():
    assert c.controls_for("reconcile", "drift", drift="brand_new_kind") == ["ID.AM-08", "DE.CM-09"]
    assert c.drift_class(" Max Age Exceeded ") == "credential_stale"
    assert c.drift_class("no_owner") == "owner_missing"
    assert c.drift_class(None) is None


def test_describe_and_order():
    assert c.describe("NHI7") == {"id": "NHI7", "framework": c.OWASP, "title": "Long-Lived Secrets"}
    assert c.describe("PR.AA-05")["framework"] == c.CSF
    assert c.describe("XYZ")["framework"] == "other"
    ordered = sorted(["DE.CM-09", "NHI10", "PR.AA-01", "NHI2", "GV.PO-01", "ID.AM-08"], key=c.control_order)
    assert ordered == ["NHI2", "NHI10", "GV.PO-01", "ID.AM-08", "PR.AA-01", "DE.CM-09"]


def test_mapper_caches_but_returns_fresh_lists():
    mapper = c.ControlMapper()
    first = mapper("rotate", "mint")
    first.append("tampered")
    assert "tampered" not in mapper("rotate", "mint")
    assert mapper("rotate", "mint", outcome="failed")[-1] == "DE.CM-09"

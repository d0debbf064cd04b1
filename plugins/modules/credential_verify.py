#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: credential_verify
short_description: Prove that a stored credential is accepted, or that it is rejected
version_added: 0.1.0
description:
  - Reads a credential from its KV v2 store inside the module and uses it against its system. The secret never
    enters the task result.
  - C(aws_access_key) is tried with STS GetCallerIdentity, C(vault_approle) with an AppRole login (the token
    the login returns is revoked at once), C(vault_token) with a token lookup-self, and C(gcp_service_account_key)
    with the OAuth JWT-bearer token exchange.
  - Returns the verdict and an evidence entry. Fails when the verdict is not the one expected, unless
    I(fail_on_error=false).
  - Use I(version) to prove that a rotated-out credential (an older KV version) is rejected.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.aws
  - nhi.lifecycle.vault
  - nhi.lifecycle.gcp
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: A proof only reads, so it runs in check mode too.
  diff_mode:
    support: none
options:
  kind:
    description: What kind of credential the store holds. Required, here or in each item of I(targets).
    type: str
    choices: [aws_access_key, vault_approle, vault_token, gcp_service_account_key]
  store:
    description: The KV v2 secret that holds the credential. Required, here or in each item of I(targets).
    type: dict
    suboptions:
      mount:
        description: The KV v2 mount.
        type: str
        default: secret
      path:
        description: The secret's path.
        type: str
        required: true
  version:
    description: Read this KV version instead of the current one (its data must not be destroyed yet).
    type: int
  expect:
    description: The verdict that counts as success.
    type: str
    choices: [accepted, rejected]
    default: accepted
  approle_mount:
    description: The AppRole auth mount, when the stored credential does not name it.
    type: str
    default: approle
  proof_deadline:
    description: Seconds to keep trying until the expected verdict appears (providers are eventually consistent).
    type: float
    default: 30
notes:
  - The GCP proof exchanges a JWT signed with the stored key for a token at the key file's C(token_uri), or at
    I(gcp_token_uri) when that is set.
seealso:
  - module: nhi.lifecycle.aws_access_key
  - module: nhi.lifecycle.vault_approle
"""

EXAMPLES = r"""
- name: The stored key works
  nhi.lifecycle.credential_verify:
    kind: aws_access_key
    store: {path: nhi/dev/ci-deployer}

- name: The key that was rotated out (version 2) is rejected
  nhi.lifecycle.credential_verify:
    kind: aws_access_key
    store: {path: nhi/dev/ci-deployer}
    version: 2
    expect: rejected
"""

RETURN = r"""
verdict:
  description: C(accepted) or C(rejected).
  returned: success
  type: str
  sample: accepted
ok:
  description: Whether the verdict is the expected one.
  returned: success
  type: bool
  sample: true
detail:
  description: What the system answered, without secrets (an ARN, an error code).
  returned: success
  type: str
  sample: arn:aws:iam::123456789012:user/nhi/ci-deployer
credential_id:
  description: The non-secret id of the credential that was tried (key id, accessor).
  returned: success
  type: str
  sample: AKIAIOSFODNN7EXAMPLE
evidence:
  description: The proof as an evidence entry.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "prove_new", "system": "aws_sts",
            "verified": {"method": "sts:GetCallerIdentity", "expect": "accepted", "result": "accepted", "ok": true}}]
results:
  description: One result per target (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "verdict": "accepted", "ok": true}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 1, "changed": 0, "failed": 0}
failed_identities:
  description: The identities whose proof failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

import json

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws, _gcp, _proofs, _vault
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, poll
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder, verdict

SECRET_FIELDS = {"aws_access_key": "secret_access_key", "vault_approle": "secret_id", "vault_token": "token",
                 "gcp_service_account_key": "private_key_json"}
ID_FIELDS = {"aws_access_key": "access_key_id", "vault_approle": "secret_id_accessor", "vault_token": "accessor",
             "gcp_service_account_key": "key_id"}
SYSTEMS = {"aws_access_key": "aws_sts", "vault_approle": "vault", "vault_token": "vault",
           "gcp_service_account_key": "gcp_oauth"}


def _validate(target):
    _vault.check_store(target["store"])
    if target.get("version") is not None and target["version"] < 1:
        raise NHIError("versions are numbered from 1", where="version")
    if target["proof_deadline"] < 0:
        raise NHIError("proof_deadline cannot be negative", where="proof_deadline")


def _key_file(data, target):
    """The stored GCP key file as a dict; a damaged one is an error that names the store, not a traceback."""
    value = data["private_key_json"]
    if isinstance(value, dict):
        return value
    try:
        info = json.loads(value)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        store = target["store"]
        raise NHIError("the stored key file cannot be read: it is not a JSON object",
                       where="store %s/%s" % (store.get("mount") or "secret", store["path"]),
                       hint="the stored credential is damaged; rotate with force=true")
    return info


def main():
    nm = NHIModule(
        target_spec=dict(
            kind=dict(type="str", required=True, choices=sorted(SECRET_FIELDS)),
            store=dict(_vault.store_spec(), required=True),
            version=dict(type="int"),
            expect=dict(type="str", default="accepted", choices=["accepted", "rejected"]),
            approle_mount=dict(type="str", default="approle"),
            proof_deadline=dict(type="float", default=30.0),
        ),
        connection_specs=(_aws.argument_spec(), _vault.argument_spec(), _gcp.argument_spec()),
        validate=_validate,
        default_identity=lambda t: t["store"]["path"].rstrip("/").split("/")[-1],
    )
    workers = nm.params["workers"]
    try:
        vault = _vault.client(nm.params, pool_size=workers)
        aws = None
        if any(t["kind"] == "aws_access_key" for t in nm.targets):
            aws = _aws.client(nm.params, pool_size=workers)
        gcp = None
        if any(t["kind"] == "gcp_service_account_key" for t in nm.targets):
            gcp = _gcp.client(nm.params, pool_size=workers)
    except NHIError as exc:
        nm.fail_connect(exc)

    def prover(kind, data, target):
        if kind == "aws_access_key":
            return lambda: _proofs.prove_aws_key(aws, data)
        if kind == "vault_approle":
            return lambda: _proofs.prove_approle(vault, data, target["approle_mount"])
        if kind == "vault_token":
            return lambda: _proofs.prove_vault_token(vault, data)
        info = _key_file(data, target)
        return lambda: gcp.prove_key(info)

    def one(t):
        rec = Recorder(t, False)
        kind = t["kind"]
        mount, path = t["store"].get("mount") or "secret", t["store"]["path"]
        result = {"identity": t["identity"], "kind": kind}
        step = "prove_new" if t["expect"] == "accepted" else "prove_old_rejected"
        method = _proofs.METHODS.get(kind, "oauth2:jwt-bearer")
        try:
            with rec.step(step, SYSTEMS[kind], method, "vault:%s/%s%s" % (
                    mount, path, "@v%d" % t["version"] if t.get("version") else "")) as st:
                data, _meta = vault.kv_read(mount, path, version=t.get("version"))
                if not data or not data.get(SECRET_FIELDS[kind]):
                    raise NHIError("no %s credential is stored there (missing, deleted or destroyed)" % kind,
                                   where="store %s/%s%s" % (mount, path,
                                                            " version %d" % t["version"] if t.get("version") else ""),
                                   hint="provision the identity first, or pick a version whose data still exists")
                nm.secrets.add(data[SECRET_FIELDS[kind]])
                if kind == "gcp_service_account_key" and isinstance(data.get("private_key_json"), str):
                    nm.secrets.add(data["private_key_json"])
                result["credential_id"] = data.get(ID_FIELDS[kind])
                st.target = "%s#%s" % (st.target, result["credential_id"])
                accepted, detail = poll(prover(kind, data, t), t["expect"], t["proof_deadline"])
                del data
                st.verified = verdict(method, t["expect"], accepted, detail)
                st.outcome = "unchanged"
                result.update(verdict=st.verified["result"], ok=st.verified["ok"], detail=detail)
                if not st.verified["ok"]:
                    raise NHIError("the credential was %s but should have been %s" % (st.verified["result"],
                                                                                      t["expect"]),
                                   where="identity %s" % t["identity"])
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    nm.exit(nm.run(one))


if __name__ == "__main__":
    main()

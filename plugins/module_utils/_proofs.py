# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Prove a credential: use it against its system and report accepted or rejected.

Each prover takes the stored credential (a dict read from KV inside the
module) and returns ``(accepted, detail)``. A transport error raises
NHIError, because "could not ask" is not "rejected".
"""

from __future__ import annotations

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError

METHODS = {
    "aws_access_key": "sts:GetCallerIdentity",
    "vault_approle": "vault:auth/approle/login",
    "vault_token": "vault:auth/token/lookup-self",
}


def prove_aws_key(aws, data):
    return aws.prove_key(data["access_key_id"], data["secret_access_key"], data.get("session_token"))


def _vault_call(vault, method, path, token=None, json_body=None):
    url = "%s/v1/%s" % (vault.url.rstrip("/"), path.lstrip("/"))
    headers = {}
    if token:
        headers["X-Vault-Token"] = token
    namespace = vault.options.get("vault_namespace")
    if namespace:
        headers["X-Vault-Namespace"] = namespace
    try:
        response = vault.session.request(method, url, json=json_body, headers=headers, timeout=vault.timeout,
                                         verify=vault.verify)
    except Exception as exc:
        raise NHIError("proving a Vault credential: cannot reach Vault (%s)" % type(exc).__name__, where=url,
                       hint="check vault_url and the network", retryable=True)
    return response


def prove_approle(vault, data, mount="approle"):
    response = _vault_call(vault, "POST", "auth/%s/login" % (data.get("mount") or mount),
                           json_body={"role_id": data["role_id"], "secret_id": data["secret_id"]})
    if response.status_code == 200:
        auth = (response.json() or {}).get("auth") or {}
        token = auth.get("client_token")
        if token:
            # Do not leave a live token behind just because we proved a login.
            _vault_call(vault, "POST", "auth/token/revoke-self", token=token)
        return True, "login ok, policies=%s" % ",".join(auth.get("policies") or [])
    if response.status_code in (400, 401, 403):
        return False, "login refused (HTTP %d)" % response.status_code
    raise NHIError("proving an AppRole secret id: Vault answered HTTP %d" % response.status_code, retryable=True)


def prove_vault_token(vault, data):
    response = _vault_call(vault, "GET", "auth/token/lookup-self", token=data["token"])
    if response.status_code == 200:
        info = (response.json() or {}).get("data") or {}
        return True, "token accepted, accessor=%s" % info.get("accessor")
    if response.status_code in (400, 401, 403):
        return False, "token refused (HTTP %d)" % response.status_code
    raise NHIError("proving a Vault token: Vault answered HTTP %d" % response.status_code, retryable=True)

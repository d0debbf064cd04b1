# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations


class ModuleDocFragment(object):
    """Vault / OpenBao connection options; the spec lives in module_utils/_vault.py."""

    DOCUMENTATION = r"""
options:
  vault_url:
    description:
      - The address of the Vault or OpenBao server. Falls back to E(VAULT_ADDR).
    type: str
    aliases: [vault_addr]
  vault_token:
    description:
      - The token to authenticate with when I(vault_auth_method=token). Falls back to E(VAULT_TOKEN).
    type: str
  vault_namespace:
    description: The Vault Enterprise or OpenBao namespace. Falls back to E(VAULT_NAMESPACE).
    type: str
  vault_auth_method:
    description: How the automation logs in to Vault.
    type: str
    choices: [token, approle]
    default: token
  vault_auth_mount:
    description: The mount path of the auth method, when it is not the default C(approle).
    type: str
  vault_role_id:
    description: The AppRole role id, for I(vault_auth_method=approle). Falls back to E(VAULT_ROLE_ID).
    type: str
  vault_secret_id:
    description: The AppRole secret id, for I(vault_auth_method=approle). Falls back to E(VAULT_SECRET_ID).
    type: str
  vault_ca_cert:
    description: A CA certificate file to verify the server with. Falls back to E(VAULT_CACERT).
    type: path
  vault_validate_certs:
    description:
      - Verify the server's TLS certificate. Only turn this off against a local test server.
      - When not set, the certificate is verified unless E(VAULT_SKIP_VERIFY) is true, as the C(vault) and
        C(bao) command-line tools read it.
    type: bool
  vault_timeout:
    description: Timeout of every call, in seconds.
    type: int
    default: 10
  vault_retries:
    description:
      - Retries, with jittered backoff, of calls answered with 429 or 5xx or that could not connect.
        C(Retry-After) is honoured. A call that reached the server and then timed out is not replayed.
    type: int
    default: 5
"""

    PLUGINS = r"""
options:
  vault_url:
    env:
      - name: VAULT_ADDR
    ini:
      - section: nhi_vault
        key: url
    vars:
      - name: nhi_vault_url
  vault_token:
    env:
      - name: VAULT_TOKEN
    vars:
      - name: nhi_vault_token
  vault_namespace:
    env:
      - name: VAULT_NAMESPACE
    vars:
      - name: nhi_vault_namespace
  vault_role_id:
    env:
      - name: VAULT_ROLE_ID
  vault_secret_id:
    env:
      - name: VAULT_SECRET_ID
  vault_ca_cert:
    env:
      - name: VAULT_CACERT
    vars:
      - name: nhi_vault_ca_cert
  vault_validate_certs:
    vars:
      - name: nhi_vault_validate_certs
"""

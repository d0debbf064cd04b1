# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations


class ModuleDocFragment(object):
    """SCIM 2.0 connection options; the spec lives in module_utils/_scim.py."""

    DOCUMENTATION = r"""
options:
  scim_base_url:
    description:
      - The SCIM 2.0 base URL of the service provider, the part before C(/Users), for example
        C(https://example.okta.com/scim/v2). Falls back to E(NHI_SCIM_URL).
    type: str
  scim_token:
    description:
      - The bearer token the automation authenticates with (not a credential being managed).
        Falls back to E(NHI_SCIM_TOKEN).
    type: str
  scim_timeout:
    description: Connect and read timeout of every call, in seconds.
    type: int
    default: 15
  scim_retries:
    description:
      - Retries, with jittered backoff, of calls answered with 429 or 5xx or that could not connect.
        C(Retry-After) is honoured. A POST is only retried on 429 and 503, and a call that reached the service
        and then timed out is not replayed.
    type: int
    default: 5
  scim_validate_certs:
    description: Verify TLS certificates. Only turn this off against a local test service.
    type: bool
    default: true
"""

    PLUGINS = r"""
options:
  scim_base_url:
    env:
      - name: NHI_SCIM_URL
    ini:
      - section: nhi_scim
        key: base_url
    vars:
      - name: nhi_scim_base_url
  scim_token:
    env:
      - name: NHI_SCIM_TOKEN
    vars:
      - name: nhi_scim_token
  scim_validate_certs:
    vars:
      - name: nhi_scim_validate_certs
"""

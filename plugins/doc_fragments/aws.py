# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations


class ModuleDocFragment(object):
    """AWS connection options; the spec lives in module_utils/_aws.py."""

    DOCUMENTATION = r"""
options:
  aws_profile:
    description:
      - A named profile from the shared AWS config and credentials files.
      - Falls back to E(AWS_PROFILE), then E(AWS_DEFAULT_PROFILE). Ignored when I(aws_access_key_id) is set.
    type: str
  aws_access_key_id:
    description:
      - The access key id of the identity that runs the automation (not the keys being managed).
      - Falls back to E(AWS_ACCESS_KEY_ID), then E(AWS_ACCESS_KEY).
    type: str
  aws_secret_access_key:
    description:
      - The secret access key that goes with I(aws_access_key_id).
      - Falls back to E(AWS_SECRET_ACCESS_KEY), then E(AWS_SECRET_KEY).
    type: str
  aws_session_token:
    description:
      - A session token for temporary credentials. Falls back to E(AWS_SESSION_TOKEN).
    type: str
  aws_region:
    description:
      - The region for STS (IAM itself is global). Falls back to E(AWS_REGION), then E(AWS_DEFAULT_REGION),
        then the profile's region. A run with no region stops with a one-line explanation.
    type: str
  aws_endpoint_url:
    description:
      - Send IAM and STS calls to this URL instead of AWS, for example a local C(moto_server).
      - Falls back to E(AWS_ENDPOINT_URL).
    type: str
  aws_ca_bundle:
    description: A CA bundle to verify the endpoint's TLS certificate with. Falls back to E(AWS_CA_BUNDLE).
    type: path
  aws_validate_certs:
    description: Verify TLS certificates. Only turn this off against a local test endpoint.
    type: bool
    default: true
  aws_timeout:
    description: Connect and read timeout of every call, in seconds.
    type: int
    default: 15
  aws_max_attempts:
    description: Attempts per call, retries included (throttling and 5xx answers are retried with backoff).
    type: int
    default: 8
  aws_retry_mode:
    description:
      - botocore's retry mode. C(adaptive) adds client-side rate limiting when AWS throttles.
    type: str
    default: adaptive
    choices: [adaptive, standard, legacy]
"""

    PLUGINS = r"""
options:
  aws_profile:
    env:
      - name: AWS_PROFILE
      - name: AWS_DEFAULT_PROFILE
    vars:
      - name: nhi_aws_profile
  aws_access_key_id:
    env:
      - name: AWS_ACCESS_KEY_ID
    vars:
      - name: nhi_aws_access_key_id
  aws_secret_access_key:
    env:
      - name: AWS_SECRET_ACCESS_KEY
    vars:
      - name: nhi_aws_secret_access_key
  aws_session_token:
    env:
      - name: AWS_SESSION_TOKEN
    vars:
      - name: nhi_aws_session_token
  aws_region:
    env:
      - name: AWS_REGION
      - name: AWS_DEFAULT_REGION
    ini:
      - section: nhi_aws
        key: region
    vars:
      - name: nhi_aws_region
  aws_endpoint_url:
    env:
      - name: AWS_ENDPOINT_URL
    ini:
      - section: nhi_aws
        key: endpoint_url
    vars:
      - name: nhi_aws_endpoint_url
  aws_ca_bundle:
    env:
      - name: AWS_CA_BUNDLE
  aws_validate_certs:
    vars:
      - name: nhi_aws_validate_certs
"""

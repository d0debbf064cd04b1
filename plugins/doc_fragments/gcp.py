# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations


class ModuleDocFragment(object):
    """GCP connection options; the spec lives in module_utils/_gcp.py."""

    DOCUMENTATION = r"""
options:
  gcp_project:
    description:
      - The default project for targets that do not name their own.
      - Falls back to E(GOOGLE_CLOUD_PROJECT), then E(CLOUDSDK_CORE_PROJECT), then the project of the credentials.
    type: str
  gcp_auth_kind:
    description:
      - How the automation authenticates to GCP (not the keys being managed).
      - C(application_default) uses Application Default Credentials (C(gcloud auth application-default login),
        the metadata server, or E(GOOGLE_APPLICATION_CREDENTIALS)).
      - C(service_account_file) loads the service-account key file I(gcp_credentials_file).
      - C(impersonation) impersonates I(gcp_impersonate_service_account), with the service-account key file
        I(gcp_credentials_file) or Application Default Credentials as the source.
      - C(access_token) sends I(gcp_access_token) as a bearer token, for example to the local IAM stand-in.
      - When not set, C(access_token) if I(gcp_access_token) is set, else C(impersonation) if
        I(gcp_impersonate_service_account) is set, else C(service_account_file) if I(gcp_credentials_file) is set,
        else C(application_default).
      - Falls back to E(NHI_GCP_AUTH_KIND).
    type: str
    choices: [application_default, service_account_file, impersonation, access_token]
  gcp_credentials_file:
    description:
      - A service-account key file, for I(gcp_auth_kind=service_account_file) or as the source of
        I(gcp_auth_kind=impersonation). Other credential types (authorized user, external account) are used
        through Application Default Credentials.
      - Falls back to E(GOOGLE_APPLICATION_CREDENTIALS).
    type: path
  gcp_impersonate_service_account:
    description:
      - The email of a service account to impersonate for every call (needs
        C(roles/iam.serviceAccountTokenCreator) on it). Falls back to E(NHI_GCP_IMPERSONATE_SERVICE_ACCOUNT).
    type: str
  gcp_access_token:
    description:
      - An OAuth 2.0 access token for I(gcp_auth_kind=access_token).
      - Falls back to E(NHI_GCP_ACCESS_TOKEN), then E(GOOGLE_OAUTH_ACCESS_TOKEN).
    type: str
  gcp_endpoint:
    description:
      - The IAM API endpoint. Falls back to E(NHI_GCP_ENDPOINT); defaults to C(https://iam.googleapis.com).
      - Point it at a private endpoint, or at the local stand-in for tests.
    type: str
  gcp_token_uri:
    description:
      - Send the token exchange that proves a key to this URL instead of the C(token_uri) of the key file,
        for example a Private Service Connect endpoint. Falls back to E(NHI_GCP_TOKEN_URI).
      - The signed assertion's audience stays C(https://oauth2.googleapis.com/token).
    type: str
  gcp_timeout:
    description: Connect and read timeout of every call, in seconds.
    type: int
    default: 15
  gcp_retries:
    description:
      - Retries, with jittered backoff, of calls answered with 429 or 5xx or that could not connect.
        C(Retry-After) is honoured. A POST is only retried on 429 and 503, and a call that reached the server
        and then timed out is not replayed.
    type: int
    default: 5
  gcp_validate_certs:
    description: Verify TLS certificates. Only turn this off against a local test endpoint.
    type: bool
    default: true
"""

    PLUGINS = r"""
options:
  gcp_project:
    env:
      - name: GOOGLE_CLOUD_PROJECT
      - name: CLOUDSDK_CORE_PROJECT
    ini:
      - section: nhi_gcp
        key: project
    vars:
      - name: nhi_gcp_project
  gcp_auth_kind:
    env:
      - name: NHI_GCP_AUTH_KIND
    ini:
      - section: nhi_gcp
        key: auth_kind
    vars:
      - name: nhi_gcp_auth_kind
  gcp_credentials_file:
    env:
      - name: GOOGLE_APPLICATION_CREDENTIALS
    vars:
      - name: nhi_gcp_credentials_file
  gcp_impersonate_service_account:
    env:
      - name: NHI_GCP_IMPERSONATE_SERVICE_ACCOUNT
    vars:
      - name: nhi_gcp_impersonate_service_account
  gcp_access_token:
    env:
      - name: NHI_GCP_ACCESS_TOKEN
      - name: GOOGLE_OAUTH_ACCESS_TOKEN
    vars:
      - name: nhi_gcp_access_token
  gcp_endpoint:
    env:
      - name: NHI_GCP_ENDPOINT
    ini:
      - section: nhi_gcp
        key: endpoint
    vars:
      - name: nhi_gcp_endpoint
  gcp_token_uri:
    env:
      - name: NHI_GCP_TOKEN_URI
    vars:
      - name: nhi_gcp_token_uri
  gcp_validate_certs:
    vars:
      - name: nhi_gcp_validate_certs
"""

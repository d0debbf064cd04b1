# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Test doubles for the AWS module tests: moto's in-process IAM/STS, a key proof, a call log, a runner.

``MotoAWS.start(monkeypatch)`` gives a test:

* a clean environment: fixed fake credentials and region, and none of the
  variables (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_IAM``/``_STS``,
  ``AWS_PROFILE``, ``AWS_SESSION_TOKEN``, the config files, ...) that would
  point the module's boto3 session somewhere else;
* moto's in-process backend (``mock_aws``) for IAM and STS, stopped again at
  teardown, so every test starts with an empty account;
* ``calls``: the name of every AWS API operation any client sent (the
  module's and the test's own), so a test can prove that a run wrote nothing;
* a replacement for ``AWSConnection.prove_key``. The real method signs an STS
  GetCallerIdentity request by hand and POSTs it to the endpoint over a
  ``requests`` session; under in-process moto there is no HTTP endpoint to
  POST to. The replacement decides from moto's IAM state instead: a key is
  accepted iff it exists, is ``Active`` and the secret given is its secret,
  which is what real STS does. "The old key is rejected" is therefore a real
  check against IAM state, not an echo. Every proof is logged in ``proofs``;
* a translation of in-process moto's ``NotImplementedError`` (raised straight
  out of the boto3 call, e.g. for ``ListServiceSpecificCredentials``) into the
  error an endpoint that lacks the call answers over HTTP (a ClientError with
  code ``NotImplemented`` and HTTP status 501), which is the form the
  modules' ``is_not_implemented`` recognises. Without it, in-process moto
  makes every ``aws_iam_user state=absent`` fail.
"""

from __future__ import annotations

import json

import boto3
import botocore.client
import botocore.exceptions
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iam.models import iam_backends

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws

from module_runner import run_module as _run_module  # noqa: E402

ACCOUNT = DEFAULT_ACCOUNT_ID
REGION = "us-east-1"
POLICY_DOC = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::artifacts/*"}]}
MUTATING_PREFIXES = ("Create", "Put", "Attach", "Detach", "Delete", "Tag", "Untag", "Update", "Add", "Remove",
                     "Deactivate", "Enable", "Upload")

_CLEARED_ENV = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE",
                "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
                "AWS_REGION", "AWS_CA_BUNDLE", "AWS_USE_FIPS_ENDPOINT", "NHI_TEST_CRASH_AFTER", "NHI_RUN_ID")


class MotoAWS(object):
    def __init__(self):
        self.calls = []     # operation names, in order
        self.proofs = []    # (access_key_id, accepted)
        self._mock = None

    # --- wiring -----------------------------------------------------------------------
    def start(self, monkeypatch, tmp_path):
        for name in _CLEARED_ENV:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))

        original = botocore.client.BaseClient._make_api_call
        log = self.calls

        def make_api_call(client, operation_name, api_params):
            log.append(operation_name)
            try:
                return original(client, operation_name, api_params)
            except NotImplementedError as exc:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": "NotImplemented", "Message": str(exc)},
                     "ResponseMetadata": {"HTTPStatusCode": 501}}, operation_name)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
        monkeypatch.setattr(_aws.AWSConnection, "prove_key", self._prove_key_method())
        self._mock = mock_aws()
        self._mock.start()
        self.iam = boto3.client("iam", region_name=REGION)
        return self

    def stop(self):
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def _prove_key_method(self):
        fake = self

        def prove_key(_conn, access_key_id, secret_access_key, session_token=None):
            key = fake.backend().access_keys.get(access_key_id)
            accepted = bool(key is not None and key.status == "Active" and key.secret_access_key == secret_access_key)
            fake.proofs.append((access_key_id, accepted))
            if accepted:
                return True, "arn:aws:iam::%s:user/%s" % (ACCOUNT, key.user_name)
            return False, "InvalidClientTokenId"

        return prove_key

    # --- reading moto, independently of the module --------------------------------------
    @staticmethod
    def backend():
        return iam_backends[ACCOUNT]["global"]

    def mutations(self):
        return [c for c in self.calls if c.startswith(MUTATING_PREFIXES)]

    def user_exists(self, name):
        try:
            self.iam.get_user(UserName=name)
            return True
        except self.iam.exceptions.NoSuchEntityException:
            return False

    def view(self, name):
        """The user as boto3 reads it back, in the shape of the modules' ``user`` (None when it does not exist)."""
        try:
            user = self.iam.get_user(UserName=name)["User"]
        except self.iam.exceptions.NoSuchEntityException:
            return None
        tags = {t["Key"]: t["Value"] for t in user.get("Tags") or []}
        attached = self.iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        managed = sorted(p["PolicyArn"] for p in attached)
        inline = sorted(self.iam.list_user_policies(UserName=name)["PolicyNames"])
        return {"user_name": name, "arn": user["Arn"], "path": user["Path"], "tags": tags,
                "created": user["CreateDate"].isoformat(), "managed_policies": managed, "inline_policies": inline,
                "permissions_boundary": (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn"),
                "suspended": "nhi-suspended" in inline or tags.get("nhi:state") == "suspended"}

    def keys(self, name):
        """{access_key_id: status} of a user's keys."""
        return {k["AccessKeyId"]: k["Status"] for k in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]}

    def secret_of(self, key_id):
        return self.backend().access_keys[key_id].secret_access_key

    def has_login_profile(self, name):
        try:
            self.iam.get_login_profile(UserName=name)
            return True
        except self.iam.exceptions.NoSuchEntityException:
            return False

    # --- seeding moto, outside the module under test -------------------------------------
    def policy(self, name, document=None):
        return self.iam.create_policy(PolicyName=name,
                                      PolicyDocument=json.dumps(document or POLICY_DOC))["Policy"]["Arn"]

    def user(self, name, path="/", tags=None):
        self.iam.create_user(UserName=name, Path=path,
                             Tags=[{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())])
        return name

    def key(self, name, status="Active"):
        made = self.iam.create_access_key(UserName=name)["AccessKey"]
        if status != "Active":
            self.iam.update_access_key(UserName=name, AccessKeyId=made["AccessKeyId"], Status=status)
        return made["AccessKeyId"], made["SecretAccessKey"]


def run_module(module, args, capsys, check_mode=False, diff=False):
    """Run a module's main() in-process (no Vault options added); return its JSON result."""
    return _run_module(module, args, capsys, check_mode=check_mode, diff=diff, defaults={"workers": 2})


def evidence_for(result, step, action=None):
    return [e for e in result["evidence"] if e["step"] == step and (action is None or e["action"] == action)]

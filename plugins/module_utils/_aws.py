# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The AWS connector: options, one shared session and clients, errors, proofs.

A boto3 session and its IAM and STS clients are built once per module run and
shared by every worker (building one per call costs 5 to 220 ms of CPU).
Retries and throttling use botocore's own ``adaptive`` retry mode, which adds
client-side rate limiting; nothing here wraps a second backoff loop round it.
botocore also replays a call whose answer was lost (reset, read timeout); for
CreateAccessKey that may have made a key nobody holds the secret of, so a
mint that was retried is followed by a check for such keys (``retried``,
aws_access_key's ``drop_phantoms``).

Proving that a minted key works (or is rejected) signs one STS
GetCallerIdentity request with SigV4 by hand and sends it on a shared HTTP
session, instead of building a boto3 client per key.
"""

from __future__ import annotations

import re
import threading

from ansible.module_utils.basic import env_fallback

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, NotFound

try:
    import boto3
    import botocore
    import botocore.auth
    import botocore.awsrequest
    import botocore.config
    import botocore.credentials
    import botocore.exceptions
    import botocore.parsers
    HAS_BOTO3 = True
    BOTO3_IMPORT_ERROR = None
except ImportError as _exc:  # pragma: no cover - reported through missing_required_lib
    HAS_BOTO3 = False
    BOTO3_IMPORT_ERROR = _exc

try:
    import requests
    import requests.adapters
    from urllib3.util.retry import Retry
    HAS_REQUESTS = True
except ImportError:  # pragma: no cover
    HAS_REQUESTS = False


def _no_auth(request):
    """Leave requests' auth alone (the caller sets its own headers)."""
    return request


def argument_spec():
    """Connection and auth options, shared by every module that talks to AWS."""
    return dict(
        aws_profile=dict(type="str", fallback=(env_fallback, ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"])),
        aws_access_key_id=dict(type="str", no_log=False,
                               fallback=(env_fallback, ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"])),
        aws_secret_access_key=dict(type="str", no_log=True,
                                   fallback=(env_fallback, ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"])),
        aws_session_token=dict(type="str", no_log=True, fallback=(env_fallback, ["AWS_SESSION_TOKEN"])),
        aws_region=dict(type="str", fallback=(env_fallback, ["AWS_REGION", "AWS_DEFAULT_REGION"])),
        aws_endpoint_url=dict(type="str", fallback=(env_fallback, ["AWS_ENDPOINT_URL"])),
        aws_ca_bundle=dict(type="path", fallback=(env_fallback, ["AWS_CA_BUNDLE"])),
        aws_validate_certs=dict(type="bool", default=True),
        aws_timeout=dict(type="int", default=15),
        aws_max_attempts=dict(type="int", default=8),
        aws_retry_mode=dict(type="str", default="adaptive", choices=["adaptive", "standard", "legacy"]),
    )


_THROTTLE_CODES = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
                   "SlowDown", "RequestThrottled"}
_GONE_CODES = {"NoSuchEntity", "NoSuchEntityException"}
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_BAD_CRED_CODES = {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidAccessKeyId",
                   "UnrecognizedClientException", "AuthFailure"}


USER_NAME_RE = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)


def check_user_name(name, where="user_name"):
    """Refuse what IAM cannot hold as a user name, before any call: a batch with one bad name changes nothing."""
    if not isinstance(name, str) or not USER_NAME_RE.fullmatch(name):
        raise NHIError("%r is not an IAM user name" % (name,), where=where,
                       hint="use 1-64 characters of letters, digits and + = , . @ _ -")


def error_code(exc):
    if HAS_BOTO3 and isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


def translate(exc, what, where=None):
    """Map a botocore error onto NHIError; NoSuchEntity becomes NotFound."""
    if isinstance(exc, NHIError):
        return exc
    if not HAS_BOTO3:
        return NHIError("%s: %s" % (what, exc), where=where)
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message") or code
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _GONE_CODES:
            return NotFound("%s: %s" % (what, message), where=where, status=status)
        if code in _DENIED_CODES:
            return NHIError("%s: AWS denied the call (%s)" % (what, message), where=where,
                            hint="grant the permission listed in docs/permissions/iam-policy.json", status=status)
        if code in _BAD_CRED_CODES:
            return NHIError("%s: AWS rejected the credentials (%s)" % (what, code), where=where,
                            hint="check aws_access_key_id/aws_secret_access_key or AWS_PROFILE", status=status)
        if code in _THROTTLE_CODES:
            return NHIError("%s: AWS kept throttling after retries" % what, where=where,
                            hint="lower the workers or raise aws_max_attempts", retryable=True, status=status)
        if code == "LimitExceeded":
            return NHIError("%s: AWS limit reached (%s)" % (what, message), where=where, status=status)
        return NHIError("%s: %s (%s)" % (what, message, code), where=where, status=status,
                        retryable=bool(status and status >= 500))
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return NHIError("%s: no AWS region is set" % what, where="aws_region / AWS_REGION",
                        hint="set aws_region, or export AWS_REGION=us-east-1")
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return NHIError("%s: no usable AWS credentials" % what, where="aws_access_key_id / AWS_PROFILE",
                        hint="set aws_profile or aws_access_key_id and aws_secret_access_key")
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return NHIError("%s: %s" % (what, exc), where="aws_profile / AWS_PROFILE",
                        hint="use a profile that exists in ~/.aws/config")
    if isinstance(exc, botocore.exceptions.SSLError):
        return NHIError("%s: TLS verification of the AWS endpoint failed" % what, where=where,
                        hint="set aws_ca_bundle (AWS_CA_BUNDLE) to the CA of the endpoint")
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                        botocore.exceptions.ReadTimeoutError)):
        return NHIError("%s: cannot reach the AWS endpoint (%s)" % (what, exc), where=where,
                        hint="check aws_endpoint_url / AWS_ENDPOINT_URL and the network", retryable=True)
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return NHIError("%s: the AWS endpoint sent an unreadable answer" % what, where=where, retryable=True)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return NHIError("%s: %s" % (what, exc), where=where)
    return NHIError("%s: %s: %s" % (what, type(exc).__name__, exc), where=where)


class AWSConnection(object):
    """One boto3 session with shared IAM and STS clients, for a module run."""

    def __init__(self, options, pool_size=8):
        if not HAS_BOTO3:
            raise NHIError("the boto3 Python library is required", where="controller Python",
                           hint="pip install boto3 (see requirements/runtime.txt)")
        self.options = options
        try:
            self.session = boto3.session.Session(
                profile_name=options.get("aws_profile") if not options.get("aws_access_key_id") else None,
                aws_access_key_id=options.get("aws_access_key_id"),
                aws_secret_access_key=options.get("aws_secret_access_key"),
                aws_session_token=options.get("aws_session_token"),
                region_name=options.get("aws_region"),
            )
        except Exception as exc:
            raise translate(exc, "creating the AWS session")
        self.region = self.session.region_name
        if not self.region:
            raise NHIError("no AWS region is set", where="aws_region / AWS_REGION",
                           hint="set aws_region, or export AWS_REGION=us-east-1 (IAM is global, STS needs a region)")
        self.endpoint_url = options.get("aws_endpoint_url") or None  # AWX injects empty values
        self.verify = options.get("aws_ca_bundle") if options.get("aws_validate_certs", True) else False
        if self.verify is None:
            self.verify = True
        timeout = int(options.get("aws_timeout", 15))
        self.timeout = timeout
        self.config = botocore.config.Config(
            connect_timeout=timeout, read_timeout=timeout,
            retries={"mode": options.get("aws_retry_mode", "adaptive"),
                     "max_attempts": int(options.get("aws_max_attempts", 8))},
            max_pool_connections=max(pool_size, 10),
        )
        self._clients = {}
        self._lock = threading.Lock()
        self._http = None

    def client(self, service):
        with self._lock:
            found = self._clients.get(service)
            if found is None:
                try:
                    found = self.session.client(service, endpoint_url=self.endpoint_url, verify=self.verify,
                                                config=self.config)
                except Exception as exc:
                    raise translate(exc, "creating the AWS %s client" % service)
                self._clients[service] = found
            return found

    @property
    def iam(self):
        return self.client("iam")

    @property
    def sts(self):
        return self.client("sts")

    def caller_identity(self):
        try:
            return self.sts.get_caller_identity()
        except Exception as exc:
            raise translate(exc, "checking the AWS credentials (sts:GetCallerIdentity)",
                            where=self.endpoint_url or "AWS STS")

    # --- proofs ----------------------------------------------------------
    def _sts_url(self):
        if self.endpoint_url:
            return self.endpoint_url.rstrip("/") + "/"
        return self.sts.meta.endpoint_url.rstrip("/") + "/"

    def _http_session(self):
        with self._lock:
            if self._http is None:
                retry = Retry(total=4, connect=4, read=2, status=4, backoff_factor=0.2, backoff_jitter=0.3,
                              status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None,
                              raise_on_status=False, respect_retry_after_header=True)
                session = requests.Session()
                session.auth = _no_auth  # skip the per-call ~/.netrc lookup
                adapter = requests.adapters.HTTPAdapter(pool_maxsize=max(self.config.max_pool_connections, 10),
                                                        max_retries=retry)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._http = session
            return self._http

    def prove_key(self, access_key_id, secret_access_key, session_token=None):
        """Try a key with STS GetCallerIdentity.

        Returns ``(accepted, detail)``: ``(True, arn)`` when AWS accepted the
        key, ``(False, error_code)`` when AWS rejected it. Transport errors
        raise NHIError, because "could not ask" is not "rejected".
        """
        url = self._sts_url()
        body = "Action=GetCallerIdentity&Version=2011-06-15"
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=url, data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        credentials = botocore.credentials.Credentials(access_key_id, secret_access_key, session_token)
        botocore.auth.SigV4Auth(credentials, "sts", self.region).add_auth(request)
        prepared = request.prepare()
        try:
            response = self._http_session().post(prepared.url, data=body, headers=dict(prepared.headers),
                                                 timeout=self.timeout, verify=self.verify)
        except Exception as exc:
            raise NHIError("proving key %s: cannot reach STS (%s)" % (access_key_id, type(exc).__name__),
                           where=url, hint="check aws_endpoint_url and the network", retryable=True)
        text = response.text or ""
        if response.status_code == 200:
            match = re.search(r"<Arn>([^<]+)</Arn>", text)
            return True, match.group(1) if match else "accepted"
        code = re.search(r"<Code>([^<]+)</Code>", text)
        code = code.group(1) if code else "HTTP %d" % response.status_code
        if response.status_code in (400, 401, 403):
            return False, code
        raise NHIError("proving key %s: STS answered HTTP %d (%s)" % (access_key_id, response.status_code, code),
                       where=url, retryable=True)


def retried(outcome):
    """Whether botocore sent the call more than once (a response dict, a ClientError or another error).

    A call that failed without an answer (connection lost, read timeout)
    after retries may have been processed by any of its attempts: True.
    """
    if outcome is None:
        return False
    if isinstance(outcome, dict):
        return int((outcome.get("ResponseMetadata") or {}).get("RetryAttempts") or 0) > 0
    if HAS_BOTO3 and isinstance(outcome, botocore.exceptions.ClientError):
        return int((outcome.response.get("ResponseMetadata") or {}).get("RetryAttempts") or 0) > 0
    if HAS_BOTO3 and isinstance(outcome, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return True
    return False


SUSPEND_POLICY = "nhi-suspended"


def read_user(iam, name):
    """An IAM user with its tags and policies, or None when it does not exist."""
    def call(what, fn, **kwargs):
        try:
            return fn(**kwargs)
        except Exception as exc:
            raise translate(exc, what)
    try:
        user = iam.get_user(UserName=name)["User"]
    except Exception as exc:
        err = translate(exc, "reading IAM user %r" % name)
        if isinstance(err, NotFound):
            return None
        raise err
    # GetUser returns the user's tags (IAM allows at most 50, all returned)
    # and its permissions boundary, so no iam:ListUserTags per user read.
    tags = {t["Key"]: t["Value"] for t in user.get("Tags") or []}
    try:
        managed = [p["PolicyArn"] for p in call("listing the managed policies of %r" % name,
                                                iam.list_attached_user_policies,
                                                UserName=name).get("AttachedPolicies", [])]
        inline = call("listing the inline policies of %r" % name, iam.list_user_policies,
                      UserName=name).get("PolicyNames", [])
    except NotFound:
        # Deleted between our calls (another run, or a retried DeleteUser
        # whose first answer was lost): it is gone, which is not an error.
        return None
    return user_view(user, name, tags, managed, inline)


def user_view(user, name, tags, managed, inline):
    """The module-facing view of an IAM user (a GetUser or CreateUser ``User``) with its policies."""
    boundary = (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return {"user_name": name, "arn": user.get("Arn"), "path": user.get("Path"), "tags": tags,
            "created": user["CreateDate"].isoformat() if user.get("CreateDate") else None,
            "managed_policies": sorted(managed), "inline_policies": sorted(inline), "permissions_boundary": boundary,
            "suspended": SUSPEND_POLICY in inline or tags.get("nhi:state") == "suspended"}


def client(options, pool_size=8):
    """Return a new AWSConnection (one per module run; share it between workers)."""
    return AWSConnection(options, pool_size=pool_size)


def is_not_implemented(exc):
    """moto and some partitions do not implement every IAM call."""
    if not HAS_BOTO3:
        return False
    if isinstance(exc, botocore.parsers.ResponseParserError):
        return True
    code = error_code(exc)
    status = None
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NotImplemented", "InternalFailure", "500") or status in (500, 501)


__all__ = ["argument_spec", "client", "translate", "AWSConnection", "NotFound", "is_not_implemented", "error_code"]

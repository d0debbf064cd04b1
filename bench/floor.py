# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The floor of `make bench`: the same API calls as nhi.lifecycle, with no Ansible.

A short, competent script: one boto3 session with one IAM client, one hvac
client and one HTTP session for the STS proofs, built once and shared by a
pool of 16 worker threads. It makes, per identity, the calls listed below and
nothing else: no policy, no evidence, no result reporting beyond a count.
It is what a batch of lifecycle work costs when only the API calls are paid
for, so that ``ours / floor`` is the price of Ansible plus the product
(plan, policy, evidence, proofs' bookkeeping, per-identity results).

rotate, per identity (the order of aws_access_key state=rotated):
  iam:ListAccessKeys, kv2 read (latest), iam:CreateAccessKey,
  kv2 write (cas = the version read), kv2 custom-metadata write,
  sts:GetCallerIdentity with the new key (must be accepted),
  iam:UpdateAccessKey old -> Inactive, iam:DeleteAccessKey old,
  sts:GetCallerIdentity with the old key (must be rejected),
  kv2 destroy of the old version.
offboard, per identity (the least that leaves nothing behind):
  iam:ListAccessKeys, kv2 read, iam:UpdateAccessKey -> Inactive and
  iam:DeleteAccessKey for every key, sts:GetCallerIdentity with the stored
  key (must be rejected), kv2 delete of the metadata and all versions,
  iam:DeleteUser.
reconcile (read only, the reads of nhi.lifecycle's reconcile role): once,
  iam:ListUsers under the managed path (discovery); per identity, kv2
  metadata read, iam:GetUser (with its tags), ListAttachedUserPolicies,
  ListUserPolicies, ListAccessKeys and GetAccessKeyLastUsed per key, then
  a comparison of the stored key id with the user's active keys.

The STS proofs sign GetCallerIdentity with SigV4 by hand (botocore's
SigV4Auth) and send it on the shared requests session, exactly as
plugins/module_utils/_aws.py ``prove_key`` does, instead of building a
botocore client per key (5 to 220 ms of CPU each): so the floor and the
collection make the same calls the same way.

Usage (the backends' VAULT_ADDR, VAULT_TOKEN, AWS_* in the environment):

    python bench/floor.py rotate --names names.json [--workers 16] [--path-prefix nhi/bench]

Prints one JSON line: {"op", "n", "ok", "failed", "errors": [first few], "seconds"}.
Exit status 0 when every identity succeeded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import hvac
import requests
import requests.adapters
from urllib3.util.retry import Retry

DEFAULT_WORKERS = 16
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


class Clients(object):
    """Everything the workers share; built once."""

    def __init__(self, env=None, workers=DEFAULT_WORKERS):
        env = env if env is not None else os.environ
        self.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.endpoint = env.get("AWS_ENDPOINT_URL")
        pool = max(workers, 10)
        config = botocore.config.Config(retries={"mode": "standard", "max_attempts": 8},
                                        max_pool_connections=pool, connect_timeout=15, read_timeout=60)
        self.session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                             aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                             aws_session_token=env.get("AWS_SESSION_TOKEN"),
                                             region_name=self.region)
        self.iam = self.session.client("iam", endpoint_url=self.endpoint, config=config)
        sts = self.session.client("sts", endpoint_url=self.endpoint, config=config)
        self.sts_url = (self.endpoint or sts.meta.endpoint_url).rstrip("/") + "/"
        self.http = _http_session(pool)
        self.vault = hvac.Client(url=env["VAULT_ADDR"], token=env["VAULT_TOKEN"], timeout=30,
                                 session=_http_session(pool))

    # --- STS proof: SigV4 by hand on the shared session -------------------
    def prove_key(self, key_id, secret):
        """(True, arn) when STS accepts the key, (False, error code) when it rejects it."""
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=self.sts_url, data=STS_BODY,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(key_id, secret), "sts",
                                self.region).add_auth(request)
        prepared = request.prepare()
        response = self.http.post(prepared.url, data=STS_BODY, headers=dict(prepared.headers), timeout=30)
        if response.status_code == 200:
            match = re.search(r"<Arn>([^<]+)</Arn>", response.text)
            return True, match.group(1) if match else "accepted"
        if response.status_code in (400, 401, 403):
            code = re.search(r"<Code>([^<]+)</Code>", response.text)
            return False, code.group(1) if code else "HTTP %d" % response.status_code
        raise RuntimeError("STS answered HTTP %d" % response.status_code)

    def expect(self, key_id, secret, accepted, deadline=30.0):
        """Poll until STS gives the expected verdict (IAM is eventually consistent)."""
        end = time.monotonic() + deadline
        delay = 0.2
        while True:
            got, detail = self.prove_key(key_id, secret)
            if got == accepted:
                return detail
            if time.monotonic() >= end:
                raise RuntimeError("key %s was %s, expected %s (%s)" % (
                    key_id, "accepted" if got else "rejected", "accepted" if accepted else "rejected", detail))
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    # --- KV v2 -------------------------------------------------------------
    def kv_read(self, mount, path):
        try:
            response = self.vault.secrets.kv.v2.read_secret_version(path=path, mount_point=mount,
                                                                    raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath:
            return None, None
        data = response["data"]
        return data.get("data"), data.get("metadata") or {}


def _http_session(pool):
    retry = Retry(total=4, connect=4, read=0, status=4, backoff_factor=0.2,
                  status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None, raise_on_status=False)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=pool, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def iso_now():
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (int(now * 1000) % 1000)


def stored_fields(identity, user, key_id, secret, run_id):
    """The KV v2 data and custom metadata that nhi.lifecycle.aws_access_key writes."""
    minted_at = iso_now()
    data = {"access_key_id": key_id, "secret_access_key": secret, "identity": identity,
            "user_name": user, "minted_at": minted_at, "run_id": run_id}
    metadata = {"nhi_identity": identity, "kind": "aws_access_key", "access_key_id": key_id,
                "user_name": user, "minted_at": minted_at, "run_id": run_id}
    return data, metadata


# --- the operations, per identity ----------------------------------------------

def rotate_one(c, name, mount, prefix, run_id):
    path = "%s/%s" % (prefix, name)
    keys = c.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    stored, meta = c.kv_read(mount, path)
    if not stored:
        raise RuntimeError("nothing stored at %s/%s" % (mount, path))
    version = meta["version"]
    old_id, old_secret = stored["access_key_id"], stored["secret_access_key"]
    if len(keys) != 1 or keys[0]["AccessKeyId"] != old_id:
        raise RuntimeError("%s: expected exactly the stored key, found %d key(s)" % (name, len(keys)))
    new = c.iam.create_access_key(UserName=name)["AccessKey"]
    data, metadata = stored_fields(name, name, new["AccessKeyId"], new["SecretAccessKey"], run_id)
    c.vault.secrets.kv.v2.create_or_update_secret(path=path, secret=data, cas=version, mount_point=mount)
    c.vault.secrets.kv.v2.update_metadata(path=path, mount_point=mount, custom_metadata=metadata)
    c.expect(new["AccessKeyId"], new["SecretAccessKey"], True)
    c.iam.update_access_key(UserName=name, AccessKeyId=old_id, Status="Inactive")
    c.iam.delete_access_key(UserName=name, AccessKeyId=old_id)
    c.expect(old_id, old_secret, False)
    c.vault.secrets.kv.v2.destroy_secret_versions(path=path, versions=[version], mount_point=mount)


def offboard_one(c, name, mount, prefix, run_id):
    path = "%s/%s" % (prefix, name)
    keys = c.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    stored, _meta = c.kv_read(mount, path)
    for key in keys:
        if key["Status"] == "Active":
            c.iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
        c.iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    if stored:
        c.expect(stored["access_key_id"], stored["secret_access_key"], False)
    c.vault.secrets.kv.v2.delete_metadata_and_all_versions(path=path, mount_point=mount)
    c.iam.delete_user(UserName=name)


def reconcile_one(c, name, mount, prefix, run_id):
    path = "%s/%s" % (prefix, name)
    meta = c.vault.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)["data"]
    c.iam.get_user(UserName=name)  # returns the tags too
    c.iam.list_attached_user_policies(UserName=name)
    inline = c.iam.list_user_policies(UserName=name)["PolicyNames"]
    keys = c.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    for key in keys:
        c.iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    stored_id = (meta.get("custom_metadata") or {}).get("access_key_id")
    active = [k["AccessKeyId"] for k in keys if k["Status"] == "Active"]
    if active != [stored_id] or inline:
        raise RuntimeError("%s: drift (stored %s, active %s, inline policies %s)" % (name, stored_id, active, inline))


def reconcile_all(c, names, user_path="/bench/"):
    """Once per run: the users under the managed path that are in no list (discovery)."""
    known = set(names)
    found = []
    for page in c.iam.get_paginator("list_users").paginate(PathPrefix=user_path):
        found.extend(u["UserName"] for u in page["Users"])
    return sorted(set(found) - known)


OPERATIONS = {"rotate": rotate_one, "offboard": offboard_one, "reconcile": reconcile_one}


def run(op, names, env=None, workers=DEFAULT_WORKERS, mount="secret", prefix="nhi/bench", run_id=None):
    """Do ``op`` for every name on a pool of ``workers``; return a summary dict."""
    fn = OPERATIONS[op]
    run_id = run_id or "bench-floor-%d" % int(time.time())
    start = time.monotonic()
    clients = Clients(env, workers)

    def one(name):
        try:
            fn(clients, name, mount, prefix, run_id)
            return None
        except Exception as exc:  # pylint: disable=broad-except
            return "%s: %s: %s" % (name, type(exc).__name__, str(exc).splitlines()[0][:300] if str(exc) else "")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = [e for e in pool.map(one, names) if e]
    if op == "reconcile":
        clients.unknown = reconcile_all(clients, names)  # reported drift, not an error here
    return {"op": op, "n": len(names), "ok": len(names) - len(errors), "failed": len(errors),
            "errors": errors[:10], "seconds": round(time.monotonic() - start, 3)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("op", choices=sorted(OPERATIONS))
    parser.add_argument("--names", required=True, help="JSON file: a list of identity (= IAM user) names")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--mount", default="secret")
    parser.add_argument("--path-prefix", default="nhi/bench")
    args = parser.parse_args(argv)
    with open(args.names, encoding="utf-8") as handle:
        names = json.load(handle)
    summary = run(args.op, names, workers=args.workers, mount=args.mount, prefix=args.path_prefix)
    print(json.dumps(summary))
    return 0 if summary["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors
"""Helpers for scripts/backends.sh: free ports, health waits and bootstraps.

This is development tooling, not part of the collection's plugins. It runs
with the project venv's Python (boto3, hvac and requests come from
requirements/). Nothing secret is ever printed to stderr; the only command
that prints secrets (``moto-bootstrap``) writes them to stdout, which
backends.sh redirects into the mode-0600 env file under ``.run/``.

Sub-commands:

  free-port [--pair]          print a free loopback TCP port (with --pair, one
                              whose successor is free too: bao's cluster port)
  wait-http NAME URL LOG      wait until URL answers HTTP (any status), or fail
                              naming the backend and its log file
  bao-setup                   enable the approle auth method at approle/ and
                              check KV v2 at secret/ (VAULT_ADDR, VAULT_TOKEN)
  moto-bootstrap URL          create the nhi-admin IAM user with an allow-all
                              inline policy and an access key, then turn on
                              moto's auth enforcement; print export lines
  check ENVFILE               exit 0 when every backend in ENVFILE answers
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import sys
import time
import urllib.error
import urllib.request

ADMIN_USER = "nhi-admin"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def _die(msg: str, code: int = 1) -> None:
    print("backends: %s" % msg, file=sys.stderr)
    sys.exit(code)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(pair: bool) -> int:
    """Ask the kernel for a free loopback port (and, with pair, port+1 too)."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair or (port < 65535 and _port_free(port + 1)):
            return port
    _die("could not find a free loopback port pair after 50 tries")
    return 0  # unreachable


def http_status(url: str, headers: dict | None = None, timeout: float = 2.0) -> int | None:
    """Return the HTTP status of a GET on url, or None when nothing answers."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def wait_http(name: str, url: str, log: str, timeout: float, pid: int | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid is not None and not os.path.exists("/proc/%d" % pid):
            _die("%s exited during start-up; read its log: %s" % (name, log))
        if http_status(url) is not None:
            return
        time.sleep(0.2)
    _die("%s did not answer at %s within %g s; read its log: %s" % (name, url, timeout, log))


def bao_setup() -> None:
    import hvac  # pylint: disable=import-outside-toplevel

    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], timeout=10)
    if not client.is_authenticated():
        _die("OpenBao at %s rejected the root token we started it with" % os.environ["VAULT_ADDR"])
    auths = client.sys.list_auth_methods()
    auths = auths.get("data", auths)
    if "approle/" not in auths:
        client.sys.enable_auth_method("approle", path="approle")
    mounts = client.sys.list_mounted_secrets_engines()
    mounts = mounts.get("data", mounts)
    kv = mounts.get("secret/") or {}
    if kv.get("type") != "kv" or (kv.get("options") or {}).get("version") != "2":
        _die("OpenBao dev server has no KV v2 engine at secret/ (found %r)" % (kv.get("type"),))


def moto_bootstrap(url: str) -> None:
    import boto3  # pylint: disable=import-outside-toplevel
    from botocore.config import Config  # pylint: disable=import-outside-toplevel

    cfg = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=20)
    # Before reset-auth moto accepts any credentials; these are placeholders.
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        config=cfg,
    )
    try:
        iam.create_user(UserName=ADMIN_USER, Tags=[{"Key": "nhi:role", "Value": "backend-admin"}])
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="allow-all", PolicyDocument=json.dumps(ALLOW_ALL))
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]

    # Turn on auth enforcement: from now on, every request must be signed
    # with a known key whose policies allow the action.
    req = urllib.request.Request(
        url.rstrip("/") + "/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback only)
        if resp.status != 200:
            _die("moto at %s refused reset-auth (HTTP %s)" % (url, resp.status))

    # Prove that enforcement is on and that the admin key works.
    sts = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        config=cfg,
    )
    arn = sts.get_caller_identity()["Arn"]
    if not arn.endswith(":user/" + ADMIN_USER):
        _die("moto answered GetCallerIdentity for the admin key with %s" % arn)

    print("export AWS_ACCESS_KEY_ID=%s" % shlex.quote(key["AccessKeyId"]))
    print("export AWS_SECRET_ACCESS_KEY=%s" % shlex.quote(key["SecretAccessKey"]))


def read_env(path: str) -> dict:
    env = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("export "):
                continue
            key, _sep, value = line[len("export "):].partition("=")
            parts = shlex.split(value)
            env[key] = parts[0] if parts else ""
    return env


def check(path: str) -> int:
    env = read_env(path)
    probes = {
        "openbao": (env.get("VAULT_ADDR", "") + "/v1/sys/health", {}),
        "moto": (env.get("AWS_ENDPOINT_URL", "") + "/moto-api/", {}),
        "scim2-server": (
            env.get("NHI_SCIM_URL", "") + "/ServiceProviderConfig",
            {"Authorization": "Bearer " + env.get("NHI_SCIM_TOKEN", "")},
        ),
    }
    if env.get("NHI_GCP_ENDPOINT"):
        probes["gcp stand-in"] = (env["NHI_GCP_ENDPOINT"] + "/health", {})
    bad = []
    for name, (url, headers) in probes.items():
        status = http_status(url, headers) if url.startswith("http") else None
        if status != 200:
            bad.append("%s (%s -> %s)" % (name, url, status))
    if bad:
        print("backends: not healthy: %s" % ", ".join(bad), file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free-port")
    p.add_argument("--pair", action="store_true")
    p = sub.add_parser("wait-http")
    p.add_argument("name")
    p.add_argument("url")
    p.add_argument("log")
    p.add_argument("--timeout", type=float, default=30.0)
    p.add_argument("--pid", type=int)
    sub.add_parser("bao-setup")
    p = sub.add_parser("moto-bootstrap")
    p.add_argument("url")
    p = sub.add_parser("check")
    p.add_argument("envfile")
    args = parser.parse_args(argv)

    if args.cmd == "free-port":
        print(free_port(args.pair))
    elif args.cmd == "wait-http":
        wait_http(args.name, args.url, args.log, args.timeout, args.pid)
    elif args.cmd == "bao-setup":
        bao_setup()
    elif args.cmd == "moto-bootstrap":
        moto_bootstrap(args.url)
    elif args.cmd == "check":
        return check(args.envfile)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

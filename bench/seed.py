# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Seed the identities that `make bench` rotates and offboards.

For every name: an IAM user (path /bench/) with one access key, and the key
pair stored in Vault KV v2 at ``secret/<path-prefix>/<name>`` in the format
that nhi.lifecycle.aws_access_key writes (data fields access_key_id,
secret_access_key, identity, user_name, minted_at, run_id; custom metadata
nhi_identity, kind, access_key_id, user_name, minted_at, run_id). So each
contender starts from the state a provision run would have left.

Threaded, with the clients of bench/floor.py built once and shared. Usage
(backends' VAULT_ADDR, VAULT_TOKEN, AWS_* in the environment):

    python bench/seed.py --names names.json [--workers 16] [--path-prefix nhi/bench]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import floor  # noqa: E402  pylint: disable=wrong-import-position

USER_PATH = "/bench/"


def seed_one(c, name, mount, prefix, run_id):
    path = "%s/%s" % (prefix, name)
    c.iam.create_user(UserName=name, Path=USER_PATH,
                      Tags=[{"Key": "managed-by", "Value": "nhi.lifecycle"}, {"Key": "nhi:identity", "Value": name}])
    key = c.iam.create_access_key(UserName=name)["AccessKey"]
    data, metadata = floor.stored_fields(name, name, key["AccessKeyId"], key["SecretAccessKey"], run_id)
    c.vault.secrets.kv.v2.create_or_update_secret(path=path, secret=data, cas=0, mount_point=mount)
    c.vault.secrets.kv.v2.update_metadata(path=path, mount_point=mount, custom_metadata=metadata)
    return key["AccessKeyId"]


def seed(names, env=None, workers=floor.DEFAULT_WORKERS, mount="secret", prefix="nhi/bench", run_id=None):
    """Create and store one key per name; return {name: access_key_id}. Raises on the first failure."""
    run_id = run_id or "bench-seed-%d" % int(time.time())
    clients = floor.Clients(env, workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ids = list(pool.map(lambda name: seed_one(clients, name, mount, prefix, run_id), names))
    return dict(zip(names, ids))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--names", required=True, help="JSON file: a list of identity (= IAM user) names")
    parser.add_argument("--workers", type=int, default=floor.DEFAULT_WORKERS)
    parser.add_argument("--mount", default="secret")
    parser.add_argument("--path-prefix", default="nhi/bench")
    args = parser.parse_args(argv)
    with open(args.names, encoding="utf-8") as handle:
        names = json.load(handle)
    start = time.monotonic()
    seed(names, workers=args.workers, mount=args.mount, prefix=args.path_prefix)
    print(json.dumps({"seeded": len(names), "seconds": round(time.monotonic() - start, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

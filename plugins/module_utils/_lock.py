# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""A per-identity lock with a lease, kept in Vault KV v2 with check-and-set.

Two runs that change the same identity at once could both mint, and one of
the minted credentials would be lost. A run takes ``<mount>/nhi-locks/<identity>``
with a KV write whose ``cas`` is the version it read, so exactly one writer
wins. The lock names its run; the lifecycle playbooks take it in
``nhi.lifecycle.plan`` for the whole run and release it in
``nhi.lifecycle.outcome``, and a module used on its own takes it around each
target. A lock is stale, and may be taken over, when its lease has passed or
when it was taken on this host by a controller process that no longer exists
(a run that was killed).
"""

from __future__ import annotations

import datetime
import os
import socket
import uuid

from ansible_collections.nhi.lifecycle.plugins.module_utils._common import Conflict, NHIError, iso, parse_time, utcnow

PREFIX = "nhi-locks"
# A lease with less than this many seconds left is read before it is released.
RELEASE_MARGIN = 60


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


class LeaseLock(object):
    def __init__(self, vault, mount="secret", lease_seconds=1800, run_id=None, controller_pid=None):
        self.vault = vault
        self.mount = mount or "secret"
        self.lease = int(lease_seconds)
        self.run_id = run_id or os.environ.get("NHI_RUN_ID") or "adhoc-%s" % uuid.uuid4().hex[:12]
        self.host = socket.gethostname()
        self.pid = controller_pid
        self.taken = {}  # identity -> the expiry of the lease this object took

    def _path(self, identity):
        return "%s/%s" % (PREFIX, identity)

    def holder(self, identity):
        """The live lock on ``identity`` as ``(data, version)``; data is None when free or stale."""
        data, meta = self.vault.kv_read(self.mount, self._path(identity))
        version = (meta or {}).get("version") or 0
        if not data:
            return None, version
        try:
            expired = parse_time(data.get("expires")) <= utcnow()
        except NHIError:
            expired = True
        dead = data.get("host") == self.host and data.get("pid") and not _alive(data.get("pid"))
        if expired or dead:
            return None, version
        return data, version

    def acquire(self, identity):
        """Take the lock; returns False when this run already holds it.

        A free lock has no secret at all (``release`` deletes it), so the
        first try is one write with ``cas=0``, which Vault accepts only when
        the path does not exist. Only when that loses does the lock get read,
        to tell this run's own lock, a live one and a stale one apart.
        """
        try:
            self._write(identity, 0)
            return True
        except Conflict:
            pass
        data, version = self.holder(identity)
        if data and data.get("run_id") == self.run_id:
            return False
        if data:
            raise Conflict("identity %s is being changed by run %s (lease until %s)"
                           % (identity, data.get("run_id"), data.get("expires")),
                           where="lock %s/%s" % (self.mount, self._path(identity)),
                           hint="nothing was changed for it; wait for that run to finish and run again")
        try:
            self._write(identity, version)
        except Conflict:
            raise Conflict("identity %s was locked by another run a moment ago" % identity,
                           where="lock %s/%s" % (self.mount, self._path(identity)),
                           hint="nothing was changed for it; wait for that run to finish and run again")
        return True

    def _write(self, identity, cas):
        now = utcnow()
        expires = now + datetime.timedelta(seconds=self.lease)
        record = {"run_id": self.run_id, "host": self.host, "pid": self.pid, "taken": iso(now),
                  "expires": iso(expires)}
        self.vault.kv_write(self.mount, self._path(identity), record, cas=cas)
        self.taken[identity] = record["expires"]

    def release(self, identity, expires=None):
        """Give the lock back (delete it, so the next ``acquire`` is one write).

        While the lease this run took has not run out, nobody else can hold
        the lock (a live lease is never taken over, and this controller is
        alive), so it is deleted without reading it first. Past the lease,
        it is read, and deleted only if it is still this run's.
        """
        expires = expires or self.taken.pop(identity, None)
        if expires:
            try:
                left = (parse_time(expires) - utcnow()).total_seconds()
            except NHIError:
                left = 0
            if left > RELEASE_MARGIN:
                self._drop(identity)
                return
        data, _version = self.holder(identity)
        if data and data.get("run_id") == self.run_id:
            self._drop(identity)

    def _drop(self, identity):
        try:
            self.vault.kv_delete_all(self.mount, self._path(identity))
        except NHIError as exc:
            if exc.status != 403:
                raise
            # A policy that grants delete on data/nhi-locks/ but not on
            # metadata/nhi-locks/ (docs/permissions/vault-policy.hcl grants
            # both): a soft delete frees the lock too; the next acquire then
            # reads it and writes with check-and-set on its version.
            self.vault.kv_delete_latest(self.mount, self._path(identity))


def locked(lock, fn):
    """Wrap a per-target function so that it runs under the identity's lock."""
    def run(target):
        identity = target.get("identity")
        try:
            taken = lock.acquire(identity)
        except NHIError as exc:
            return {"identity": identity, "failed": True, "changed": False, "msg": str(exc), "locked": True}
        try:
            return fn(target)
        finally:
            if taken:
                try:
                    lock.release(identity)
                except NHIError:
                    pass  # the lease expires on its own
    return run

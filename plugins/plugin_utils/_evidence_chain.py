# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This plugin_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""The hash chain behind ``evidence.jsonl``: write, seal, verify and merge.

Every line of ``evidence.jsonl`` is one JSON record. Its ``hash`` is the
SHA-256 of the record's canonical JSON without ``hash`` and ``hmac``, where
canonical means ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` encoded as UTF-8. Each record carries the ``hash`` of
the one before it in ``prev`` (64 zeros for the first), and a ``seq`` that
counts from 1. When a key is given, ``hmac`` is the HMAC-SHA256 of the same
canonical bytes, so that nobody without the key can rebuild the chain. The
last record is the seal (``type: seal``), which holds the count of records
and the chain head (the hash of the last record before it), in the spirit of
CloudTrail's digest files.

Only the standard library is used, so the ``nhi-evidence`` command can run
this file outside Ansible.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac as _hmac
import json
import os

GENESIS = "0" * 64
EVIDENCE_FILE = "evidence.jsonl"
SEAL = "seal"
STEP = "step"
CANONICAL = "json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=False), UTF-8"

_CHAIN_FIELDS = ("seq", "prev", "hash", "hmac")


class ChainError(Exception):
    """Evidence cannot be written, or a chain does not verify."""


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_DECODE = json.JSONDecoder().decode


def canonical(record):
    """The canonical bytes of a record (which must not contain ``hash``/``hmac``).

    Same as ``json.dumps(record, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode("utf-8")``, with one encoder reused.
    """
    return _ENCODER.encode(record).encode("utf-8")


def to_key(key):
    """Normalise an HMAC key: None or empty means unkeyed."""
    if key is None or key == "" or key == b"":
        return None
    if isinstance(key, str):
        return key.encode("utf-8")
    return bytes(key)


def _digests(body, key):
    digest = hashlib.sha256(body).hexdigest()
    mac = _hmac.new(key, body, hashlib.sha256).hexdigest() if key else None
    return digest, mac


def utc_now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


def evidence_file(path):
    """Accept a run directory or the ``evidence.jsonl`` file itself."""
    path = os.path.abspath(os.path.expanduser(str(path)))
    if os.path.isdir(path):
        return os.path.join(path, EVIDENCE_FILE)
    return path


class ChainWriter(object):
    """Append records to a chain file, one line each, and seal it.

    The file is created exclusively: evidence is never appended to a chain
    that some other run wrote. ``append`` assigns ``seq``, ``prev``, ``hash``
    (and ``hmac`` when keyed) and returns the stored record. Lines are
    buffered until :meth:`flush`; the callback flushes after every task.
    """

    def __init__(self, path, key=None, exclusive=True):
        self.path = path
        self.key = to_key(key)
        self.head = GENESIS
        self.seq = 0
        self.count = 0
        self.first_ts = None
        self.last_ts = None
        self.hosts = set()
        self.identities = set()
        self.sealed = None
        self.written = 0
        self._stream = hashlib.sha256()
        self._fh = open(path, "xb" if exclusive else "ab")

    def append(self, record):
        if self.sealed is not None:
            raise ChainError("the chain %s is sealed; nothing can be appended" % self.path)
        record.pop("hash", None)
        record.pop("hmac", None)
        self.seq += 1
        record["seq"] = self.seq
        record["prev"] = self.head
        record.setdefault("type", STEP)
        body = canonical(record)
        digest, mac = _digests(body, self.key)
        if mac:
            line = b'%s,"hash":"%s","hmac":"%s"}\n' % (body[:-1], digest.encode("ascii"), mac.encode("ascii"))
        else:
            line = b'%s,"hash":"%s"}\n' % (body[:-1], digest.encode("ascii"))
        self._fh.write(line)
        self._stream.update(line)
        self.written += len(line)
        record["hash"] = digest
        if mac:
            record["hmac"] = mac
        self.head = digest
        if record.get("type") != SEAL:
            self.count += 1
            started, ended = record.get("started"), record.get("ended")
            if isinstance(started, str) and (self.first_ts is None or started < self.first_ts):
                self.first_ts = started
            if isinstance(ended, str) and (self.last_ts is None or ended > self.last_ts):
                self.last_ts = ended
            host = record.get("host")
            if host is not None:
                self.hosts.add(host)
            identity = record.get("identity")
            if identity is not None:
                self.identities.add(identity)
        return record

    def flush(self):
        self._fh.flush()

    def read_back(self):
        """True when the file on disk is, byte for byte, what this writer chained (size and SHA-256)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.flush()
        digest = hashlib.sha256()
        size = 0
        with open(self.path, "rb") as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                digest.update(chunk)
        return size == self.written and digest.hexdigest() == self._stream.hexdigest()

    def seal(self, run_id, hosts=None, **extra):
        """Append the seal record, flush and fsync. Returns the seal."""
        seal = {
            "type": SEAL,
            "run_id": run_id,
            "count": self.count,
            "head": self.head,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "hosts": sorted(set(hosts or ()) | self.hosts),
            "identities": len(self.identities),
            "keyed": self.key is not None,
            "hash_alg": "sha256",
            "hmac_alg": "hmac-sha256" if self.key is not None else None,
            "canonical": CANONICAL,
            "sealed_at": utc_now_iso(),
        }
        seal.update(extra)
        self.append(seal)
        self.sealed = seal
        self.close(sync=True)
        return seal

    def close(self, sync=False):
        if self._fh is None or self._fh.closed:
            return
        self._fh.flush()
        if sync:
            try:
                os.fsync(self._fh.fileno())
            except OSError:
                pass
        self._fh.close()


class VerifyResult(object):
    """What :func:`verify` found. ``bool(result)`` is ``result.ok``."""

    __slots__ = ("ok", "path", "count", "records", "head", "first_bad_seq", "line", "reason", "sealed",
                 "seal", "keyed", "hmac_checked", "run_id", "warnings")

    def __init__(self, path):
        self.path = path
        self.ok = False
        self.count = 0          # step records (the seal is not counted)
        self.records = 0        # lines read and verified, the seal included
        self.head = GENESIS     # hash of the last step record that verified
        self.first_bad_seq = None
        self.line = None
        self.reason = None
        self.sealed = False
        self.seal = None
        self.keyed = False
        self.hmac_checked = False
        self.run_id = None
        self.warnings = []

    def __bool__(self):
        return bool(self.ok)

    def as_dict(self):
        return {
            "ok": self.ok, "path": self.path, "count": self.count, "head": self.head,
            "first_bad_seq": self.first_bad_seq, "line": self.line, "reason": self.reason,
            "sealed": self.sealed, "keyed": self.keyed, "hmac_checked": self.hmac_checked,
            "run_id": self.run_id, "warnings": list(self.warnings),
        }

    def __repr__(self):
        return "VerifyResult(%r)" % (self.as_dict(),)


class _Failed(Exception):
    pass


_HERE = object()  # "the record at the current position"


def iter_verified(path, hmac_key=None, require_seal=True, expected_head=None, result=None):
    """Yield each record of a chain as it verifies; fill ``result`` as it goes.

    The records come out as they were stored (``hash``/``hmac`` included).
    Iteration stops at the first record that fails, with ``result.ok``
    False, ``result.first_bad_seq`` the position in the chain where it
    failed (positions and ``seq`` agree in an intact chain), ``result.line``
    the line number and ``result.reason`` why. ``result.ok`` is only set
    once the whole file has been read.
    """
    key = to_key(hmac_key)
    path = evidence_file(path)
    res = result if result is not None else VerifyResult(path)
    res.path = path
    res.hmac_checked = key is not None
    expected_seq = 1
    prev = GENESIS
    lineno = 0

    def fail(reason, seq=_HERE):
        res.ok = False
        res.first_bad_seq = expected_seq if seq is _HERE else seq
        res.line = lineno or None
        res.reason = reason
        raise _Failed(reason)

    try:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            lineno = 0
            fail("cannot read %s: %s" % (path, exc.strerror or exc), seq=None)
        with handle:
            for raw in handle:
                lineno += 1
                if res.sealed:
                    fail("line %d: data after the seal (records appended or the seal moved)" % lineno)
                if not raw.endswith(b"\n"):
                    fail("line %d: incomplete last line (the file was truncated while writing)" % lineno)
                try:
                    record = _DECODE(raw.decode("utf-8"))
                except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
                    fail("line %d: not valid UTF-8 JSON (edited or truncated)" % lineno)
                if not isinstance(record, dict):
                    fail("line %d: not a JSON object" % lineno)
                digest = record.pop("hash", None)
                mac = record.pop("hmac", None)
                if not isinstance(digest, str):
                    fail("record at seq %d has no hash" % expected_seq)
                body = canonical(record)
                if hashlib.sha256(body).hexdigest() != digest:
                    fail("record at seq %d: its content does not match its hash (the record was edited)" % expected_seq)
                seq = record.get("seq")
                if seq != expected_seq:
                    fail("expected seq %d but found seq %r: a record was deleted, inserted or reordered"
                         % (expected_seq, seq))
                if record.get("prev") != prev:
                    fail("record seq %d: prev does not match the hash of the record before it "
                         "(a record was deleted, inserted, reordered or rewritten)" % expected_seq)
                if mac is not None:
                    res.keyed = True
                if key is not None:
                    if mac is None:
                        fail("record seq %d has no hmac, but a key was given (the chain is not keyed, "
                             "or the hmac was stripped)" % expected_seq)
                    want = _hmac.new(key, body, hashlib.sha256).hexdigest()
                    if not _hmac.compare_digest(want, str(mac)):
                        fail("record seq %d: HMAC does not match (wrong key, or the record was forged)" % expected_seq)
                if record.get("type") == SEAL:
                    if record.get("count") != res.count:
                        fail("seal at seq %d: count %r does not match the %d records before it (forged seal)"
                             % (expected_seq, record.get("count"), res.count))
                    if record.get("head") != prev:
                        fail("seal at seq %d: head does not match the hash of the last record (forged seal)"
                             % expected_seq)
                    if record.get("keyed") and mac is None:
                        fail("seal at seq %d says the chain is keyed but carries no hmac" % expected_seq)
                    res.sealed = True
                    res.seal = record
                    res.run_id = record.get("run_id")
                else:
                    res.count += 1
                    res.head = digest
                    if res.run_id is None:
                        res.run_id = record.get("run_id")
                record["hash"] = digest
                if mac is not None:
                    record["hmac"] = mac
                res.records += 1
                prev = digest
                expected_seq += 1
                yield record
        if lineno == 0:
            fail("%s is empty: no records and no seal" % path, seq=1)
        if not res.sealed:
            if require_seal:
                fail("no seal record after seq %d: the chain was truncated or the run did not finish"
                     % (expected_seq - 1))
            res.warnings.append("the chain is not sealed (yet)")
        if expected_head and res.head != expected_head:
            fail("the chain head %s is not the expected head %s (the chain was rebuilt or truncated)"
                 % (res.head, expected_head), seq=None)
        if res.keyed and key is None:
            res.warnings.append("the chain is HMAC-keyed but no key was given: only the SHA-256 chain was checked")
        if res.seal is not None and res.seal.get("keyed") and key is None and not res.keyed:
            res.warnings.append("the seal says the chain is keyed")
        res.ok = True
    except _Failed:
        return


def verify(path, hmac_key=None, require_seal=True, expected_head=None):
    """Verify a run's chain. ``path`` is the run directory or its evidence.jsonl.

    Detects edited, deleted, inserted, reordered and truncated records, a
    missing or forged seal, data after the seal, and (with ``hmac_key``) any
    record whose HMAC does not match. With ``expected_head`` (the head that
    the run printed, or that AWX kept in its job log) it also detects a chain
    rebuilt from scratch without the key.
    """
    result = VerifyResult(evidence_file(path))
    for _record in iter_verified(path, hmac_key, require_seal, expected_head, result):
        pass
    return result


def _merge_extras(seals):
    exceptions = {"open": {}, "expired": {}}
    drift = []
    stats = {}
    for seal in seals:
        extras = seal.get("extras") or {}
        report = extras.get("exceptions") or {}
        for state in ("open", "expired"):
            for item in report.get(state) or []:
                ident = item.get("id") if isinstance(item, dict) else item
                exceptions[state][json.dumps(ident, sort_keys=True, default=str)] = item
        drift.extend(extras.get("drift") or [])
        for name, value in (extras.get("stats") or {}).items():
            if isinstance(value, (int, float)):
                stats[name] = stats.get(name, 0) + value
    return {
        "exceptions": {state: list(items.values()) for state, items in exceptions.items()},
        "drift": drift,
        "stats": stats,
    }


def merge(out_dir, dirs, hmac_key=None, run_id=None):
    """Merge the evidence of AWX job slices into one chain in ``out_dir``.

    Each slice must verify (sealed, and keyed with ``hmac_key`` when given).
    Its step records are copied in slice order, re-chained (new ``seq``,
    ``prev``, ``hash``, ``hmac``), with the slice's ``run_id`` kept and its
    original ``seq`` in ``slice_seq``. The merge seal lists every slice's
    ``run_id``, ``count`` and ``head``. Returns the :func:`verify` result of
    the merged chain. Raises :class:`ChainError` when a slice fails; then
    nothing is left in ``out_dir``.
    """
    if not dirs:
        raise ChainError("merge needs at least one evidence directory")
    key = to_key(hmac_key)
    out_dir = os.path.abspath(os.path.expanduser(str(out_dir)))
    os.makedirs(out_dir, exist_ok=True)
    final = os.path.join(out_dir, EVIDENCE_FILE)
    if os.path.exists(final):
        raise ChainError("%s already exists; merge into a new directory" % final)
    tmp = final + ".partial"
    if os.path.exists(tmp):
        os.unlink(tmp)
    writer = ChainWriter(tmp, key)
    slices = []
    seals = []
    try:
        for directory in dirs:
            result = VerifyResult(evidence_file(directory))
            for record in iter_verified(directory, key, True, None, result):
                if record.get("type") == SEAL:
                    continue
                copy = dict(record)
                original_seq = copy.pop("seq", None)
                for field in _CHAIN_FIELDS:
                    copy.pop(field, None)
                copy["slice_seq"] = original_seq
                writer.append(copy)
            if not result.ok:
                raise ChainError("slice %s does not verify: %s (first bad seq %s)"
                                 % (directory, result.reason, result.first_bad_seq))
            seal = result.seal or {}
            seals.append(seal)
            slices.append({
                "run_id": seal.get("run_id"),
                "count": result.count,
                "head": result.head,
                "first_ts": seal.get("first_ts"),
                "last_ts": seal.get("last_ts"),
                "keyed": result.keyed,
                "path": os.path.basename(os.path.normpath(str(directory))),
            })
        merged_id = run_id or "merged-" + "+".join(str(s["run_id"]) for s in slices)
        hosts = set()
        for seal in seals:
            hosts.update(seal.get("hosts") or ())
        writer.seal(merged_id, hosts=hosts, merge=True, slices=slices, extras=_merge_extras(seals),
                    playbook=seals[0].get("playbook") if seals else None)
    except BaseException:
        writer.close()
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    os.replace(tmp, final)
    return verify(out_dir, key)

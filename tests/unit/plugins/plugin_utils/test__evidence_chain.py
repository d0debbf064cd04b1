# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.nhi.lifecycle.plugins.plugin_utils import _evidence_chain as chain

KEY = "correct horse battery staple"


def _record(i, identity=None):
    return {
        "identity": identity or "nhi-%03d" % i, "event": "rotate", "step": "mint", "system": "aws_iam",
        "action": "iam:CreateAccessKey", "target": "arn:aws:iam::123456789012:user/nhi/x%d" % i,
        "authority": "nhi.lifecycle", "decision": None, "outcome": "changed", "verified": None, "error": None,
        "started": "2026-11-23T19:27:%02d.000Z" % (i % 60), "ended": "2026-11-23T19:27:%02d.500Z" % (i % 60),
        "details": {"key_id": "AKIA%04d" % i, "note": "caf\u00e9 \u2713"}, "run_id": "r1", "host": "h%d" % i,
        "controls": ["NHI7", "PR.AA-01"],
    }


def write_run(directory, n=5, key=None, run_id="r1", seal=True):
    os.makedirs(directory, exist_ok=True)
    writer = chain.ChainWriter(os.path.join(directory, chain.EVIDENCE_FILE), key=key)
    for i in range(1, n + 1):
        writer.append(_record(i))
    if seal:
        writer.seal(run_id, hosts=["extra-host"], playbook="rotate.yml")
    else:
        writer.close()
    return writer


def lines_of(directory):
    with open(os.path.join(str(directory), chain.EVIDENCE_FILE), "rb") as handle:
        return handle.read().decode("utf-8").splitlines(True)


def write_lines(directory, lines):
    with open(os.path.join(str(directory), chain.EVIDENCE_FILE), "wb") as handle:
        handle.write("".join(lines).encode("utf-8"))


def rehash(record, key=None):
    """What an attacker without (or with) the key does after editing a record."""
    record = dict(record)
    record.pop("hash", None)
    record.pop("hmac", None)
    body = chain.canonical(record)
    record["hash"] = hashlib.sha256(body).hexdigest()
    if key:
        record["hmac"] = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return json.dumps(record) + "\n"


@pytest.fixture
def run(tmp_path):
    directory = tmp_path / "run"
    write_run(str(directory), n=6)
    return directory


def test_an_intact_run_verifies(run):
    result = chain.verify(str(run))
    assert result.ok and bool(result)
    assert result.count == 6 and result.sealed and result.records == 7
    seal = json.loads(lines_of(run)[-1])
    assert seal["type"] == "seal" and seal["count"] == 6 and seal["run_id"] == "r1"
    assert result.head == seal["head"] == seal["prev"] == json.loads(lines_of(run)[-2])["hash"]
    assert seal["hosts"] == sorted({"extra-host"} | {"h%d" % i for i in range(1, 7)})
    assert seal["first_ts"] == "2026-11-23T19:27:01.000Z" and seal["last_ts"] == "2026-11-23T19:27:06.500Z"
    assert result.first_bad_seq is None and result.reason is None


def test_records_chain_from_genesis_with_reproducible_canonical_hashes(run):
    records = [json.loads(line) for line in lines_of(run)]
    assert records[0]["prev"] == "0" * 64
    for index, stored in enumerate(records):
        record = dict(stored)
        assert record["seq"] == index + 1
        digest = record.pop("hash")
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert hashlib.sha256(canonical).hexdigest() == digest
        if index:
            assert record["prev"] == records[index - 1]["hash"]
    assert "caf\u00e9" in lines_of(run)[0]  # ensure_ascii=False: stored as UTF-8


def test_the_file_path_or_the_directory_can_be_given(run):
    assert chain.verify(str(run / chain.EVIDENCE_FILE)).ok


def test_an_edited_record_is_named(run):
    lines = lines_of(run)
    lines[2] = lines[2].replace('"outcome":"changed"', '"outcome":"unchanged"')
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok
    assert result.first_bad_seq == 3 and result.line == 3
    assert "edited" in result.reason
    assert result.count == 2


def test_an_edited_and_rehashed_record_breaks_the_next_link(run):
    lines = lines_of(run)
    record = json.loads(lines[2])
    record["outcome"] = "unchanged"
    lines[2] = rehash(record)
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.first_bad_seq == 4
    assert "prev does not match" in result.reason


def test_a_deleted_record_is_found(run):
    lines = lines_of(run)
    del lines[3]
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.first_bad_seq == 4
    assert "expected seq 4 but found seq 5" in result.reason


def test_an_inserted_record_is_found(run):
    lines = lines_of(run)
    lines.insert(2, lines[1])
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.first_bad_seq == 3


def test_an_inserted_forged_record_is_found(run):
    lines = lines_of(run)
    forged = json.loads(lines[1])
    forged.update(seq=3, prev=forged["hash"], identity="intruder")
    lines.insert(2, rehash(forged))
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.first_bad_seq == 4


def test_reordered_records_are_found(run):
    lines = lines_of(run)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.first_bad_seq == 3
    assert "deleted, inserted or reordered" in result.reason


def test_truncation_is_found(run):
    write_lines(run, lines_of(run)[:4])
    result = chain.verify(str(run))
    assert not result.ok and "no seal" in result.reason and result.first_bad_seq == 5
    assert result.count == 4


def test_a_torn_last_line_is_found(run):
    lines = lines_of(run)
    lines[-1] = lines[-1][:40]
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and result.line == 7 and "incomplete" in result.reason


def test_an_unsealed_chain_is_accepted_only_when_asked(tmp_path):
    write_run(str(tmp_path), n=3, seal=False)
    assert not chain.verify(str(tmp_path)).ok
    result = chain.verify(str(tmp_path), require_seal=False)
    assert result.ok and not result.sealed and result.count == 3
    assert "not sealed" in result.warnings[0]


def test_data_after_the_seal_is_found(run):
    lines = lines_of(run)
    extra = json.loads(lines[-1])
    extra.update(type="step", seq=8, prev=extra["hash"])
    write_lines(run, lines + [rehash(extra)])
    result = chain.verify(str(run))
    assert not result.ok and "after the seal" in result.reason and result.first_bad_seq == 8


def test_a_seal_with_a_forged_count_is_found(run):
    lines = lines_of(run)
    seal = json.loads(lines[-1])
    seal["count"] = 5
    lines[-1] = rehash(seal)
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and "forged seal" in result.reason and result.first_bad_seq == 7


def test_a_seal_with_a_forged_head_is_found(run):
    lines = lines_of(run)
    seal = json.loads(lines[-1])
    seal["head"] = "f" * 64
    lines[-1] = rehash(seal)
    write_lines(run, lines)
    result = chain.verify(str(run))
    assert not result.ok and "head does not match" in result.reason


def test_an_edited_seal_is_found(run):
    lines = lines_of(run)
    lines[-1] = lines[-1].replace('"run_id":"r1"', '"run_id":"r2"')
    write_lines(run, lines)
    assert not chain.verify(str(run)).ok


def test_a_rebuilt_truncated_chain_is_caught_by_the_expected_head(run):
    original = chain.verify(str(run)).head
    lines = lines_of(run)[:5]  # drop record 6 and the seal, then forge a consistent seal
    last = json.loads(lines[-1])
    seal = {"type": "seal", "run_id": "r1", "count": 5, "head": last["hash"], "seq": 6, "prev": last["hash"]}
    write_lines(run, lines + [rehash(seal)])
    assert chain.verify(str(run)).ok  # without a key or an anchor nobody can tell
    result = chain.verify(str(run), expected_head=original)
    assert not result.ok and "expected head" in result.reason


def test_hmac_keyed_chain(tmp_path):
    write_run(str(tmp_path), n=4, key=KEY)
    records = [json.loads(line) for line in lines_of(tmp_path)]
    assert all(len(r["hmac"]) == 64 for r in records)
    assert records[-1]["keyed"] is True and records[-1]["hmac_alg"] == "hmac-sha256"
    good = chain.verify(str(tmp_path), hmac_key=KEY)
    assert good.ok and good.hmac_checked and good.keyed
    bad = chain.verify(str(tmp_path), hmac_key="wrong key")
    assert not bad.ok and bad.first_bad_seq == 1 and "HMAC does not match" in bad.reason
    unkeyed = chain.verify(str(tmp_path))
    assert unkeyed.ok and not unkeyed.hmac_checked
    assert any("no key was given" in w for w in unkeyed.warnings)


def test_hmac_catches_a_chain_rebuilt_without_the_key(tmp_path):
    write_run(str(tmp_path), n=4, key=KEY)
    lines = lines_of(tmp_path)
    rebuilt, prev = [], "0" * 64
    for line in lines:
        record = json.loads(line)
        if record.get("identity") == "nhi-002":
            record["outcome"] = "failed"
        record["prev"] = prev
        if record.get("type") == "seal":
            record["head"] = prev
        out = rehash(record, key="attacker key")
        prev = json.loads(out)["hash"]
        rebuilt.append(out)
    write_lines(tmp_path, rebuilt)
    assert chain.verify(str(tmp_path)).ok  # the SHA-256 chain alone is consistent again
    result = chain.verify(str(tmp_path), hmac_key=KEY)
    assert not result.ok and result.first_bad_seq == 1


def test_a_key_given_for_an_unkeyed_chain_fails(run):
    result = chain.verify(str(run), hmac_key=KEY)
    assert not result.ok and "no hmac" in result.reason


def test_missing_and_empty_files(tmp_path):
    result = chain.verify(str(tmp_path / "nothing"))
    assert not result.ok and "cannot read" in result.reason
    (tmp_path / chain.EVIDENCE_FILE).write_bytes(b"")
    result = chain.verify(str(tmp_path))
    assert not result.ok and "empty" in result.reason


def test_the_writer_never_appends_to_another_runs_chain(run):
    with pytest.raises(FileExistsError):
        chain.ChainWriter(str(run / chain.EVIDENCE_FILE))


def test_a_sealed_writer_refuses_more_records(tmp_path):
    writer = write_run(str(tmp_path), n=1)
    with pytest.raises(chain.ChainError):
        writer.append(_record(9))


def test_read_back_compares_the_file_with_what_was_chained(tmp_path):
    writer = write_run(str(tmp_path), n=3)
    assert writer.read_back()
    lines = lines_of(tmp_path)
    write_lines(tmp_path, lines[:-1] + [lines[-1].replace("r1", "r9")])
    assert not writer.read_back()


def test_merge_of_two_slices_verifies(tmp_path):
    write_run(str(tmp_path / "s1"), n=3, run_id="job-101")
    write_run(str(tmp_path / "s2"), n=4, run_id="job-102")
    heads = [chain.verify(str(tmp_path / s)).head for s in ("s1", "s2")]
    result = chain.merge(str(tmp_path / "merged"), [str(tmp_path / "s1"), str(tmp_path / "s2")])
    assert result.ok and result.count == 7 and result.sealed
    seal = result.seal
    assert seal["merge"] is True and seal["run_id"] == "merged-job-101+job-102"
    assert [(s["run_id"], s["head"], s["count"]) for s in seal["slices"]] == [
        ("job-101", heads[0], 3), ("job-102", heads[1], 4)]
    records = [json.loads(line) for line in lines_of(tmp_path / "merged")][:-1]
    assert [r["seq"] for r in records] == list(range(1, 8))
    assert [r["slice_seq"] for r in records] == [1, 2, 3, 1, 2, 3, 4]


def test_tampering_in_the_merged_chain_is_caught(tmp_path):
    write_run(str(tmp_path / "s1"), n=3)
    write_run(str(tmp_path / "s2"), n=3)
    chain.merge(str(tmp_path / "m"), [str(tmp_path / "s1"), str(tmp_path / "s2")], run_id="all")
    lines = lines_of(tmp_path / "m")
    del lines[4]
    write_lines(tmp_path / "m", lines)
    result = chain.verify(str(tmp_path / "m"))
    assert not result.ok and result.first_bad_seq == 5


def test_merge_refuses_a_tampered_slice_and_leaves_nothing(tmp_path):
    write_run(str(tmp_path / "s1"), n=3)
    write_run(str(tmp_path / "s2"), n=3)
    lines = lines_of(tmp_path / "s2")
    lines[1] = lines[1].replace("nhi-002", "nhi-666")
    write_lines(tmp_path / "s2", lines)
    with pytest.raises(chain.ChainError) as caught:
        chain.merge(str(tmp_path / "m"), [str(tmp_path / "s1"), str(tmp_path / "s2")])
    assert "first bad seq 2" in str(caught.value)
    assert not os.path.exists(str(tmp_path / "m" / chain.EVIDENCE_FILE))
    assert not os.path.exists(str(tmp_path / "m" / (chain.EVIDENCE_FILE + ".partial")))


def test_merge_with_hmac(tmp_path):
    write_run(str(tmp_path / "s1"), n=2, key=KEY)
    write_run(str(tmp_path / "s2"), n=2, key=KEY)
    with pytest.raises(chain.ChainError):
        chain.merge(str(tmp_path / "bad"), [str(tmp_path / "s1"), str(tmp_path / "s2")], hmac_key="wrong")
    result = chain.merge(str(tmp_path / "m"), [str(tmp_path / "s1"), str(tmp_path / "s2")], hmac_key=KEY)
    assert result.ok and result.hmac_checked and result.count == 4
    assert not chain.verify(str(tmp_path / "m"), hmac_key="wrong").ok


def test_merge_never_overwrites(tmp_path):
    write_run(str(tmp_path / "s1"), n=1)
    chain.merge(str(tmp_path / "m"), [str(tmp_path / "s1")])
    with pytest.raises(chain.ChainError):
        chain.merge(str(tmp_path / "m"), [str(tmp_path / "s1")])
    with pytest.raises(chain.ChainError):
        chain.merge(str(tmp_path / "n"), [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_character_is_detected(tmp_path_factory, data):
    directory = tmp_path_factory.mktemp("prop")
    write_run(str(directory), n=4, key=KEY)
    original = lines_of(directory)
    index = data.draw(st.integers(0, len(original) - 1), label="line")
    line = original[index]
    pos = data.draw(st.integers(0, len(line) - 2), label="position")
    char = data.draw(st.characters(min_codepoint=32, max_codepoint=126).filter(lambda ch: ch != line[pos]),
                     label="char")
    changed = list(original)
    changed[index] = line[:pos] + char + line[pos + 1:]
    write_lines(directory, changed)
    try:
        same = json.loads(changed[index]) == json.loads(line)
    except ValueError:
        same = False
    result = chain.verify(str(directory), hmac_key=KEY)
    if same:  # e.g. an escape that decodes to the same text: the content did not change
        assert result.ok
    else:
        assert not result.ok
        assert result.first_bad_seq in (index + 1, index + 2)

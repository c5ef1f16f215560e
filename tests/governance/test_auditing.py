"""The audit chain notices a record edited, deleted, inserted or reordered directly in the database,
and its hash is keyed: without the HMAC key nobody computes a hash that verifies."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from leitplanke.governance import auditing, auditkeys, auditverifying
from leitplanke.store import databases

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def chained(database: Any) -> Any:
    for n in range(1, 6):
        auditing.record(
            database,
            actor="alice",
            action="test.step",
            target=f"thing:{n}",
            now=T0 + timedelta(minutes=n),
            details={"n": n, "note": "grüße"},
        )
    return database


def _problems(database: Any, *, full: bool = True) -> list[tuple[str, int | None]]:
    outcome = auditverifying.verify_database(database, full=full)
    return [(problem.code, problem.seq) for problem in outcome.problems]


def test_an_untouched_chain_verifies_against_its_checkpoint(chained: Any) -> None:
    outcome = auditverifying.verify_database(chained, full=True)
    with chained.reading() as session:
        head = session.execute(text("SELECT hash FROM audit_records WHERE seq = 5")).scalar_one()
    assert outcome.as_dict() == {
        "ok": True,
        "records": 5,
        "checked": 5,
        "firstBadSeq": None,
        "head": head,
        "headSeq": 5,
        "full": True,
        "checkpoint": {"seq": 5, "hash": head, "at": "2026-01-05T09:05:00.000000Z"},
        "problems": [],
    }


def test_a_record_edited_in_the_database_is_named(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
    assert _problems(chained) == [("hash-mismatch", 3)]
    assert auditverifying.verify_database(chained, full=True).first_bad_seq == 3


def test_a_record_deleted_from_the_middle_names_the_record_after_the_gap(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq = 3"))
    assert _problems(chained) == [("sequence-gap", 4)]


def test_the_first_record_deleted_is_noticed(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq = 1"))
    assert _problems(chained) == [("sequence-gap", 2)]


@pytest.mark.parametrize("forger", ["plain-sha256", "wrong-hmac-key"])
def test_a_record_inserted_with_a_hash_made_without_the_key_is_named(chained: Any, forger: str) -> None:
    with chained.engine.begin() as connection:
        prev = connection.execute(text("SELECT hash FROM audit_records WHERE seq = 2")).scalar_one()
        for seq in (5, 4, 3):  # make room, last first so that seq stays unique
            connection.execute(
                text("UPDATE audit_records SET seq = :new WHERE seq = :old"), {"new": seq + 1, "old": seq}
            )
        at = T0 + timedelta(minutes=2, seconds=30)
        canonical = auditing.canonical_json(
            seq=3, at=at, actor="mallory", action="test.step", target="x", details={}
        )
        if forger == "plain-sha256":
            alg, forged = "sha256", auditing.chain_hash(prev, canonical)
        else:
            alg, forged = (
                "hmac-sha256",
                hmac.new(b"k" * 32, prev.encode() + canonical, hashlib.sha256).hexdigest(),
            )
        connection.execute(
            text(
                "INSERT INTO audit_records (seq, at, actor, action, target, details, prev_hash, hash, alg) "
                "VALUES (3, :at, 'mallory', 'test.step', 'x', '{}', :prev, :hash, :alg)"
            ),
            {"at": at.replace(tzinfo=None), "prev": prev, "hash": forged, "alg": alg},
        )
    expected = "legacy-after-keyed" if forger == "plain-sha256" else "hash-mismatch"
    assert _problems(chained) == [(expected, 3), ("checkpoint-mismatch", 5)]


def test_two_records_swapped_are_noticed_at_the_first_of_them(chained: Any) -> None:
    columns = "at, actor, action, target, details, prev_hash, hash"
    with chained.engine.begin() as connection:
        two = connection.execute(text(f"SELECT {columns} FROM audit_records WHERE seq = 2")).one()
        three = connection.execute(text(f"SELECT {columns} FROM audit_records WHERE seq = 3")).one()
        for seq, row in ((2, three), (3, two)):
            connection.execute(
                text(
                    "UPDATE audit_records SET at = :at, actor = :actor, action = :action, target = :target, "
                    "details = :details, prev_hash = :prev_hash, hash = :hash WHERE seq = :seq"
                ),
                {
                    **row._asdict(),
                    "details": json.dumps(
                        dict(row.details) if not isinstance(row.details, str) else json.loads(row.details)
                    ),
                    "seq": seq,
                },
            )
    assert _problems(chained) == [("prev-hash-mismatch", 2)]


def test_export_writes_one_json_line_per_record_with_its_hashes(chained: Any) -> None:
    out = io.StringIO()
    assert auditing.export(chained, out) == 5
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert lines[0]["prev_hash"] == auditing.GENESIS
    assert lines[1]["prev_hash"] == lines[0]["hash"]
    assert lines[2] == {
        "seq": 3,
        "at": "2026-01-05T09:03:00.000000Z",
        "actor": "alice",
        "action": "test.step",
        "target": "thing:3",
        "details": {"n": 3, "note": "grüße"},
        "prev_hash": lines[1]["hash"],
        "hash": lines[2]["hash"],
        "alg": "hmac-sha256",
    }


def test_the_hash_is_an_hmac_of_the_predecessor_and_the_canonical_json(tmp_path: Any) -> None:
    canonical = auditing.canonical_json(
        seq=1, at=T0, actor="a", action="b", target="c", details={"z": 1, "a": "é"}
    )
    assert (
        canonical
        == (
            '{"action":"b","actor":"a","at":"2026-01-05T09:00:00.000000Z","details":{"a":"é","z":1},"seq":1,"target":"c"}'
        ).encode()
    )
    keys = auditkeys.generate_keys(tmp_path)
    assert (
        auditing.keyed_hash(keys, auditing.GENESIS, canonical)
        == hmac.new(keys.hmac_key, b"0" * 64 + canonical, hashlib.sha256).hexdigest()
    )


def test_a_database_without_audit_keys_refuses_to_append(database_url: str) -> None:
    keyless = databases.Database(database_url)
    databases.upgrade(keyless)
    try:
        with pytest.raises(auditing.AuditKeysMissing, match="no audit keys"):
            auditing.record(keyless, actor="a", action="b", target="c", now=T0)
        with keyless.reading() as session:
            assert session.execute(text("SELECT count(*) FROM audit_records")).scalar_one() == 0
    finally:
        keyless.dispose()


def test_records_of_a_database_from_before_the_key_verify_as_a_prefix_of_the_keyed_chain(
    database_url: str, audit_keys: Any
) -> None:
    """A demo database of an older version (schema 0003, unkeyed hashes) is upgraded and appended to."""
    old = databases.Database(database_url, audit=audit_keys)
    try:
        databases.upgrade(old, "0003_alerts")
        prev = auditing.GENESIS
        with old.engine.begin() as connection:
            for seq in (1, 2):
                at = T0 + timedelta(minutes=seq)
                canonical = auditing.canonical_json(
                    seq=seq, at=at, actor="old", action="test.legacy", target="x", details={}
                )
                digest = auditing.chain_hash(prev, canonical)
                connection.execute(
                    text(
                        "INSERT INTO audit_records (seq, at, actor, action, target, details, prev_hash, hash) "
                        "VALUES (:seq, :at, 'old', 'test.legacy', 'x', '{}', :prev, :hash)"
                    ),
                    {"seq": seq, "at": at.replace(tzinfo=None), "prev": prev, "hash": digest},
                )
                prev = digest
        databases.upgrade(old)
        assert _problems(old) == []
        auditing.record(old, actor="new", action="test.keyed", target="y", now=T0 + timedelta(minutes=3))
        with old.reading() as session:
            algs = session.execute(text("SELECT seq, alg FROM audit_records ORDER BY seq")).all()
        assert [tuple(row) for row in algs] == [(1, "sha256"), (2, "sha256"), (3, "hmac-sha256")]
        assert _problems(old) == []
        with old.engine.begin() as connection:  # a keyed record passed off as an old one
            connection.execute(text("UPDATE audit_records SET alg = 'sha256' WHERE seq = 3"))
        assert _problems(old) == [("hash-mismatch", 3)]
    finally:
        old.dispose()


def test_an_unkeyed_record_after_a_keyed_one_is_refused_even_with_a_correct_plain_hash(chained: Any) -> None:
    with chained.engine.begin() as connection:
        prev = connection.execute(text("SELECT hash FROM audit_records WHERE seq = 5")).scalar_one()
        at = T0 + timedelta(minutes=6)
        canonical = auditing.canonical_json(
            seq=6, at=at, actor="mallory", action="test.step", target="x", details={}
        )
        connection.execute(
            text(
                "INSERT INTO audit_records (seq, at, actor, action, target, details, prev_hash, hash) "
                "VALUES (6, :at, 'mallory', 'test.step', 'x', '{}', :prev, :hash)"
            ),
            {"at": at.replace(tzinfo=None), "prev": prev, "hash": auditing.chain_hash(prev, canonical)},
        )
    assert _problems(chained) == [("legacy-after-keyed", 6)]

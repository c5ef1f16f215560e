"""The audit chain notices a record edited, deleted, inserted or reordered directly in the database."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from leitplanke.governance import auditing

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


def test_an_untouched_chain_verifies(chained: Any) -> None:
    outcome = auditing.verify_database(chained)
    assert (outcome.records, outcome.first_bad_seq) == (5, None)


def test_a_record_edited_in_the_database_is_named(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 3"))
    assert auditing.verify_database(chained).first_bad_seq == 3


def test_a_record_deleted_from_the_middle_names_the_record_after_the_gap(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq = 3"))
    assert auditing.verify_database(chained).first_bad_seq == 4


def test_the_first_record_deleted_is_noticed(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq = 1"))
    assert auditing.verify_database(chained).first_bad_seq == 2


def test_a_record_inserted_with_a_correct_hash_breaks_the_record_after_it(chained: Any) -> None:
    with chained.engine.begin() as connection:
        prev = connection.execute(text("SELECT hash FROM audit_records WHERE seq = 2")).scalar_one()
        for seq in (5, 4, 3):  # make room, last first so that seq stays unique
            connection.execute(
                text("UPDATE audit_records SET seq = :new WHERE seq = :old"), {"new": seq + 1, "old": seq}
            )
        at = T0 + timedelta(minutes=2, seconds=30)
        forged = auditing.chain_hash(
            prev,
            auditing.canonical_json(
                seq=3, at=at, actor="mallory", action="test.step", target="x", details={}
            ),
        )
        connection.execute(
            text(
                "INSERT INTO audit_records (seq, at, actor, action, target, details, prev_hash, hash) "
                "VALUES (3, :at, 'mallory', 'test.step', 'x', '{}', :prev, :hash)"
            ),
            {"at": at.replace(tzinfo=None), "prev": prev, "hash": forged},
        )
    assert auditing.verify_database(chained).first_bad_seq == 4


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
    assert auditing.verify_database(chained).first_bad_seq == 2


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
    }


def test_the_hash_covers_the_predecessor_and_the_canonical_json() -> None:
    canonical = auditing.canonical_json(
        seq=1, at=T0, actor="a", action="b", target="c", details={"z": 1, "a": "é"}
    )
    assert (
        canonical
        == (
            '{"action":"b","actor":"a","at":"2026-01-05T09:00:00.000000Z","details":{"a":"é","z":1},"seq":1,"target":"c"}'
        ).encode()
    )
    import hashlib

    assert (
        auditing.chain_hash(auditing.GENESIS, canonical) == hashlib.sha256(b"0" * 64 + canonical).hexdigest()
    )

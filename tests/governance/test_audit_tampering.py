"""An attacker with write access to the database, but not to the audit keys or the checkpoint directory,
truncates, wipes or rewrites the audit log with SQL: ``audit verify`` names what happened.

Also: checkpoints are written only after a commit and never move backwards with two servers on one
database, and verification is incremental from the last verified head.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from leitplanke.governance import auditing, auditverifying, checkpoints
from leitplanke.store import databases
from leitplanke.store.rows import AuditRecord

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _append(database: Any, *ns: int) -> None:
    for n in ns:
        auditing.record(
            database, actor="alice", action="test.step", target=f"thing:{n}", now=T0 + timedelta(minutes=n)
        )


@pytest.fixture
def chained(database: Any) -> Any:
    _append(database, 1, 2, 3, 4, 5)
    return database


def _problems(database: Any, *, full: bool = True) -> list[tuple[str, int | None]]:
    outcome = auditverifying.verify_database(database, full=full)
    return [(problem.code, problem.seq) for problem in outcome.problems]


def _rewrite(database: Any, *, start: int, hasher: Any, alg: str | None = None) -> None:
    """Edit record ``start`` and recompute every later hash (and prev_hash) with ``hasher``, by SQL."""
    with database.reading() as session:
        rows = session.query(AuditRecord).order_by(AuditRecord.seq).all()
    prev = auditing.GENESIS
    with database.engine.begin() as connection:
        for row in rows:
            if row.seq >= start:
                actor = "mallory" if row.seq == start else row.actor
                canonical = auditing.canonical_json(
                    seq=row.seq,
                    at=row.at,
                    actor=actor,
                    action=row.action,
                    target=row.target,
                    details=row.details,
                )
                digest = hasher(prev, canonical)
                connection.execute(
                    text(
                        "UPDATE audit_records SET actor = :actor, prev_hash = :prev, hash = :hash, "
                        "alg = :alg WHERE seq = :seq"
                    ),
                    {"actor": actor, "prev": prev, "hash": digest, "alg": alg or row.alg, "seq": row.seq},
                )
                prev = digest
            else:
                prev = row.hash


def _plain(prev: str, canonical: bytes) -> str:
    return hashlib.sha256(prev.encode() + canonical).hexdigest()


def _wrong_key(prev: str, canonical: bytes) -> str:
    return hmac.new(b"not the key" * 4, prev.encode() + canonical, hashlib.sha256).hexdigest()


def test_the_newest_records_deleted_are_a_missing_tail(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq >= 4"))
    outcome = auditverifying.verify_database(chained, full=True)
    assert outcome.as_dict()["problems"] == [
        {
            "code": "truncated",
            "seq": 4,
            "detail": "records after seq 3 up to the checkpoint's seq 5 are missing",
        }
    ]
    assert (outcome.ok, outcome.first_bad_seq, outcome.records) == (False, 4, 3)


def test_every_record_deleted_is_a_wipe(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records"))
    assert _problems(chained) == [("wiped", 1)]


def test_a_tail_deleted_and_replaced_by_new_records_no_longer_matches_the_checkpoint(chained: Any) -> None:
    with chained.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records WHERE seq >= 4"))
    _append(chained, 14, 15)  # the service appends on: seq 4 and 5 again, with valid keyed hashes
    assert json.loads((chained.audit.checkpoint_dir / "head.json").read_text())["seq"] == 5
    assert _problems(chained) == [("checkpoint-mismatch", 5)]


@pytest.mark.parametrize("hasher", [_plain, _wrong_key], ids=["plain-sha256", "wrong-hmac-key"])
def test_a_record_edited_and_every_later_hash_recomputed_is_caught(chained: Any, hasher: Any) -> None:
    _rewrite(chained, start=2, hasher=hasher)
    assert _problems(chained) == [("hash-mismatch", 2), ("checkpoint-mismatch", 5)]


def test_the_whole_chain_rewritten_as_records_from_before_the_key_is_caught_by_the_checkpoint(
    chained: Any,
) -> None:
    _rewrite(chained, start=1, hasher=_plain, alg="sha256")
    assert _problems(chained) == [("checkpoint-mismatch", 5)]


def test_a_checkpoint_is_written_after_each_commit_and_none_for_a_rolled_back_transaction(
    database: Any,
) -> None:
    folder = database.audit.checkpoint_dir
    _append(database, 1)
    assert json.loads((folder / "head.json").read_text())["seq"] == 1
    with pytest.raises(RuntimeError, match="abort"), database.transaction() as session:
        chain = auditing.Chain(session)
        chain.append(actor="a", action="test.step", target="x", at=T0)
        chain.flush()
        raise RuntimeError("abort")
    assert [json.loads(line)["seq"] for line in (folder / "checkpoints.jsonl").read_text().splitlines()] == [
        1
    ]
    assert json.loads((folder / "head.json").read_text())["seq"] == 1
    assert _problems(database) == []


def test_a_checkpoint_with_a_forged_signature_is_not_trusted(chained: Any) -> None:
    path = chained.audit.checkpoint_dir / "head.json"
    head = json.loads(path.read_text())
    path.write_text(json.dumps({**head, "seq": 4}))
    assert _problems(chained) == [("checkpoint-invalid", None)]


def test_two_servers_on_one_database_keep_one_chain_and_the_checkpoint_never_moves_backwards(
    database: Any,
) -> None:
    second = databases.Database(database.url, audit=database.audit)
    try:
        servers = (database, second)

        def write(server: Any, base: int) -> None:
            for n in range(base, base + 15):
                _append(server, n)

        threads = [threading.Thread(target=write, args=(server, i * 100)) for i, server in enumerate(servers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        second.dispose()
    folder = database.audit.checkpoint_dir
    written = [json.loads(line)["seq"] for line in (folder / "checkpoints.jsonl").read_text().splitlines()]
    assert written == sorted(set(written))
    assert json.loads((folder / "head.json").read_text())["seq"] == 30
    late = checkpoints.Checkpoint(seq=29, hash="0" * 64, at="2026-01-05T09:00:00.000000Z", records=29)
    assert checkpoints.write(database.audit, late) is False
    assert json.loads((folder / "head.json").read_text())["seq"] == 30
    assert _problems(database) == []


def test_incremental_verification_checks_only_the_tail_after_the_last_verified_head(chained: Any) -> None:
    assert auditverifying.verify_database(chained, full=True).ok
    _append(chained, 6, 7)
    with chained.engine.begin() as connection:  # before the anchor: only a full verification sees it
        connection.execute(text("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2"))
    incremental = auditverifying.verify_database(chained)
    assert (incremental.ok, incremental.full, incremental.checked, incremental.records) == (True, False, 2, 7)
    assert _problems(chained, full=True) == [("hash-mismatch", 2)]


def test_incremental_verification_still_catches_a_rewrite_of_the_anchored_record(chained: Any) -> None:
    assert auditverifying.verify_database(chained, full=True).ok
    _append(chained, 6)
    _rewrite(chained, start=5, hasher=_plain)
    assert _problems(chained, full=False) == [
        ("anchor-mismatch", 5),
        ("hash-mismatch", 5),
        ("checkpoint-mismatch", 6),
    ]


def test_a_tampered_verified_head_is_ignored_and_the_whole_chain_verified(chained: Any) -> None:
    assert auditverifying.verify_database(chained, full=True).ok
    path = chained.audit.checkpoint_dir / "verified.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "seq": 4}))
    outcome = auditverifying.verify_database(chained)
    assert (outcome.ok, outcome.full, outcome.checked) == (True, True, 5)


def test_verifying_while_another_server_appends_reports_no_problem(chained: Any) -> None:
    second = databases.Database(chained.url, audit=chained.audit)
    writer = threading.Thread(target=_append, args=(second, *range(6, 46)))
    outcomes = []
    try:
        writer.start()
        while writer.is_alive():
            outcomes.append(auditverifying.verify_database(chained, full=len(outcomes) % 2 == 0))
        writer.join()
    finally:
        second.dispose()
    outcomes.append(auditverifying.verify_database(chained))
    assert [outcome.problems for outcome in outcomes] == [()] * len(outcomes)
    assert (outcomes[-1].head_seq, outcomes[-1].checkpoint.seq if outcomes[-1].checkpoint else None) == (
        45,
        45,
    )

"""The audit chain: every change of state appended as a record whose hash covers its predecessor.

``hash = sha256(prev_hash ‖ canonical JSON of the record)``, canonical JSON being sorted keys, no
spaces, UTF-8. ``verify`` names the first record that does not fit (altered, deleted, inserted or
reordered); ``export`` writes JSON Lines. Use cases append through a ``Chain`` inside their transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

import orjson
from sqlalchemy.orm import Session

from leitplanke.store import repositories
from leitplanke.store.databases import Database

GENESIS = "0" * 64


class RecordLike(Protocol):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with microseconds: what both databases keep of a time."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(
    *, seq: int, at: datetime, actor: str, action: str, target: str, details: Mapping[str, Any]
) -> bytes:
    record = {
        "seq": seq,
        "at": format_time(at),
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
    }
    # orjson writes no spaces and UTF-8; sorted keys at every level
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


class Chain:
    """Appends records inside the caller's transaction, written to the session by ``flush``.

    The caller holds the writer lock (``Database.transaction``), so the head read here stays the head.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        head = repositories.audit_head(session)
        self.seq, self.head = head if head is not None else (0, GENESIS)
        self.pending: list[dict[str, Any]] = []

    def append(
        self, *, actor: str, action: str, target: str, at: datetime, details: Mapping[str, Any] | None = None
    ) -> int:
        self.seq += 1
        body = dict(details or {})
        digest = chain_hash(
            self.head,
            canonical_json(seq=self.seq, at=at, actor=actor, action=action, target=target, details=body),
        )
        self.pending.append(
            {
                "seq": self.seq,
                "at": at,
                "actor": actor,
                "action": action,
                "target": target,
                "details": body,
                "prev_hash": self.head,
                "hash": digest,
            }
        )
        self.head = digest
        return self.seq

    def flush(self) -> None:
        repositories.insert_audit_records(self.session, self.pending)
        self.pending = []


def record(
    database: Database,
    *,
    actor: str,
    action: str,
    target: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one record in a transaction of its own (denials, token changes)."""
    with database.transaction() as session:
        chain = Chain(session)
        seq = chain.append(actor=actor, action=action, target=target, at=now, details=details)
        chain.flush()
    return seq


def verify(records: Iterable[RecordLike]) -> int | None:
    """The ``seq`` of the first record that breaks the chain, or None when the chain holds.

    Records must come in stored ``seq`` order. A deletion shows at the record after the gap, an
    insertion or a reordering at the first record whose predecessor or content changed. A record
    removed from the very end leaves no trace here; the head is anchored outside to catch that.
    """
    expected_seq, prev = 1, GENESIS
    for item in records:
        if item.seq != expected_seq or item.prev_hash != prev:
            return item.seq
        canonical = canonical_json(
            seq=item.seq,
            at=item.at,
            actor=item.actor,
            action=item.action,
            target=item.target,
            details=item.details,
        )
        if chain_hash(prev, canonical) != item.hash:
            return item.seq
        expected_seq, prev = item.seq + 1, item.hash
    return None


@dataclass(frozen=True, slots=True)
class Verification:
    records: int
    first_bad_seq: int | None
    head: str


def verify_database(database: Database) -> Verification:
    with database.reading() as session:
        counted = _Counting(repositories.iter_audit_records(session))
        bad = verify(counted)
        return Verification(records=counted.count, first_bad_seq=bad, head=counted.last_hash)


class _Counting:
    def __init__(self, records: Iterable[RecordLike]) -> None:
        self.records, self.count, self.last_hash = records, 0, GENESIS

    def __iter__(self) -> Iterator[RecordLike]:
        for item in self.records:
            self.count += 1
            self.last_hash = item.hash
            yield item


def render_record(item: RecordLike) -> dict[str, Any]:
    return {
        "seq": item.seq,
        "at": format_time(item.at),
        "actor": item.actor,
        "action": item.action,
        "target": item.target,
        "details": item.details,
        "prev_hash": item.prev_hash,
        "hash": item.hash,
    }


def export(database: Database, out: TextIO) -> int:
    """Write every record as one line of JSON (sorted keys), in ``seq`` order; returns the count."""
    count = 0
    with database.reading() as session:
        for item in repositories.iter_audit_records(session):
            out.write(orjson.dumps(render_record(item), option=orjson.OPT_SORT_KEYS).decode() + "\n")
            count += 1
    return count

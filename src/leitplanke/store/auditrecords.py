"""The audit chain's rows: its records in ``seq`` order and the leaves (transitions) under each record's
Merkle root; reads in bounded batches, bulk writes. Each takes the caller's session; none commits.

Called by ``governance.auditing`` (appending), ``governance.auditverifying`` and the audit routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from leitplanke.store.rows import AuditLeaf, AuditRecord


def audit_head(session: Session) -> tuple[int, str] | None:
    """The last record's (seq, hash), or None for an empty chain."""
    row = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
    found = row.first()
    return None if found is None else (found[0], found[1])


def insert_audit_records(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(AuditRecord), list(rows))


def insert_audit_leaves(session: Session, rows: Sequence[tuple[int, int, str]]) -> None:
    """Bulk insert of ``(seq, idx, body)``: COPY on PostgreSQL, one prepared executemany on SQLite.

    An ingestion brings one leaf per finding transition (100k for a large scan), too many for
    row-by-row inserts through the ORM.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.cursor()
        with cursor.copy("COPY audit_leaves (seq, idx, body) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    connection.exec_driver_sql("INSERT INTO audit_leaves (seq, idx, body) VALUES (?, ?, ?)", list(rows))


def iter_audit_records(session: Session, *, after: int = 0, batch: int = 5000) -> Iterable[AuditRecord]:
    """Every record with ``seq > after`` in ``seq`` order, read in batches so that memory stays bounded."""
    last = after
    while True:
        query = select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(batch)
        records = session.scalars(query).all()
        if not records:
            return
        yield from records
        last = records[-1].seq
        session.expunge_all()


def audit_record_at(session: Session, seq: int) -> AuditRecord | None:
    return session.get(AuditRecord, seq)


def count_audit_records(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditRecord)) or 0


def iter_audit_leaves(
    session: Session, *, after: int = 0, batch: int = 5000
) -> Iterable[tuple[int, int, str]]:
    """``(seq, idx, body)`` of every leaf of the records after ``after``, by (seq, idx), in batches."""
    where = AuditLeaf.seq > after
    while True:
        query = select(AuditLeaf.seq, AuditLeaf.idx, AuditLeaf.body).where(where)
        rows = [
            (row[0], row[1], row[2])
            for row in session.execute(query.order_by(AuditLeaf.seq, AuditLeaf.idx).limit(batch))
        ]
        if not rows:
            return
        yield from rows
        seq, idx = rows[-1][0], rows[-1][1]
        where = (AuditLeaf.seq > seq) | ((AuditLeaf.seq == seq) & (AuditLeaf.idx > idx))


def audit_leaves_of(session: Session, seq: int) -> list[tuple[int, str]]:
    """``(idx, body)`` of every leaf of the record ``seq``, by ``idx``."""
    query = select(AuditLeaf.idx, AuditLeaf.body).where(AuditLeaf.seq == seq).order_by(AuditLeaf.idx)
    return [(row[0], row[1]) for row in session.execute(query)]


def audit_page(
    session: Session, *, limit: int, offset: int = 0, after: int | None = None
) -> tuple[int, Sequence[AuditRecord]]:
    """The number of records and one page in ``seq`` order: after ``after`` (keyset) or ``offset`` in."""
    total = session.scalar(select(func.count()).select_from(AuditRecord)) or 0
    query = select(AuditRecord)
    if after is not None:
        query = query.where(AuditRecord.seq > after)
    rows = session.scalars(query.order_by(AuditRecord.seq).limit(limit).offset(offset)).all()
    return total, rows

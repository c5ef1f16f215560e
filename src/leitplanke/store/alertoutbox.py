"""The alert outbox (table ``alert_outbox``): queueing alerts once per (key, target), claiming the
due ones, and recording each attempt. Takes the caller's session and never commits, like
``repositories``.

Called by ``governance.alerting`` (queueing, in the transaction of the event) and
``governance.relaying`` (claiming and recording).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.orm import Session

from leitplanke.store.rows import OutboxAlert

PENDING, SENT, FAILED = "pending", "sent", "failed"
_CHUNK = 500  # keys per IN (...) list: well under SQLite's bound-parameter limit


def queue(session: Session, rows: Sequence[Mapping[str, Any]], *, now: datetime) -> int:
    """Insert ``{key, target, alert}`` rows not queued before (same key and target); how many were new.

    The caller holds the writer lock (``Database.transaction``), so no other writer queues the same
    key between the check and the insert; the unique constraint backs that up.
    """
    wanted = {(row["key"], row["target"]): row for row in rows}
    pairs = list(wanted)
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        query = select(OutboxAlert.key, OutboxAlert.target).where(
            tuple_(OutboxAlert.key, OutboxAlert.target).in_(chunk)
        )
        for found in session.execute(query):
            wanted.pop((found[0], found[1]), None)
    fresh = [
        {
            "key": row["key"],
            "target": row["target"],
            "alert": dict(row["alert"]),
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "last_error": "",
            "created_at": now,
            "sent_at": None,
        }
        for row in wanted.values()
    ]
    if fresh:
        session.execute(insert(OutboxAlert), fresh)
    return len(fresh)


def queued_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` have been queued for any target."""
    found: set[str] = set()
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), _CHUNK):
        query = select(OutboxAlert.key).where(OutboxAlert.key.in_(wanted[start : start + _CHUNK]))
        found.update(session.scalars(query))
    return found


def claim_due(session: Session, *, now: datetime, lease_until: datetime, limit: int) -> list[OutboxAlert]:
    """Pending rows due at ``now``, oldest first, leased until ``lease_until`` so that no other
    dispatcher takes them meanwhile; a dispatcher that dies holding a lease leaves the rows to be
    claimed again when it runs out. Rows another transaction holds are skipped (PostgreSQL)."""
    query = (
        select(OutboxAlert)
        .where(OutboxAlert.status == PENDING, OutboxAlert.next_attempt_at <= now)
        .order_by(OutboxAlert.next_attempt_at, OutboxAlert.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(session.scalars(query).all())
    if claimed:
        session.execute(
            update(OutboxAlert)
            .where(OutboxAlert.id.in_([row.id for row in claimed]))
            .values(next_attempt_at=lease_until)
        )
    return claimed


def mark_sent(session: Session, row_id: int, *, now: datetime) -> None:
    session.execute(
        update(OutboxAlert)
        .where(OutboxAlert.id == row_id)
        .values(status=SENT, sent_at=now, attempts=OutboxAlert.attempts + 1, last_error="")
    )


def mark_failed_attempt(session: Session, row_id: int, *, error: str, retry_at: datetime | None) -> None:
    """Record a failed attempt: retried at ``retry_at``, or given up (``failed``) when it is None."""
    values: dict[str, Any] = {"attempts": OutboxAlert.attempts + 1, "last_error": error[:2000]}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    session.execute(update(OutboxAlert).where(OutboxAlert.id == row_id).values(**values))


def counts(session: Session) -> dict[str, int]:
    """Rows per status (for /metrics and tests)."""
    query = select(OutboxAlert.status, func.count()).group_by(OutboxAlert.status)
    return {status: count for status, count in session.execute(query)}


def list_all(session: Session) -> Sequence[OutboxAlert]:
    return session.scalars(select(OutboxAlert).order_by(OutboxAlert.id)).all()


def delete_all(session: Session) -> None:
    session.execute(delete(OutboxAlert))

"""Denials in the audit log without amplification, on both databases: the first of a (subject,
action, target) per minute is audited at once, the rest are counted and written as one record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from leitplanke.governance.denials import Denial, DenialLog
from leitplanke.store.rows import AuditRecord

T0 = datetime(2026, 1, 5, 9, 0, 10, tzinfo=UTC)


def _denial(target: str = "audit", subject: str = "user:v") -> Denial:
    return Denial(
        subject=subject,
        actor=f"{subject} via token:v",
        action="audit.read",
        target=target,
        details={"wanted": "read the audit log"},
    )


def _records(database: Any) -> list[tuple[str, str, dict[str, Any]]]:
    with database.reading() as session:
        rows = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
        return [(r.actor, r.target, dict(r.details)) for r in rows]


def test_denials_in_one_minute_are_one_record_then_one_count_when_the_window_closes(database: Any) -> None:
    log = DenialLog()
    for second in range(200):
        log.deny(database, _denial(), now=T0 + timedelta(seconds=second * 0.2))
    first = ("user:v via token:v", "audit", {"wanted": "read the audit log", "count": 1})
    assert _records(database) == [first]
    assert log.pending() == 199
    assert log.flush(database, now=T0 + timedelta(seconds=49)) == 0  # the window (09:00:00-09:01:00) is open
    assert log.flush(database, now=T0 + timedelta(seconds=50)) == 1
    summary = {
        "wanted": "read the audit log",
        "count": 199,
        "windowStart": "2026-01-05T09:00:00.000000Z",
        "windowEnd": "2026-01-05T09:01:00.000000Z",
        "last": "2026-01-05T09:00:49.800000Z",
    }
    assert _records(database) == [first, ("user:v via token:v", "audit", summary)]
    assert sum(details["count"] for _, _, details in _records(database)) == 200


def test_a_denial_in_a_new_minute_is_audited_at_once_and_closes_the_old_window(database: Any) -> None:
    log = DenialLog()
    for second in (0, 1, 2):
        log.deny(database, _denial(), now=T0 + timedelta(seconds=second))
    log.deny(database, _denial(), now=T0 + timedelta(minutes=1))
    assert [(details["count"], details.get("windowStart")) for _, _, details in _records(database)] == [
        (1, None),
        (2, "2026-01-05T09:00:00.000000Z"),
        (1, None),
    ]
    assert log.pending() == 0


def test_other_targets_and_other_subjects_are_counted_apart(database: Any) -> None:
    log = DenialLog()
    for denial in (_denial("audit"), _denial("team:x"), _denial("audit", subject="user:w"), _denial("audit")):
        log.deny(database, denial, now=T0)
    assert [(actor, target) for actor, target, _ in _records(database)] == [
        ("user:v via token:v", "audit"),
        ("user:v via token:v", "team:x"),
        ("user:w via token:v", "audit"),
    ]
    assert log.flush(database, now=T0, everything=True) == 1  # shutdown: the open count is written
    assert _records(database)[-1][2]["count"] == 1


def test_past_the_limit_of_open_windows_denials_are_audited_one_by_one(database: Any) -> None:
    log = DenialLog(max_open=1)
    for target in ("a", "b", "b"):
        log.deny(database, _denial(target), now=T0)
    assert [target for _, target, _ in _records(database)] == ["a", "b", "b"]

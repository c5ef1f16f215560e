"""Scheduled reports run exactly once across replicas: each due firing of a schedule becomes one row
of ``report_runs`` (unique per schedule and due time), which one replica at a time leases, delivers
and records: ``report.sent`` or, once the attempts are spent, ``report.failed`` in the audit chain
(and an alert through the configured targets). A replica that dies while sending loses its lease, and
another sends the run again: at least once, then, and exactly once unless a replica dies mid-send.

Called by the service's scheduler thread (``service.reportscheduling``) with the clock it is given;
what a delivery does is ``insights.reportdelivering``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from leitplanke.alerts.messages import Alert
from leitplanke.governance import alerting, auditing
from leitplanke.insights.reportschedules import Schedule
from leitplanke.store.databases import Database
from leitplanke.store.rows import ReportRun

log = logging.getLogger("leitplanke.reports")
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
ACTOR = "service:report-scheduler"
UNDELIVERED = "LeitplankeReportUndelivered"
# a delivery: the schedule, its due time and the targets still to do → target -> error ("" when done)
Deliver = Callable[[Schedule, datetime, Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class RunPolicy:
    lateness: timedelta = timedelta(hours=1)  # a firing missed by more (the service was down) is skipped
    lease: timedelta = timedelta(minutes=15)  # longer than the slowest report takes to make and send
    first_retry: timedelta = timedelta(minutes=1)  # doubled per attempt, up to ``max_retry``
    max_retry: timedelta = timedelta(hours=1)
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    schedule: str
    due_at: datetime
    attempt: int
    delivered: tuple[str, ...]


@dataclass(slots=True)
class Ran:
    sent: list[str] = field(default_factory=list)  # "<schedule>@<due time>"
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def run_due(
    database: Database,
    schedules: Sequence[Schedule],
    *,
    now: datetime,
    instance: str,
    deliver: Deliver,
    policy: RunPolicy = RunPolicy(),
    outbox: alerting.Outbox | None = None,
) -> Ran:
    """Open the runs that fell due, then lease and deliver every run due now, one at a time."""
    ran = Ran()
    by_name = {schedule.name: schedule for schedule in schedules}
    open_due(database, schedules, now=now, policy=policy)
    while (
        claimed := claim_next(database, names=sorted(by_name), now=now, instance=instance, policy=policy)
    ) is not None:
        schedule = by_name[claimed.schedule]
        remaining = [target for target in schedule.targets if target not in claimed.delivered]
        try:
            outcome = dict(deliver(schedule, claimed.due_at, remaining))
        except Exception as exc:  # the edge of one run: making the report failed; it is retried
            log.exception("report %s due %s could not be made", schedule.name, claimed.due_at.isoformat())
            outcome = {target: f"{type(exc).__name__}: {exc}" for target in remaining}
        status = finish(database, claimed, schedule, outcome=outcome, now=now, policy=policy, outbox=outbox)
        label = f"{schedule.name}@{claimed.due_at.isoformat()}"
        {SENT: ran.sent, PENDING: ran.retried, FAILED: ran.failed}.get(status, []).append(label)
    return ran


def open_due(database: Database, schedules: Sequence[Schedule], *, now: datetime, policy: RunPolicy) -> int:
    """A pending row for each schedule's latest firing at or before ``now`` not older than the
    lateness, unless a replica made it already; the rows made."""
    due = [(s.name, s.due_at(now)) for s in schedules]
    due = [(name, at) for name, at in due if now - at <= policy.lateness]
    if not due:
        return 0
    made = 0
    try:
        with database.transaction() as session:  # writers are serialised: no two replicas check at once
            for name, at in due:
                found = session.scalar(
                    select(ReportRun.id).where(ReportRun.schedule == name, ReportRun.due_at == at)
                )
                if found is None:
                    session.add(_pending(name, at, now=now))
                    made += 1
    except IntegrityError:  # the unique key: another writer made it first, whatever the locking
        return 0
    return made


def _pending(name: str, at: datetime, *, now: datetime) -> ReportRun:
    return ReportRun(
        schedule=name,
        due_at=at,
        status=PENDING,
        attempts=0,
        next_attempt_at=at,
        lease_until=None,
        claimed_by="",
        delivered=[],
        last_error="",
        created_at=now,
        sent_at=None,
    )


def claim_next(
    database: Database, *, names: Sequence[str], now: datetime, instance: str, policy: RunPolicy
) -> Claimed | None:
    """Lease the earliest run due now (pending, or sending under a lease that ran out) of ``names``."""
    if not names:
        return None
    with database.transaction() as session:
        due = or_(
            and_(ReportRun.status == PENDING, ReportRun.next_attempt_at <= now),
            and_(ReportRun.status == SENDING, ReportRun.lease_until < now),
        )
        query = select(ReportRun).where(ReportRun.schedule.in_(names), due)
        row = session.scalars(query.order_by(ReportRun.next_attempt_at, ReportRun.id).limit(1)).first()
        if row is None:
            return None
        row.status, row.attempts = SENDING, row.attempts + 1
        row.lease_until, row.claimed_by = now + policy.lease, instance
        return Claimed(row.id, row.schedule, row.due_at, row.attempts, tuple(row.delivered))


def finish(
    database: Database,
    claimed: Claimed,
    schedule: Schedule,
    *,
    outcome: Mapping[str, str],
    now: datetime,
    policy: RunPolicy,
    outbox: alerting.Outbox | None = None,
) -> str:
    """Record a delivery's outcome and audit it when it is final; the run's status ("" when its lease
    was lost to another replica meanwhile, which then records its own)."""
    errors = {target: error for target, error in sorted(outcome.items()) if error}
    with database.transaction() as session:
        row = session.get(ReportRun, claimed.id)
        if row is None or (row.status, row.attempts) != (SENDING, claimed.attempt):
            log.warning("report run %s: lease lost; its new holder records it", claimed.id)
            return ""
        row.delivered = sorted({*row.delivered, *(t for t, error in outcome.items() if not error)})
        row.lease_until, row.last_error = None, "; ".join(f"{t}: {e}" for t, e in errors.items())
        details = {
            "due": _stamp(claimed.due_at),
            "scope": schedule.scope,
            "period": schedule.period,
            "format": schedule.format,
            "delivered": list(row.delivered),
            "attempts": row.attempts,
        }
        if not errors:
            row.status, row.sent_at = SENT, now
            _audit(session, "report.sent", schedule, details, now=now)
        elif row.attempts >= policy.max_attempts:
            row.status = FAILED
            _audit(session, "report.failed", schedule, {**details, "errors": errors}, now=now)
            if outbox is not None and outbox.targets:
                alerting.queue(
                    session, outbox, [_undelivered(schedule, claimed, row.last_error, now)], now=now
                )
            log.error("report %s due %s not delivered: %s", schedule.name, details["due"], row.last_error)
        else:
            row.status = PENDING
            delay = policy.first_retry * (2 ** (row.attempts - 1))
            row.next_attempt_at = now + min(delay, policy.max_retry)
            log.warning("report %s due %s: %s; retrying", schedule.name, details["due"], row.last_error)
        return row.status


def _audit(
    session: object, action: str, schedule: Schedule, details: dict[str, object], *, now: datetime
) -> None:
    chain = auditing.Chain(session)  # type: ignore[arg-type]
    chain.append(
        actor=ACTOR, action=action, target=f"report-schedule:{schedule.name}", at=now, details=details
    )
    chain.flush()


def _undelivered(schedule: Schedule, claimed: Claimed, error: str, now: datetime) -> Alert:
    return Alert(
        key=f"report-undelivered:{schedule.name}:{_stamp(claimed.due_at)}",
        name=UNDELIVERED,
        severity="warning",
        summary=f"the scheduled report {schedule.name} due {claimed.due_at.isoformat()} was not delivered",
        starts_at=now,
        labels={"schedule": schedule.name, "scope": schedule.scope},
        annotations={"error": error[:1000], "attempts": str(claimed.attempt)},
        generator_url="",
    )


def _stamp(at: datetime) -> str:
    """A due time as audited and in alert keys (cron fires on whole minutes)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def runs(database: Database, *, limit: int = 100) -> list[ReportRun]:
    """The latest runs, newest first (``leitplanke report schedules``)."""
    with database.reading() as session:
        return list(
            session.scalars(select(ReportRun).order_by(ReportRun.due_at.desc(), ReportRun.id).limit(limit))
        )

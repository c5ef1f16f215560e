"""Figures counted by the database: SLA and waiver figures per (team, app) with GROUP BY, so that a
scope of hundreds of thousands of findings is never loaded into Python.

Called by ``governance.slas`` and ``governance.waivers`` (``build_figures``); none of them commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from leitplanke.store import repositories
from leitplanke.store.rows import App, Finding, Team, UtcDateTime, Waiver


@dataclass(frozen=True, slots=True)
class SlaCounts:
    """The SLA figures of one (team, app), counted by the database."""

    team: str
    app: str
    open: int
    overdue: int
    fixed: int
    fixed_in_time: int
    days_to_fix: float  # summed over the fixed findings


def sla_counts(session: Session, where: repositories.FindingFilter, *, now: datetime) -> list[SlaCounts]:
    """Per (team, app): open, overdue, fixed, fixed by the due date and the days they took, with
    GROUP BY (a finding counts as fixed when it has a fixed_at)."""
    is_open = Finding.status.in_(repositories.OPEN_STATUSES)
    is_fixed = and_(Finding.status == "fixed", Finding.fixed_at.is_not(None))
    in_time = and_(is_fixed, or_(Finding.sla_due.is_(None), Finding.fixed_at <= Finding.sla_due))
    columns = [
        Team.name,
        App.name,
        _count_if(is_open),
        _count_if(and_(is_open, Finding.sla_due < now)),
        _count_if(is_fixed),
        _count_if(in_time),
        func.sum(case((is_fixed, _days_between(session, Finding.fixed_at, Finding.first_seen)), else_=0)),
    ]
    query = repositories.finding_query(columns, where).group_by(Team.name, App.name)
    return [
        SlaCounts(team, app, int(o or 0), int(late or 0), int(f or 0), int(ok or 0), float(days or 0))
        for team, app, o, late, f, ok, days in session.execute(query)
    ]


def status_counts(session: Session, where: repositories.FindingFilter) -> list[tuple[str, str, str, int]]:
    """(team, app, status, findings) with GROUP BY."""
    query = repositories.finding_query([Team.name, App.name, Finding.status, func.count()], where).group_by(
        Team.name, App.name, Finding.status
    )
    return [(team, app, status, int(n)) for team, app, status, n in session.execute(query)]


def _count_if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _days_between(session: Session, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in days, in SQL of the session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def active_waiver_ages(
    session: Session, where: repositories.WaiverFilter, *, now: datetime
) -> list[tuple[str, str, int, float, float]]:
    """(team, app, active waivers, their ages summed and the largest, in days since approval) of the
    approved waivers not expired at ``now``, with GROUP BY."""
    approved_at = func.coalesce(Waiver.decided_at, Waiver.requested_at)
    age = _days_between(session, literal(now, UtcDateTime()), approved_at)
    query = (
        select(Team.name, App.name, func.count(), func.sum(age), func.max(age))
        .select_from(Waiver)
        .join(App, Waiver.app_id == App.id)
        .join(Team, App.team_id == Team.id)
        .where(Waiver.status == "approved", Waiver.expires > now)
        .group_by(Team.name, App.name)
    )
    if where.app is not None:
        query = query.where(App.name == where.app)
    if where.team is not None:
        query = query.where(Team.name == where.team)
    if where.team_ids is not None:
        query = query.where(App.team_id.in_(sorted(where.team_ids)))
    return [
        (team, app, int(n), float(total), float(largest))
        for team, app, n, total, largest in session.execute(query)
    ]

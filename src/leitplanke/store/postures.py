"""What the portal's pages read beyond the API's listings: open findings per severity, one finding by
id, an app's scans. Each takes the caller's session; none commits. Called by ``governance.postures``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from leitplanke.store import repositories
from leitplanke.store.rows import App, AuditRecord, Environment, Finding, Scan, Team


def open_by_severity(
    session: Session, where: repositories.FindingFilter, *, now: datetime
) -> list[tuple[str, int, int]]:
    """(severity, open findings, of them overdue at ``now``) with GROUP BY, open findings only."""
    is_open = Finding.status.in_(repositories.OPEN_STATUSES)
    overdue = func.sum(case((and_(Finding.sla_due.is_not(None), Finding.sla_due < now), 1), else_=0))
    query = (
        repositories.finding_query([Finding.severity, func.count(), overdue], where)
        .where(is_open)
        .group_by(Finding.severity)
    )
    return [(severity, int(n), int(late or 0)) for severity, n, late in session.execute(query)]


def finding_by_id(session: Session, finding_id: int) -> tuple[Finding, str, str, str] | None:
    """The finding with its app, owning team and environment."""
    query = repositories.finding_query(
        [Finding, App.name, Team.name, Environment.name], repositories.FindingFilter()
    )
    found = session.execute(query.where(Finding.id == finding_id)).first()
    return None if found is None else (found[0], found[1], found[2], found[3])


def app_scans(
    session: Session, app_id: int, *, limit: int, offset: int
) -> tuple[int, Sequence[tuple[Scan, str]]]:
    """How many scans the app has and one page of them with their environment, newest first."""
    total = session.scalar(select(func.count()).select_from(Scan).where(Scan.app_id == app_id)) or 0
    query = (
        select(Scan, Environment.name)
        .join(Environment, Scan.env_id == Environment.id)
        .where(Scan.app_id == app_id)
        .order_by(Scan.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [(scan, env) for scan, env in session.execute(query)]


def audit_records(
    session: Session, *, action: str | None, target: str | None, limit: int, offset: int
) -> tuple[int, Sequence[AuditRecord]]:
    """Audit records newest first, those whose action starts with ``action`` and whose target is
    ``target`` when given: how many, and one page."""
    conditions = []
    if action:
        conditions.append(AuditRecord.action.startswith(action, autoescape=True))
    if target:
        conditions.append(AuditRecord.target == target)
    total = session.scalar(select(func.count()).select_from(AuditRecord).where(*conditions)) or 0
    query = (
        select(AuditRecord).where(*conditions).order_by(AuditRecord.seq.desc()).limit(limit).offset(offset)
    )
    return total, session.scalars(query).all()

"""Queries and writes by table, each taking the caller's session; none of them commits.

Called by the use cases in ``governance``; rows in, rows out, bulk where a scan needs it. The audit
chain's rows are in ``auditrecords``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, DateTime, Select, Table, delete, func, select, type_coerce, update
from sqlalchemy.orm import Session

from leitplanke.store import bulk
from leitplanke.store.changerows import ChangeApproval, ChangeRequest
from leitplanke.store.deliveryrows import Deployment, DeploymentCommit, Incident
from leitplanke.store.rows import (
    AdmissionDecision,
    ApiToken,
    App,
    AuditLeaf,
    AuditRecord,
    Environment,
    Finding,
    OutboxAlert,
    PortalSession,
    PortalUser,
    Scan,
    Team,
    Waiver,
)

# --- catalog -------------------------------------------------------------------------------------


def team_by_name(session: Session, name: str) -> Team | None:
    return session.scalars(select(Team).where(Team.name == name)).one_or_none()


def app_by_name(session: Session, name: str) -> App | None:
    return session.scalars(select(App).where(App.name == name)).one_or_none()


def app_owner(session: Session, name: str) -> str | None:
    query = select(Team.name).join(App, App.team_id == Team.id).where(App.name == name)
    return session.scalars(query).one_or_none()


def environment_by_name(session: Session, name: str) -> Environment | None:
    return session.scalars(select(Environment).where(Environment.name == name)).one_or_none()


def list_teams(session: Session) -> Sequence[Team]:
    return session.scalars(select(Team).order_by(Team.name)).all()


def list_apps(session: Session, *, team_id: int | None = None) -> Sequence[tuple[App, str]]:
    query = select(App, Team.name).join(Team, App.team_id == Team.id).order_by(App.name)
    if team_id is not None:
        query = query.where(App.team_id == team_id)
    return [(app, team) for app, team in session.execute(query)]


def list_environments(session: Session) -> Sequence[Environment]:
    return session.scalars(select(Environment).order_by(Environment.name)).all()


def team_names_by_id(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Team.id, Team.name)).all())


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


# --- scans and findings --------------------------------------------------------------------------


def findings_in_scope(session: Session, *, app_id: int, env_id: int) -> Sequence[Finding]:
    query = select(Finding).where(Finding.app_id == app_id, Finding.env_id == env_id)
    return session.scalars(query).all()


_FINDINGS: Table = Finding.__table__  # type: ignore[assignment]  # a declarative row's table is a Table


class StoredFinding(NamedTuple):
    """A known finding as the ingestion compares it (not a whole ORM object: a scope holds a hundred
    thousand); its times are naive UTC, as stored, which spares a conversion per row."""

    id: int
    fingerprint: str
    status: str
    severity: str
    message: str
    waiver: str
    first_seen: datetime
    sla_due: datetime | None
    waived_since: datetime | None
    paused_seconds: int
    policy: str
    rule: str
    api_version: str
    kind: str
    namespace: str
    name: str
    path: str
    source: str
    category: str
    last_seen: datetime  # as written: the scope's latest scan of its source saw it when it is not fixed
    last_scan_id: int


def _stored_columns() -> list[Any]:
    naive = {"first_seen", "sla_due", "waived_since", "last_seen"}
    table = Finding.__table__
    return [
        type_coerce(table.c[name], DateTime()).label(name) if name in naive else table.c[name]
        for name in StoredFinding._fields
    ]


def iter_scope_findings(
    session: Session, *, app_id: int, env_id: int, batch: int = 5000
) -> Iterator[StoredFinding]:
    """The findings of one (app, env) in id order, fetched by keyset in batches: each query is read to
    its end before the caller writes (SQLite must not see a table change under an open statement)."""
    columns, last = _stored_columns(), 0
    while True:
        query = (
            select(*columns)
            .where(Finding.app_id == app_id, Finding.env_id == env_id, Finding.id > last)
            .order_by(Finding.id)
            .limit(batch)
        )
        rows = session.connection().execute(query).all()  # Core rows: no ORM loading
        yield from map(StoredFinding._make, rows)
        if len(rows) < batch:
            return
        last = rows[-1][0]


def insert_findings(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """New findings (mappings with the same keys) in one statement: COPY on PostgreSQL, a prepared
    statement run by executemany on SQLite."""
    bulk.insert_rows(session, _FINDINGS, rows)


REWRITTEN = (
    "status",
    "severity",
    "message",
    "waiver",
    "sla_due",
    "fixed_at",
    "last_seen",
    "last_scan_id",
    "waived_since",
    "paused_seconds",
    "source",
    "category",
)


def rewriting_findings(session: Session) -> bulk.Rewrite:
    """Rewrites of findings by ``id``, given in batches of mappings that carry every column of
    ``REWRITTEN``; ``apply()`` once they are all given (on PostgreSQL one UPDATE for them all)."""
    return bulk.Rewrite(session, _FINDINGS, columns=REWRITTEN)


def vacuum_findings(connection: Connection) -> None:
    """Refresh the planner's statistics of the findings table and mark its pages all-visible, for
    counts answered from an index alone (PostgreSQL; SQLite plans without). Outside a transaction."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("VACUUM (ANALYZE) findings")


def update_findings(session: Session, changes: Sequence[Mapping[str, Any]]) -> None:
    """Bulk update by primary key: every mapping carries ``id`` and the columns to set."""
    if changes:
        session.execute(update(Finding), list(changes))


def latest_scan(
    session: Session, *, app_id: int, env_id: int, source: str | None = None
) -> tuple[int, datetime] | None:
    """(id, received at) of the scope's latest scan (of ``source`` when given), or None before its first."""
    query = (
        select(Scan.id, Scan.received_at)
        .where(Scan.app_id == app_id, Scan.env_id == env_id)
        .order_by(Scan.id.desc())
        .limit(1)
    )
    if source is not None:
        query = query.where(Scan.source == source)
    found = session.execute(query).first()
    return None if found is None else (found[0], found[1])


SourceScope = tuple[int, int, str]  # app id, env id, source


def latest_scan_times(session: Session, scopes: Iterable[SourceScope]) -> dict[SourceScope, datetime]:
    """When each source last scanned each (app id, env id): when the findings it last reported that
    are not fixed were last seen."""
    found: dict[SourceScope, datetime] = {}
    for app_id, env_id, source in sorted(set(scopes)):
        latest = latest_scan(session, app_id=app_id, env_id=env_id, source=source)
        if latest is not None:
            found[(app_id, env_id, source)] = latest[1]
    return found


@dataclass(frozen=True, slots=True)
class FindingFilter:
    app: str | None = None
    team: str | None = None
    env: str | None = None
    policy: str | None = None
    severity: str | None = None
    status: str | None = None
    policy_prefix: str | None = None  # policies whose id starts so (drift.)
    overdue_at: datetime | None = None  # only findings still open past their due date at this time
    team_ids: frozenset[int] | None = None  # restrict to these owning teams (access control)


OPEN_STATUSES = ("new", "open", "reopened")


def finding_query(columns: Any, where: FindingFilter) -> Select[Any]:
    query = (
        select(*columns)
        .select_from(Finding)
        .join(App, Finding.app_id == App.id)
        .join(Team, App.team_id == Team.id)
        .join(Environment, Finding.env_id == Environment.id)
    )
    if where.app is not None:
        query = query.where(App.name == where.app)
    if where.team is not None:
        query = query.where(Team.name == where.team)
    if where.env is not None:
        query = query.where(Environment.name == where.env)
    if where.policy is not None:
        query = query.where(Finding.policy == where.policy)
    if where.policy_prefix is not None:
        query = query.where(Finding.policy.startswith(where.policy_prefix, autoescape=True))
    if where.severity is not None:
        query = query.where(Finding.severity == where.severity)
    if where.status is not None:
        query = query.where(Finding.status == where.status)
    if where.overdue_at is not None:
        query = query.where(Finding.status.in_(OPEN_STATUSES), Finding.sla_due < where.overdue_at)
    if where.team_ids is not None:
        query = query.where(App.team_id.in_(sorted(where.team_ids)))
    return query


def _matching_findings(where: FindingFilter) -> list[Any]:
    """``finding_query``'s conditions on the findings table alone, apps, teams and environments as subqueries
    (the foreign keys make them equivalent to its joins): counted and paged without a join per finding."""
    conditions: list[Any] = []
    of_apps: list[Any] = []
    if where.app is not None:
        of_apps.append(App.name == where.app)
    if where.team is not None:
        of_apps.append(App.team_id.in_(select(Team.id).where(Team.name == where.team)))
    if where.team_ids is not None:
        of_apps.append(App.team_id.in_(sorted(where.team_ids)))
    if of_apps:
        conditions.append(Finding.app_id.in_(select(App.id).where(*of_apps)))
    if where.env is not None:
        conditions.append(Finding.env_id.in_(select(Environment.id).where(Environment.name == where.env)))
    for column, value in ((Finding.policy, where.policy), (Finding.severity, where.severity)):
        if value is not None:
            conditions.append(column == value)
    if where.policy_prefix is not None:
        conditions.append(Finding.policy.startswith(where.policy_prefix, autoescape=True))
    if where.status is not None:
        conditions.append(Finding.status == where.status)
    if where.overdue_at is not None:
        conditions.extend((Finding.status.in_(OPEN_STATUSES), Finding.sla_due < where.overdue_at))
    return conditions


def query_findings(
    session: Session, where: FindingFilter, *, limit: int, offset: int = 0, after: int | None = None
) -> tuple[int, list[tuple[Finding, str, str, str]]]:
    """The total matching and one page of (finding, app, team, env) in id order: the findings after id
    ``after`` (keyset: an index range, whatever the depth) or ``offset`` rows in."""
    matching = _matching_findings(where)
    total = session.scalar(select(func.count()).select_from(Finding).where(*matching)) or 0
    # the page's ids first: sorting ids read from an index, not whole rows (a scope holds 100k and more)
    ids = select(Finding.id).where(*matching)
    if after is not None:
        ids = ids.where(Finding.id > after)
    page = session.scalars(ids.order_by(Finding.id).limit(limit).offset(offset)).all()
    if not page:
        return total, []
    query = finding_query([Finding, App.name, Team.name, Environment.name], FindingFilter())
    query = query.where(Finding.id.in_(page)).order_by(Finding.id)
    return total, [(f, app, team, env) for f, app, team, env in session.execute(query)]


def count_findings(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Finding)) or 0


# --- waivers -------------------------------------------------------------------------------------

WaiverRow = tuple[Waiver, str, str, str]  # the waiver, its app, env and owning team


def _waiver_query() -> Select[Waiver, str, str, str]:
    return (
        select(Waiver, App.name, Environment.name, Team.name)
        .join(App, Waiver.app_id == App.id)
        .join(Team, App.team_id == Team.id)
        .join(Environment, Waiver.env_id == Environment.id)
    )


def waiver_by_id(session: Session, waiver_id: int) -> WaiverRow | None:
    found = session.execute(_waiver_query().where(Waiver.id == waiver_id)).first()
    return None if found is None else (found[0], found[1], found[2], found[3])


@dataclass(frozen=True, slots=True)
class WaiverFilter:
    app: str | None = None
    env: str | None = None
    team: str | None = None
    status: str | None = None
    team_ids: frozenset[int] | None = None  # restrict to these owning teams (access control)


def query_waivers(session: Session, where: WaiverFilter) -> list[WaiverRow]:
    query = _waiver_query().order_by(Waiver.id)
    if where.app is not None:
        query = query.where(App.name == where.app)
    if where.env is not None:
        query = query.where(Environment.name == where.env)
    if where.team is not None:
        query = query.where(Team.name == where.team)
    if where.status is not None:
        query = query.where(Waiver.status == where.status)
    if where.team_ids is not None:
        query = query.where(App.team_id.in_(sorted(where.team_ids)))
    return [(w, app, env, team) for w, app, env, team in session.execute(query)]


def waivers_in_scope(session: Session, *, app_id: int, env_id: int, status: str) -> Sequence[Waiver]:
    query = select(Waiver).where(Waiver.app_id == app_id, Waiver.env_id == env_id, Waiver.status == status)
    return session.scalars(query.order_by(Waiver.id)).all()


def waivers_due(session: Session, *, statuses: Sequence[str], now: datetime) -> Sequence[Waiver]:
    """Waivers in ``statuses`` whose expiry has come, locked; rows another writer holds are skipped
    (PostgreSQL; SQLite has one writer at a time and no row locks)."""
    query = (
        select(Waiver)
        .where(Waiver.status.in_(list(statuses)), Waiver.expires <= now)
        .order_by(Waiver.id)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(query).all()


def add_scan(session: Session, scan: Scan) -> int:
    session.add(scan)
    session.flush()
    return scan.id


def delete_all(session: Session) -> None:
    """Empty every table (tests and ``db seed-demo --reset``), children first."""
    for delivery in (Incident, DeploymentCommit, Deployment):  # the delivery tables (deliveryrows) first
        session.execute(delete(delivery))
    for row in (
        ChangeApproval,
        ChangeRequest,
        PortalSession,
        PortalUser,
        AdmissionDecision,
        OutboxAlert,
        Finding,
        Waiver,
        Scan,
        ApiToken,
        App,
        Environment,
        Team,
        AuditLeaf,
        AuditRecord,
    ):
        session.execute(delete(row))

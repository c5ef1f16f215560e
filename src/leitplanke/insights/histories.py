"""The findings history as events, replayed from the audit chain: every status change of every finding
(the Merkle leaves of ``scan.ingested`` records; the ``finding.status`` records of waivers), with its
scan, time, app, environment, revision, severity and owning team. Loaded for ``insights.trends``.

The findings table keeps only a finding's current state; the audit leaves keep each transition, so
a fix followed by a reopening (a recurring violation) is still there after the finding is open again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leitplanke.store.databases import Database
from leitplanke.store.rows import App, AuditLeaf, AuditRecord, Environment, Finding, Scan, Team

_Timed = TypeVar("_Timed", "Event", "ScanMark")
INGESTED = "scan.ingested"
STATUS = "finding.status"  # one finding moved by a waiver's approval or expiry
_BATCH = 20_000


# not frozen: a frozen dataclass's __init__ costs several times as much, and a year holds 100,000s
@dataclass(slots=True)
class Event:
    """One status change of one finding: ``before`` is None for a finding the scan added."""

    at: datetime
    scan: int  # 0 for a change made by a waiver's approval or expiry
    app: str
    env: str
    fingerprint: str
    before: str | None
    after: str
    policy: str
    rule: str
    resource: str  # Kind/namespace/name
    severity: str


@dataclass(frozen=True, slots=True)
class ScanMark:
    scan: int
    at: datetime
    app: str
    env: str
    revision: str  # the uploader's ``summary.revision``; "" when it named none


@dataclass(slots=True)
class History:
    """Events and scans in time order (then audit order), of the apps in scope, up to ``until``."""

    until: datetime
    events: list[Event] = field(default_factory=list)
    scans: list[ScanMark] = field(default_factory=list)
    teams: dict[str, str] = field(default_factory=dict)  # app -> owning team
    cloud_native: dict[str, bool] = field(default_factory=dict)  # app -> the catalog's class
    lifecycles: dict[str, str] = field(default_factory=dict)  # app -> production, experimental, ...
    repositories: dict[str, str] = field(default_factory=dict)  # app -> its Git repository, "" if none
    environments: dict[str, str] = field(default_factory=dict)  # environment -> enforcement mode
    # findingstates' per-finding timelines of ``events`` (and maybe of later ones: they are searched by
    # time), built on first use; typed loosely here, for histories sits below findingstates
    timelines: Any = None
    states: dict[Any, Any] | None = None  # findingstates.tracks_at's answers, by (moment, apps)


def load_history(database: Database, *, until: datetime, apps: Sequence[str] | None = None) -> History:
    """Everything recorded up to ``until``; ``apps``: only these (None: every app)."""
    with database.reading() as session:
        history = History(until=until)
        _catalog(session, history, wanted=None if apps is None else frozenset(apps))
        severities = _severities(session)
        history.scans = list(_scans(session, until=until, apps=history.teams))
        scopes = {scan.scan: (scan.app, scan.env) for scan in history.scans}
        teams = history.teams
        history.events = _events(session, until=until, apps=teams, scopes=scopes, severities=severities)
    return history


@dataclass(slots=True)
class Appended:
    """The catalog as it is now, and what was recorded after a known audit record and scan."""

    catalog: History
    events: list[Event]
    scans: list[ScanMark]
    head: int  # the last audit record's seq: where the next call starts


def load_appended(database: Database, *, after_seq: int, after_scan: int) -> Appended:
    """The events of the audit records after ``after_seq`` and the scans after ``after_scan``; the
    catalog (teams, classes, environments) always whole. For ``historycaches``."""
    with database.reading() as session:
        catalog = History(until=datetime.max.replace(tzinfo=UTC))
        _catalog(session, catalog, wanted=None)
        head = session.scalar(select(func.max(AuditRecord.seq))) or 0
        if head <= after_seq:
            return Appended(catalog, [], [], after_seq)
        scans = list(_scans(session, until=None, apps=catalog.teams, after=after_scan))
        scopes = {scan.scan: (scan.app, scan.env) for scan in scans}
        severities = _severities(session)
        events = _events(
            session,
            until=None,
            apps=catalog.teams,
            scopes=scopes,
            severities=severities,
            after=after_seq,
            upto=head,
        )
    return Appended(catalog, events, scans, head)


def upto(items: list[_Timed], until: datetime) -> list[_Timed]:
    """``items`` (in time order) up to ``until``: the list itself when none is later."""
    if not items or items[-1].at <= until:
        return items
    return [item for item in items if item.at <= until]


def _catalog(session: Session, history: History, *, wanted: frozenset[str] | None) -> None:
    columns = (App.name, Team.name, App.cloud_native, App.lifecycle, App.repository)
    for name, team, native, lifecycle, repository in session.execute(
        select(*columns).join(Team, App.team_id == Team.id).order_by(App.name)
    ):
        if wanted is None or name in wanted:
            history.teams[name], history.cloud_native[name] = team, bool(native)
            history.lifecycles[name], history.repositories[name] = lifecycle, repository
    for env, enforcement in session.execute(select(Environment.name, Environment.enforcement)):
        history.environments[env] = enforcement


def _severities(session: Session) -> dict[tuple[str, str, str], str]:
    query = (
        select(App.name, Environment.name, Finding.fingerprint, Finding.severity)
        .select_from(Finding)
        .join(App, Finding.app_id == App.id)
        .join(Environment, Finding.env_id == Environment.id)
    )
    return {(app, env, key): severity for app, env, key, severity in session.execute(query)}


def _scans(
    session: Session, *, until: datetime | None, apps: dict[str, str], after: int = 0
) -> Iterator[ScanMark]:
    # the revision alone, extracted by the database: parsing every summary costs seconds a year
    revision = Scan.summary["revision"].as_string()
    query = (
        select(Scan.id, Scan.received_at, App.name, Environment.name, revision)
        .join(App, Scan.app_id == App.id)
        .join(Environment, Scan.env_id == Environment.id)
        .where(Scan.id > after)
        .order_by(Scan.id)
    )
    if until is not None:
        query = query.where(Scan.received_at <= until)
    for scan_id, at, app, env, named in session.execute(query):
        if app in apps:
            yield ScanMark(scan_id, at, app, env, str(named) if named else "")


def _events(
    session: Session,
    *,
    until: datetime | None,
    apps: dict[str, str],
    scopes: Mapping[int, tuple[str, str]],
    severities: dict[tuple[str, str, str], str],
    after: int = 0,
    upto: int | None = None,
) -> list[Event]:
    """Transitions in audit order: the leaves of ingested scans, and the single-finding status records
    a waiver's approval or expiry writes."""
    conditions = [AuditRecord.seq > after]
    if until is not None:
        conditions.append(AuditRecord.at <= until)
    if upto is not None:
        conditions.append(AuditRecord.seq <= upto)
    # an ingestion's scope is its scan's (the target names it): its details are not read, nor parsed
    ingested = select(AuditRecord.seq, AuditRecord.at, AuditRecord.target)
    scans: dict[int, tuple[datetime, int, str, str]] = {}
    for seq, at, target in session.execute(ingested.where(AuditRecord.action == INGESTED, *conditions)):
        scan_id = int(target.removeprefix("scan:"))
        scope = scopes.get(scan_id)
        if scope is not None:
            scans[seq] = (at, scan_id, *scope)
    changed = select(AuditRecord.seq, AuditRecord.at, AuditRecord.target, AuditRecord.details)
    ordered: list[tuple[int, int, Event]] = []
    for seq, at, target, details in session.execute(changed.where(AuditRecord.action == STATUS, *conditions)):
        app, env, key = target.removeprefix("finding:").split("/", 2)
        if app in apps:
            ordered.append((seq, 0, _event((at, 0, app, env), {**details, "fingerprint": key}, severities)))
    if scans:
        ordered.extend(_leaf_events(session, scans, severities))
    ordered.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in ordered]


def _leaf_events(
    session: Session,
    scans: dict[int, tuple[datetime, int, str, str]],
    severities: dict[tuple[str, str, str], str],
) -> Iterator[tuple[int, int, Event]]:
    where = (AuditLeaf.seq >= min(scans)) & (AuditLeaf.seq <= max(scans))
    after = where
    while True:
        query = select(AuditLeaf.seq, AuditLeaf.idx, AuditLeaf.body).where(after)
        rows = session.execute(query.order_by(AuditLeaf.seq, AuditLeaf.idx).limit(_BATCH)).all()
        for seq, idx, body in rows:
            if seq in scans:
                yield seq, idx, _event(scans[seq], orjson.loads(body), severities)
        if len(rows) < _BATCH:
            return
        seq, idx = rows[-1][0], rows[-1][1]
        after = where & ((AuditLeaf.seq > seq) | ((AuditLeaf.seq == seq) & (AuditLeaf.idx > idx)))


def _event(
    scan: tuple[datetime, int, str, str], leaf: dict[str, Any], severities: dict[tuple[str, str, str], str]
) -> Event:
    at, scan_id, app, env = scan
    key = leaf["fingerprint"]
    return Event(
        at=at,
        scan=scan_id,
        app=app,
        env=env,
        fingerprint=key,
        before=leaf.get("from"),
        after=leaf["to"],
        policy=leaf["policy"],
        rule=leaf["rule"],
        resource=leaf["resource"],
        severity=severities.get((app, env, key), ""),
    )

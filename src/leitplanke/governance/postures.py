"""A team's and an app's posture as the portal shows them: open findings by severity and overdue
against their SLA, SLA and waiver figures (``slas``, ``waiverfigures``), an app's scan history.

Read-only; counted by the database. Called by the portal's team home and application pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leitplanke.governance import errors, findingviews, slas, waiverfigures
from leitplanke.store import postures, repositories
from leitplanke.store.databases import Database

SEVERITIES = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True, slots=True)
class SeverityCount:
    severity: str
    open: int
    overdue: int


@dataclass(frozen=True, slots=True)
class AppLine:
    """One app's line on its team's home."""

    app: str
    open: int
    overdue: int
    waiver_ratio: float | None
    active_waivers: int


@dataclass(frozen=True, slots=True)
class Posture:
    team: str
    app: str  # "" for a team's
    by_severity: tuple[SeverityCount, ...]  # every severity, most severe first
    sla: slas.Figures | None  # None: no finding yet
    waivers: waiverfigures.WaiverFigures | None  # None: nothing waived or failing yet
    apps: dict[str, AppLine]  # a team's: per app with findings or waivers

    @property
    def open(self) -> int:
        return sum(count.open for count in self.by_severity)

    @property
    def overdue(self) -> int:
        return sum(count.overdue for count in self.by_severity)


def build_posture(database: Database, *, team: str, app: str | None = None, now: datetime) -> Posture:
    """The posture of ``team`` (all its apps, with a line per app), or of one of its apps."""
    where = repositories.FindingFilter(team=team, app=app)
    with database.reading() as session:
        counted = {sev: (n, late) for sev, n, late in postures.open_by_severity(session, where, now=now)}
    by_severity = tuple(SeverityCount(sev, *counted.get(sev, (0, 0))) for sev in SEVERITIES)
    sla = {f.app: f for f in slas.build_figures(database, now=now, team=team, app=app) if f.team == team}
    waived = {
        f.app: f for f in waiverfigures.build_figures(database, now=now, team=team, app=app) if f.team == team
    }
    lines = {}
    for name in sorted((set(sla) | set(waived)) - {""}):
        figures, waiver = sla.get(name), waived.get(name)
        lines[name] = AppLine(
            app=name,
            open=figures.open if figures else 0,
            overdue=figures.overdue if figures else 0,
            waiver_ratio=waiver.ratio if waiver else None,
            active_waivers=waiver.active if waiver else 0,
        )
    key = app or ""
    return Posture(
        team=team, app=key, by_severity=by_severity, sla=sla.get(key), waivers=waived.get(key), apps=lines
    )


def get_finding(database: Database, finding_id: int, *, now: datetime) -> findingviews.FindingView:
    """One finding as the API shows it; NotFound when there is none."""
    with database.reading() as session:
        found = postures.finding_by_id(session, finding_id)
        if found is None:
            raise errors.NotFound(f"no finding {finding_id}", field="id")
        finding = found[0]
        scope = findingviews.source_scope(finding)
        seen = repositories.latest_scan_times(session, {scope})
        return findingviews.view_of(finding, *found[1:], latest=seen.get(scope), now=now)


@dataclass(frozen=True, slots=True)
class ScanView:
    id: int
    env: str
    received_at: datetime
    actor: str
    results: int
    failing: int


def page_scans(database: Database, *, app: str, limit: int, offset: int) -> tuple[int, list[ScanView]]:
    """The app's scans, newest first: its history."""
    with database.reading() as session:
        app_row = repositories.app_by_name(session, app)
        if app_row is None:
            raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
        total, rows = postures.app_scans(session, app_row.id, limit=limit, offset=offset)
        return total, [ScanView(s.id, env, s.received_at, s.actor, s.results, s.failing) for s, env in rows]

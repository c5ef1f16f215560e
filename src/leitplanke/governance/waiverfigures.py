"""Waiver figures: per team and app, how many findings are waived against failing, and how many
waivers are active and for how long, counted by the database (``store.figures``).

Called by the service's ``GET /waivers/figures``; what waivers are and how they move is ``waivers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from leitplanke.governance import waivedfindings
from leitplanke.store import figures, repositories
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class WaiverFigures:
    team: str
    app: str  # "" for a team's total
    active: int  # approved, unexpired waivers
    waived: int  # findings waived now
    failing: int  # findings new, open or reopened now
    ratio: float | None  # waived / (failing + waived); None when both are zero
    mean_age_days: float | None  # of the active waivers, since their approval
    max_age_days: float | None


@dataclass(slots=True)
class _Tally:
    waived: int = 0
    failing: int = 0
    active: int = 0
    age_days: float = 0.0  # summed over the active waivers
    max_age_days: float | None = None

    def figures(self, team: str, app: str) -> WaiverFigures:
        seen = self.waived + self.failing
        return WaiverFigures(
            team=team,
            app=app,
            active=self.active,
            waived=self.waived,
            failing=self.failing,
            ratio=round(self.waived / seen, 4) if seen else None,
            mean_age_days=round(self.age_days / self.active, 3) if self.active else None,
            max_age_days=round(self.max_age_days, 3) if self.max_age_days is not None else None,
        )


def combine_figures(
    status_counts: Sequence[tuple[str, str, str, int]],
    active_ages: Sequence[tuple[str, str, int, float, float]],
) -> list[WaiverFigures]:
    """Per team (app "") and per app, sorted, from the database's per-app counts: (team, app, finding
    status, findings) and (team, app, active waivers, their ages summed, the largest age)."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for team, app, status, count in status_counts:
        for key in ((team, ""), (team, app)):
            tally = tallies.setdefault(key, _Tally())
            if status == waivedfindings.WAIVED:
                tally.waived += count
            elif status in repositories.OPEN_STATUSES:
                tally.failing += count
    for team, app, active, age_days, max_age in active_ages:
        for key in ((team, ""), (team, app)):
            tally = tallies.setdefault(key, _Tally())
            tally.active += active
            tally.age_days += age_days
            tally.max_age_days = max(max_age, tally.max_age_days or max_age)
    return [tallies[key].figures(*key) for key in sorted(tallies)]


def build_figures(
    database: Database,
    *,
    now: datetime,
    team: str | None = None,
    app: str | None = None,
    team_ids: frozenset[int] | None = None,
) -> list[WaiverFigures]:
    """The figures counted with SQL aggregates (one row per app and status), not finding by finding."""
    finding_where = repositories.FindingFilter(team=team, app=app, team_ids=team_ids)
    waiver_where = repositories.WaiverFilter(team=team, app=app, team_ids=team_ids)
    with database.reading() as session:
        statuses = figures.status_counts(session, finding_where)
        ages = figures.active_waiver_ages(session, waiver_where, now=now)
    return combine_figures(statuses, ages)

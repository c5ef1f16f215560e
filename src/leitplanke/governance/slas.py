"""Remediation SLAs: due dates per severity and the figures per team and app.

The clock starts at the first sighting and pauses while a waiver covers the finding: the due date is
first seen + the severity's days + the time spent waived. A pause still running is added when it ends
(a waived finding is never overdue meanwhile), so the due date moves once, by the waived duration.
``due_date`` is used by the findings lifecycle; ``build_figures`` (counted by the database with GROUP BY)
by the API and reports, with ``now`` injected so that "overdue" is testable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.store import figures, repositories
from leitplanke.store.databases import Database

OPEN_STATUSES = frozenset(repositories.OPEN_STATUSES)


def due_date(
    first_seen: datetime, severity: str, sla_days: Mapping[str, int], *, paused_seconds: int = 0
) -> datetime | None:
    """First seen plus the severity's SLA plus the ended waiver pauses; None without an SLA (info)."""
    days = sla_days.get(severity)
    return None if days is None else first_seen + timedelta(days=days, seconds=paused_seconds)


def pause_seconds(waived_since: datetime, now: datetime) -> int:
    """Whole seconds of a pause that ends at ``now`` (never negative)."""
    return max(0, int((now - waived_since).total_seconds()))


@dataclass(frozen=True, slots=True)
class Figures:
    team: str
    app: str  # "" for a team's total
    open: int
    overdue: int
    fixed: int
    mean_days_to_remediate: float | None  # over fixed findings; None when none was fixed
    fixed_within_sla: float | None  # share of fixed findings fixed by their due date


def combine(counts: Iterable[figures.SlaCounts]) -> list[Figures]:
    """Per team (app "") and per app, sorted by team then app, from the per-app counts of the database:
    a team's figures are the sums of its apps'."""
    tallies: dict[tuple[str, str], list[float]] = {}
    for row in counts:
        for key in ((row.team, ""), (row.team, row.app)):
            tally = tallies.setdefault(key, [0, 0, 0, 0, 0.0])
            for index, value in enumerate(
                (row.open, row.overdue, row.fixed, row.fixed_in_time, row.days_to_fix)
            ):
                tally[index] += value
    return [_as_figures(key, tallies[key]) for key in sorted(tallies)]


def _as_figures(key: tuple[str, str], tally: list[float]) -> Figures:
    open_, overdue, fixed, in_time, days = tally
    return Figures(
        team=key[0],
        app=key[1],
        open=int(open_),
        overdue=int(overdue),
        fixed=int(fixed),
        mean_days_to_remediate=round(days / fixed, 3) if fixed else None,
        fixed_within_sla=round(in_time / fixed, 4) if fixed else None,
    )


def build_figures(
    database: Database,
    *,
    now: datetime,
    team: str | None = None,
    app: str | None = None,
    team_ids: frozenset[int] | None = None,
) -> list[Figures]:
    """The figures counted with SQL aggregates (one row per app), not finding by finding."""
    where = repositories.FindingFilter(team=team, app=app, team_ids=team_ids)
    with database.reading() as session:
        counts = figures.sla_counts(session, where, now=now)
    return combine(counts)

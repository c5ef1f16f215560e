"""Remediation SLAs: due dates per severity and the figures per team and app.

The clock starts at the first sighting and pauses while a waiver covers the finding: the due date is
first seen + the severity's days + the time spent waived. A pause still running is added when it ends
(a waived finding is never overdue meanwhile), so the due date moves once, by the waived duration.
``due_date`` is used by the findings lifecycle; ``build_figures`` by the API and reports, with
``now`` injected so that "overdue" is testable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.store import repositories
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


@dataclass(slots=True)
class _Tally:
    open: int = 0
    overdue: int = 0
    fixed: int = 0
    fixed_in_time: int = 0
    seconds_to_fix: float = 0.0

    def add(
        self,
        *,
        status: str,
        first_seen: datetime,
        fixed_at: datetime | None,
        due: datetime | None,
        now: datetime,
    ) -> None:
        if status in OPEN_STATUSES:
            self.open += 1
            if due is not None and due < now:
                self.overdue += 1
        elif status == "fixed" and fixed_at is not None:
            self.fixed += 1
            self.seconds_to_fix += (fixed_at - first_seen).total_seconds()
            if due is None or fixed_at <= due:
                self.fixed_in_time += 1

    def figures(self, team: str, app: str) -> Figures:
        return Figures(
            team=team,
            app=app,
            open=self.open,
            overdue=self.overdue,
            fixed=self.fixed,
            mean_days_to_remediate=round(self.seconds_to_fix / self.fixed / 86400, 3) if self.fixed else None,
            fixed_within_sla=round(self.fixed_in_time / self.fixed, 4) if self.fixed else None,
        )


def compute_figures(
    rows: Iterable[tuple[str, str, str, datetime, datetime | None, datetime | None]], *, now: datetime
) -> list[Figures]:
    """Per team (app "") and per app, sorted by team then app, from (team, app, status, first seen,
    fixed at, due) rows. Pure: the clock is ``now``."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for team, app, status, first_seen, fixed_at, due in rows:
        for key in ((team, ""), (team, app)):
            tally = tallies.setdefault(key, _Tally())
            tally.add(status=status, first_seen=first_seen, fixed_at=fixed_at, due=due, now=now)
    return [tallies[key].figures(*key) for key in sorted(tallies)]


def build_figures(
    database: Database,
    *,
    now: datetime,
    team: str | None = None,
    app: str | None = None,
    team_ids: frozenset[int] | None = None,
) -> list[Figures]:
    where = repositories.FindingFilter(team=team, app=app, team_ids=team_ids)
    with database.reading() as session:
        rows = repositories.finding_figures_rows(session, where)
    return compute_figures(rows, now=now)

"""The read side of delivery: the DORA figures of an app, a team, a value stream or the organisation,
over a period and week by week, loaded from the store and computed by ``dorametrics``.

Called by ``service.delivering`` (the API and /metrics) and by the tests against the generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.delivery import dorametrics
from leitplanke.store import deliveries
from leitplanke.store.databases import Database

PRODUCTION = "prod"


@dataclass(frozen=True, slots=True)
class DoraReport:
    scope: deliveries.Scope
    env: str
    figures: dorametrics.DoraFigures
    weeks: tuple[dorametrics.DoraFigures, ...]


def load_facts(
    database: Database, scope: deliveries.Scope, *, env: str, start: datetime, end: datetime
) -> tuple[list[dorametrics.DeploymentFact], list[dorametrics.IncidentFact]]:
    with database.reading() as session:
        rows = deliveries.scoped_deployments(session, scope, env=env, start=start, end=end)
        ids = [row.id for row in rows]
        times: dict[int, list[datetime]] = {}
        for commit in deliveries.commits_of(session, ids):
            times.setdefault(commit.deployment_id, []).append(commit.committed_at)
        incidents = [
            dorametrics.IncidentFact(
                deployment_id=i.deployment_id, opened_at=i.opened_at, resolved_at=i.resolved_at
            )
            for i in deliveries.incidents_of(session, ids)
        ]
    facts = [
        dorametrics.DeploymentFact(
            id=row.id,
            deployed_at=row.deployed_at,
            rolled_back_at=row.rolled_back_at,
            commit_times=tuple(sorted(times.get(row.id, ()))),
        )
        for row in rows
    ]
    return facts, incidents


def dora_report(
    database: Database,
    scope: deliveries.Scope,
    *,
    now: datetime,
    days: int,
    env: str = PRODUCTION,
    weekly: bool = True,
) -> DoraReport:
    """The figures of the ``days`` before ``now`` and, with ``weekly``, of each week in them."""
    start = now - timedelta(days=days)
    deployments, incidents = load_facts(database, scope, env=env, start=start, end=now)
    figures = dorametrics.compute(deployments, incidents, start=start, end=now)
    weeks = dorametrics.weekly(deployments, incidents, start=start, end=now) if weekly else []
    return DoraReport(scope=scope, env=env, figures=figures, weeks=tuple(weeks))


def duration(seconds: float | None) -> str:
    """``45m``, ``5.5h``, ``3.2d``; ``—`` for none."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"

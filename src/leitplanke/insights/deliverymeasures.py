"""The scorecard's delivery KPIs from the DORA figures (``delivery.dorametrics``): deployments per week
and change failure rate of every app in production, now and a period before, read in one pass; and the
DORA figures of a report's scope. Called by ``insights.views``' callers (the service, the CLI).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from leitplanke.delivery import deliveryviews, dorametrics
from leitplanke.insights import scopes
from leitplanke.store import deliveries
from leitplanke.store.databases import Database
from leitplanke.store.rows import App

FREQUENCY, FAILURE_RATE = "deployment-frequency", "change-failure-rate"
WEEK = timedelta(days=7)
Measures = dict[str, tuple[float, float]]  # app -> (numerator, denominator)


@dataclass(frozen=True, slots=True)
class DoraMeasures:
    """Per KPI and app (numerator, denominator) now and a period before; empty: nothing deployed."""

    current: dict[str, Measures]
    before: dict[str, Measures]


def measure_dora(
    facts: Mapping[str, tuple[Sequence[dorametrics.DeploymentFact], Sequence[dorametrics.IncidentFact]]],
    *,
    apps: Sequence[str],
    now: datetime,
    period: timedelta,
) -> DoraMeasures:
    """Deployments per week (deployments, weeks of the period) and the change failure rate (failed,
    deployments) of every app of ``apps``; an app that did not deploy has 0 a week and no rate. Pure."""
    if not any(deployed for deployed, _ in facts.values()):
        return DoraMeasures({}, {})
    weeks = period / WEEK

    def at(end: datetime) -> dict[str, Measures]:
        frequency: Measures = {}
        failure: Measures = {}
        for app in apps:
            deployed, incidents = facts.get(app, ((), ()))
            figures = dorametrics.compute(deployed, incidents, start=end - period, end=end)
            frequency[app] = (float(figures.deployments), weeks)
            if figures.deployments:
                failure[app] = (float(figures.failed_deployments), float(figures.deployments))
        return {FREQUENCY: frequency, FAILURE_RATE: failure}

    return DoraMeasures(at(now), at(now - period))


def load_dora_measures(
    database: Database, *, apps: Sequence[str], now: datetime, period: timedelta
) -> DoraMeasures:
    """``measure_dora`` over the production deployments of the two periods, read once."""
    start = now - 2 * period
    with database.reading() as session:
        rows = deliveries.scoped_deployments(
            session, deliveries.Scope(), env=deliveryviews.PRODUCTION, start=start, end=now
        )
        names = {row.id: row.name for row in session.execute(select(App.id, App.name))}
        ids = [row.id for row in rows]
        times: dict[int, list[datetime]] = defaultdict(list)
        for commit in deliveries.commits_of(session, ids):
            times[commit.deployment_id].append(commit.committed_at)
        incidents: dict[int, list[dorametrics.IncidentFact]] = defaultdict(list)
        for incident in deliveries.incidents_of(session, ids):
            fact = dorametrics.IncidentFact(incident.deployment_id, incident.opened_at, incident.resolved_at)
            incidents[incident.deployment_id or 0].append(fact)
    deployed: dict[str, list[dorametrics.DeploymentFact]] = defaultdict(list)
    opened: dict[str, list[dorametrics.IncidentFact]] = defaultdict(list)
    for row in rows:
        app = names.get(row.app_id, "")
        commits = tuple(sorted(times.get(row.id, ())))
        deployed[app].append(dorametrics.DeploymentFact(row.id, row.deployed_at, row.rolled_back_at, commits))
        opened[app].extend(incidents.get(row.id, ()))
    facts = {app: (deployed[app], opened[app]) for app in deployed}
    return measure_dora(facts, apps=apps, now=now, period=period)


def scope_figures(
    database: Database, scope: scopes.Scope, *, now: datetime, period: timedelta
) -> dict[str, Any]:
    """The report's DORA figures of ``scope`` in production over the period, with their bands."""
    store_scope = {
        "org": deliveries.Scope(),
        "team": deliveries.Scope(team=scope.name),
        "app": deliveries.Scope(app=scope.name),
    }[scope.kind]
    found = deliveryviews.dora_report(database, store_scope, now=now, days=period.days, weekly=False)
    figures = found.figures
    return {
        "deployments": figures.deployments,
        "deploymentsPerWeek": round(figures.deployments_per_day * 7, 4),
        "leadTimeHours": _hours(figures.lead_time_seconds),
        "failedDeployments": figures.failed_deployments,
        "changeFailureRate": None
        if figures.change_failure_rate is None
        else round(figures.change_failure_rate, 4),
        "recoveryHours": _hours(figures.recovery_seconds),
        "bands": figures.bands,
    }


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)

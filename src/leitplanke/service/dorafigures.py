"""The DORA figures of the service: ``GET /api/v1/dora`` (an app, a team, a value stream or the
organisation; a period and its weekly trend, with the performance bands) and the DORA gauges of
/metrics, computed when Prometheus scrapes (``DoraCollector``).

Routes parse, authorise and shape; ``delivery.deliveryviews`` loads and computes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from leitplanke import catalog
from leitplanke.delivery import deliveryviews, dorametrics
from leitplanke.governance import authorising, errors
from leitplanke.service import problems, routes
from leitplanke.service.routes import ContextDep, PrincipalDep
from leitplanke.store import deliveries
from leitplanke.store.databases import Database

_log = logging.getLogger(__name__)
_PERIOD = re.compile(r"^([1-9][0-9]{0,3})([dw]?)$")
MAX_DAYS = 730
METRICS_DAYS = 30  # the window of the /metrics gauges
# DoraFigures attribute → gauge name and help; team "" is the organisation
GAUGES = {
    "deployments_per_day": ("deployments_per_day", "Production deployments per day, last 30 days"),
    "lead_time_seconds": ("lead_time_seconds", "Median commit-to-production time, last 30 days"),
    "change_failure_rate": ("change_failure_ratio", "Share of deployments that failed, last 30 days"),
    "recovery_seconds": ("recovery_seconds", "Median failed-deployment recovery time, last 30 days"),
}


def parse_period(text: str) -> int:
    """``90d``, ``12w`` or ``30`` (days) → days, 1 to ``MAX_DAYS``."""
    found = _PERIOD.match(text.strip())
    days = 0 if found is None else int(found.group(1)) * (7 if found.group(2) == "w" else 1)
    if not 1 <= days <= MAX_DAYS:
        raise errors.Invalid(
            f"period {text[:20]!r}: expected days (90d), weeks (12w), at most {MAX_DAYS}d", field="period"
        )
    return days


def render_figures(figures: dorametrics.DoraFigures) -> dict[str, Any]:
    return {
        "start": figures.start.isoformat().replace("+00:00", "Z"),
        "end": figures.end.isoformat().replace("+00:00", "Z"),
        "deployments": figures.deployments,
        "deploymentsPerDay": round(figures.deployments_per_day, 4),
        "commits": figures.commits,
        "leadTimeSeconds": figures.lead_time_seconds,
        "failedDeployments": figures.failed_deployments,
        "changeFailureRate": None
        if figures.change_failure_rate is None
        else round(figures.change_failure_rate, 4),
        "recovered": figures.recovered,
        "recoverySeconds": figures.recovery_seconds,
        "unrecovered": figures.unrecovered,
        "bands": figures.bands,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def api_router() -> APIRouter:
    router = APIRouter(tags=["delivery"])

    @router.get("/dora", responses=problems.responses(404))
    def dora(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        team: str | None = None,
        value_stream: Annotated[str | None, Query(alias="valueStream")] = None,
        period: Annotated[str, Query(max_length=10)] = "90d",
        env: Annotated[str | None, Query(max_length=100)] = None,
        weekly: bool = True,
    ) -> dict[str, Any]:
        """Deployment frequency, lead time for changes, change failure rate and failed-deployment recovery
        time of production (``env``, by default the settings') over ``period`` and week by week.
        One of ``app``, ``team``, ``valueStream``, or none for the organisation."""
        given = [(k, v) for k, v in (("app", app), ("team", team), ("valueStream", value_stream)) if v]
        if len(given) > 1:
            raise errors.Invalid("ask for one of app, team and valueStream", field=given[1][0])
        days = parse_period(period)
        level, name = given[0] if given else ("org", "")
        _authorise(context, principal, level, name)
        scope = deliveries.Scope(app=app, team=team, value_stream=value_stream)
        production = env or context.settings.dora_environment
        report = deliveryviews.dora_report(
            context.database, scope, now=context.clock(), days=days, env=production, weekly=weekly
        )
        return {
            "scope": {"level": level, "name": name},
            "env": production,
            "periodDays": days,
            "figures": render_figures(report.figures),
            "weeks": [render_figures(week) for week in report.weeks],
        }

    return router


def _authorise(context: Any, principal: Any, level: str, name: str) -> None:
    if level == "app":
        owner = catalog.owner_of(context.database, name)
        if owner is None:
            raise errors.NotFound(f"no application {name!r} in the catalog", field="app")
        routes.authorise(context, principal, "dora.read", authorising.for_app(name, owner))
    elif level == "team":
        routes.authorise(context, principal, "dora.read", authorising.for_team(name))
    else:
        routes.authorise(context, principal, "dora.overview", authorising.CATALOG)


class DoraCollector(Collector):
    """The DORA gauges of every team and the organisation over the last ``METRICS_DAYS`` days, computed
    at each scrape (one query per team: a few teams' deployments of a month are a small read)."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime], env: str) -> None:
        self.database, self.clock, self.env = database, clock, env

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = {
            key: GaugeMetricFamily(f"leitplanke_dora_{name}", text, labels=["team"])
            for key, (name, text) in GAUGES.items()
        }
        try:
            teams = [team["name"] for team in catalog.snapshot(self.database)["teams"]]
            for team in [*teams, ""]:  # "": the organisation
                scope = deliveries.Scope(team=team or None)
                report = deliveryviews.dora_report(
                    self.database, scope, now=self.clock(), days=METRICS_DAYS, env=self.env, weekly=False
                )
                for key, family in families.items():
                    value = getattr(report.figures, key)
                    if value is not None:
                        family.add_metric([team], float(value))
        except Exception:  # the edge: a scrape without the database still answers the other metrics
            _log.exception("DORA figures could not be computed for /metrics")
            return
        yield from families.values()

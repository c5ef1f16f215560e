"""The insights routes under /api/v1/insights: the live scorecard, the policy trends and the cloud-native
comparison of the organisation, a team or an app. Parse, authorise (a team's viewer reads its team and
apps; the organisation's figures need platform scope), call ``insights.views``, answer JSON. ``warm``
keeps the instance's history cache current in the background (``service.apps`` starts it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from leitplanke.governance import authorising, errors
from leitplanke.insights import costmeasures, histories, historycaches, kpis, prometheus, scopes, views
from leitplanke.service import problems, routes
from leitplanke.service.contexts import Context
from leitplanke.service.routes import ContextDep, PrincipalDep
from leitplanke.store import repositories

ScopeText = Annotated[str, Query(min_length=3, max_length=110, description="org, team:<name> or app:<name>")]
PeriodText = Annotated[str, Query(min_length=2, max_length=6, description="30d, 12w, 24h")]
_ORG = authorising.Resource("insights:org")
_log = logging.getLogger(__name__)


def api_router() -> APIRouter:
    router = APIRouter(prefix="/insights", tags=["insights"])

    @router.get("/scorecard", responses=problems.responses(404, 409))
    def scorecard(
        request: Request,
        context: ContextDep,
        principal: PrincipalDep,
        scope: ScopeText = "org",
        period: PeriodText = "30d",
    ) -> dict[str, Any]:
        """Every KPI with value, target, met, trend over the period and the apps that miss it; for the
        organisation one scorecard per team as well."""
        asked = asked_for(context, principal, scope=scope, period=period)
        cache = cache_of(request)
        history, apps = views.load_scope(context.database, asked, cache=cache)
        asked = outside_figures(context, asked, history, cache=cache)
        return views.scorecard(history, apps, asked, cache=cache)

    @router.get("/trends", responses=problems.responses(404, 409))
    def trends(
        request: Request,
        context: ContextDep,
        principal: PrincipalDep,
        scope: ScopeText = "org",
        period: PeriodText = "30d",
    ) -> dict[str, Any]:
        """Open findings per severity over time, waiver ratio, new/reopened/fixed per week, recurring
        violations, regressions with a revision and the slowest-to-fix policies."""
        asked = asked_for(context, principal, scope=scope, period=period)
        history, apps = views.load_scope(context.database, asked, cache=cache_of(request))
        return views.trend_view(history, apps, asked)

    @router.get("/comparison", responses=problems.responses(409))
    def comparison(
        request: Request,
        context: ContextDep,
        principal: PrincipalDep,
        period: PeriodText = "30d",
        basis: Literal["catalog", "derived"] = "catalog",
    ) -> dict[str, Any]:
        """Cloud-native and other apps side by side (the catalog's classes, or those derived from traits)."""
        asked = asked_for(context, principal, scope="org", period=period)
        cache = cache_of(request)
        history, _ = views.load_scope(context.database, asked, cache=cache)
        asked = outside_figures(context, asked, history, cache=cache)
        return views.comparison(history, asked, basis=basis)

    return router


COST_EVERY_MINUTES = 10  # Prometheus is asked for the period's cost at most this often (and per append)


def outside_figures(
    context: Context, asked: views.Asked, history: histories.History, *, cache: historycaches.HistoryCache
) -> views.Asked:
    """``asked`` with the figures from outside the findings: DORA from the delivery events and, with a
    Prometheus configured (or ``demo:``), the cost efficiency of each app."""
    asked = views.with_delivery(context.database, asked, history, cache=cache)
    settings = context.settings
    if not settings.prometheus_url:
        return asked
    credentials = prometheus.Credentials(
        bearer_token=settings.prometheus_token,
        username=settings.prometheus_user,
        password=settings.prometheus_password,
    )
    now = asked.now
    bucket = now.replace(minute=now.minute - now.minute % COST_EVERY_MINUTES, second=0, microsecond=0)

    def measure() -> dict[str, tuple[float, float]] | None:
        apps = frozenset(history.teams)
        url = settings.prometheus_url
        return costmeasures.efficiency(url, credentials=credentials, apps=apps, now=now, period=asked.period)

    measured = cache.derived(("cost", bucket, asked.period), measure)
    if measured is None:
        return asked
    return dataclasses.replace(asked, external={**(asked.external or {}), costmeasures.KPI: measured})


WARM_EVERY_SECONDS = 30.0
WARM_PERIODS = ("30d",)  # the periods whose org scorecard is kept computed (the portal's and API's default)


def warm(context: Context, cache: historycaches.HistoryCache) -> None:
    """Read what was appended since the last use and compute the org scorecard of ``WARM_PERIODS``: the
    first request of an instance answers from memory instead of replaying the year."""
    for period in WARM_PERIODS:
        asked = views.Asked(
            scope=scopes.Scope("org"),
            now=context.clock(),
            period=scopes.parse_period(period),
            kpis=_targets(context),
            sla_days=context.settings.sla_days,
        )
        history, apps = views.load_scope(context.database, asked, cache=cache)
        asked = outside_figures(context, asked, history, cache=cache)
        views.scorecard(history, apps, asked, cache=cache)
    cache.warmed.set()


async def warm_periodically(
    context: Context, cache: historycaches.HistoryCache, *, every: float = WARM_EVERY_SECONDS
) -> None:
    """``warm`` at start and every ``every`` seconds after, in a worker thread; failures are logged."""
    while True:
        try:
            await asyncio.to_thread(warm, context, cache)
        except Exception:  # the edge: the next request computes what warming could not
            _log.exception("warming the insights history failed")
        await asyncio.sleep(every)


def cache_of(request: Request) -> historycaches.HistoryCache:
    """The instance's history cache, made on first use (two racing first requests make two: harmless)."""
    cache = getattr(request.app.state, "insights_history", None)
    if cache is None:
        cache = request.app.state.insights_history = historycaches.HistoryCache()
    assert isinstance(cache, historycaches.HistoryCache)
    return cache


def asked_for(context: Context, principal: Any, *, scope: str, period: str) -> views.Asked:
    parsed = scopes.parse_scope(scope)
    span = scopes.parse_period(period)
    routes.authorise(context, principal, *_action(context, parsed))
    return views.Asked(
        scope=parsed,
        now=context.clock(),
        period=span,
        kpis=_targets(context),
        sla_days=context.settings.sla_days,
    )


def _action(context: Context, scope: scopes.Scope) -> tuple[str, authorising.Resource]:
    if scope.kind == "org":
        return "insights.org", _ORG
    if scope.kind == "team":
        return "insights.read", authorising.for_team(scope.name)
    with context.database.reading() as session:
        owner = repositories.app_owner(session, scope.name)
    if owner is None:
        raise errors.NotFound(f"no application {scope.name!r} in the catalog", field="scope")
    return "insights.read", authorising.for_app(scope.name, owner)


def _targets(context: Context) -> dict[str, kpis.Kpi]:
    path = context.settings.kpi_file
    if path is None:
        return kpis.default_kpis()
    parsed, found = kpis.parse_targets(path.read_text(encoding="utf-8"), file=str(path))
    if found:
        first = found[0]
        raise errors.Conflict(f"the KPI file {path} is invalid: {first.message}", field=first.field)
    return parsed

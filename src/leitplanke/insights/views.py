"""The insights use cases as the service and the CLI call them: the history of a scope loaded once,
then its scorecard (with one per team for the organisation), trends or cloud-native comparison, as
plain values for JSON. Called by ``service.insightful`` and ``cli.report``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leitplanke.insights import (
    comparisons,
    deliverymeasures,
    histories,
    historycaches,
    kpis,
    scopes,
    scorecards,
    trends,
)
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class Asked:
    scope: scopes.Scope
    now: datetime
    period: timedelta
    kpis: Mapping[str, kpis.Kpi]
    sla_days: Mapping[str, int]
    external: scorecards.External | None = None
    external_before: scorecards.External | None = None  # the same a period before


def with_delivery(
    database: Database,
    asked: Asked,
    history: histories.History,
    *,
    cache: historycaches.HistoryCache | None = None,
) -> Asked:
    """``asked`` with the DORA KPIs of every app (deployment frequency, change failure rate) among its
    outside figures, now and a period before; unchanged while nothing was deployed."""

    def measure() -> deliverymeasures.DoraMeasures:
        apps = sorted(history.teams)
        return deliverymeasures.load_dora_measures(database, apps=apps, now=asked.now, period=asked.period)

    if cache is None:
        measured = measure()
    else:
        minute = asked.now.replace(second=0, microsecond=0)
        measured = cache.derived(("dora", minute, asked.period), measure)
    if not measured.current:
        return asked
    external = {**(asked.external or {}), **measured.current}
    before = {**(asked.external_before or {}), **measured.before}
    return dataclasses.replace(asked, external=external, external_before=before)


def load_scope(
    database: Database, asked: Asked, *, cache: historycaches.HistoryCache | None = None
) -> tuple[histories.History, list[str]]:
    """The history (every app's: the organisation's figures compare with it) and the scope's apps;
    with ``cache``, only the audit records appended since its last use are read."""
    if cache is None:
        history = histories.load_history(database, until=asked.now)
    else:
        history = cache.load(database, until=asked.now)
    return history, asked.scope.apps(history.teams)


def scorecard(
    history: histories.History,
    apps: list[str],
    asked: Asked,
    *,
    cache: historycaches.HistoryCache | None = None,
) -> dict[str, Any]:
    """The scope's scorecard; the organisation's with one per team, all from the same measures. With
    ``cache`` the measures are computed once a minute (and again whenever the history grows)."""

    def measure() -> Any:
        return scorecards.measure_both(history, now=asked.now, period=asked.period, sla_days=asked.sla_days)

    if cache is None:
        measured = measure()
    else:
        minute = asked.now.replace(second=0, microsecond=0)
        key = ("scorecard", minute, asked.period, tuple(sorted(asked.sla_days.items())))
        measured = cache.derived(key, measure)

    def card(label: str, chosen: list[str]) -> scorecards.Scorecard:
        return scorecards.build_scorecard(
            history,
            kpis=asked.kpis,
            now=asked.now,
            period=asked.period,
            sla_days=asked.sla_days,
            scope=label,
            apps=chosen,
            external=asked.external,
            measured=measured,
            external_before=asked.external_before,
        )

    answer = card(asked.scope.label, apps).as_dict()
    if asked.scope.kind == "org":
        teams = sorted(set(history.teams.values()))
        answer["teams"] = [
            card(f"team:{team}", [a for a in apps if history.teams[a] == team]).as_dict() for team in teams
        ]
    return answer


def trend_view(history: histories.History, apps: list[str], asked: Asked) -> dict[str, Any]:
    scoped = only(history, apps)
    return trends.build_trends(scoped, since=asked.now - asked.period).as_dict()


def comparison(history: histories.History, asked: Asked, *, basis: str) -> dict[str, Any]:
    found = comparisons.compare(
        history,
        kpis=asked.kpis,
        now=asked.now,
        period=asked.period,
        sla_days=asked.sla_days,
        basis=basis,
        external=asked.external,
    )
    return found.as_dict()


def only(history: histories.History, apps: list[str]) -> histories.History:
    """The history of ``apps`` alone."""
    wanted = frozenset(apps)
    if wanted == frozenset(history.teams):
        return history
    return histories.History(
        until=history.until,
        events=[e for e in history.events if e.app in wanted],
        scans=[s for s in history.scans if s.app in wanted],
        teams={a: t for a, t in history.teams.items() if a in wanted},
        cloud_native={a: c for a, c in history.cloud_native.items() if a in wanted},
        lifecycles={a: c for a, c in history.lifecycles.items() if a in wanted},
        repositories={a: c for a, c in history.repositories.items() if a in wanted},
        environments=dict(history.environments),
    )

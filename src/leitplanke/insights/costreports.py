"""The report's cost section from Prometheus (or the demo's series): cost per app, team, environment
and value stream, idle cost, right-sizing suggestions, and the cost-efficiency KPI's measures. Called
by ``insights.reportmaking`` for ``leitplanke report`` and the scheduled reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.problems import UsageError
from leitplanke.insights import costs, demoseries, prometheus, views
from leitplanke.store import repositories
from leitplanke.store.databases import Database

_MAX_POINTS = 1000  # samples per series asked of Prometheus: the step grows with the period
_TOP_SUGGESTIONS = 10


@dataclass(frozen=True, slots=True)
class Source:
    """Where usage comes from: a Prometheus URL (``demoseries.URL``: the demo's series) and how
    namespaces map to apps (NAMESPACE=APP; default: same names) and to environments (NAMESPACE=ENV)."""

    url: str
    credentials: prometheus.Credentials = field(default_factory=prometheus.Credentials)
    namespace_apps: Sequence[str] = ()
    namespace_envs: Sequence[str] = ()


def cost_section(
    database: Database, source: Source, *, asked: views.Asked, apps: list[str], teams: dict[str, str]
) -> tuple[dict[str, Any], dict[str, dict[str, tuple[float, float]]]]:
    """The report's ``cost`` and the outside figures of the cost-efficiency KPI. ``UsageError`` names
    a mapping that is not NAMESPACE=APP (of the catalog) or NAMESPACE=ENV."""
    step = max(60.0, asked.period.total_seconds() / _MAX_POINTS)
    start = asked.now - asked.period
    if source.url == demoseries.URL:  # the demo's generated series, through the same analysis
        usages, cpu, memory = costs.load_usage(
            demoseries.DemoSeries(), start=start, end=asked.now, step_seconds=step
        )
    else:
        with prometheus.Prometheus(source.url, credentials=source.credentials) as client:
            usages, cpu, memory = costs.load_usage(client, start=start, end=asked.now, step_seconds=step)
    owners = {u.namespace: u.namespace for u in usages if u.namespace in teams}
    for pair in source.namespace_apps:
        namespace, sep, app = pair.partition("=")
        if not sep or app not in teams:
            raise UsageError(f"--namespace-app {pair!r}: NAMESPACE=APP with an app of the catalog")
        owners[namespace] = app
    chosen = set(apps)
    mine = [u for u in usages if owners.get(u.namespace) in chosen]
    prices = costs.Prices()
    by_app = costs.costs_by(mine, group=owners, prices=prices, step_seconds=step)
    total = sum(by_app.values(), costs.ZERO)
    everyone = costs.costs_by(usages, group={}, prices=prices, step_seconds=step).get("", costs.ZERO)
    idle = costs.idle_cost(
        allocatable_cpu=cpu, allocatable_memory=memory, allocated=everyone, prices=prices, step_seconds=step
    )
    suggested = (costs.suggest(u, prices=prices) for u in mine)
    suggestions = [s for s in suggested if s is not None and s.saving_per_hour > 0]
    suggestions.sort(key=lambda s: (-s.saving_per_hour, s.namespace, s.pod, s.container))
    team_of = {namespace: teams[app] for namespace, app in owners.items()}
    by_team = costs.costs_by(mine, group=team_of, prices=prices, step_seconds=step)
    shaped = {
        "apps": {app: costs.cost_dict(cost) for app, cost in by_app.items()},
        "teams": {team: costs.cost_dict(cost) for team, cost in by_team.items()},
        "total": costs.cost_dict(total),
        "idle": round(idle, 4),
        "suggestions": [_suggestion(s) for s in suggestions[:_TOP_SUGGESTIONS]],
    }
    shaped.update(_cost_groups(database, mine, owners, prices, step, envs=source.namespace_envs))
    measures = costs.efficiency_measures(mine, owners=owners, prices=prices, step_seconds=step)
    return shaped, {"cost-efficiency": measures}


def _cost_groups(
    database: Database,
    usages: list[Any],
    owners: dict[str, str],
    prices: costs.Prices,
    step: float,
    *,
    envs: Sequence[str],
) -> dict[str, Any]:
    """The cost per environment (``--namespace-env``; others "unassigned") and per value stream."""
    env_of: dict[str, str] = {}
    for pair in envs:
        namespace, sep, env = pair.partition("=")
        if not sep or not namespace or not env:
            raise UsageError(f"--namespace-env {pair!r}: NAMESPACE=ENV")
        env_of[namespace] = env
    with database.reading() as session:
        streams = {app.name: app.value_stream or "(none)" for app, _ in repositories.list_apps(session)}
    by_env = {u.namespace: env_of.get(u.namespace, "unassigned") for u in usages}
    by_stream = {namespace: streams.get(app, "(none)") for namespace, app in owners.items()}
    return {
        "environments": {
            env: costs.cost_dict(c)
            for env, c in sorted(
                costs.costs_by(usages, group=by_env, prices=prices, step_seconds=step).items()
            )
        },
        "valueStreams": {
            name: costs.cost_dict(c)
            for name, c in sorted(
                costs.costs_by(usages, group=by_stream, prices=prices, step_seconds=step).items()
            )
        },
    }


def _suggestion(s: Any) -> dict[str, Any]:
    mib = 1024 * 1024
    return {
        "pod": s.pod,
        "container": s.container,
        "cpu": f"{s.cpu_request:.3f} → {s.cpu_recommended:.3f}",
        "memoryMiB": f"{s.memory_request / mib:.0f} → {s.memory_recommended / mib:.0f}",
        "savingPer30Days": round(s.saving_per_30_days, 2),
    }

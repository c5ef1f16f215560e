"""The live level-4 scorecard: every enabled KPI with its value, target, whether it is met, its trend
over the period (the value a period ago) and the apps that miss it, for the organisation or a team.
Computed from the findings history and the catalog; delivery (DORA) and cost figures are optional
inputs, a KPI without its input is "not measured". Pure; called by the API, the report and the CLI.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leitplanke.insights import findingstates
from leitplanke.insights.histories import History
from leitplanke.insights.kpis import Kpi

OBSERVABILITY_POLICIES = frozenset({"require-alerting-rules", "require-metrics-scraping"})
NOT_MEASURED = "not measured"
# kpi -> app -> (numerator, denominator): figures from outside the findings (delivery, cost)
External = Mapping[str, Mapping[str, tuple[float, float]]]
Measures = dict[str, tuple[float, float]]  # app -> (numerator, denominator)


@dataclass(frozen=True, slots=True)
class Line:
    kpi: Kpi
    value: float | None
    previous: float | None  # a period before
    missing: tuple[str, ...]  # the apps (or environments) that miss the target
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.kpi.met(self.value)

    @property
    def trend(self) -> str:
        if self.value is None or self.previous is None:
            return ""
        better = self.kpi.better(self.value, self.previous)
        return "same" if better is None else "better" if better else "worse"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.id,
            "title": self.kpi.title,
            "op": self.kpi.op,
            "target": self.kpi.target,
            "unit": self.kpi.unit,
            "value": self.value,
            "met": self.met,
            "previous": self.previous,
            "trend": self.trend,
            "missing": list(self.missing),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Scorecard:
    scope: str  # "org" or "team:<name>"
    at: datetime
    period_days: int
    lines: list[Line]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "at": self.at.isoformat(),
            "periodDays": self.period_days,
            "kpis": [line.as_dict() for line in self.lines],
        }


def build_scorecard(
    history: History,
    *,
    kpis: Mapping[str, Kpi],
    now: datetime,
    period: timedelta,
    sla_days: Mapping[str, int],
    scope: str = "org",
    apps: Sequence[str] | None = None,
    external: External | None = None,
    measured: tuple[dict[str, Measures], dict[str, Measures]] | None = None,
    external_before: External | None = None,
) -> Scorecard:
    """The scorecard of ``apps`` (None: every app of the history) at ``now``; ``measured``: the
    findings' measures at ``now`` and a period before, when the caller has them (``measure_both``);
    ``external_before``: the outside figures a period before (the trend of those KPIs)."""
    chosen = sorted(history.teams if apps is None else apps)
    current, before = measured or measure_both(history, now=now, period=period, sla_days=sla_days)
    lines = []
    for kpi in kpis.values():
        if not kpi.enabled:
            continue
        if kpi.id == "production-enforced":
            lines.append(_environments_line(kpi, history))
        elif kpi.id in current:
            lines.append(_line(kpi, current[kpi.id], before[kpi.id], chosen))
        elif external is not None and kpi.id in external:
            earlier = None if external_before is None else external_before.get(kpi.id)
            before_of = None if earlier is None else dict(earlier)
            lines.append(_line(kpi, dict(external[kpi.id]), before_of, chosen))
        else:
            lines.append(Line(kpi, None, None, (), note=NOT_MEASURED))
    return Scorecard(scope, now, period.days, lines)


def _line(kpi: Kpi, measures: Measures, before: Measures | None, apps: Sequence[str]) -> Line:
    value = _aggregate(kpi, measures, apps)
    previous = None if before is None else _aggregate(kpi, before, apps)
    missing = tuple(
        app
        for app in apps
        if app in measures and (own := _aggregate(kpi, measures, [app])) is not None and not kpi.met(own)
    )
    return Line(kpi, value, previous, missing)


def _aggregate(kpi: Kpi, measures: Measures, apps: Sequence[str]) -> float | None:
    numerator = sum(measures[app][0] for app in apps if app in measures)
    denominator = sum(measures[app][1] for app in apps if app in measures)
    if kpi.unit == "count":
        return numerator
    return round(numerator / denominator, 4) if denominator else None


def _environments_line(kpi: Kpi, history: History) -> Line:
    production = sorted(env for env in history.environments if is_production(env))
    if not production:
        return Line(kpi, None, None, (), note="no production environment in the catalog")
    missing = tuple(env for env in production if history.environments[env] != "enforce")
    value = round((len(production) - len(missing)) / len(production), 4)
    return Line(kpi, value, None, missing)


def is_production(env: str) -> bool:
    return env in ("prod", "production") or env.startswith(("prod-", "production-"))


def measure_both(
    history: History, *, now: datetime, period: timedelta, sla_days: Mapping[str, int]
) -> tuple[dict[str, Measures], dict[str, Measures]]:
    """The findings' measures at ``now`` and a period before."""
    timelines = findingstates.timelines_of(history)
    current = _measure(history, timelines, at=now, period=period, sla_days=sla_days)
    return current, _measure(history, timelines, at=now - period, period=period, sla_days=sla_days)


def _measure(
    history: History,
    timelines: Mapping[findingstates.Key, findingstates.Timeline],
    *,
    at: datetime,
    period: timedelta,
    sla_days: Mapping[str, int],
) -> dict[str, Measures]:
    """Per app: critical findings open over 7 days, SLA (kept, counted), waived of failing, observed."""
    critical: Measures = {app: (0, 0) for app in history.teams}
    sla: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    waived: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    unobserved: set[str] = set()
    week_ago, since = at - timedelta(days=7), at - period
    dues = {severity: timedelta(days=days) for severity, days in sla_days.items()}
    for timeline in timelines.values():
        state = timeline.state_at(at)
        if state is None or timeline.app not in history.teams:
            continue
        status, began = state
        failing, is_waived, app = status in findingstates.OPEN, status == findingstates.WAIVED, timeline.app
        if failing and timeline.severity == "critical" and began <= week_ago:
            critical[app] = (critical[app][0] + 1, 0)
        if failing or is_waived:
            waived[app][1] += 1
            waived[app][0] += is_waived
        if failing and timeline.policy in OBSERVABILITY_POLICIES:
            unobserved.add(app)
        days = dues.get(timeline.severity)
        if days is None:
            continue
        # the SLA: due = first seen + the severity's days (waived time is not added back here); episodes
        # fixed in the period count, kept when fixed by the due date; the current one (a waived finding
        # is never overdue)
        due = timeline.first_seen + days
        counted = timeline.fixes_counted(since, at)
        kept = timeline.fixes_counted(since, min(at, due))
        if failing or is_waived:
            counted += 1
            kept += is_waived or at <= due
        sla[app][0] += kept
        sla[app][1] += counted
    scanned = {scan.app for scan in history.scans if scan.at <= at}
    observed: Measures = {
        app: (float(app not in unobserved), 1.0)
        for app in history.teams
        if history.lifecycles.get(app) == "production" and app in scanned
    }
    return {
        "critical-open-over-7d": critical,
        "sla-adherence": {app: (k, t) for app, (k, t) in sla.items()},
        "waiver-ratio": {app: (w, t) for app, (w, t) in waived.items()},
        "production-observed": observed,
    }

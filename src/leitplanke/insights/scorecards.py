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
) -> Scorecard:
    """The scorecard of ``apps`` (None: every app of the history) at ``now``; ``measured``: the
    findings' measures at ``now`` and a period before, when the caller has them (``measure_both``)."""
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
            lines.append(_line(kpi, dict(external[kpi.id]), None, chosen))
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
    """The findings' measures a period before ``now`` and at ``now``."""
    found = [
        _measure(history, tracks, at=at, period=period, sla_days=sla_days)
        for at in (now - period, now)
        for tracks in [findingstates.tracks_at(history, at=at)]
    ]
    return found[1], found[0]


def _measure(
    history: History,
    tracks: Mapping[findingstates.Key, findingstates.Track],
    *,
    at: datetime,
    period: timedelta,
    sla_days: Mapping[str, int],
) -> dict[str, Measures]:
    critical: Measures = {app: (0, 0) for app in history.teams}
    sla: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    waived: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    unobserved: set[str] = set()
    for track in tracks.values():
        if track.app not in history.teams:
            continue
        if track.failing and track.severity == "critical" and track.began <= at - timedelta(days=7):
            critical[track.app] = (critical[track.app][0] + 1, 0)
        if track.failing or track.status == findingstates.WAIVED:
            waived[track.app][1] += 1
            waived[track.app][0] += track.status == findingstates.WAIVED
        if track.failing and track.policy in OBSERVABILITY_POLICIES:
            unobserved.add(track.app)
        kept, total = _sla(track, at=at, since=at - period, sla_days=sla_days)
        sla[track.app][0] += kept
        sla[track.app][1] += total
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


def _sla(
    track: findingstates.Track, *, at: datetime, since: datetime, sla_days: Mapping[str, int]
) -> tuple[int, int]:
    """(kept, counted) of the finding's episodes in the period: due = first seen + the severity's days
    (the waived time that pauses the clock is not added back here); a waived finding is never overdue."""
    days = sla_days.get(track.severity)
    if days is None:
        return 0, 0
    due = track.first_seen + timedelta(days=days)
    kept = counted = 0
    for _, fixed in track.episodes:
        if fixed >= since:
            counted += 1
            kept += fixed <= due
    if track.failing or track.status == findingstates.WAIVED:
        counted += 1
        kept += track.status == findingstates.WAIVED or at <= due
    return kept, counted

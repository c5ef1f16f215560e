"""Policy trends across apps from the findings history: open findings over time per severity and the
waiver ratio, new vs reopened vs fixed per week, recurring violations (failing again after a fix, per
app and across apps), regressions with a revision and the slowest-to-fix policies. Pure: a replay of
``histories.History``; called by the report, the scorecard and the API.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from leitplanke.insights.histories import Event, History

OPEN = frozenset({"new", "open", "reopened"})
WAIVED, FIXED = "waived", "fixed"
SEVERITIES = ("critical", "high", "medium", "low", "info")
_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    open: dict[str, int]  # per severity
    waived: int

    @property
    def waiver_ratio(self) -> float:
        """Waived among the findings that fail (open or waived); 0 when none does."""
        failing = sum(self.open.values()) + self.waived
        return round(self.waived / failing, 4) if failing else 0.0


@dataclass(frozen=True, slots=True)
class WeekFlow:
    week: date  # its Monday
    new: int
    reopened: int
    fixed: int


@dataclass(frozen=True, slots=True)
class Recurrence:
    policy: str
    apps: tuple[str, ...]
    reopenings: int


@dataclass(frozen=True, slots=True)
class Regression:
    app: str
    env: str
    revision: str
    scan: int
    at: datetime
    findings: tuple[tuple[str, str, str], ...]  # (policy, rule, resource) that appeared with it


@dataclass(frozen=True, slots=True)
class SlowPolicy:
    policy: str
    fixes: int
    median_days: float
    max_days: float


@dataclass(frozen=True, slots=True)
class Trends:
    since: datetime
    until: datetime
    series: list[Point]
    weeks: list[WeekFlow]
    recurring: list[Recurrence]  # across apps: most apps first
    recurring_by_app: dict[str, dict[str, int]]  # app -> policy -> reopenings
    regressions: list[Regression]
    slowest: list[SlowPolicy]

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "openOverTime": [
                {"at": p.at.isoformat(), "open": p.open, "waived": p.waived, "waiverRatio": p.waiver_ratio}
                for p in self.series
            ],
            "weeks": [
                {"week": w.week.isoformat(), "new": w.new, "reopened": w.reopened, "fixed": w.fixed}
                for w in self.weeks
            ],
            "recurring": [
                {"policy": r.policy, "apps": list(r.apps), "reopenings": r.reopenings} for r in self.recurring
            ],
            "recurringByApp": self.recurring_by_app,
            "regressions": [
                {
                    "app": r.app,
                    "env": r.env,
                    "revision": r.revision,
                    "scan": r.scan,
                    "at": r.at.isoformat(),
                    "findings": [{"policy": p, "rule": rule, "resource": res} for p, rule, res in r.findings],
                }
                for r in self.regressions
            ],
            "slowestToFix": [
                {"policy": s.policy, "fixes": s.fixes, "medianDays": s.median_days, "maxDays": s.max_days}
                for s in self.slowest
            ],
        }


def build_trends(history: History, *, since: datetime, bucket_days: int = 7, top: int = 10) -> Trends:
    """The trends of ``since`` to ``history.until``; the series has a point every ``bucket_days`` and
    one at ``until``."""
    until = history.until
    window = [e for e in history.events if since <= e.at <= until]
    return Trends(
        since=since,
        until=until,
        series=_series(history.events, since=since, until=until, step=timedelta(days=bucket_days)),
        weeks=_weeks(window),
        recurring=_recurring(window),
        recurring_by_app=_recurring_by_app(window),
        regressions=_regressions(history, window, since=since),
        slowest=_slowest(history.events, since=since, until=until)[:top],
    )


def _series(events: list[Event], *, since: datetime, until: datetime, step: timedelta) -> list[Point]:
    state: dict[tuple[str, str, str], tuple[str, str]] = {}
    points: list[Point] = []
    boundaries = []
    boundary, index = since, 0
    while boundary <= until:
        boundaries.append(boundary)
        boundary += step
    if boundaries[-1] < until:
        boundaries.append(until)  # the last point is now, whatever the step
    for boundary in boundaries:
        while index < len(events) and events[index].at <= boundary:
            event = events[index]
            state[(event.app, event.env, event.fingerprint)] = (event.after, event.severity)
            index += 1
        opened = Counter(severity for status, severity in state.values() if status in OPEN)
        waived = sum(1 for status, _ in state.values() if status == WAIVED)
        points.append(Point(boundary, {s: opened.get(s, 0) for s in SEVERITIES}, waived))
    return points


def _weeks(window: Iterable[Event]) -> list[WeekFlow]:
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for event in window:
        day = event.at.date()
        monday = day - timedelta(days=day.weekday())
        if event.before is None:
            counts[monday]["new"] += 1
        elif event.after == "reopened":
            counts[monday]["reopened"] += 1
        elif event.after == FIXED:
            counts[monday]["fixed"] += 1
    return [WeekFlow(w, c["new"], c["reopened"], c["fixed"]) for w, c in sorted(counts.items())]


def _reopenings(window: Iterable[Event]) -> Iterable[Event]:
    """Failing again after a fix (reopened, or waived at once)."""
    return (e for e in window if e.before == FIXED)


def _recurring(window: Iterable[Event]) -> list[Recurrence]:
    apps: dict[str, set[str]] = defaultdict(set)
    times: Counter[str] = Counter()
    for event in _reopenings(window):
        apps[event.policy].add(event.app)
        times[event.policy] += 1
    found = [Recurrence(policy, tuple(sorted(names)), times[policy]) for policy, names in apps.items()]
    return sorted(found, key=lambda r: (-len(r.apps), -r.reopenings, r.policy))


def _recurring_by_app(window: Iterable[Event]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for event in _reopenings(window):
        counts[event.app][event.policy] += 1
    return {app: dict(sorted(c.items())) for app, c in sorted(counts.items())}


def _regressions(history: History, window: list[Event], *, since: datetime) -> list[Regression]:
    appeared: dict[int, list[Event]] = defaultdict(list)
    for event in window:
        if event.before is None or event.before == FIXED:
            appeared[event.scan].append(event)
    found = []
    for scan in history.scans:
        if scan.revision and scan.at >= since and appeared.get(scan.scan):
            items = sorted((e.policy, e.rule, e.resource) for e in appeared[scan.scan])
            found.append(Regression(scan.app, scan.env, scan.revision, scan.scan, scan.at, tuple(items)))
    return found


def _slowest(events: list[Event], *, since: datetime, until: datetime) -> list[SlowPolicy]:
    """Per policy, the days from a finding's (re)appearing to its fix, for the fixes in the window."""
    appeared: dict[tuple[str, str, str], datetime] = {}
    days: dict[str, list[float]] = defaultdict(list)
    for event in events:
        key = (event.app, event.env, event.fingerprint)
        if event.before is None or event.before == FIXED:
            appeared[key] = event.at
        elif event.after == FIXED and key in appeared:
            began = appeared.pop(key)
            if since <= event.at <= until:
                days[event.policy].append((event.at - began).total_seconds() / _DAY)
    found = [
        SlowPolicy(policy, len(spans), round(statistics.median(spans), 2), round(max(spans), 2))
        for policy, spans in days.items()
    ]
    return sorted(found, key=lambda s: (-s.median_days, s.policy))

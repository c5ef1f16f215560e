"""The business report as plain data: compliance per framework control (with recurring violations),
security (severity, SLA, top risks), performance (DORA when measured, runtime health and leaks), cost,
KPIs against targets and the cloud-native comparison, for the organisation, a team or an app.
Built from ``insights.views``' history; rendered by ``insights.reportrendering``; called by ``cli.report``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leitplanke.insights import findingstates, histories, leaks, trends, views

SECTIONS = ("compliance", "security", "performance", "cost", "kpis", "comparison")
TITLES = {
    "compliance": "Compliance",
    "security": "Security",
    "performance": "Performance",
    "cost": "Cost",
    "kpis": "KPIs against targets",
    "comparison": "Cloud-native compared",
}
RUNTIME_POLICIES = frozenset({leaks.LEAK_POLICY, leaks.OOM_POLICY})
# framework -> the prefixes of its control ids (as reports.compliance names them)
FRAMEWORKS: Mapping[str, tuple[str, ...]] = {
    "PSS": ("PSS:",),
    "CIS Kubernetes": ("CIS-K8s:",),
    "NSA Kubernetes": ("NSA-K8s:",),
    "CKS": ("CKS:",),
}
TOP = 10
Tracks = Mapping[findingstates.Key, findingstates.Track]


@dataclass(frozen=True, slots=True)
class Extras:
    """What the report takes from outside the findings: each policy's controls (from the packs), and
    cost figures already shaped (``costs.cost_dict`` per app, idle, suggestions); None: not measured."""

    controls: Mapping[str, tuple[str, ...]]
    cost: Mapping[str, Any] | None = None
    dora: Mapping[str, Any] | None = None  # the scope's DORA figures (``deliverymeasures.scope_figures``)


def build_report(
    history: histories.History, apps: list[str], asked: views.Asked, extras: Extras
) -> dict[str, Any]:
    scoped = views.only(history, apps)
    tracks = findingstates.tracks_at(history, at=asked.now, apps=frozenset(apps))
    found = trends.build_trends(scoped, since=asked.now - asked.period)
    card = views.scorecard(history, apps, asked)
    return {
        "scope": asked.scope.label,
        "at": asked.now.isoformat(),
        "periodDays": asked.period.days,
        "apps": len(apps),
        "compliance": _compliance(tracks, found, controls=extras.controls),
        "security": _security(tracks, found, sla_days=asked.sla_days, now=asked.now),
        "performance": _performance(tracks, card, figures=extras.dora),
        "cost": dict(extras.cost) if extras.cost is not None else {"note": "not measured"},
        "kpis": card,
        "comparison": views.comparison(history, asked, basis="catalog"),
    }


def _compliance(
    tracks: Tracks, found: trends.Trends, *, controls: Mapping[str, tuple[str, ...]]
) -> dict[str, Any]:
    failing: dict[str, set[str]] = defaultdict(set)  # control -> apps
    counts: Counter[str] = Counter()
    for track in tracks.values():
        if track.failing:
            for control in controls.get(track.policy, ()):
                failing[control].add(track.app)
                counts[control] += 1
    frameworks = []
    for name, prefixes in FRAMEWORKS.items():
        rows = [
            {"control": control, "failing": counts[control], "apps": sorted(failing[control])}
            for control in sorted(failing)
            if control.startswith(prefixes)
        ]
        frameworks.append({"framework": name, "controlsFailing": len(rows), "controls": rows})
    shaped = found.as_dict()
    return {
        "frameworks": frameworks,
        "recurring": shaped["recurring"],
        "regressions": shaped["regressions"],
        "weeks": shaped["weeks"],
    }


def _security(
    tracks: Tracks,
    found: trends.Trends,
    *,
    sla_days: Mapping[str, int],
    now: datetime,
) -> dict[str, Any]:
    open_by = Counter(t.severity for t in tracks.values() if t.failing)
    overdue = Counter(
        t.severity
        for t in tracks.values()
        if t.failing and t.severity in sla_days and t.first_seen + timedelta(days=sla_days[t.severity]) < now
    )
    risks: dict[str, set[str]] = defaultdict(set)
    weight: Counter[str] = Counter()
    for t in tracks.values():
        if t.failing and t.severity in ("critical", "high"):
            risks[t.policy].add(t.app)
            weight[t.policy] += 2 if t.severity == "critical" else 1
    top = sorted(weight, key=lambda p: (-weight[p], p))[:TOP]
    shaped = found.as_dict()
    return {
        "open": {s: open_by.get(s, 0) for s in trends.SEVERITIES},
        "overdue": {s: overdue.get(s, 0) for s in trends.SEVERITIES},
        "topRisks": [{"policy": p, "weight": weight[p], "apps": sorted(risks[p])} for p in top],
        "openOverTime": shaped["openOverTime"],
        "slowestToFix": shaped["slowestToFix"],
    }


def _performance(
    tracks: Tracks, card: Mapping[str, Any], *, figures: Mapping[str, Any] | None
) -> dict[str, Any]:
    runtime = sorted(
        (t.app, t.policy, t.severity, key[2])
        for key, t in tracks.items()
        if t.failing and t.policy in RUNTIME_POLICIES
    )
    dora = [k for k in card["kpis"] if k["kpi"] in DORA]
    return {
        "dora": dora,
        "doraFigures": dict(figures) if figures and figures.get("deployments") else None,
        "leaks": sum(1 for r in runtime if r[1] == leaks.LEAK_POLICY),
        "oomKilled": sum(1 for r in runtime if r[1] == leaks.OOM_POLICY),
        "runtimeFindings": [
            {"app": app, "policy": policy, "severity": severity, "fingerprint": key}
            for app, policy, severity, key in runtime
        ],
    }


DORA = ("deployment-frequency", "change-failure-rate", "change-approval-coverage")


def controls_of(policies: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """policy id -> controls, from loaded ``core.policies.Policy`` values."""
    return {policy.id: tuple(policy.controls) for policy in policies}

"""Cloud-native vs not: each app's class from the catalog and one derived from observed traits
(containerised, declarative config, health probes, horizontal scaling, GitOps-delivered, observability),
and the two classes side by side on findings density and the KPIs. Pure; called by the report and API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leitplanke.insights import findingstates, scorecards
from leitplanke.insights.histories import History
from leitplanke.insights.kpis import Kpi

TRAITS = ("containerised", "declarative", "health-probes", "horizontal-scaling", "gitops", "observability")
# a trait is missing while a finding of one of these policies fails
_TRAIT_POLICIES = {
    "health-probes": frozenset({"require-probes"}),
    "horizontal-scaling": frozenset({"require-horizontal-pod-autoscaler"}),
    "observability": scorecards.OBSERVABILITY_POLICIES,
}
DERIVED_AT_LEAST = 5  # traits of the six that make an app cloud-native by observation
CLASSES = ("cloud-native", "not-cloud-native")


@dataclass(frozen=True, slots=True)
class AppClass:
    app: str
    catalog: bool  # the catalog says cloud-native
    traits: tuple[str, ...]  # the observed ones, in TRAITS order

    @property
    def derived(self) -> bool:
        return len(self.traits) >= DERIVED_AT_LEAST


@dataclass(frozen=True, slots=True)
class Comparison:
    basis: str  # "catalog" or "derived"
    apps: dict[str, tuple[str, ...]]  # class -> apps
    rows: list[tuple[str, float | None, float | None]]  # (measure, cloud-native, not)

    def as_dict(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "apps": {name: list(apps) for name, apps in self.apps.items()},
            "measures": [{"measure": m, CLASSES[0]: a, CLASSES[1]: b} for m, a, b in self.rows],
        }


def classify(history: History, *, at: datetime) -> list[AppClass]:
    tracks = findingstates.tracks_at(history, at=at)
    failing: dict[str, set[str]] = {}
    for track in tracks.values():
        if track.failing:
            failing.setdefault(track.app, set()).add(track.policy)
    scans = [scan for scan in history.scans if scan.at <= at]
    scanned = {scan.app for scan in scans}
    from_revisions = {scan.app for scan in scans if scan.revision}
    classes = []
    for app in sorted(history.teams):
        has = {
            "containerised": app in scanned,
            "declarative": bool(history.repositories.get(app)),
            "gitops": bool(history.repositories.get(app)) and app in from_revisions,
        }
        for trait, policies in _TRAIT_POLICIES.items():
            has[trait] = app in scanned and not (failing.get(app, set()) & policies)
        classes.append(AppClass(app, history.cloud_native.get(app, True), tuple(t for t in TRAITS if has[t])))
    return classes


def compare(
    history: History,
    *,
    kpis: Mapping[str, Kpi],
    now: datetime,
    period: timedelta,
    sla_days: Mapping[str, int],
    basis: str = "catalog",
    external: scorecards.External | None = None,
) -> Comparison:
    classes = classify(history, at=now)
    native = tuple(c.app for c in classes if (c.catalog if basis == "catalog" else c.derived))
    other = tuple(c.app for c in classes if c.app not in native)
    density = _density(history, at=now)
    rows: list[tuple[str, float | None, float | None]] = [
        ("open-findings-per-app", _mean(density, native), _mean(density, other))
    ]
    measured = scorecards.measure_both(history, now=now, period=period, sla_days=sla_days)
    cards = [
        scorecards.build_scorecard(
            history,
            kpis=kpis,
            now=now,
            period=period,
            sla_days=sla_days,
            apps=apps,
            external=external,
            measured=measured,
        )
        for apps in (native, other)
    ]
    for ours, theirs in zip(cards[0].lines, cards[1].lines, strict=True):
        if ours.kpi.id != "production-enforced":  # an environment's figure: the same for both
            rows.append((ours.kpi.id, ours.value, theirs.value))
    return Comparison(basis, {CLASSES[0]: native, CLASSES[1]: other}, rows)


def _density(history: History, *, at: datetime) -> dict[str, int]:
    counts = dict.fromkeys(history.teams, 0)
    for track in findingstates.tracks_at(history, at=at).values():
        if track.failing and track.app in counts:
            counts[track.app] += 1
    return counts


def _mean(values: Mapping[str, int], apps: Sequence[str]) -> float | None:
    return round(sum(values[app] for app in apps) / len(apps), 2) if apps else None

"""The level-4 KPIs: what each measures, its comparison and its default target; targets overridden by a
YAML file (``kpis: {sla-adherence: {target: 0.97}, change-failure-rate: {enabled: false}}``). Pure;
``parse_targets`` is called by the CLI and the service with the configured file's text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from leitplanke.core.problems import Problem

AT_MOST, AT_LEAST = "<=", ">="


@dataclass(frozen=True, slots=True)
class Kpi:
    id: str
    title: str
    op: str  # AT_MOST or AT_LEAST
    target: float
    unit: str  # "count", "ratio", "per-week"
    source: str  # "findings", "catalog", "delivery", "cost": where its value comes from
    enabled: bool = True

    def met(self, value: float) -> bool:
        return value <= self.target if self.op == AT_MOST else value >= self.target

    def better(self, new: float, old: float) -> bool | None:
        """Whether ``new`` is better than ``old``; None when equal."""
        if new == old:
            return None
        return new < old if self.op == AT_MOST else new > old


_RATIO, _COUNT = "ratio", "count"
DEFAULTS: tuple[Kpi, ...] = (
    Kpi("critical-open-over-7d", "Critical findings open more than 7 days", AT_MOST, 0, _COUNT, "findings"),
    Kpi("sla-adherence", "Findings within their remediation SLA", AT_LEAST, 0.95, _RATIO, "findings"),
    Kpi("waiver-ratio", "Failing findings covered by a waiver", AT_MOST, 0.05, _RATIO, "findings"),
    Kpi("production-enforced", "Production environments in enforce", AT_LEAST, 1.0, _RATIO, "catalog"),
    Kpi("production-observed", "Production apps alerting, scraped", AT_LEAST, 1.0, _RATIO, "findings"),
    Kpi("change-approval-coverage", "Production changes approved", AT_LEAST, 1.0, _RATIO, "delivery"),
    Kpi("deployment-frequency", "Deployments per week", AT_LEAST, 1.0, "per-week", "delivery"),
    Kpi("change-failure-rate", "Deployments that caused a failure", AT_MOST, 0.15, _RATIO, "delivery"),
    Kpi("cost-efficiency", "Used share of the requested cost", AT_LEAST, 0.60, _RATIO, "cost"),
)


def default_kpis() -> dict[str, Kpi]:
    return {kpi.id: kpi for kpi in DEFAULTS}


def parse_targets(text: str, *, file: str = "<kpis>") -> tuple[dict[str, Kpi], list[Problem]]:
    """The defaults with the file's targets and switches applied; every problem, each with its field."""
    kpis, problems = default_kpis(), []
    try:
        body = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return kpis, [Problem(file, 0, "kpi-yaml", f"not YAML: {exc}")]
    entries = body.get("kpis") if isinstance(body, dict) else None
    if not isinstance(entries, dict):
        return kpis, [Problem(file, 0, "kpi-shape", "expected a mapping under 'kpis'", field="kpis")]
    for name, entry in entries.items():
        where = f"kpis.{name}"
        if name not in kpis:
            problems.append(Problem(file, 0, "kpi-unknown", f"no KPI {name!r}", field=where))
            continue
        changed, issue = _apply(kpis[name], entry)
        if issue:
            problems.append(Problem(file, 0, "kpi-value", issue, field=where))
        else:
            kpis[name] = changed
    return kpis, sorted(problems)


def _apply(kpi: Kpi, entry: Any) -> tuple[Kpi, str]:
    if not isinstance(entry, Mapping) or not set(entry) <= {"target", "enabled"}:
        return kpi, "expected a mapping with 'target' and/or 'enabled'"
    target, enabled = entry.get("target", kpi.target), entry.get("enabled", kpi.enabled)
    if isinstance(target, bool) or not isinstance(target, int | float) or target < 0:
        return kpi, "target must be a number not below 0"
    if kpi.unit == _RATIO and target > 1:
        return kpi, "a ratio's target is between 0 and 1"
    if not isinstance(enabled, bool):
        return kpi, "enabled must be true or false"
    return replace(kpi, target=float(target), enabled=enabled), ""

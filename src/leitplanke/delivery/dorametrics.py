"""The four DORA figures computed from deployments and incidents, for a period and as weekly trends.

Pure: ``DeploymentFact`` and ``IncidentFact`` values in (``deliveryviews`` loads them for an app, a
team, a value stream or the organisation), ``DoraFigures`` out. Definitions (README, "DORA metrics"):

- deployment frequency: succeeded deployments in the period per day of the period;
- lead time for changes: median over every commit of those deployments of deployed − committed;
- change failure rate: share of those deployments followed by an incident attributed to them (the
  deployment live when it opened) or by a rollback, as known at the period's end;
- failed-deployment recovery time: median over the failed ones that recovered before the period's end
  of restored − failed, where failed is the first incident's opening (the deployment itself when it
  was only rolled back) and restored the last of its incidents' resolutions and its rollback.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.delivery import bands


@dataclass(frozen=True, slots=True)
class DeploymentFact:
    id: int
    deployed_at: datetime
    rolled_back_at: datetime | None
    commit_times: tuple[datetime, ...]


@dataclass(frozen=True, slots=True)
class IncidentFact:
    deployment_id: int | None
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class DoraFigures:
    start: datetime
    end: datetime
    deployments: int
    deployments_per_day: float
    commits: int
    lead_time_seconds: float | None  # median
    failed_deployments: int
    change_failure_rate: float | None
    recovered: int
    recovery_seconds: float | None  # median
    unrecovered: int  # failed, not restored by the period's end

    @property
    def bands(self) -> dict[str, str | None]:
        return {
            "deploymentFrequency": bands.deployment_frequency(self.deployments_per_day),
            "leadTime": bands.lead_time(self.lead_time_seconds),
            "changeFailureRate": bands.change_failure_rate(self.change_failure_rate),
            "recoveryTime": bands.recovery_time(self.recovery_seconds),
        }


def compute(
    deployments: Sequence[DeploymentFact],
    incidents: Sequence[IncidentFact],
    *,
    start: datetime,
    end: datetime,
) -> DoraFigures:
    """The figures of the deployments that went live in ``[start, end)``, with what was known at ``end``."""
    inside = [d for d in deployments if start <= d.deployed_at < end]
    known = [i for i in incidents if i.opened_at < end]
    by_deployment: dict[int, list[IncidentFact]] = {}
    for incident in known:
        if incident.deployment_id is not None:
            by_deployment.setdefault(incident.deployment_id, []).append(incident)
    lead_times = [(d.deployed_at - committed).total_seconds() for d in inside for committed in d.commit_times]
    failed = [d for d in inside if _failed(d, by_deployment.get(d.id, []), end=end)]
    recoveries = [_recovery(d, by_deployment.get(d.id, []), end=end) for d in failed]
    recovered = [seconds for seconds in recoveries if seconds is not None]
    days = (end - start).total_seconds() / 86400
    return DoraFigures(
        start=start,
        end=end,
        deployments=len(inside),
        deployments_per_day=len(inside) / days if days > 0 else 0.0,
        commits=len(lead_times),
        lead_time_seconds=statistics.median(lead_times) if lead_times else None,
        failed_deployments=len(failed),
        change_failure_rate=len(failed) / len(inside) if inside else None,
        recovered=len(recovered),
        recovery_seconds=statistics.median(recovered) if recovered else None,
        unrecovered=len(failed) - len(recovered),
    )


def _failed(deployment: DeploymentFact, incidents: list[IncidentFact], *, end: datetime) -> bool:
    rolled_back = deployment.rolled_back_at is not None and deployment.rolled_back_at < end
    return rolled_back or bool(incidents)


def _recovery(deployment: DeploymentFact, incidents: list[IncidentFact], *, end: datetime) -> float | None:
    """Seconds from failure to restoration; None while not restored at ``end``."""
    ends: list[datetime] = []
    for incident in incidents:
        if incident.resolved_at is None or incident.resolved_at >= end:
            return None
        ends.append(incident.resolved_at)
    if deployment.rolled_back_at is not None and deployment.rolled_back_at < end:
        ends.append(deployment.rolled_back_at)
    began = min((i.opened_at for i in incidents), default=deployment.deployed_at)
    return (max(ends) - began).total_seconds()


def weekly(
    deployments: Sequence[DeploymentFact],
    incidents: Sequence[IncidentFact],
    *,
    start: datetime,
    end: datetime,
) -> list[DoraFigures]:
    """The figures of each week of ``[start, end)``, oldest first: 7-day windows counted back from ``end``
    (the oldest cut at ``start``), each with what was known at its own end."""
    weeks = []
    upper = end
    while upper > start:
        lower = max(start, upper - timedelta(days=7))
        weeks.append(compute(deployments, incidents, start=lower, end=upper))
        upper = lower
    return weeks[::-1]

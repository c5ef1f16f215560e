"""Memory-leak and OOM-kill judging of container series, and the runtime findings that follow, as
engine ``Result``s so that they ride the findings ingestion (owner, SLA, audit) like any policy's.
Pure; called by ``insights.runtimefindings`` and the CLI with what ``insights.containers`` loaded.

A container leaks when the Theil–Sen slope of its restart-segmented working set is significantly
positive (the 95 % interval above zero), material, and the forecast reaches its limit within the horizon.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.insights import slopes
from leitplanke.insights.containers import ContainerSeries

LEAK_POLICY, LEAK_RULE = "runtime-memory-leak", "working-set-trend"
OOM_POLICY, OOM_RULE = "runtime-oom-kills", "repeated-oom-kills"
CATEGORY = "Runtime"
_MIB = 1024 * 1024
_HOUR = 3600.0


class Trend(enum.StrEnum):
    LEAK = "leak"  # significant growth reaching the limit within the horizon
    GROWING = "growing"  # significant growth that does not (or no limit is set)
    STABLE = "stable"
    INSUFFICIENT = "insufficient-data"  # too short or too few samples to say


@dataclass(frozen=True, slots=True)
class LeakOptions:
    horizon_seconds: float = 7 * 24 * _HOUR
    min_span_seconds: float = 6 * _HOUR  # of working-set data in all
    min_points: int = 30
    oom_kills_repeated: int = 2  # this many OOMKilled restarts in the window make a finding
    critical_within_seconds: float = 24 * _HOUR  # a leak reaching its limit this soon is critical
    # growth over the horizon below this share of the level is immaterial, however significant: with
    # thousands of samples a slope of a few KiB an hour can be, and 1 in 40 flat series is at 95 %
    min_growth_ratio: float = 0.05


@dataclass(frozen=True, slots=True)
class Judgement:
    container: ContainerSeries
    trend: Trend
    fit: slopes.Fit | None
    seconds_to_limit: float | None  # from the last sample; None: no growth or no limit

    @property
    def oom_kills(self) -> int:
        return len(self.container.oom_kills)


def judge(container: ContainerSeries, *, options: LeakOptions = LeakOptions()) -> Judgement:
    points = container.working_set
    span = points[-1][0] - points[0][0] if points else 0.0
    fit = slopes.theil_sen(container.segments())
    if fit is None or span < options.min_span_seconds or len(points) < options.min_points:
        return Judgement(container, Trend.INSUFFICIENT, fit, None)
    material = fit.slope * options.horizon_seconds >= options.min_growth_ratio * max(fit.level, 1.0)
    if not (fit.significant_growth and material):
        return Judgement(container, Trend.STABLE, fit, None)
    if container.limit is None:
        return Judgement(container, Trend.GROWING, fit, None)
    seconds = max(0.0, (container.limit - fit.level) / fit.slope)
    trend = Trend.LEAK if seconds <= options.horizon_seconds else Trend.GROWING
    return Judgement(container, trend, fit, seconds)


def runtime_results(judgements: Iterable[Judgement], *, options: LeakOptions = LeakOptions()) -> list[Result]:
    """One failing result per (workload, container) that leaks or was OOM-killed repeatedly, the
    most urgent pod's when several pods of a workload do; in report order."""
    chosen: dict[tuple[str, Resource, str], tuple[float, Result]] = {}
    for judgement in judgements:
        for urgency, result in _results_of(judgement, options=options):
            key = (result.policy, result.resource, result.location.path)
            if key not in chosen or urgency < chosen[key][0]:
                chosen[key] = (urgency, result)
    return sorted((result for _, result in chosen.values()), key=Result.sort_key)


def _results_of(judgement: Judgement, *, options: LeakOptions) -> list[tuple[float, Result]]:
    container = judgement.container
    found: list[tuple[float, Result]] = []
    if judgement.trend is Trend.LEAK and judgement.fit is not None and judgement.seconds_to_limit is not None:
        seconds = judgement.seconds_to_limit
        severity = Severity.CRITICAL if seconds <= options.critical_within_seconds else Severity.HIGH
        result = _result(container, LEAK_POLICY, LEAK_RULE, severity, _leak_message(judgement))
        found.append((seconds, result))
    if judgement.oom_kills >= options.oom_kills_repeated:
        message = (
            f"container {container.container} of pod {container.pod} was OOMKilled "
            f"{judgement.oom_kills} times in the window"
        )
        result = _result(container, OOM_POLICY, OOM_RULE, Severity.HIGH, message)
        found.append((-float(judgement.oom_kills), result))
    return found


def _leak_message(judgement: Judgement) -> str:
    fit, container = judgement.fit, judgement.container
    assert fit is not None and container.limit is not None and judgement.seconds_to_limit is not None
    per_hour = fit.slope * _HOUR / _MIB
    return (
        f"container {container.container} of pod {container.pod}: working set grows "
        f"{per_hour:.1f} MiB/h (95% interval {fit.low * _HOUR / _MIB:.1f}–{fit.high * _HOUR / _MIB:.1f}), "
        f"at {fit.level / _MIB:.0f} MiB reaches its limit of {container.limit / _MIB:.0f} MiB "
        f"in about {judgement.seconds_to_limit / _HOUR:.1f} h"
    )


def _result(container: ContainerSeries, policy: str, rule: str, severity: Severity, message: str) -> Result:
    workload = container.workload
    return Result(
        policy=policy,
        rule=rule,
        resource=Resource(workload.api_version, workload.kind, workload.namespace, workload.name),
        verdict=Verdict.FAIL,
        severity=severity,
        message=message,
        location=Location(file=f"prometheus:{container.namespace}", line=0, path=_path(container)),
        category=CATEGORY,
    )


def _path(container: ContainerSeries) -> str:
    spec = "spec" if container.workload.kind == "Pod" else "spec.template.spec"
    return f"{spec}.containers[name={container.container}]"


def judge_all(
    containers: Sequence[ContainerSeries], *, options: LeakOptions = LeakOptions()
) -> list[Judgement]:
    return [judge(container, options=options) for container in containers]

"""Generated runtime series for the demo (``make run`` has no Prometheus): answers the range queries of
``insights.containers`` and ``insights.costs`` like a Prometheus would, so the demo's leaks, OOM kills
and cost go through the same analysis as real data. ``--prometheus demo:`` selects it in the CLI.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from leitplanke.insights import containers, costs, prometheus

URL = "demo:"
MIB = 1024.0 * 1024.0
_HOUR = 3600.0
_LEAK_HOURS = 48.0  # the leaking container grows over the last two days before the query's end
_OOM_CYCLE = 12 * _HOUR  # the batch container is OOM-killed every twelve hours


@dataclass(frozen=True, slots=True)
class Container:
    namespace: str
    pod: str
    container: str
    cpu_request: float  # cores
    cpu_usage: float  # cores, the mean
    memory_request_mib: float
    limit_mib: float
    shape: str  # "leak", "stable" or "oom"


# one container per demo app (namespace = app): a leak, an over-requested steady agent, a batch job
# that grows until it is OOM-killed, again and again
CONTAINERS: tuple[Container, ...] = (
    Container("checkout", "checkout-7d9f8b6c5d-x2x4q", "app", 0.5, 0.32, 256, 512, "leak"),
    Container("node-agent", "node-agent-0", "agent", 1.0, 0.12, 512, 512, "stable"),
    Container("legacy-batch", "legacy-batch-5c6d7f8b9d-q7w2e", "batch", 0.25, 0.2, 1024, 1024, "oom"),
)
ALLOCATABLE_CORES = 8.0
ALLOCATABLE_GIB = 32.0


def _wobble(at: float, salt: int) -> float:
    """A deterministic wobble in [-1, 1]: the same sample always has the same noise."""
    return math.sin(at / 997.0 + salt) * math.cos(at / 263.0 + 2 * salt)


def working_set(container: Container, at: float, *, end: float) -> float:
    """Bytes at ``at`` for a query ending at ``end``."""
    if container.shape == "leak":
        hours = max(0.0, (at - (end - _LEAK_HOURS * _HOUR)) / _HOUR)
        return (200 + 4 * hours + 2 * _wobble(at, 1)) * MIB
    if container.shape == "oom":
        share = (at % _OOM_CYCLE) / _OOM_CYCLE
        return (300 + 700 * share + 3 * _wobble(at, 3)) * MIB
    return (300 + 3 * _wobble(at, 2)) * MIB


def restarts(container: Container, at: float) -> float:
    return float(at // _OOM_CYCLE) % 1000 if container.shape == "oom" else 0.0


class DemoSeries:
    """``prometheus.RangeQueries`` over ``CONTAINERS``; a query it does not know yields no series."""

    def query_range(
        self, query: str, *, start: datetime, end: datetime, step_seconds: float
    ) -> list[prometheus.Series]:
        first, last = start.timestamp(), end.timestamp()
        count = int((last - first) // step_seconds) + 1
        times = [first + i * step_seconds for i in range(count)]
        if query in (costs.ALLOCATABLE_CPU, costs.ALLOCATABLE_MEMORY):
            value = ALLOCATABLE_CORES if query == costs.ALLOCATABLE_CPU else ALLOCATABLE_GIB * costs.GIB
            return [prometheus.Series({}, tuple((t, value) for t in times))]
        sample = _SAMPLES.get(query)
        if sample is None:
            return []
        found = []
        for container in CONTAINERS:
            labels = {
                "namespace": container.namespace,
                "pod": container.pod,
                "container": container.container,
            }
            points = tuple((t, sample(container, t, last)) for t in times)
            found.append(prometheus.Series(labels, points))
        return found


_SAMPLES: dict[str, Callable[[Container, float, float], float]] = {
    containers.WORKING_SET: lambda c, t, end: working_set(c, t, end=end),
    containers.LIMIT: lambda c, t, end: c.limit_mib * MIB,
    containers.RESTARTS: lambda c, t, end: restarts(c, t),
    containers.OOM_REASON: lambda c, t, end: 1.0 if c.shape == "oom" else 0.0,
    costs.CPU_REQUEST: lambda c, t, end: c.cpu_request,
    costs.CPU_USAGE: lambda c, t, end: max(0.0, c.cpu_usage * (1 + 0.3 * _wobble(t, 4))),
    costs.MEMORY_REQUEST: lambda c, t, end: c.memory_request_mib * MIB,
    costs.GPU_REQUEST: lambda c, t, end: 0.0,
}

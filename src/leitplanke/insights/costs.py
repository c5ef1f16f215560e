"""Cost after the OpenCost model: each container pays max(request, usage) of CPU, memory and GPU per
sample step at the configured hourly prices; idle = allocatable − allocated; efficiency = usage cost /
request cost; right-sizing recommends requests from usage percentiles (with headroom) and the saving.
``load_usage`` reads the series from Prometheus; the rest is pure. Called by the report and the CLI.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from leitplanke.insights import containers, prometheus

_BY = "max by (namespace, pod, container)"
CPU_REQUEST = f'{_BY} (kube_pod_container_resource_requests{{resource="cpu"}})'
MEMORY_REQUEST = f'{_BY} (kube_pod_container_resource_requests{{resource="memory"}})'
GPU_REQUEST = f'{_BY} (kube_pod_container_resource_requests{{resource="nvidia_com_gpu"}})'
CPU_USAGE = (
    "sum by (namespace, pod, container) "
    '(rate(container_cpu_usage_seconds_total{container!="",container!="POD"}[5m]))'
)
ALLOCATABLE_CPU = 'sum (kube_node_status_allocatable{resource="cpu"})'
ALLOCATABLE_MEMORY = 'sum (kube_node_status_allocatable{resource="memory"})'
GIB = 1024**3
_HOUR = 3600.0
_DAYS_30 = 30 * 24.0


@dataclass(frozen=True, slots=True)
class Prices:
    cpu_hour: float = 0.031611  # per core-hour (OpenCost's default on-demand CPU price)
    gib_hour: float = 0.004237  # per GiB-hour of memory
    gpu_hour: float = 0.95


@dataclass(frozen=True, slots=True)
class RightSizing:
    cpu_percentile: float = 95.0
    memory_percentile: float = 99.0
    headroom: float = 0.10  # added to the percentile


@dataclass(slots=True)
class Usage:
    """One container's series by sample time: requests and usage (cores, bytes, GPUs)."""

    namespace: str
    pod: str
    container: str
    cpu_request: dict[float, float] = field(default_factory=dict)
    cpu_usage: dict[float, float] = field(default_factory=dict)
    memory_request: dict[float, float] = field(default_factory=dict)
    memory_usage: dict[float, float] = field(default_factory=dict)
    gpu_request: dict[float, float] = field(default_factory=dict)

    def times(self) -> list[float]:
        every = (self.cpu_request, self.cpu_usage, self.memory_request, self.memory_usage, self.gpu_request)
        return sorted(set().union(*every))


@dataclass(frozen=True, slots=True)
class Cost:
    """Costs of a container (or a sum of them) over the window, in the prices' currency."""

    cpu: float
    memory: float
    gpu: float
    request: float  # what the requests alone cost (CPU and memory)
    usage: float  # what the usage alone costs (CPU and memory)

    @property
    def total(self) -> float:
        return self.cpu + self.memory + self.gpu

    @property
    def efficiency(self) -> float | None:
        return self.usage / self.request if self.request else None

    def __add__(self, other: Cost) -> Cost:
        return Cost(*(a + b for a, b in zip(self.fields(), other.fields(), strict=True)))

    def fields(self) -> tuple[float, float, float, float, float]:
        return (self.cpu, self.memory, self.gpu, self.request, self.usage)


ZERO = Cost(0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Right-sizing of one container: today's requests (the latest), recommended ones, saving."""

    namespace: str
    pod: str
    container: str
    cpu_request: float
    cpu_recommended: float
    memory_request: float
    memory_recommended: float
    saving_per_hour: float

    @property
    def saving_per_30_days(self) -> float:
        return self.saving_per_hour * _DAYS_30


def container_cost(usage: Usage, *, prices: Prices, step_seconds: float) -> Cost:
    """Every sample stands for ``step_seconds``; a missing series counts 0 at that time."""
    hours = step_seconds / _HOUR
    cpu = memory = gpu = request = used = 0.0
    for at in usage.times():
        cores_req, cores_used = usage.cpu_request.get(at, 0.0), usage.cpu_usage.get(at, 0.0)
        gib_req, gib_used = usage.memory_request.get(at, 0.0) / GIB, usage.memory_usage.get(at, 0.0) / GIB
        cpu += max(cores_req, cores_used) * prices.cpu_hour * hours
        memory += max(gib_req, gib_used) * prices.gib_hour * hours
        gpu += usage.gpu_request.get(at, 0.0) * prices.gpu_hour * hours
        request += (cores_req * prices.cpu_hour + gib_req * prices.gib_hour) * hours
        used += (cores_used * prices.cpu_hour + gib_used * prices.gib_hour) * hours
    return Cost(cpu, memory, gpu, request, used)


def idle_cost(
    *,
    allocatable_cpu: Mapping[float, float],
    allocatable_memory: Mapping[float, float],
    allocated: Cost,
    prices: Prices,
    step_seconds: float,
) -> float:
    """What the nodes' allocatable CPU and memory cost, less what the containers were allocated."""
    hours = step_seconds / _HOUR
    capacity = sum(cores * prices.cpu_hour * hours for cores in allocatable_cpu.values())
    capacity += sum(size / GIB * prices.gib_hour * hours for size in allocatable_memory.values())
    return max(0.0, capacity - (allocated.cpu + allocated.memory))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def suggest(usage: Usage, *, prices: Prices, sizing: RightSizing = RightSizing()) -> Suggestion | None:
    """Recommended requests from the usage percentiles; None when the container requests nothing."""
    times = usage.times()
    if not times:
        return None
    cpu_now, memory_now = usage.cpu_request.get(times[-1], 0.0), usage.memory_request.get(times[-1], 0.0)
    if not cpu_now and not memory_now:
        return None
    grow = 1 + sizing.headroom
    cpu = percentile(list(usage.cpu_usage.values()), sizing.cpu_percentile) * grow
    memory = percentile(list(usage.memory_usage.values()), sizing.memory_percentile) * grow
    saving = (cpu_now - cpu) * prices.cpu_hour + (memory_now - memory) / GIB * prices.gib_hour
    return Suggestion(usage.namespace, usage.pod, usage.container, cpu_now, cpu, memory_now, memory, saving)


def costs_by(
    usages: Iterable[Usage], *, group: Mapping[str, str], prices: Prices, step_seconds: float
) -> dict[str, Cost]:
    """Costs summed per group of the namespace (``group``: namespace -> app, team, environment or
    value stream); namespaces not in ``group`` under ""."""
    totals: dict[str, Cost] = defaultdict(lambda: ZERO)
    for usage in usages:
        key = group.get(usage.namespace, "")
        totals[key] = totals[key] + container_cost(usage, prices=prices, step_seconds=step_seconds)
    return dict(sorted(totals.items()))


def cost_dict(cost: Cost) -> dict[str, Any]:
    efficiency = cost.efficiency
    return {
        "total": round(cost.total, 4),
        "cpu": round(cost.cpu, 4),
        "memory": round(cost.memory, 4),
        "gpu": round(cost.gpu, 4),
        "efficiency": None if efficiency is None else round(efficiency, 4),
    }


def load_usage(
    client: prometheus.RangeQueries, *, start: datetime, end: datetime, step_seconds: float
) -> tuple[list[Usage], dict[float, float], dict[float, float]]:
    """Every container's requests and usage, and the nodes' allocatable CPU and memory by time."""

    def ask(query: str) -> list[prometheus.Series]:
        return client.query_range(query, start=start, end=end, step_seconds=step_seconds)

    usages: dict[containers.Key, Usage] = {}
    for query, name in (
        (CPU_REQUEST, "cpu_request"),
        (CPU_USAGE, "cpu_usage"),
        (MEMORY_REQUEST, "memory_request"),
        (containers.WORKING_SET, "memory_usage"),
        (GPU_REQUEST, "gpu_request"),
    ):
        for series in ask(query):
            labels = series.labels
            key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
            usage = usages.setdefault(key, Usage(*key))
            getattr(usage, name).update(series.points)
    cpu = {at: v for series in ask(ALLOCATABLE_CPU) for at, v in series.points}
    memory = {at: v for series in ask(ALLOCATABLE_MEMORY) for at, v in series.points}
    return [usages[key] for key in sorted(usages)], cpu, memory


def efficiency_measures(
    usages: Iterable[Usage], *, owners: Mapping[str, str], prices: Prices, step_seconds: float
) -> dict[str, tuple[float, float]]:
    """app -> (usage cost, request cost): the scorecard's ``cost-efficiency`` input (``External``)."""
    by_app = costs_by(usages, group=owners, prices=prices, step_seconds=step_seconds)
    return {app: (cost.usage, cost.request) for app, cost in by_app.items() if app}

"""Per-container runtime series read from Prometheus: working set (cAdvisor), memory limit, restarts and
OOM kills (kube-state-metrics), joined by (namespace, pod, container). Called by ``insights.leaks``'
callers (the CLI, the tests); the only place that knows the metric names.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from leitplanke.insights import prometheus

# cAdvisor's per-container series; the pause container ("POD") and the pod-level ("") ones left out
WORKING_SET = (
    'max by (namespace, pod, container) (container_memory_working_set_bytes{container!="",container!="POD"})'
)
LIMIT = 'max by (namespace, pod, container) (kube_pod_container_resource_limits{resource="memory"})'
RESTARTS = "max by (namespace, pod, container) (kube_pod_container_status_restarts_total)"
OOM_REASON = (
    "max by (namespace, pod, container) "
    '(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"})'
)
# a Deployment's pod: <deployment>-<replicaset hash>-<5 characters>; a StatefulSet's: <name>-<ordinal>
_DEPLOYMENT_POD = re.compile(r"^(?P<owner>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")
_STATEFULSET_POD = re.compile(r"^(?P<owner>.+)-\d+$")
_RESET_DROP = 0.5  # a fall to under half the previous sample: a restart the counter's samples missed

Key = tuple[str, str, str]  # (namespace, pod, container)
Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Workload:
    api_version: str
    kind: str
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class ContainerSeries:
    namespace: str
    pod: str
    container: str
    working_set: tuple[Point, ...]
    limit: float | None  # bytes; None: no limit is set
    restarts: tuple[float, ...]  # when the restart counter went up
    oom_kills: tuple[float, ...]  # those restarts whose last termination was OOMKilled

    @property
    def workload(self) -> Workload:
        return workload_of(self.namespace, self.pod)

    def segments(self) -> list[list[Point]]:
        """The working set cut at every restart (and every fall to under half: a missed restart)."""
        cuts = sorted(self.restarts)
        segments: list[list[Point]] = [[]]
        cut = 0
        previous: float | None = None
        for at, value in self.working_set:
            crossed = False
            while cut < len(cuts) and cuts[cut] <= at:
                cut, crossed = cut + 1, True
            if crossed or (previous is not None and value < previous * _RESET_DROP):
                segments.append([])
            segments[-1].append((at, value))
            previous = value
        return [segment for segment in segments if segment]


def workload_of(namespace: str, pod: str) -> Workload:
    """The owning workload, read from the pod's name as the controllers make it."""
    if match := _DEPLOYMENT_POD.match(pod):
        return Workload("apps/v1", "Deployment", namespace, match["owner"])
    if match := _STATEFULSET_POD.match(pod):
        return Workload("apps/v1", "StatefulSet", namespace, match["owner"])
    return Workload("v1", "Pod", namespace, pod)


def load_containers(
    client: prometheus.RangeQueries, *, start: datetime, end: datetime, step_seconds: float
) -> list[ContainerSeries]:
    """Every container with a working-set series between ``start`` and ``end``, in key order."""

    def ask(query: str) -> list[prometheus.Series]:
        return client.query_range(query, start=start, end=end, step_seconds=step_seconds)

    return join_containers(
        working_sets=ask(WORKING_SET), limits=ask(LIMIT), restarts=ask(RESTARTS), oom_reasons=ask(OOM_REASON)
    )


def join_containers(
    *,
    working_sets: Iterable[prometheus.Series],
    limits: Iterable[prometheus.Series],
    restarts: Iterable[prometheus.Series],
    oom_reasons: Iterable[prometheus.Series],
) -> list[ContainerSeries]:
    """The four queries' series joined by (namespace, pod, container). Pure."""
    limit_of = {_key(s.labels): max(v for _, v in s.points) for s in limits if s.points}
    restarts_of = {_key(s.labels): _increases(s.points) for s in restarts}
    oom_of = {_key(s.labels): s.points for s in oom_reasons}
    joined = []
    for series in working_sets:
        key = _key(series.labels)
        went_up = restarts_of.get(key, ())
        joined.append(
            ContainerSeries(
                namespace=key[0],
                pod=key[1],
                container=key[2],
                working_set=series.points,
                limit=limit_of.get(key) or None,
                restarts=went_up,
                oom_kills=tuple(at for at in went_up if _value_at(oom_of.get(key, ()), at) >= 1),
            )
        )
    return sorted(joined, key=lambda c: (c.namespace, c.pod, c.container))


def _key(labels: Mapping[str, str]) -> Key:
    return (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))


def _increases(points: Sequence[Point]) -> tuple[float, ...]:
    """When a counter went up (a fall is a counter reset, not a restart)."""
    return tuple(at for (_, before), (at, after) in itertools.pairwise(points) if after > before)


def _value_at(points: Sequence[Point], at: float) -> float:
    """The series' value at ``at``: the last sample at or before it (0 before the first)."""
    value = 0.0
    for when, sample in points:
        if when > at:
            break
        value = sample
    return value

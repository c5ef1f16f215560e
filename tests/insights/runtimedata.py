"""Generated runtime series with known verdicts, as OpenMetrics text for ``promtool tsdb
create-blocks-from openmetrics``: one Deployment per case in namespace ``shop``, a sample a minute."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MIB = 1024 * 1024
STEP = 60
HOURS = 48


@dataclass(frozen=True)
class Case:
    pod: str
    limit_mib: float
    level: object  # (hour from the start, rng) -> MiB
    restarts_at_hours: tuple[float, ...] = ()
    oom: bool = False
    hours: float = HOURS
    starts_at_hour: float = 0.0


@dataclass
class Generated:
    text: str
    start: int
    end: int
    pods: dict[str, Case] = field(default_factory=dict)


def _leaking(hour: float, rng: random.Random) -> float:
    return 200 + 4 * hour + rng.uniform(-2, 2)


def _stable(hour: float, rng: random.Random) -> float:
    return 300 + rng.uniform(-3, 3)


def _sawtooth(hour: float, rng: random.Random) -> float:
    return 100 + 20 * (hour % 12) + rng.uniform(-2, 2)  # a restart every 12 hours


def _noisy(hour: float, rng: random.Random) -> float:
    return 250 + rng.uniform(-80, 80)


def _short_lived(hour: float, rng: random.Random) -> float:
    return 100 + 60 * hour  # grows fast, but for 20 minutes only


def _slow_growth(hour: float, rng: random.Random) -> float:
    return 300 + 0.5 * hour + rng.uniform(-1, 1)


def _oom(hour: float, rng: random.Random) -> float:
    return 400 + rng.uniform(-3, 3)


CASES = {
    "leaking": Case("cart-7d9c5b8f6-x2k4p", 512, _leaking),
    "stable": Case("catalog-5f6d7c8b9-q7w8e", 512, _stable),
    "sawtooth-with-restarts": Case("orders-6c7d8e9f5-r4t5y", 512, _sawtooth, restarts_at_hours=(12, 24, 36)),
    "noisy": Case("search-8b9c7d6e5-u1i2o", 512, _noisy),
    "short-lived": Case("batch-4a5b6c7d8-p9a8s", 512, _short_lived, hours=20 / 60, starts_at_hour=40),
    "slow-growth": Case("profile-9e8d7c6b5-d3f4g", 1024, _slow_growth),
    "oom-killed": Case("pricing-3c4d5e6f7-h6j7k", 512, _oom, restarts_at_hours=(10, 20, 30), oom=True),
}


def generate(*, end: int, seed: int = 7) -> Generated:
    """The series of every case, ending at ``end`` (unix seconds, a multiple of STEP)."""
    rng = random.Random(seed)
    start = end - HOURS * 3600
    families: dict[str, list[str]] = {"ws": [], "limit": [], "restarts": [], "oom": []}
    for case in CASES.values():
        labels = f'namespace="shop",pod="{case.pod}",container="app"'
        first = start + int(case.starts_at_hour * 3600)
        last = min(end, first + int(case.hours * 3600))
        restarts, oom = 0, 0
        for at in range(first, last + 1, STEP):
            hour = (at - start) / 3600
            while restarts < len(case.restarts_at_hours) and hour >= case.restarts_at_hours[restarts]:
                restarts += 1
                oom = 1 if case.oom else 0
            mib = case.level(hour, rng)  # type: ignore[operator]
            families["ws"].append(f"container_memory_working_set_bytes{{{labels}}} {round(mib * MIB)} {at}")
            families["limit"].append(
                f'kube_pod_container_resource_limits{{{labels},resource="memory",unit="byte"}} {round(case.limit_mib * MIB)} {at}'
            )
            families["restarts"].append(
                f"kube_pod_container_status_restarts_total{{{labels}}} {restarts} {at}"
            )
            families["oom"].append(
                f'kube_pod_container_status_last_terminated_reason{{{labels},reason="OOMKilled"}} {oom} {at}'
            )
    text = "\n".join(
        [
            "# TYPE container_memory_working_set_bytes gauge",
            *families["ws"],
            "# TYPE kube_pod_container_resource_limits gauge",
            *families["limit"],
            "# TYPE kube_pod_container_status_restarts counter",
            *families["restarts"],
            "# TYPE kube_pod_container_status_last_terminated_reason gauge",
            *families["oom"],
            "# EOF",
            "",
        ]
    )
    return Generated(text=text, start=start, end=end, pods={name: case.pod for name, case in CASES.items()})  # type: ignore[misc]

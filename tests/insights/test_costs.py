"""Cost after the OpenCost model: a small case computed by hand, and the same figures read from a real
Prometheus loaded with generated request, usage and allocatable series."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import prometheusservers

from leitplanke.insights import costs

GIB = costs.GIB
PRICES = costs.Prices(cpu_hour=0.03, gib_hour=0.004, gpu_hour=1.0)


def _usage(
    pod: str, *, cpu: tuple[float, float], memory: tuple[float, float], times: list[float]
) -> costs.Usage:
    return costs.Usage(
        "shop",
        pod,
        "app",
        cpu_request=dict.fromkeys(times, cpu[0]),
        cpu_usage=dict.fromkeys(times, cpu[1]),
        memory_request=dict.fromkeys(times, memory[0] * GIB),
        memory_usage=dict.fromkeys(times, memory[1] * GIB),
    )


# two hours, a sample an hour: A requests 1 core / 2 GiB and uses 0.25 / 1; B requests 0.5 / 1 and uses 1 / 0.5
A = _usage("a", cpu=(1.0, 0.25), memory=(2.0, 1.0), times=[0.0, 3600.0])
B = _usage("b", cpu=(0.5, 1.0), memory=(1.0, 0.5), times=[0.0, 3600.0])


def _rounded(cost: costs.Cost) -> tuple[float, ...]:
    return tuple(round(x, 6) for x in (cost.cpu, cost.memory, cost.total, cost.request, cost.usage))


def test_each_container_pays_the_larger_of_request_and_usage() -> None:
    # A: cpu max(1, .25)*.03*2 = .06; memory 2*.004*2 = .016; requests .076; usage .25*.03*2 + 1*.004*2 = .023
    assert _rounded(costs.container_cost(A, prices=PRICES, step_seconds=3600)) == (
        0.06,
        0.016,
        0.076,
        0.076,
        0.023,
    )
    # B bursts over its CPU request: cpu 1*.03*2 = .06; memory 1*.004*2 = .008; requests .038; usage .064
    assert _rounded(costs.container_cost(B, prices=PRICES, step_seconds=3600)) == (
        0.06,
        0.008,
        0.068,
        0.038,
        0.064,
    )


def test_efficiency_idle_and_grouping_follow_from_the_costs() -> None:
    total = costs.costs_by([A, B], group={"shop": "checkout"}, prices=PRICES, step_seconds=3600)["checkout"]
    assert round(total.total, 6) == 0.144
    assert round(total.efficiency or 0, 4) == round(0.087 / 0.114, 4) == 0.7632
    # nodes: 4 cores and 8 GiB for two hours = .24 + .064 = .304; allocated .144
    idle = costs.idle_cost(
        allocatable_cpu={0.0: 4.0, 3600.0: 4.0},
        allocatable_memory={0.0: 8 * GIB, 3600.0: 8 * GIB},
        allocated=total,
        prices=PRICES,
        step_seconds=3600,
    )
    assert round(idle, 6) == 0.16


def test_right_sizing_recommends_the_usage_percentiles_with_headroom_and_names_the_saving() -> None:
    suggestion = costs.suggest(A, prices=PRICES)
    assert suggestion is not None
    assert (round(suggestion.cpu_recommended, 6), round(suggestion.memory_recommended / GIB, 6)) == (
        0.275,
        1.1,
    )
    # (1 - .275) * .03 + (2 - 1.1) * .004 = .02175 + .0036 per hour
    assert (round(suggestion.saving_per_hour, 6), round(suggestion.saving_per_30_days, 4)) == (
        0.02535,
        18.252,
    )


def test_the_nearest_rank_percentile() -> None:
    assert [costs.percentile([5, 1, 4, 2, 3], p) for p in (0, 20, 50, 95, 100)] == [1, 1, 3, 5, 5]


def _series_order(line: str) -> tuple[str, int]:
    """OpenMetrics wants each series' samples together, in time order."""
    return line.split("}")[0], int(line.rsplit(" ", 1)[1])


def _openmetrics(start: int, end: int) -> str:
    lines: dict[str, list[str]] = {"req": [], "cpu": [], "ws": [], "alloc": []}
    for at in range(start, end + 1, 60):
        for pod, cpu_req, cpu_rate, mem_req, mem_used in (("a", 1, 0.25, 2, 1), ("b", 0.5, 1.0, 1, 0.5)):
            labels = f'namespace="shop",pod="{pod}",container="app"'
            lines["req"].append(
                f'kube_pod_container_resource_requests{{{labels},resource="cpu",unit="core"}} {cpu_req} {at}'
            )
            lines["req"].append(
                f'kube_pod_container_resource_requests{{{labels},resource="memory",unit="byte"}} {mem_req * GIB} {at}'
            )
            lines["cpu"].append(
                f"container_cpu_usage_seconds_total{{{labels}}} {cpu_rate * (at - start)} {at}"
            )
            lines["ws"].append(f"container_memory_working_set_bytes{{{labels}}} {int(mem_used * GIB)} {at}")
        lines["alloc"].append(f'kube_node_status_allocatable{{node="n1",resource="cpu",unit="core"}} 4 {at}')
        lines["alloc"].append(
            f'kube_node_status_allocatable{{node="n1",resource="memory",unit="byte"}} {8 * GIB} {at}'
        )
    return "\n".join(
        [
            "# TYPE kube_pod_container_resource_requests gauge",
            *sorted(lines["req"], key=_series_order),
            "# TYPE container_cpu_usage_seconds counter",
            *lines["cpu"],
            "# TYPE container_memory_working_set_bytes gauge",
            *lines["ws"],
            "# TYPE kube_node_status_allocatable gauge",
            *sorted(lines["alloc"], key=_series_order),
            "# EOF",
            "",
        ]
    )


def test_the_costs_read_from_a_real_prometheus_are_the_hand_computed_ones(tmp_path: object) -> None:
    prometheusservers.require("prometheus", "promtool")
    end = (int(time.time()) // 3600) * 3600 - 3600
    start = end - 3 * 3600
    folder = tmp_path / "prometheus"  # type: ignore[operator]
    folder.mkdir()
    prometheusservers.create_blocks(_openmetrics(start, end), data=folder / "data")
    with prometheusservers.running(data=folder / "data") as url, costs.prometheus.Prometheus(url) as client:
        # two hours of samples a minute apart, from an hour in (rate() has its five minutes of history)
        window = {
            "start": datetime.fromtimestamp(start + 3600, UTC),
            "end": datetime.fromtimestamp(end - 60, UTC),
        }
        usages, cpu, memory = costs.load_usage(client, step_seconds=60, **window)  # type: ignore[arg-type]
    assert [(u.pod, len(u.times())) for u in usages] == [("a", 120), ("b", 120)]
    by_pod = {u.pod: _rounded(costs.container_cost(u, prices=PRICES, step_seconds=60)) for u in usages}
    assert by_pod == {"a": (0.06, 0.016, 0.076, 0.076, 0.023), "b": (0.06, 0.008, 0.068, 0.038, 0.064)}
    total = costs.costs_by(usages, group={"shop": "checkout"}, prices=PRICES, step_seconds=60)["checkout"]
    idle = costs.idle_cost(
        allocatable_cpu=cpu, allocatable_memory=memory, allocated=total, prices=PRICES, step_seconds=60
    )
    assert round(idle, 6) == 0.16


def test_the_scorecard_input_is_usage_and_request_cost_per_app() -> None:
    measures = costs.efficiency_measures(
        [A, B], owners={"shop": "checkout"}, prices=PRICES, step_seconds=3600
    )
    assert {app: (round(u, 6), round(r, 6)) for app, (u, r) in measures.items()} == {
        "checkout": (0.087, 0.114)
    }


def test_the_report_prices_the_apps_and_teams_from_prometheus(tmp_path: Path, catalog_database: Any) -> None:
    prometheusservers.require("prometheus", "promtool")
    end = (int(time.time()) // 3600) * 3600 - 3600
    start = end - 3 * 3600
    folder = tmp_path / "prometheus"
    folder.mkdir()
    prometheusservers.create_blocks(_openmetrics(start, end), data=folder / "data")
    at = datetime.fromtimestamp(end - 60, UTC).isoformat()
    with prometheusservers.running(data=folder / "data") as url:
        command = [sys.executable, "-m", "leitplanke.cli", "report", "--database", str(catalog_database.url)]
        command += [
            "--at",
            at,
            "--period",
            "2h",
            "--format",
            "json",
            "--prometheus",
            url,
            "--namespace-app",
            "shop=checkout",
        ]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
        done = subprocess.run(command, capture_output=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr.decode()
    cost = json.loads(done.stdout)["cost"]
    # the default prices (OpenCost's), 121 samples a minute apart: A and B as above
    cpu = 121 / 60 * 2.0 * costs.Prices().cpu_hour  # max(1, .25) + max(.5, 1) cores
    memory = 121 / 60 * 3.0 * costs.Prices().gib_hour  # 2 + 1 GiB requested, more than used
    prices = costs.Prices()
    used = 1.25 * prices.cpu_hour + 1.5 * prices.gib_hour  # per hour: .25 + 1 cores, 1 + .5 GiB
    requested = 1.5 * prices.cpu_hour + 3.0 * prices.gib_hour
    assert cost["apps"] == {
        "checkout": {
            "total": round(cpu + memory, 4),
            "cpu": round(cpu, 4),
            "memory": round(memory, 4),
            "gpu": 0.0,
            "efficiency": round(used / requested, 4),
        }
    }
    assert list(cost["teams"]) == ["team-shop"]
    assert [s["pod"] for s in cost["suggestions"]] == ["a"]

"""Memory leaks and repeated OOM kills judged from a real Prometheus (Debian's package, on loopback)
loaded with generated series of known verdicts: leaking, stable, sawtooth with restarts, noisy,
short-lived, slowly growing and OOM-killed containers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import prometheusservers
import pytest
import runtimedata

from leitplanke.insights import containers, leaks, prometheus

USER, PASSWORD = "insights", "s3cret-pw"


@pytest.fixture(scope="module")
def loaded_prometheus(tmp_path_factory: pytest.TempPathFactory) -> object:
    prometheusservers.require("prometheus", "promtool")
    folder = tmp_path_factory.mktemp("prometheus")
    end = (int(time.time()) // 3600) * 3600 - 3600  # a whole hour, in the past: blocks are aligned
    generated = runtimedata.generate(end=end)
    prometheusservers.create_blocks(generated.text, data=folder / "data")
    with prometheusservers.running(data=folder / "data", basic_auth=(USER, PASSWORD)) as url:
        yield url, generated


def _window(generated: runtimedata.Generated) -> dict[str, object]:
    return {
        "start": datetime.fromtimestamp(generated.start, UTC),
        "end": datetime.fromtimestamp(generated.end, UTC),
        "step_seconds": runtimedata.STEP,
    }


def _load(url: str, generated: runtimedata.Generated) -> list[containers.ContainerSeries]:
    credentials = prometheus.Credentials(username=USER, password=PASSWORD)
    with prometheus.Prometheus(url, credentials=credentials) as client:
        return containers.load_containers(client, **_window(generated))  # type: ignore[arg-type]


def test_every_generated_container_gets_its_known_verdict(
    loaded_prometheus: tuple[str, runtimedata.Generated],
) -> None:
    url, generated = loaded_prometheus
    judged = {j.container.pod: (j.trend.value, j.oom_kills) for j in leaks.judge_all(_load(url, generated))}
    pods = generated.pods
    assert judged == {
        pods["leaking"]: ("leak", 0),
        pods["stable"]: ("stable", 0),
        pods["sawtooth-with-restarts"]: ("leak", 0),
        pods["noisy"]: ("stable", 0),
        pods["short-lived"]: ("insufficient-data", 0),
        pods["slow-growth"]: ("growing", 0),
        pods["oom-killed"]: ("stable", 3),
    }


def test_leaks_and_repeated_oom_kills_become_failing_results_of_their_deployments(
    loaded_prometheus: tuple[str, runtimedata.Generated],
) -> None:
    url, generated = loaded_prometheus
    results = leaks.runtime_results(leaks.judge_all(_load(url, generated)))
    assert [
        (r.policy, r.rule, r.resource.display, r.severity.label, r.verdict.value, r.location.path)
        for r in results
    ] == [
        (
            "runtime-memory-leak",
            "working-set-trend",
            "Deployment/shop/cart",
            "high",
            "fail",
            "spec.template.spec.containers[name=app]",
        ),
        (
            "runtime-memory-leak",
            "working-set-trend",
            "Deployment/shop/orders",
            "critical",
            "fail",
            "spec.template.spec.containers[name=app]",
        ),
        (
            "runtime-oom-kills",
            "repeated-oom-kills",
            "Deployment/shop/pricing",
            "high",
            "fail",
            "spec.template.spec.containers[name=app]",
        ),
    ]


def test_the_leak_slope_is_the_generated_one(loaded_prometheus: tuple[str, runtimedata.Generated]) -> None:
    url, generated = loaded_prometheus
    judged = {j.container.pod: j for j in leaks.judge_all(_load(url, generated))}
    per_hour = {
        name: judged[generated.pods[name]].fit.slope * 3600 / runtimedata.MIB  # type: ignore[union-attr]
        for name in ("leaking", "sawtooth-with-restarts", "stable")
    }
    assert round(per_hour["leaking"], 1) == 4.0
    assert round(per_hour["sawtooth-with-restarts"], 0) == 20.0
    assert round(per_hour["stable"], 1) in (0.0, -0.0)


def test_a_wrong_password_is_refused_with_the_status(
    loaded_prometheus: tuple[str, runtimedata.Generated],
) -> None:
    url, generated = loaded_prometheus
    client = prometheus.Prometheus(url, credentials=prometheus.Credentials(username=USER, password="wrong"))
    with client, pytest.raises(prometheus.PrometheusRefused) as refused:
        client.query_range("up", **_window(generated))  # type: ignore[arg-type]
    assert refused.value.status == 401


def test_a_bad_query_is_refused_with_prometheus_own_error(
    loaded_prometheus: tuple[str, runtimedata.Generated],
) -> None:
    url, generated = loaded_prometheus
    credentials = prometheus.Credentials(username=USER, password=PASSWORD)
    with (
        prometheus.Prometheus(url, credentials=credentials) as client,
        pytest.raises(prometheus.PrometheusRefused) as refused,
    ):
        client.query_range("sum(", **_window(generated))  # type: ignore[arg-type]
    assert refused.value.status == 400
    assert str(refused.value).startswith(f"{url}/api/v1/query_range answered 400: bad_data: ")


def test_an_unreachable_prometheus_is_reported_as_such(tmp_path: Path) -> None:
    port = prometheusservers.free_port()
    with (
        prometheus.Prometheus(f"http://127.0.0.1:{port}", timeout=2) as client,
        pytest.raises(prometheus.PrometheusUnreachable),
    ):
        client.query_range(
            "up",
            start=datetime(2026, 1, 1, tzinfo=UTC),
            end=datetime(2026, 1, 2, tzinfo=UTC),
            step_seconds=60,
        )


def test_the_runtime_leaks_command_prints_the_findings_it_would_ingest(
    loaded_prometheus: tuple[str, runtimedata.Generated],
) -> None:
    import json
    import os
    import subprocess
    import sys

    url, _ = loaded_prometheus
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "LEITPLANKE_PROMETHEUS_USER": USER,
        "LEITPLANKE_PROMETHEUS_PASSWORD": PASSWORD,
    }
    command = [sys.executable, "-m", "leitplanke.cli", "runtime", "leaks", "--prometheus", url]
    command += ["--env", "prod", "--window", "52h", "--dry-run"]
    done = subprocess.run(command, capture_output=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    printed = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(p["policy"], p["resource"]) for p in printed] == [
        ("runtime-memory-leak", "Deployment/shop/cart"),
        ("runtime-memory-leak", "Deployment/shop/orders"),
        ("runtime-oom-kills", "Deployment/shop/pricing"),
    ]

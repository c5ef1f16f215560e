"""``leitplanke agent`` as a process: ``--once`` against the test API server writes the complete reports
and exits 0; options that cannot work are refused with exit 2 and the option named."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubeservers

import leitplanke
from conftest import report_rows, small_cluster

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [LEITPLANKE, "agent", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


def test_agent_once_writes_the_complete_reports_and_exits_0(kube, policy_file, tmp_path):
    state, server = kube
    kubeservers.seed(state, small_cluster())

    done = _run(
        "--cluster",
        "test",
        "--kubeconfig",
        str(server.kubeconfig(tmp_path)),
        "--pack",
        "none",
        "--policies",
        str(policy_file),
        "--metrics-port",
        "0",
        "--once",
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert report_rows(state, ns="data") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/etl", "pass"),
    }


def test_a_service_without_a_token_file_is_refused_before_anything_starts(tmp_path):
    done = _run("--cluster", "test", "--service", "http://127.0.0.1:1", cwd=tmp_path)

    assert (done.returncode, done.stderr.strip()) == (2, "leitplanke: --service needs --token-file")


def test_a_negative_share_of_evaluations_per_evaluator_is_refused(tmp_path):
    done = _run("--cluster", "test", "--evaluations-per-worker", "-1", cwd=tmp_path)

    assert (done.returncode, done.stderr.strip()) == (
        2,
        "leitplanke: --evaluations-per-worker -1: must be 0 or more",
    )


def test_a_kubeconfig_that_cannot_be_read_is_a_usage_error(tmp_path):
    done = _run("--cluster", "test", "--kubeconfig", str(tmp_path / "missing"), "--once", cwd=tmp_path)

    assert done.returncode == 2
    assert done.stderr.startswith(
        f"leitplanke: no usable Kubernetes configuration in {tmp_path / 'missing'}:"
    )


def test_the_metrics_endpoint_shows_objects_evaluations_queue_report_writes_api_errors_and_restarts(
    kube, start_agent, policy_file
):
    import socket
    import urllib.request

    from leitplanke.agent import metrics

    state, server = kube
    kubeservers.seed(state, small_cluster())
    state.fail("GET", "/api/v1/pods", 500)
    # one evaluator for the 6 objects, the next for the set-level rule's 3 results (a Deployment each)
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",), evaluations_per_worker=6)
    assert agent.wait_for_flush()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    metrics.serve_metrics(agent.figures, port=port, address="127.0.0.1")

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()

    samples = {
        line.split(" ")[0]: line.split(" ")[1] for line in text.splitlines() if line.startswith("leitplanke_")
    }
    assert {
        name: samples[name]
        for name in (
            "leitplanke_agent_objects_watched",
            "leitplanke_agent_evaluations_total",
            "leitplanke_agent_queue_depth",
            'leitplanke_agent_report_writes_total{operation="apply"}',
            'leitplanke_agent_api_errors_total{status="500"}',
            'leitplanke_agent_evaluator_restarts_total{reason="recycled"}',
        )
    } == {
        "leitplanke_agent_objects_watched": "6.0",
        "leitplanke_agent_evaluations_total": "6.0",
        "leitplanke_agent_queue_depth": "0.0",
        'leitplanke_agent_report_writes_total{operation="apply"}': "2.0",
        'leitplanke_agent_api_errors_total{status="500"}': "1.0",
        'leitplanke_agent_evaluator_restarts_total{reason="recycled"}': "1.0",
    }

"""The agent's tests: a seeded test API server (``kubeservers``) on loopback, an agent started against it
through a kubeconfig, and the policies of the exact tests (one per-object rule, one set-level rule)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubeservers
import pytest

from leitplanke.agent import running
from leitplanke.sources import cluster

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"

POLICIES = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-team-label}
spec:
  title: Deployments name their team
  severity: high
  category: Ownership
  match: {kinds: [Deployment]}
  rules:
  - name: team-label
    validate: "'team' in object.metadata.?labels.orValue({})"
    message: "'Deployment ' + object.metadata.name + ' has no team label'"
    path: metadata.labels
---
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-budget}
spec:
  title: Deployments have a PodDisruptionBudget in their namespace
  severity: medium
  category: Reliability
  match: {kinds: [Deployment]}
  rules:
  - name: budget
    collect: [PodDisruptionBudget]
    validate: >-
      documents.exists(p, p.kind == 'PodDisruptionBudget' &&
      p.metadata.?namespace.orValue('') == object.metadata.?namespace.orValue(''))
    message: "'no PodDisruptionBudget in ' + object.metadata.?namespace.orValue('')"
"""


def deployment(name: str, namespace: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
            },
        },
    }


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def budget(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": name}}},
    }


def small_cluster() -> list[dict[str, Any]]:
    """shop (app checkout in prod): web without a team label, api with one, no budget; data: etl with
    a team label and a budget."""
    return [
        namespace("shop", **{"leitplanke.dev/app": "checkout", "leitplanke.dev/env": "prod"}),
        namespace("data"),
        deployment("web", "shop"),
        deployment("api", "shop", labels={"team": "shop"}),
        deployment("etl", "data", labels={"team": "data"}),
        budget("etl", "data"),
    ]


def eventually(check: Callable[[], Any], *, timeout: float = 30.0) -> Any:
    """``check()`` once it is truthy; fails with its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"still {value!r} after {timeout} s"
            return value
        time.sleep(0.05)


def report_rows(state: kubeservers.State, kind: str = "PolicyReport", ns: str = "") -> set[tuple[str, ...]]:
    """(report, policy, rule, resource kind/name, result) of every result of the stored reports."""
    return {
        (
            report["metadata"]["name"],
            r["policy"],
            r["rule"],
            f"{r['resources'][0]['kind']}/{r['resources'][0]['name']}",
            r["result"],
        )
        for report in state.of(kind, ns)
        for r in report.get("results", [])
    }


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "bench" / "real").is_dir():
        pytest.skip(f"the shared bench corpus is not at {SHARED / 'bench' / 'real'}")
    return SHARED


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policies" / "policies.yaml"
    path.parent.mkdir()
    path.write_text(POLICIES, encoding="utf-8")
    return path


@pytest.fixture
def kube() -> Iterator[tuple[kubeservers.State, kubeservers.KubeServer]]:
    state = kubeservers.State(bookmark_seconds=0.2)
    with kubeservers.running(state) as server:
        yield state, server


@pytest.fixture
def start_agent(tmp_path: Path) -> Iterator[Callable[..., running.Agent]]:
    started: list[running.Agent] = []

    def start(server: kubeservers.KubeServer, **options: Any) -> running.Agent:
        config = server.kubeconfig(tmp_path)
        defaults: dict[str, Any] = {
            "flush_seconds": 0.2,
            "upload_seconds": 0.0,
            "report_seconds": 0.0,
            "policy_poll_seconds": 0.2,
        }
        agent = running.Agent(
            running.Options(cluster_name="test", **{**defaults, **options}),
            connection=cluster.connect(kubeconfig=str(config)),
        )
        agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.stop()

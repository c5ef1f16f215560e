"""The agent in the project's Helm chart (``agent.enabled``): a single restricted pod running ``leitplanke
agent`` against this release's API, a read-only ClusterRole with write on the reports only, a NetworkPolicy;
all valid against the Kubernetes schemas, and nothing of it without ``agent.enabled``."""

from __future__ import annotations

from pathlib import Path

import pytest

from leitplanke.core.documents import Document
from leitplanke.sources import helm

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "leitplanke"
PREFIX = "release-leitplanke"
ENABLED = ("agent.enabled=true", "agent.clusterName=prod-eu-1")


def render(*set_values: str) -> list[Document]:
    pytest.importorskip("helm_python", reason="helm-python-sdk (the helm extra) renders the chart")
    found = list(helm.load_chart(str(CHART), set_values=set_values))
    assert all(isinstance(doc, Document) for doc in found), found
    return found


def _names(documents: list[Document]) -> set[tuple[str, str]]:
    return {(doc.kind, doc.name.removeprefix(PREFIX + "-")) for doc in documents}


def _one(documents: list[Document], kind: str, name: str) -> dict:
    (body,) = [doc.body for doc in documents if doc.kind == kind and doc.name == f"{PREFIX}-{name}"]
    return body


def test_the_agent_adds_exactly_its_own_objects_when_enabled_and_none_otherwise() -> None:
    assert _names(render(*ENABLED)) - _names(render()) == {
        ("ServiceAccount", "agent"),
        ("ClusterRole", "agent"),
        ("ClusterRoleBinding", "agent"),
        ("Deployment", "agent"),
        ("NetworkPolicy", "agent"),
    }


def test_the_cluster_role_reads_everything_and_writes_only_the_reports() -> None:
    rules = _one(render(*ENABLED), "ClusterRole", "agent")["rules"]
    assert rules == [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["wgpolicyk8s.io"],
            "resources": ["policyreports", "clusterpolicyreports"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
        },
        {
            "apiGroups": ["openreports.io"],
            "resources": ["reports", "clusterreports"],
            "verbs": ["get", "list", "watch", "create", "patch", "update", "delete"],
        },
    ]


def test_the_agent_pod_is_restricted_and_runs_the_agent_against_this_releases_api() -> None:
    deployment = _one(render(*ENABLED), "Deployment", "agent")
    assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]) == (1, {"type": "Recreate"})
    spec = deployment["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["args"] == [
        "agent",
        "--cluster",
        "prod-eu-1",
        "--service",
        f"http://{PREFIX}-api:8080",
        "--token-file",
        "/var/run/secrets/leitplanke/token",
        "--state-dir",
        "/var/lib/leitplanke/agent",
        "--metrics-port",
        "9090",
        "--evaluations-per-worker",
        "20000",
        "--exclude",
        "secrets",
    ]
    assert container["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    context = container["securityContext"]
    assert (
        context["readOnlyRootFilesystem"],
        context["allowPrivilegeEscalation"],
        context["capabilities"],
    ) == (True, False, {"drop": ["ALL"]})


@pytest.mark.parametrize("value", ["0", "5000", "1000000"])
def test_evaluations_per_worker_reach_the_agent_as_written(value: str) -> None:
    deployment = _one(render(*ENABLED, f"agent.evaluationsPerWorker={value}"), "Deployment", "agent")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--evaluations-per-worker") + 1] == value


def test_an_enabled_agent_without_a_cluster_name_fails_to_render() -> None:
    pytest.importorskip("helm_python", reason="helm-python-sdk (the helm extra) renders the chart")
    (problem,) = helm.load_chart(str(CHART), set_values=("agent.enabled=true",))
    assert not isinstance(problem, Document)
    assert "agent.clusterName must be set when agent.enabled is true" in problem.message


def test_the_agents_objects_are_valid_against_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra)")
    for doc in render(*ENABLED, "agent.openreports=true", "agent.packs={pss-baseline}"):
        if doc.name.endswith("-agent"):
            kubernetes_validate.validate(doc.body, "1.37", strict=True)


def test_a_drift_configuration_becomes_a_config_map_the_agent_reads() -> None:
    documents = render(
        *ENABLED,
        "agent.drift.targets[0].repo=https://git.example.com/gitops.git,agent.drift.targets[0].path=apps/shop/prod",
    )
    config = _one(documents, "ConfigMap", "agent-drift")
    assert config["data"]["drift.yaml"] == (
        "targets:\n- path: apps/shop/prod\n  repo: https://git.example.com/gitops.git\n"
    )
    spec = _one(documents, "Deployment", "agent")["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"][-2:] == ["--drift-config", "/etc/leitplanke/drift/drift.yaml"]
    assert {"name": "drift", "mountPath": "/etc/leitplanke/drift", "readOnly": True} in spec["containers"][0][
        "volumeMounts"
    ]
    assert {"name": "drift", "configMap": {"name": f"{PREFIX}-agent-drift"}} in spec["volumes"]
    assert ("ConfigMap", "agent-drift") not in _names(render(*ENABLED))

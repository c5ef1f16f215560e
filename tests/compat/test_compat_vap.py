"""Kubernetes ValidatingAdmissionPolicy with bindings and params, loaded where policies load."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leitplanke.core.documents import Document, Origin
from leitplanke.engine import compiling, loading

NOW = datetime(2026, 1, 1, tzinfo=UTC)

REPLICAS = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replica-limit}
spec:
  failurePolicy: Fail
  paramKind: {apiVersion: v1, kind: ConfigMap}
  matchConstraints:
    resourceRules:
    - apiGroups: [apps]
      apiVersions: [v1]
      operations: [CREATE, UPDATE]
      resources: [deployments]
  validations:
  - expression: object.spec.replicas <= int(params.data.maxReplicas)
    messageExpression: "'replicas must be at most ' + params.data.maxReplicas"
    reason: Invalid
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: replica-limit-test}
spec:
  policyName: replica-limit
  validationActions: [Deny]
  paramRef: {name: replica-limit-test.example.com, namespace: default, parameterNotFoundAction: Deny}
  matchResources:
    namespaceSelector:
      matchLabels: {environment: test}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: replica-limit-test.example.com, namespace: default}
data: {maxReplicas: "3"}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {environment: test}}
"""

PLAIN = """apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-latest}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
  matchConditions:
  - {name: not-system, expression: "object.metadata.namespace != 'kube-system'"}
  variables:
  - {name: images, expression: "object.spec.containers.map(c, c.image)"}
  validations:
  - expression: "variables.images.all(i, !i.endsWith(':latest'))"
    message: no latest tags
  auditAnnotations:
  - {key: images, valueExpression: "variables.images.join(',')"}
"""


def _load(tmp_path: Path, text: str) -> list[compiling.CompiledPolicy]:
    (tmp_path / "vap.yaml").write_text(text, encoding="utf-8")
    loaded = loading.load_paths([str(tmp_path)], now=NOW)
    assert [p for p in loaded.problems if p.level.value == "error"] == []
    return loaded.foreign


def _verdicts(policy: compiling.CompiledPolicy, body: dict[str, Any]) -> list[tuple[str, str, str]]:
    assert policy.foreign is not None
    found = policy.foreign.evaluate(
        Document(body, Origin("x.yaml")), environment=compiling.build_environment()
    )
    return [(o.rule, o.verdict, o.message) for o in found]


def _deployment(replicas: int, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"replicas": replicas},
    }


def _pod(image: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": namespace},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }


def test_the_replica_limit_from_a_params_config_map_denies_five_replicas(tmp_path: Path) -> None:
    (policy,) = _load(tmp_path, REPLICAS)
    assert policy.id == "replica-limit-test"
    assert _verdicts(policy, _deployment(5)) == [
        ("replica-limit", "fail", "replicas must be at most 3 (reason: Invalid)")
    ]
    assert _verdicts(policy, _deployment(2)) == [("replica-limit", "pass", "")]


def test_the_binding_namespace_selector_leaves_unknown_namespaces_alone(tmp_path: Path) -> None:
    (policy,) = _load(tmp_path, REPLICAS)
    assert _verdicts(policy, _deployment(5, namespace="elsewhere")) == []


def test_a_missing_params_object_denies_unless_the_binding_allows(tmp_path: Path) -> None:
    text = REPLICAS.replace("name: replica-limit-test.example.com, namespace", "name: gone, namespace", 1)
    (policy,) = _load(tmp_path, text)
    assert _verdicts(policy, _deployment(1)) == [
        ("replica-limit", "fail", "no params object found for the binding")
    ]
    (allowing,) = _load(
        tmp_path, text.replace("parameterNotFoundAction: Deny", "parameterNotFoundAction: Allow")
    )
    assert _verdicts(allowing, _deployment(1)) == []


def test_warn_actions_warn_and_a_policy_without_params_stands_alone(tmp_path: Path) -> None:
    (warned,) = _load(tmp_path, REPLICAS.replace("validationActions: [Deny]", "validationActions: [Warn]"))
    assert [v[1] for v in _verdicts(warned, _deployment(5))] == ["warn"]
    (plain,) = _load(tmp_path, PLAIN)
    assert _verdicts(plain, _pod("nginx:latest")) == [
        ("no-latest", "fail", "no latest tags [audit: images=nginx:latest]")
    ]
    assert _verdicts(plain, _pod("nginx:1.27")) == [("no-latest", "pass", "[audit: images=nginx:1.27]")]
    assert _verdicts(plain, _pod("nginx:latest", namespace="kube-system")) == []


def test_failure_policy_decides_what_a_runtime_error_means(tmp_path: Path) -> None:
    broken = PLAIN.replace("variables.images.all(i, !i.endsWith(':latest'))", "object.spec.missing == 1")
    (failing,) = _load(tmp_path, broken)
    assert [v[1] for v in _verdicts(failing, _pod("nginx"))] == ["fail"]
    (ignoring,) = _load(
        tmp_path,
        broken.replace("spec:\n  matchConstraints", "spec:\n  failurePolicy: Ignore\n  matchConstraints"),
    )
    assert [v[1] for v in _verdicts(ignoring, _pod("nginx"))] == ["pass"]

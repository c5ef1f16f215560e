"""A Kyverno ValidatingPolicy reads the request ``evaluate`` is given: operation and userInfo."""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke import engine
from leitplanke.engine import loading

NOW = datetime(2026, 12, 7, tzinfo=UTC)

POLICIES = """apiVersion: policies.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: only-the-deployer}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE, DELETE], resources: [configmaps]}
  validations:
  - expression: "request.userInfo.username == 'system:serviceaccount:ops:deployer'"
    message: only the deployer changes configuration
---
apiVersion: policies.kyverno.io/v1alpha1
kind: ValidatingPolicy
metadata: {name: named-on-create}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
  validations:
  - expression: "object.metadata.name.startsWith('cfg-')"
    message: a new ConfigMap is named cfg-*
"""

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"}}


def _verdicts(operation: str, username: str) -> list[tuple[str, str, str]]:
    loaded = loading.load_text(POLICIES, file="policies.yaml", now=NOW).build_deferred()
    assert loaded.problems == []
    policy_set = engine.compile([], options=engine.CompileOptions(foreign=tuple(loaded.foreign)))
    context = engine.Context(operation=operation, user_info={"username": username}, old_object=CONFIG_MAP)
    return [
        (r.policy, r.verdict.value, r.message)
        for r in engine.evaluate(policy_set, CONFIG_MAP, context=context)
    ]


def test_a_validating_policy_sees_the_user_of_the_request() -> None:
    assert _verdicts("UPDATE", "system:serviceaccount:ops:deployer") == [("only-the-deployer", "pass", "")]
    assert _verdicts("UPDATE", "alice") == [
        ("only-the-deployer", "fail", "only the deployer changes configuration")
    ]


def test_a_validating_policy_matches_only_the_operations_it_names() -> None:
    assert _verdicts("CREATE", "alice") == [
        ("only-the-deployer", "fail", "only the deployer changes configuration"),
        ("named-on-create", "fail", "a new ConfigMap is named cfg-*"),
    ]
    assert _verdicts("DELETE", "system:serviceaccount:ops:deployer") == [("only-the-deployer", "pass", "")]

"""Kyverno policies end to end: autogen naming, foreach, preconditions, unsupported rules, loading."""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke.core.problems import Level
from leitplanke.engine import loading
from leitplanke.engine.compat.kyverno.resourcefilters import Request

POLICY = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: disallow-latest-tag
  annotations:
    policies.kyverno.io/severity: high
    policies.kyverno.io/category: Best Practices
    policies.kyverno.io/title: Disallow Latest Tag
spec:
  validationFailureAction: Audit
  rules:
  - name: require-tag
    match:
      any:
      - resources: {kinds: [Pod]}
    validate:
      message: "An image tag is required."
      pattern:
        spec:
          containers:
          - image: "*:*"
  - name: no-root
    match:
      any:
      - resources: {kinds: [Pod]}
    preconditions:
      all:
      - key: "{{ request.operation }}"
        operator: NotEquals
        value: DELETE
    validate:
      foreach:
      - list: request.object.spec.containers
        deny:
          conditions:
            any:
            - key: "{{ element.securityContext.runAsUser || `1` }}"
              operator: Equals
              value: 0
"""

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p"},
    "spec": {"containers": [{"name": "a", "image": "nginx"}]},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d"},
    "spec": {
        "template": {
            "spec": {"containers": [{"name": "a", "image": "nginx:1", "securityContext": {"runAsUser": 0}}]}
        }
    },
}
CRONJOB = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "c"},
    "spec": {
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1"}]}}}}
    },
}


def _load(text: str) -> loading.Loaded:
    return loading.load_text(text, file="policy.yaml", now=datetime(2026, 1, 1, tzinfo=UTC))


def _verdicts(
    loaded: loading.Loaded, body: dict[str, object], request: Request | None = None
) -> set[tuple[str, str]]:
    (policy,) = loaded.foreign
    evaluate = policy.foreign.evaluate_request  # type: ignore[union-attr]
    return {(o.rule, o.verdict) for o in evaluate(body, request or Request())}


def test_compat_kyverno_policy_loads_with_annotations_and_autogen_rules() -> None:
    loaded = _load(POLICY)
    (policy,) = loaded.foreign
    assert (policy.policy.id, policy.policy.severity.label, policy.policy.category, policy.policy.title) == (
        "disallow-latest-tag",
        "high",
        "Best Practices",
        "Disallow Latest Tag",
    )
    assert set(policy.policy.match.kinds) == {
        "Pod", "DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController", "CronJob"
    }  # fmt: skip
    assert loaded.problems == []


def test_compat_pod_rules_apply_to_controllers_under_autogen_names() -> None:
    loaded = _load(POLICY)
    assert _verdicts(loaded, POD) == {("require-tag", "fail"), ("no-root", "pass")}
    assert _verdicts(loaded, DEPLOYMENT) == {("autogen-require-tag", "pass"), ("autogen-no-root", "fail")}
    assert _verdicts(loaded, CRONJOB) == {
        ("autogen-cronjob-require-tag", "pass"),
        ("autogen-cronjob-no-root", "pass"),
    }


def test_compat_false_preconditions_skip_the_rule() -> None:
    assert ("no-root", "skip") in _verdicts(_load(POLICY), POD, Request(operation="DELETE"))


def test_compat_autogen_annotation_none_keeps_rules_on_pods_only() -> None:
    text = POLICY.replace(
        "    policies.kyverno.io/severity: high",
        "    pod-policies.kyverno.io/autogen-controllers: none\n    policies.kyverno.io/severity: high",
    )
    loaded = _load(text)
    assert _verdicts(loaded, DEPLOYMENT) == set()


def test_compat_unsupported_rules_are_errors_and_lint_warnings() -> None:
    text = POLICY.replace(
        "    validate:\n      message",
        "    context:\n    - name: cm\n      configMap: {name: x, namespace: y}\n    validate:\n      message",
        1,
    )
    loaded = _load(text)
    assert ("require-tag", "error") in _verdicts(loaded, POD)
    assert [(p.code, p.field, p.level) for p in loaded.problems] == [
        ("kyverno-unsupported", "spec.rules[0].context[0]", Level.WARNING)
    ]


def test_compat_broken_policy_reports_file_line_and_field() -> None:
    loaded = _load("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: x}\nspec: {rules: []}\n")
    assert loaded.foreign == []
    assert [(p.file, p.line, p.code, p.field) for p in loaded.problems] == [
        ("policy.yaml", 4, "missing-field", "spec.rules")
    ]

"""The request around an object (``engine.Context``) as native CEL, Kyverno, VAP and Gatekeeper policies read it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leitplanke import engine
from leitplanke.core.documents import Document, Origin
from leitplanke.core.problems import Problem
from leitplanke.engine import compiling, loading, yamlnodes
from leitplanke.engine.compat.gatekeeper import constrainttemplates

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "app", "image": "web:1"}]}},
        },
    }


SHOP = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"env": "prod"}}}
UPDATE_BY_ALICE = engine.Context(
    operation="UPDATE",
    old_object=_deployment(3),
    user_info={"username": "alice", "groups": ["dev"]},
    namespace_object=SHOP,
)
CREATE_BY_ALICE = engine.Context(operation="CREATE", user_info={"username": "alice"}, namespace_object=SHOP)


def _foreign(text: str) -> compiling.CompiledPolicy:
    loaded = loading.load_text(text, file="p.yaml", now=NOW).build_deferred()
    assert loaded.problems == []
    [policy] = loaded.foreign
    return policy


def _outcomes(
    policy: compiling.CompiledPolicy, body: dict[str, Any], context: engine.Context
) -> list[tuple[str, str, str]]:
    assert policy.foreign is not None
    found = policy.foreign.evaluate(
        Document(body, Origin("d.yaml")), environment=compiling.build_environment(), context=context
    )
    return [(o.rule, o.verdict, o.message) for o in found]


NATIVE = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: no-scale-down-in-prod}
spec:
  title: Deployments in prod are not scaled down
  severity: high
  match: {kinds: [Deployment]}
  rules:
  - name: replicas
    validate: >-
      request == null || request.operation != 'UPDATE' ||
      namespaceObject.metadata.labels.env != 'prod' ||
      object.spec.replicas >= oldObject.spec.replicas
    message: "request.userInfo.username + ' scales ' + object.metadata.name + ' down in prod'"
"""


def test_native_cel_rules_read_the_request_the_old_object_and_the_namespace() -> None:
    policy_set = engine.compile(loading.load_text(NATIVE, file="p.yaml", now=NOW).policies)
    assert policy_set.problems == ()

    def verdicts(body: dict[str, Any], context: engine.Context) -> list[tuple[str, str]]:
        return [(r.verdict.value, r.message) for r in engine.evaluate(policy_set, body, context=context)]

    assert verdicts(_deployment(1), UPDATE_BY_ALICE) == [("fail", "alice scales web down in prod")]
    assert verdicts(_deployment(5), UPDATE_BY_ALICE) == [("pass", "")]
    assert verdicts(_deployment(1), CREATE_BY_ALICE) == [("pass", "")]
    assert verdicts(_deployment(1), engine.Context()) == [("pass", "")]  # a file on disk: no request


KYVERNO = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: keep-replicas}
spec:
  validationFailureAction: Enforce
  rules:
  - name: keep-replicas-on-update
    match: {any: [{resources: {kinds: [Deployment]}}]}
    preconditions:
      all:
      - {key: "{{ request.operation }}", operator: Equals, value: UPDATE}
    validate:
      message: "{{ request.userInfo.username }} may not change the replicas"
      deny:
        conditions:
          any:
          - {key: "{{ request.object.spec.replicas }}", operator: NotEquals, value: "{{ request.oldObject.spec.replicas }}"}
"""


def test_a_kyverno_precondition_on_the_operation_sees_the_request() -> None:
    policy = _foreign(KYVERNO)
    assert _outcomes(policy, _deployment(1), UPDATE_BY_ALICE) == [
        ("keep-replicas-on-update", "fail", "alice may not change the replicas denied")
    ]
    assert _outcomes(policy, _deployment(3), UPDATE_BY_ALICE) == [("keep-replicas-on-update", "pass", "")]
    assert _outcomes(policy, _deployment(1), CREATE_BY_ALICE) == [
        ("keep-replicas-on-update", "skip", "preconditions not met")
    ]
    assert _outcomes(policy, _deployment(1), engine.Context()) == [
        ("keep-replicas-on-update", "skip", "preconditions not met")  # offline: a CREATE
    ]


VAP = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: no-scale-down}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
  - expression: "request.operation != 'UPDATE' || object.spec.replicas >= oldObject.spec.replicas"
    messageExpression: "request.userInfo.username + ' scales down from ' + string(oldObject.spec.replicas)"
"""


def test_a_validating_admission_policy_reads_the_operation_and_the_old_object() -> None:
    policy = _foreign(VAP)
    assert _outcomes(policy, _deployment(1), UPDATE_BY_ALICE) == [
        ("no-scale-down", "fail", "alice scales down from 3")
    ]
    assert _outcomes(policy, _deployment(4), UPDATE_BY_ALICE) == [("no-scale-down", "pass", "")]
    assert _outcomes(policy, _deployment(1), CREATE_BY_ALICE) == [("no-scale-down", "pass", "")]
    delete = engine.Context(operation="DELETE", old_object=_deployment(3))
    assert _outcomes(policy, _deployment(1), delete) == []  # the policy matches CREATE and UPDATE only


TEMPLATE = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8snoupdateby}
spec:
  crd: {spec: {names: {kind: K8sNoUpdateBy}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8snoupdateby
      violation[{"msg": msg}] {
        input.review.operation == "UPDATE"
        input.review.userInfo.username == input.parameters.user
        msg := sprintf("%v may not update %v", [input.review.userInfo.username, input.review.object.metadata.name])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sNoUpdateBy
metadata: {name: no-update-by-alice}
spec:
  match:
    kinds: [{apiGroups: [apps], kinds: [Deployment]}]
  parameters: {user: alice}
"""


def test_a_gatekeeper_template_reads_the_operation_and_the_user_from_input_review() -> None:
    problems: list[Problem] = []
    docs = [("t.yaml", d) for d in yamlnodes.read_documents(TEMPLATE)]
    [policy] = constrainttemplates.build_policies(docs, problems=problems)
    assert problems == []
    assert _outcomes(policy, _deployment(1), UPDATE_BY_ALICE) == [
        ("K8sNoUpdateBy", "fail", "alice may not update web")
    ]
    bob = engine.Context(operation="UPDATE", user_info={"username": "bob"})
    assert _outcomes(policy, _deployment(1), bob) == [("K8sNoUpdateBy", "pass", "")]
    assert _outcomes(policy, _deployment(1), CREATE_BY_ALICE) == [("K8sNoUpdateBy", "pass", "")]


def test_foreign_policies_see_the_request_through_engine_evaluate() -> None:
    policy_set = engine.compile([], options=engine.CompileOptions(foreign=(_foreign(KYVERNO),)))
    results = engine.evaluate(policy_set, _deployment(1), context=UPDATE_BY_ALICE)
    assert [(r.policy, r.rule, r.verdict.value, r.message) for r in results] == [
        ("keep-replicas", "keep-replicas-on-update", "fail", "alice may not change the replicas denied")
    ]

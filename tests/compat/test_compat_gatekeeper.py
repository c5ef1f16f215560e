"""Gatekeeper semantics: the Rego v0 → v1 upgrade, constraint match, inventory, AdmissionReview input."""

from __future__ import annotations

from typing import Any

from leitplanke.core.documents import Document, Origin
from leitplanke.core.problems import Problem
from leitplanke.engine import compiling, yamlnodes
from leitplanke.engine.compat.gatekeeper import constraintmatching, constrainttemplates, regoprograms, reviews

V0 = """package k8srequired
violation[{"msg": msg}] {
  not input.review.object.metadata.labels[input.parameters.label]
  msg := sprintf("missing label %v", [input.parameters.label])
}
"""

TEMPLATE = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8srequired}
spec:
  crd: {spec: {names: {kind: K8sRequired}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8srequired
      violation[{"msg": msg}] {
        not input.review.object.metadata.labels[input.parameters.label]
        msg := sprintf("missing label %v", [input.parameters.label])
      }
      violation[{"msg": msg}] {
        input.review.operation == "UPDATE"
        msg := "no updates"
      }
      violation[{"msg": msg}] {
        other := data.inventory.namespace[ns][_]["Service"][name]
        name == input.review.object.metadata.name
        ns != input.review.object.metadata.namespace
        msg := sprintf("name taken in %v", [ns])
      }
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequired
metadata: {name: need-team}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [Service]}]
    excludedNamespaces: ["kube-*"]
  parameters: {label: team}
"""


def _build(inventory: list[dict[str, Any]] | None = None) -> compiling.CompiledPolicy:
    problems: list[Problem] = []
    docs = [("t.yaml", d) for d in yamlnodes.read_documents(TEMPLATE)]
    built = constrainttemplates.build_policies(docs, inventory=inventory or [], problems=problems)
    assert problems == []
    assert [p.id for p in built] == ["need-team"]
    return built[0]


def _service(name: str, namespace: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
    }


def _verdicts(policy: compiling.CompiledPolicy, body: dict[str, Any]) -> list[tuple[str, str]]:
    assert policy.foreign is not None
    found = policy.foreign.evaluate(
        Document(body, Origin("x.yaml")), environment=compiling.build_environment()
    )
    return [(o.verdict, o.message) for o in found]


def test_v0_rules_are_upgraded_to_v1_sets_with_if() -> None:
    upgraded = regoprograms.upgrade_to_v1(V0)
    assert 'violation contains {"msg": msg}  if {' in upgraded
    assert regoprograms.upgrade_to_v1("package p\nf(x) = y {\n  y := x\n}\n") == (
        "package p\nf(x) = y if {\n  y := x\n}\n"
    )
    assert regoprograms.upgrade_to_v1('package p\nx := {"a": 1}\n') == 'package p\nx := {"a": 1}\n'


def test_v0_read_without_the_upgrade_would_be_an_object_so_the_upgrade_matters() -> None:
    program = regoprograms.build_program(V0)
    assert isinstance(program, regoprograms.RegoProgram)
    found = program.query_set(
        "violation", {"review": {"object": {"metadata": {}}}, "parameters": {"label": "a"}}
    )
    assert found == [{"msg": "missing label a"}]


def test_iterations_inside_call_arguments_are_hoisted_for_rego_cpp() -> None:
    assert regoprograms.hoist_call_iterations("  startswith(s, input.repos[_])") == (
        "  __lp0 := input.repos[_]; startswith(s, __lp0)"
    )


def test_a_service_without_the_label_fails_with_the_template_message() -> None:
    assert _verdicts(_build(), _service("web", "shop")) == [("fail", "missing label team")]


def test_a_labelled_service_passes_and_other_kinds_and_excluded_namespaces_are_not_reviewed() -> None:
    policy = _build()
    assert _verdicts(policy, _service("web", "shop", {"team": "a"})) == [("pass", "")]
    assert _verdicts(policy, _service("web", "kube-system")) == []
    assert (
        _verdicts(policy, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "a"}})
        == []
    )


def test_the_inventory_is_laid_out_by_namespace_api_version_kind_and_name() -> None:
    policy = _build([_service("web", "other", {"team": "b"})])
    assert _verdicts(policy, _service("web", "shop", {"team": "a"})) == [("fail", "name taken in other")]
    assert reviews.build_inventory([_service("web", "other")])["namespace"]["other"]["v1"]["Service"]["web"]


def test_an_admission_review_is_reviewed_as_its_request() -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "kind": {"group": "", "version": "v1", "kind": "Service"},
            "operation": "UPDATE",
            "namespace": "shop",
            "name": "web",
            "object": _service("web", "shop", {"team": "a"}),
        },
    }
    assert _verdicts(_build(), review) == [("fail", "no updates")]


def test_match_scope_names_label_and_namespace_selectors() -> None:
    review = reviews.review_of(_service("web-1", "shop", {"tier": "front"}))
    namespaces = reviews.build_inventory(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"env": "prod"}}}]
    )
    assert constraintmatching.matches({"scope": "Namespaced", "name": "web-*"}, review, inventory={})
    assert not constraintmatching.matches({"scope": "Cluster"}, review, inventory={})
    assert constraintmatching.matches({"namespaces": ["*op"]}, review, inventory={})
    assert not constraintmatching.matches(
        {"labelSelector": {"matchLabels": {"tier": "back"}}}, review, inventory={}
    )
    selector = {"namespaceSelector": {"matchLabels": {"env": "prod"}}}
    assert constraintmatching.matches(selector, review, inventory=namespaces)
    assert not constraintmatching.matches(selector, review, inventory={})  # the namespace is unknown


def test_a_template_that_calls_an_external_data_provider_is_linted_as_unsupported() -> None:
    from datetime import UTC, datetime

    from leitplanke.engine import loading

    text = """
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {name: k8sexternal}
spec:
  crd: {spec: {names: {kind: K8sExternal}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sexternal
      violation[{"msg": msg}] {
        response := external_data({"provider": "p", "keys": ["a"]})
        count(response.errors) > 0
        msg := "provider failed"
      }
"""
    loaded = loading.load_text(text, file="t.yaml", now=datetime(2026, 1, 1, tzinfo=UTC)).build_deferred()
    assert [(p.code, p.level.value, p.field) for p in loaded.problems] == [
        ("gatekeeper-unsupported", "warning", "spec.targets")
    ]

"""A broken policy through the engine's door: left out of what runs, named in ``PolicySet.broken``,
and an ``error`` result (``policy-broken``) wherever it applies, for native and foreign policies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leitplanke import engine
from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Result
from leitplanke.engine import loading

NOW = datetime(2026, 12, 1, tzinfo=UTC)

GOOD = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-labels}
spec:
  severity: medium
  match: {kinds: [Pod]}
  rules:
  - name: labels
    validate: has(object.metadata.labels)
    message: "'the pod has no labels'"
"""
BROKEN = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: known-teams}
spec:
  severity: high
  match: {kinds: [Pod], condition: "object.metadata.(("}
  rules:
  - name: known
    validate: "true"
  - name: team
    validate: object.metadata.labels.team in teams
"""
KYVERNO = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  rules:
  - name: team-label
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      cel:
        expressions:
        - expression: "object.metadata.labels.team =="
          message: a team label is required
"""
VAP = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: replicas-limit}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}
  validations:
  - expression: "object.spec.replicas <= "
"""
CONSTRAINT = """
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sRequiredOwner
metadata: {name: pods-need-owner}
spec:
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
"""
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}
CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web", "namespace": "shop"}}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"replicas": 3},
}


def _set(*texts: str) -> tuple[loading.Loaded, engine.PolicySet]:
    loaded = loading.Loaded()
    for number, text in enumerate(texts):
        loaded.extend(loading.load_text(text, file=f"p{number}.yaml", now=NOW))
    loaded.build_deferred()
    policy_set = engine.compile(
        loaded.policies,
        options=engine.CompileOptions(foreign=tuple(loaded.foreign), broken=tuple(loaded.broken)),
    )
    return loaded, policy_set


def _rows(results: list[Result]) -> list[tuple[str, str, str, str, str]]:
    return [(r.policy, r.rule, r.verdict.value, r.code, r.message) for r in results]


def test_a_native_policy_that_does_not_compile_gives_an_error_per_rule_where_its_match_applies() -> None:
    _, policy_set = _set(GOOD, BROKEN)

    assert list(policy_set.policies) == ["require-labels"]
    assert [(b.name, b.kind, b.file, b.line) for b in policy_set.broken] == [
        ("known-teams", "Policy", "p1.yaml", 2)
    ]
    assert [(p.line, p.code, p.field) for p in policy_set.broken[0].problems] == [
        (7, "cel-compile", "spec.match.condition"),
        (12, "cel-compile", "spec.rules[1].validate"),
    ]
    assert policy_set.problems == policy_set.broken[0].problems
    reason = (
        "the policy could not run: p1.yaml:7:53 [spec.match.condition]: cel-compile: "
        "Syntax error: no viable alternative at input '.(' (and 1 more problem)"
    )
    assert _rows(engine.evaluate(policy_set, POD)) == [
        ("require-labels", "labels", "fail", "", "the pod has no labels"),
        ("known-teams", "known", "error", "policy-broken", reason),
        ("known-teams", "team", "error", "policy-broken", reason),
    ]
    assert engine.evaluate(policy_set, CONFIG_MAP) == []  # its kinds still say where it applies


def test_a_kyverno_policy_with_a_broken_expression_is_an_error_on_the_kinds_it_matches() -> None:
    loaded, policy_set = _set(GOOD, KYVERNO)

    assert [(b.name, b.kind) for b in loaded.broken] == [("require-team", "ClusterPolicy")]
    assert [(b.name, b.kind) for b in policy_set.broken] == [("require-team", "ClusterPolicy")]
    [(policy, rule, verdict, code, message)] = _rows(engine.evaluate(policy_set, POD))[:1]  # others' first
    assert (policy, rule, verdict, code) == ("require-team", "team-label", "error", "policy-broken")
    assert message.startswith(
        "the policy could not run: p1.yaml:12 [spec.rules[0].validate.cel.expressions[0]"
    )
    assert engine.evaluate(policy_set, CONFIG_MAP) == []


def test_a_validating_admission_policy_that_does_not_compile_is_an_error_where_it_matches() -> None:
    _, policy_set = _set(VAP)

    assert [(b.name, b.kind, b.problems[0].field) for b in policy_set.broken] == [
        ("replicas-limit", "ValidatingAdmissionPolicy", "spec.validations[0].expression")
    ]
    assert [(p, r, v, c) for p, r, v, c, _ in _rows(engine.evaluate(policy_set, DEPLOYMENT))] == [
        ("replicas-limit", "replicas-limit", "error", "policy-broken")
    ]
    assert engine.evaluate(policy_set, POD) == []


def test_a_constraint_without_its_template_is_an_error_where_the_constraint_matches() -> None:
    _, policy_set = _set(GOOD, CONSTRAINT)

    [broken] = policy_set.broken
    assert (broken.name, broken.kind, [p.code for p in broken.problems]) == (
        "pods-need-owner",
        "K8sRequiredOwner",
        ["gatekeeper-no-template"],
    )
    assert _rows(engine.evaluate(policy_set, POD))[0] == (
        "pods-need-owner",
        "K8sRequiredOwner",
        "error",
        "policy-broken",
        "the policy could not run: p1.yaml:3 [kind]: gatekeeper-no-template: "
        "no ConstraintTemplate for kind K8sRequiredOwner",
    )
    assert engine.evaluate(policy_set, CONFIG_MAP) == []


def test_a_policy_file_that_is_not_yaml_is_named_but_matches_nothing() -> None:
    loaded, policy_set = _set(GOOD, "apiVersion: [unclosed\n")

    assert [(b.name, b.kind, b.file, [p.code for p in b.problems]) for b in policy_set.broken] == [
        ("", "", "p1.yaml", ["yaml-syntax"])
    ]
    assert _rows(engine.evaluate(policy_set, POD)) == [
        ("require-labels", "labels", "fail", "", "the pod has no labels")
    ]
    assert loaded.policies and loaded.waivers == []


def test_scan_gives_each_document_the_results_evaluate_gives_it_with_a_broken_policy() -> None:
    _, policy_set = _set(GOOD, BROKEN, KYVERNO)
    documents = [Document(body, Origin("in.yaml", index=i)) for i, body in enumerate((POD, CONFIG_MAP))]
    sink = engine.Collected()

    engine.scan(policy_set, [documents], sink, load=_identity, now=NOW, jobs=1)

    evaluated = [r for d in documents for r in engine.evaluate(policy_set, d)]
    assert sorted(_rows(sink.results)) == sorted(_rows(evaluated))
    assert {(r.policy, r.verdict.value) for r in sink.results} == {
        ("require-labels", "fail"),
        ("known-teams", "error"),
        ("require-team", "error"),
    }


def _identity(items: Any) -> Any:
    return items

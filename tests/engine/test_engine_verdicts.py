"""What a rule's verdict is when it cannot simply pass or fail (errors with stable codes), and
what native rules read of the request around a document (``context``); the fast path and
the rule-by-rule reference say the same."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Result
from leitplanke.engine import compiling, contexts, evaluating, loading

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

BROKEN = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: broken}
spec:
  title: Rules that cannot say pass or fail
  severity: medium
  match: {kinds: [Pod]}
  rules:
  - name: missing-key
    validate: object.spec.nothing == 1
  - name: not-a-bool
    validate: object.metadata.name
  - name: not-a-list
    forEach: object.metadata
    validate: "true"
  - name: item-error
    forEach: object.spec.containers
    validate: item.image.startsWith('ok/')
    message: "'image ' + item.image"
    path: item.image
  - name: message-error
    validate: "false"
    message: object.metadata.nothing
  - name: each-message-error
    forEach: object.spec.containers
    validate: "false"
    message: item.nothing
---
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: odd-condition}
spec:
  title: A condition that is not a bool
  severity: low
  match: {kinds: [Pod], condition: object.metadata.name}
  rules:
  - name: anything
    validate: "true"
"""

POD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers:
  - {name: a, image: ok/a}
  - {name: b}
"""

REQUEST = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: request-aware}
spec:
  title: Changes are made by the right people
  severity: high
  match: {kinds: [Pod]}
  rules:
  - name: outside-admission
    validate: request == null
  - name: no-deletes
    validate: request == null || request.operation != 'DELETE'
    message: "request.operation + ' by ' + request.userInfo.username"
  - name: name-kept
    validate: oldObject == null || oldObject.metadata.name == object.metadata.name
    message: "'renamed from ' + oldObject.metadata.name"
  - name: prod-namespace-only-by-ops
    validate: >-
      namespaceObject == null
      || namespaceObject.metadata.?labels.?env.orValue('') != 'prod'
      || 'ops' in request.userInfo.groups
    message: "request.userInfo.username + ' is not in ops'"
  - name: request-shape
    validate: >-
      request == null
      || (request.kind.group == '' && request.kind.version == 'v1' && request.kind.kind == 'Pod'
          && request.name == 'web' && request.namespace == 'shop' && request.dryRun
          && request.uid == 'u-1' && request.subResource == '' && request.oldObject == oldObject)
"""


def _compiled(text: str) -> compiling.CompiledSet:
    loaded = loading.load_text(text, file="p.yaml", now=NOW)
    assert loaded.problems == []
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    return compiled


def _document(text: str) -> Document:
    return Document(body=yaml.safe_load(text), origin=Origin(file="d.yaml", line=1))


def _rows(results: list[Result]) -> list[tuple[str, str, str, str, str, str]]:
    return [(r.policy, r.rule, r.verdict.value, r.code, r.message, r.location.path) for r in results]


@pytest.mark.parametrize("reference", [False, True])
def test_a_rule_that_cannot_be_evaluated_is_an_error_with_a_stable_code(reference: bool) -> None:
    outcome = evaluating.evaluate_document(_compiled(BROKEN), _document(POD), reference=reference)
    assert _rows(outcome.results) == [
        ("broken", "missing-key", "error", "cel-eval", 'NOT_FOUND: Key not found in map : "nothing"', ""),
        ("broken", "not-a-bool", "error", "cel-type", "expected bool, got string", ""),
        ("broken", "not-a-list", "error", "foreach-not-list", "forEach must produce a list, got dict", ""),
        (
            "broken",
            "item-error",
            "error",
            "cel-eval",
            'NOT_FOUND: Key not found in map : "image"',
            "spec.containers[1].image",
        ),
        (
            "broken",
            "message-error",
            "fail",
            "message-failed",
            'Rules that cannot say pass or fail (message failed: NOT_FOUND: Key not found in map : "nothing")',
            "",
        ),
        (
            "broken",
            "each-message-error",
            "fail",
            "message-failed",
            'Rules that cannot say pass or fail (message failed: NOT_FOUND: Key not found in map : "nothing")',
            "spec.containers[0]",
        ),
        (
            "broken",
            "each-message-error",
            "fail",
            "message-failed",
            'Rules that cannot say pass or fail (message failed: NOT_FOUND: Key not found in map : "nothing")',
            "spec.containers[1]",
        ),
        ("odd-condition", "match", "error", "cel-type", "expected bool, got string", ""),
    ]


def test_an_error_code_survives_pickling_as_workers_send_results() -> None:
    import pickle

    outcome = evaluating.evaluate_document(_compiled(BROKEN), _document(POD))
    assert pickle.loads(pickle.dumps(outcome.results)) == outcome.results


@pytest.mark.parametrize("reference", [False, True])
def test_outside_admission_request_old_object_and_namespace_are_null(reference: bool) -> None:
    outcome = evaluating.evaluate_document(_compiled(REQUEST), _document(POD), reference=reference)
    assert _rows(outcome.results) == [
        ("request-aware", rule, "pass", "", "", "")
        for rule in (
            "outside-admission",
            "no-deletes",
            "name-kept",
            "prod-namespace-only-by-ops",
            "request-shape",
        )
    ]


@pytest.mark.parametrize("reference", [False, True])
def test_native_rules_read_the_admission_request_around_the_document(reference: bool) -> None:
    context = contexts.Context(
        operation="DELETE",
        old_object={"metadata": {"name": "old-web"}},
        user_info={"username": "bob", "groups": ("dev",)},
        namespace_object={"metadata": {"name": "shop", "labels": {"env": "prod"}}},
        dry_run=True,
        uid="u-1",
    )
    outcome = evaluating.evaluate_document(
        _compiled(REQUEST), _document(POD), context=context, reference=reference
    )
    assert _rows(outcome.results) == [
        ("request-aware", "outside-admission", "fail", "", "Changes are made by the right people", ""),
        ("request-aware", "no-deletes", "fail", "", "DELETE by bob", ""),
        ("request-aware", "name-kept", "fail", "", "renamed from old-web", ""),
        ("request-aware", "prod-namespace-only-by-ops", "fail", "", "bob is not in ops", ""),
        ("request-aware", "request-shape", "pass", "", "", ""),
    ]


LISTS = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: lists}
spec:
  title: Lists of the document, or what stands in their place
  severity: low
  match: {kinds: [Pod]}
  rules:
  - name: one-list-that-is-a-map
    forEach: object.metadata.labels
    validate: "true"
  - name: joined-lists
    forEach: object.spec.containers + object.spec.?initContainers.orValue([])
    validate: item.name != 'b'
    message: "'container ' + item.name"
    path: item.name
  - name: one-list
    forEach: object.spec.containers
    validate: item.name != 'a'
"""

LABELLED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: a}, {name: b}]
  initContainers: [{name: c}]
"""


@pytest.mark.parametrize("reference", [False, True])
def test_a_for_each_over_a_map_is_an_error_and_joined_lists_are_items(reference: bool) -> None:
    compiled = _compiled(LISTS)
    assert dict(compiled.document_slots) == {"lists": 0}
    outcome = evaluating.evaluate_document(compiled, _document(LABELLED_POD), reference=reference)
    assert _rows(outcome.results) == [
        (
            "lists",
            "one-list-that-is-a-map",
            "error",
            "foreach-not-list",
            "forEach must produce a list, got dict",
            "",
        ),
        ("lists", "joined-lists", "fail", "", "container b", "spec.containers[1].name"),
        (
            "lists",
            "one-list",
            "fail",
            "",
            "Lists of the document, or what stands in their place",
            "spec.containers[0]",
        ),
    ]
    assert outcome.evaluations == 1 + 3 + 2

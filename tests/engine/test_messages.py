"""Rule messages: plain text, ``{{ expr }}`` interpolation, and the CEL forms that keep working."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leitplanke import engine
from leitplanke.engine import compiling, loading, messages

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
}


def _compiles(source: str) -> str:
    found = compiling.build_environment().compile(source)
    return getattr(found, "message", "") if not hasattr(found, "evaluate") else ""


@pytest.mark.parametrize(
    ("text", "expression", "source"),
    [
        ("container has no memory limit", False, '"container has no memory limit"'),
        (
            "container {{ item.name }} has no limit",
            False,
            '"container " + string(item.name) + " has no limit"',
        ),
        ("'container ' + item.name", False, "'container ' + item.name"),
        ("item.name + ' is privileged'", False, "item.name + ' is privileged'"),
        ("object.kind", False, "object.kind"),  # text that compiles is CEL, as before
        ("object.kind", True, "object.kind"),
        ('say "hi"', False, '"say \\"hi\\""'),
    ],
)
def test_a_message_resolves_to_the_cel_that_produces_it(text: str, expression: bool, source: str) -> None:
    assert messages.resolve(text, expression=expression, compiles=_compiles) == messages.Resolved(source)


@pytest.mark.parametrize(
    "text",
    ["'container ' + item.name + ' is", "container {{ item.name + }} is", "a {{ b"],
)
def test_a_message_that_does_not_parse_says_which_forms_are_accepted(text: str) -> None:
    found = messages.resolve(text, expression=False, compiles=_compiles)
    assert found.source == ""
    assert found.error.endswith(f"; {messages.FORMS}")


def test_every_form_gives_its_message_in_a_result() -> None:
    policy = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: limits}
spec:
  severity: high
  match: {kinds: [Pod]}
  rules:
  - {name: plain, forEach: podSpec.containers, validate: has(item.resources), message: container has no limit}
  - name: interpolated
    forEach: podSpec.containers
    validate: has(item.resources)
    message: "container {{ item.name }} ({{ item.image }}) has no limit"
  - name: expression
    forEach: podSpec.containers
    validate: has(item.resources)
    messageExpression: "'container ' + item.name + ' has no limit'"
  - {name: legacy, validate: "false", message: "'pod ' + object.metadata.name"}
"""
    policy_set = engine.compile(loading.load_text(policy, file="p.yaml", now=NOW).policies)
    assert policy_set.broken == ()
    assert [(r.rule, r.message) for r in engine.evaluate(policy_set, POD)] == [
        ("plain", "container has no limit"),
        ("interpolated", "container app (nginx:1.27) has no limit"),
        ("expression", "container app has no limit"),
        ("legacy", "pod web"),
    ]

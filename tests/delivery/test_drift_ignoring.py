"""Ignore rules as Argo CD's ignoreDifferences: JSON pointers, jq path expressions and field managers, each
with a case that hides the difference and a near miss that still reports drift."""

from __future__ import annotations

from typing import Any

import pytest
from driftcases import DEPLOYMENT, changed_lines, container, mutated

from leitplanke.core.problems import Problem
from leitplanke.delivery import driftignoring


def _rules(text: str) -> list[driftignoring.IgnoreRule]:
    rules, problems = driftignoring.parse_rules(text, file="ignore.yaml")
    assert problems == []
    return rules


def _replicas(count: int) -> Any:
    def mutation(body: dict[str, Any]) -> None:
        body["spec"]["replicas"] = count

    return mutation


def _image(image: str, number: int = 0) -> Any:
    def mutation(body: dict[str, Any]) -> None:
        container(body, number)["image"] = image

    return mutation


def _managed(manager: str, fields: dict[str, Any]) -> Any:
    def mutation(body: dict[str, Any]) -> None:
        body["metadata"].setdefault("managedFields", []).append(
            {"manager": manager, "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": fields}
        )

    return mutation


REPLICAS_OWNED = {"f:spec": {"f:replicas": {}}}
WEB_IMAGE_OWNED = {
    "f:spec": {"f:template": {"f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}}}
}


def test_a_json_pointer_hides_its_field_of_the_kind_it_names() -> None:
    rules = _rules("- {group: apps, kind: Deployment, jsonPointers: [/spec/replicas]}")
    desired = mutated(DEPLOYMENT, _replicas(2))
    assert changed_lines(desired, mutated(DEPLOYMENT, _replicas(7)), rules=rules) == []


def test_a_json_pointer_of_another_name_group_or_field_still_reports_drift() -> None:
    desired = mutated(DEPLOYMENT, _replicas(2))
    live = mutated(DEPLOYMENT, _replicas(7))
    for text in (
        "- {group: apps, kind: Deployment, name: api, jsonPointers: [/spec/replicas]}",
        "- {group: extensions, kind: Deployment, jsonPointers: [/spec/replicas]}",
        "- {group: apps, kind: Deployment, namespace: other, jsonPointers: [/spec/replicas]}",
        "- {group: apps, kind: Deployment, jsonPointers: [/spec/paused]}",
    ):
        assert changed_lines(desired, live, rules=_rules(text)) == ["-  replicas: 2", "+  replicas: 7"], text


def test_json_pointers_escape_slashes_and_tildes() -> None:
    rules = _rules(
        "ignoreDifferences:\n- {group: '*', kind: '*', jsonPointers: [/metadata/annotations/example.com~1rev]}\n"
    )

    def annotated(value: str) -> Any:
        return lambda body: body["metadata"].setdefault("annotations", {}).update({"example.com/rev": value})

    desired = mutated(DEPLOYMENT, annotated("1"))
    assert changed_lines(desired, mutated(DEPLOYMENT, annotated("2")), rules=rules) == []
    assert changed_lines(desired, mutated(DEPLOYMENT, annotated("2")), rules=[]) == [
        "-    example.com/rev: '1'",
        "+    example.com/rev: '2'",
    ]


def test_a_jq_path_expression_hides_the_image_of_one_container() -> None:
    rules = _rules(
        "- group: apps\n  kind: Deployment\n  jqPathExpressions:\n"
        "  - '.spec.template.spec.containers[] | select(.name == \"web\") | .image'\n"
    )
    assert changed_lines(mutated(DEPLOYMENT), mutated(DEPLOYMENT, _image("nginx:1.28")), rules=rules) == []
    # the near miss: another container's image
    assert changed_lines(
        mutated(DEPLOYMENT), mutated(DEPLOYMENT, _image("fluent/fluent-bit:3.2", 1)), rules=rules
    ) == [
        "-      - image: fluent/fluent-bit:3.1",
        "+      - image: fluent/fluent-bit:3.2",
    ]


def test_a_field_manager_hides_the_fields_it_owns() -> None:
    rules = _rules("- {group: apps, kind: Deployment, managedFieldsManagers: [kube-controller-manager]}")
    live = mutated(DEPLOYMENT, _replicas(7), _managed("kube-controller-manager", REPLICAS_OWNED))
    assert changed_lines(mutated(DEPLOYMENT, _replicas(2)), live, rules=rules) == []


def test_a_field_manager_does_not_hide_fields_another_manager_owns() -> None:
    rules = _rules("- {group: apps, kind: Deployment, managedFieldsManagers: [kube-controller-manager]}")
    live = mutated(DEPLOYMENT, _replicas(7), _managed("kubectl-edit", REPLICAS_OWNED))
    assert changed_lines(mutated(DEPLOYMENT, _replicas(2)), live, rules=rules) == [
        "-  replicas: 2",
        "+  replicas: 7",
    ]


def test_a_field_manager_owning_a_keyed_list_item_field_hides_only_that_field() -> None:
    rules = _rules("- {group: apps, kind: Deployment, managedFieldsManagers: [image-updater]}")
    owned = _managed("image-updater", WEB_IMAGE_OWNED)
    assert (
        changed_lines(mutated(DEPLOYMENT), mutated(DEPLOYMENT, _image("nginx:1.28"), owned), rules=rules)
        == []
    )

    def env_changed(body: dict[str, Any]) -> None:
        container(body)["env"][0]["value"] = "9"

    assert changed_lines(mutated(DEPLOYMENT), mutated(DEPLOYMENT, env_changed, owned), rules=rules) == [
        "-          value: '1'",
        "+          value: '9'",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [", "not YAML"),
        ("ignoreDifferences: 3\n", "expected a list of rules or ignoreDifferences: [...]"),
        ("- 3\n", "expected a mapping"),
    ],
)
def test_an_ignore_file_that_is_no_list_of_rules_is_a_problem(text: str, message: str) -> None:
    rules, problems = driftignoring.parse_rules(text, file="ignore.yaml")
    assert rules == []
    assert [(p.code, p.message.startswith(message)) for p in problems] == [("drift-ignore", True)]


def test_bad_rules_are_reported_together_with_their_fields() -> None:
    text = (
        "- {kind: Deployment, jsonPointers: [spec/replicas]}\n"
        "- {group: apps, jqPathExpressions: ['.spec[']}\n"
        "- {kind: Service, managedFieldsManagers: [1], colour: red}\n"
    )
    rules, problems = driftignoring.parse_rules(text, file="ignore.yaml")
    assert rules == []
    assert [(p.code, p.field) for p in problems] == [
        ("drift-ignore", "ignoreDifferences[0].jsonPointers[0]"),
        ("drift-ignore", "ignoreDifferences[1].kind"),
        ("drift-ignore", "ignoreDifferences[1].jqPathExpressions[0]"),
        ("drift-ignore", "ignoreDifferences[2].colour"),
        ("drift-ignore", "ignoreDifferences[2].managedFieldsManagers"),
    ]
    assert all(isinstance(p, Problem) and p.file == "ignore.yaml" for p in problems)


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("[]", []),
        ("spec:\n  ignoreDifferences:\n  - {kind: Secret, jsonPointers: [/data]}\n", ["Secret"]),
        ("spec: [1]\n", []),
        ("{}", []),
    ],
)
def test_rules_are_read_from_a_list_or_an_application_spec(text: str, kinds: list[str]) -> None:
    assert [rule.kind for rule in _rules(text)] == kinds

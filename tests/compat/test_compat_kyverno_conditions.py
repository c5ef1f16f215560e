"""Kyverno conditions and variables: operators, any/all, lenient substitution, custom functions."""

from __future__ import annotations

import pytest

from leitplanke.engine.compat.kyverno import conditions, substituting

DATA = {
    "request": {
        "operation": "CREATE",
        "object": {
            "metadata": {"name": "web", "labels": {"team": "shop"}},
            "spec": {"containers": [{"name": "a", "image": "Nginx"}, {"name": "b", "image": "redis"}]},
        },
    }
}


@pytest.mark.parametrize(
    ("key", "operator", "value", "holds"),
    [
        ("{{ request.operation }}", "Equals", "CREATE", True),
        ("{{ request.operation }}", "NotEquals", "DELETE", True),
        ("{{ request.object.metadata.name }}", "Equals", "w*", True),
        ("{{ request.object.spec.containers[].name }}", "AnyIn", ["b", "c"], True),
        ("{{ request.object.spec.containers[].name }}", "AllIn", ["b", "c"], False),
        ("{{ request.object.spec.containers[].name }}", "AnyNotIn", ["a", "b"], False),
        ("{{ request.object.spec.containers[].name }}", "AllNotIn", ["x"], True),
        ("shop", "In", ["shop", "web"], True),
        ("shop", "NotIn", ["web"], True),
        ("{{ length(request.object.spec.containers) }}", "GreaterThan", 1, True),
        ("2Gi", "LessThanOrEquals", "1Gi", False),
        ("90m", "DurationGreaterThan", "1h", True),
        ("{{ request.object.metadata.missing }}", "Equals", "", True),
        ("8080", "AnyIn", "8000-9000", True),
    ],
)
def test_compat_condition_operators_follow_kyverno(
    key: object, operator: str, value: object, holds: bool
) -> None:
    condition = {"key": key, "operator": operator, "value": value}
    assert conditions.evaluate({"all": [condition]}, DATA) is holds


def test_compat_any_and_all_combine_and_an_empty_any_never_holds() -> None:
    true = {"key": 1, "operator": "Equals", "value": 1}
    false = {"key": 1, "operator": "Equals", "value": 2}
    assert conditions.evaluate({"any": [false, true], "all": [true]}, DATA) is True
    assert conditions.evaluate({"any": [false], "all": [true]}, DATA) is False
    assert conditions.evaluate({"any": []}, DATA) is False
    assert conditions.evaluate([true, true], DATA) is True


def test_compat_whole_reference_keeps_its_type_and_embedded_ones_become_text() -> None:
    assert substituting.substitute("{{ request.object.spec.containers[].name }}", DATA) == ["a", "b"]
    assert substituting.substitute("name={{ request.object.metadata.name }}", DATA) == "name=web"
    assert substituting.substitute({"k": "{{ request.object.metadata.labels }}"}, DATA) == {
        "k": {"team": "shop"}
    }


def test_compat_unresolved_reference_fails_strictly_and_reads_empty_in_conditions() -> None:
    with pytest.raises(substituting.VariableError):
        substituting.substitute("{{ request.object.nothing }}", DATA)
    assert substituting.substitute("{{ request.object.nothing }}", DATA, lenient=True) == ""


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("to_upper('abc')", "ABC"),
        ("to_lower('ABC')", "abc"),
        ("split('a,b', ',')", ["a", "b"]),
        ("regex_match('^ngi', 'nginx')", True),
        ("regex_replace_all('h.*', '24h0m0s', '')", "24"),
        ("replace_all('a-b-c', '-', '.')", "a.b.c"),
        ("base64_decode('aGVsbG8=')", "hello"),
        ("parse_json('{\"a\": 1}').a", 1),
        ("parse_yaml('a: [1, 2]').a", [1, 2]),
        ("divide(`10`, `4`)", 2.5),
        ("round(`2.567`, `2`)", 2.57),
        ("truncate('abcdef', `3`)", "abc"),
        ("label_match({app: 'web'}, {app: 'web', tier: 'x'})", True),
        ("time_diff('2024-01-01T00:00:00Z', '2024-01-01T01:30:00Z')", "1h30m0s"),
    ],
)
def test_compat_kyverno_custom_functions(expression: str, expected: object) -> None:
    assert substituting.search(expression, {}) == expected

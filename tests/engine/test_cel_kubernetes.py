"""Kubernetes' CEL libraries, checked against the examples of the "CEL in Kubernetes" reference
and the libraries' own documentation: through a compiled native policy where a policy is how
a user would meet them, through the environment adapter for value-level cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leitplanke import engine
from leitplanke.engine import cel, loading

NOW = datetime(2026, 12, 1, tzinfo=UTC)
POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop"}, "spec": {}}


@pytest.fixture(scope="module")
def environment() -> cel.Environment:
    return cel.build_environment(variables=["object", "params"])


def run(environment: cel.Environment, source: str) -> Any:
    program = environment.compile(source)
    if isinstance(program, cel.CelIssue):
        return program
    return program.evaluate(environment.activation({"object": {}}))


def check_all(environment: cel.Environment, cases: dict[str, Any]) -> None:
    assert {source: run(environment, source) for source in cases} == cases


def policy(validate: str, message: str) -> str:
    return f"""
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {{name: p}}
spec:
  title: t
  severity: low
  match: {{kinds: [Pod]}}
  rules:
  - name: r
    validate: {cel.literal(validate)}
    message: {cel.literal(message)}
"""


def verdicts(validate: str, message: str, names: list[str]) -> list[tuple[str, str, str]]:
    """(pod name, verdict, message) of one rule over pods with these names."""
    loaded = loading.load_text(policy(validate, message), file="p.yaml", now=NOW)
    policy_set = engine.compile(loaded.policies)
    assert policy_set.problems == ()
    out = []
    for name in names:
        pod = {**POD, "metadata": {**POD["metadata"], "name": name}}
        for result in engine.evaluate(policy_set, pod):
            out.append((name, str(result.verdict.value), result.message))
    return out


LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


# --- format (Kubernetes 1.32) ---------------------------------------------------------------


def test_a_policy_validates_a_name_with_the_format_library_and_says_why_it_fails() -> None:
    # the reference's rule and messageExpression, with self as object
    assert verdicts(
        "!format.dns1123Label().validate(object.metadata.name).hasValue()",
        'format.dns1123Label().validate(object.metadata.name).orValue([]).join("\\n")',
        ["my-name", "My_Name", "a.b"],
    ) == [
        ("my-name", "pass", ""),
        ("My_Name", "fail", LABEL_ERROR),
        ("a.b", "fail", "must not contain dots"),
    ]


def test_every_named_format_accepts_the_libraries_own_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "format.dns1123Label().validate('my-label-name').hasValue()": False,
            "format.dns1123Subdomain().validate('apiextensions.k8s.io').hasValue()": False,
            "format.dns1035Label().validate('my-label-name').hasValue()": False,
            "format.qualifiedName().validate('apiextensions.k8s.io/v1beta1').hasValue()": False,
            "format.dns1123LabelPrefix().validate('my-label-prefix-').hasValue()": False,
            "format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-').hasValue()": False,
            "format.dns1035LabelPrefix().validate('my-label-prefix-').hasValue()": False,
            "format.labelValue().validate('my_value.1').hasValue()": False,
            "format.labelValue().validate('').hasValue()": False,
            "format.uri().validate('http://example.com').hasValue()": False,
            "format.uuid().validate('123e4567-e89b-12d3-a456-426614174000').hasValue()": False,
            "format.byte().validate('aGVsbG8=').hasValue()": False,
            "format.date().validate('2021-01-01').hasValue()": False,
            "format.datetime().validate('2021-01-01T00:00:00Z').hasValue()": False,
        },
    )


def test_every_named_format_rejects_with_kubernetes_messages(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "format.dns1123Label().validate('My_Name').value()": [LABEL_ERROR],
            "format.dns1123Subdomain().validate('-a.b').value()": [
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
                "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
                "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
            "format.dns1035Label().validate('1abc').value()": [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
                "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
            "format.qualifiedName().validate('/').value()": [
                "prefix part must be non-empty",
                "name part must be non-empty",
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex "
                "used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            ],
            "format.labelValue().validate('-x').value().size()": 1,
            "format.uri().validate('example').value()": ['parse "example": invalid URI for request'],
            "format.uuid().validate('123e4567').value()": ["does not match the UUID format"],
            "format.byte().validate('aGVsbG8').value()": ["invalid base64"],
            "format.date().validate('2021-02-29').value()": ["invalid date"],
            "format.datetime().validate('2021-01-01T24:00:00Z').value()": ["invalid datetime"],
        },
    )


def test_a_name_prefix_masks_a_trailing_dash_with_the_character_before_it(
    environment: cel.Environment,
) -> None:
    # apimachinery replaces the last two characters by 'a': "a.-" is checked as "a", "-a" stays
    check_all(
        environment,
        {
            "format.dns1123SubdomainPrefix().validate('a.-').hasValue()": False,
            "format.dns1123LabelPrefix().validate('-').hasValue()": True,
        },
    )


def test_format_named_returns_an_optional_format(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "format.named('uuid').hasValue()": True,
            "format.named('no-such-format').hasValue()": False,
            "format.named('dns1123Label').value().validate('ok').hasValue()": False,
            "format.named('dns1123Label').value() == format.dns1123Label()": True,
        },
    )


def test_a_compile_problem_after_a_rewritten_call_keeps_its_column(environment: cel.Environment) -> None:
    source = "format.named('uuid').value().validate('x').hasValue() && nope"
    assert environment.compile(source) == cel.CelIssue(
        "undeclared reference to 'nope'", 1, source.index("nope") + 1
    )


# --- semver (Kubernetes 1.34) ---------------------------------------------------------------


def test_a_policy_compares_versions_with_the_semver_library() -> None:
    assert verdicts(
        "isSemver(object.metadata.name, true) && semver(object.metadata.name, true).isLessThan(semver('2.0.0'))",
        "'too new: ' + object.metadata.name",
        ["v1.2", "2.1.0", "x"],
    ) == [("v1.2", "pass", ""), ("2.1.0", "fail", "too new: 2.1.0"), ("x", "fail", "too new: x")]


def test_semver_follows_the_reference_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "isSemver('1.0.0')": True,
            "isSemver('v1.0', true)": True,
            "isSemver('v1.0')": False,
            "semver('1.2.3').major()": 1,
            "semver('1.2.3').minor()": 2,
            "semver('1.2.3').patch()": 3,
            "semver('1.2.3').compareTo(semver('2.0.0')) < 0": True,
            "semver('1.2.3').compareTo(semver('1.2.3'))": 0,
            "semver('1.2.3').compareTo(semver('0.1.2'))": 1,
            "semver('1.2.3').isGreaterThan(semver('1.2.2'))": True,
            "semver('1.0.0-alpha').isLessThan(semver('1.0.0-alpha.1'))": True,
            "semver('1.0.0-alpha.1').isLessThan(semver('1.0.0-alpha.beta'))": True,
            "semver('1.0.0-rc.1').isLessThan(semver('1.0.0'))": True,
            "semver('1.0.0+build.1') == semver('1.0.0')": True,
            "semver('v01.002', true) == semver('1.2.0')": True,
            "semver('1', true).patch()": 0,
        },
    )


def test_an_invalid_semver_fails_in_blang_semvers_words(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "semver('x')": cel.CelFailure("INVALID_ARGUMENT: No Major.Minor.Patch elements found"),
            "semver('')": cel.CelFailure("INVALID_ARGUMENT: Version string empty"),
            "semver('01.2.3')": cel.CelFailure(
                'INVALID_ARGUMENT: Major number must not contain leading zeroes "01"'
            ),
            "semver('1.a.3')": cel.CelFailure(
                'INVALID_ARGUMENT: Invalid character(s) found in minor number "a"'
            ),
            "semver('1.2.3-01')": cel.CelFailure(
                'INVALID_ARGUMENT: Numeric PreRelease version must not contain leading zeroes "01"'
            ),
            "semver('1.2-rc', true)": cel.CelFailure(
                "INVALID_ARGUMENT: short version cannot contain PreRelease/Build meta data"
            ),
        },
    )


def test_quantities_keep_their_comparisons_next_to_semvers(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "quantity('150Mi').isGreaterThan(quantity('100Mi'))": True,
            "quantity('200M').compareTo(quantity('0.2G'))": 0,
            "semver('1.0.0').isLessThan(quantity('1'))": cel.CelFailure(
                "INVALID_ARGUMENT: expected a semver, as made by semver('1.2.3')"
            ),
        },
    )


# --- net.IP and net.CIDR type names, jsonpatch -----------------------------------------------


def test_the_type_of_an_ip_or_a_cidr_compares_with_its_type_name(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "type(ip('127.0.0.1')) == net.IP": True,
            "type(cidr('192.168.0.0/16')) == net.CIDR": True,
            "net.CIDR == type(cidr('::1/128'))": True,
            "type(cidr('192.168.0.0/16')) == net.IP": False,
            "type({'a': 1}) != net.IP": True,
            "type('x') == net.IP": False,
            "type(1) == int": True,
            "net.IP": cel.CelIssue("undeclared reference to 'net.IP'", 1, 4),
        },
    )


def test_jsonpatch_escape_key_escapes_tilde_then_slash(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "jsonpatch.escapeKey('k8s.io/my~label')": "k8s.io~1my~0label",
            "'/metadata/labels/' + jsonpatch.escapeKey('app.kubernetes.io/name')": (
                "/metadata/labels/app.kubernetes.io~1name"
            ),
        },
    )


# --- CEL community libraries Kubernetes enables ---------------------------------------------


def test_two_variable_comprehensions_follow_the_cel_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "[1, 2, 3].all(i, v, i < v)": True,
            "{'hello': 'world', 'taco': 'taco'}.all(k, v, k != v)": False,
            "{'h': ['hello', 'hi'], 'j': ['joke', 'jog']}.all(k, vals, vals.all(v, v.startsWith(k)))": True,
            "{'greeting': 'hello', 'farewell': 'goodbye'}.exists(k, v, v.endsWith('bye'))": True,
            "[1, 2, 1].existsOne(i, v, v == 2)": True,
            "[1, 2, 3].transformList(i, v, (i * v) + v)": [1, 4, 9],
            "[1, 2, 3].transformList(i, v, i % 2 == 0, (i * v) + v)": [1, 9],
            "{'greeting': 'hello'}.transformMap(k, v, v + '!')": {"greeting": "hello!"},
            "[1, 2, 3].transformMap(i, v, (i * v) + v)": {0: 1, 1: 4, 2: 9},
            "{'a': 1, 'b': 2}.transformMap(k, v, v > 1, v * 10)": {"b": 20},
            "{'greeting': 'hello'}.transformMapEntry(k, v, {v: k})": {"hello": "greeting"},
            "[1, 2, 3].transformMapEntry(i, v, {v: i})": {1: 0, 2: 1, 3: 2},
            "{'a': 1, 'b': 1}.transformMapEntry(k, v, {v: k})": cel.CelFailure(
                "INVALID_ARGUMENT: insert failed: key 1 already exists"
            ),
        },
    )


def test_the_lists_extension_follows_the_cel_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "[1, 2, 3, 4].slice(1, 3)": [2, 3],
            "[1, [2, 3], [4]].flatten()": [1, 2, 3, 4],
            "[1, [2, [3, 4]]].flatten(2)": [1, 2, 3, 4],
            "[1, 2, 2, 3].distinct()": [1, 2, 3],
            "lists.range(4)": [0, 1, 2, 3],
            "[3, 1, 2].sort()": [1, 2, 3],
            "[{'n': 2}, {'n': 1}].sortBy(e, e.n)": [{"n": 1}, {"n": 2}],
            "[1, 2, 3].reverse()": [3, 2, 1],
            "[1, 2].first().value()": 1,
            "[].last().hasValue()": False,
            "[1, 2, 3].slice(1, 5)": cel.CelFailure("INVALID_ARGUMENT: cannot slice(1, 5), list is length 3"),
        },
    )


def test_the_kubernetes_list_library_follows_the_reference_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "['a', 'b', 'c'].isSorted()": True,
            "[{'weight': 0.5}, {'weight': 0.5}].map(x, x.weight).sum() == 1.0": True,
            "[1, 2].map(x, x).max() < [3, 4].map(x, x).min()": True,
            "['first', 'should-be-first'].indexOf('should-be-first') == 1": True,
            "[1, 2, 1].lastIndexOf(1)": 2,
        },
    )


def test_the_sets_extension_compares_numbers_across_types(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "sets.contains([1, 2, 3, 4], [2, 3])": True,
            "sets.contains([1, 2.0, 3u], [1.0, 2u, 3])": True,
            "sets.equivalent([1, 2, 3], [3u, 2.0, 1])": True,
            "sets.intersects([1], [1.0, 2])": True,
            "sets.intersects([1], [2])": False,
        },
    )


def test_the_strings_extension_is_at_kubernetes_version_2(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "'%s-%d'.format(['web', 3])": "web-3",
            "strings.quote('a\"b')": '"a\\"b"',
            "['a', 'b'].join('-')": "a-b",
            # reverse arrived in version 3, which Kubernetes does not enable
            "'stressed'.reverse()": cel.CelIssue(
                "found no matching overload for 'reverse' applied to '(string)'", 1, 19
            ),
        },
    )


def test_optional_values_follow_the_cel_examples(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "optional.of(1).value()": 1,
            "optional.none().orValue(2)": 2,
            "optional.ofNonZeroValue('').hasValue()": False,
            "optional.none().or(optional.of(3)).value()": 3,
            "optional.of(1).optMap(x, x + 1).value()": 2,
            "optional.of(1).optFlatMap(x, optional.of(x * 5)).value()": 5,
            "{'a': 1}[?'a'].value()": 1,
            "[1, 2][?5].hasValue()": False,
            "{'a': {'b': 1}}.?a.?b.orValue(0)": 1,
        },
    )


def test_rewritten_calls_leave_string_literals_alone_and_nest(environment: cel.Environment) -> None:
    check_all(
        environment,
        {
            "'x.validate(1) net.IP' == 'x.validate(1) net.IP'": True,
            "{'a': 'ok'}.transformMap(k, v, format.dns1123Label().validate(v).hasValue())": {"a": False},
            "[{'a': 1}.transformMap(k, v, v + 1)].transformMap(i, m, m.a)": {0: 2},
            "type(ip('::1')) == net.IP && type(cidr('::1/128')) != net.IP": True,
        },
    )


def test_a_compile_problem_after_a_rewritten_transform_keeps_its_column(environment: cel.Environment) -> None:
    source = "{'a': 1}.transformMap(k, v, v + 1) == {}\n  && type(ip('::1')) == net.IP && nope"
    column = source.split("\n")[1].index("nope") + 1
    assert environment.compile(source) == cel.CelIssue("undeclared reference to 'nope'", 2, column)

"""``leitplanke test``: policy unit tests print the rows that do not hold and end with ``N passed, N failed``."""

from __future__ import annotations

import json

import yaml

POLICY = """
    apiVersion: leitplanke.dev/v1
    kind: Policy
    metadata: {name: require-team-label}
    spec:
      severity: medium
      match: {kinds: [Pod]}
      rules:
      - name: team
        validate: has(object.metadata.labels) && 'team' in object.metadata.labels
    """
TEST = """
    apiVersion: leitplanke.dev/v1
    kind: PolicyTest
    metadata: {name: require-team-label}
    spec:
      policies: [../team.yaml]
      resources:
      - {apiVersion: v1, kind: Pod, metadata: {name: owned, namespace: shop, labels: {team: shop}}}
      - {apiVersion: v1, kind: Pod, metadata: {name: orphan, namespace: shop}}
      expect:
      - {policy: require-team-label, rule: team, resource: Pod/shop/owned, verdict: pass}
      - {policy: require-team-label, rule: team, resource: Pod/shop/orphan, verdict: pass}
    """


def expectations_in(directory):
    """How many rows the PolicyTest files below ``directory`` expect, counted without leitplanke."""
    count = 0
    for file in directory.rglob("*.yaml"):
        for doc in yaml.safe_load_all(file.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "PolicyTest":
                count += len(doc["spec"]["expect"])
    return count


def test_the_built_in_packs_pass_all_their_tests(run_cli, repo):
    packs = repo / "src" / "leitplanke" / "packs"

    run = run_cli("test", str(packs))

    assert run.code == 0, run
    assert run.stdout_lines == [f"{expectations_in(packs)} passed, 0 failed"]


def test_a_wrong_expectation_fails_with_its_row_and_exit_1(run_cli, write):
    write("policies/team.yaml", POLICY)
    write("policies/tests/team.yaml", TEST)

    run = run_cli("test", "policies")

    assert run.code == 1, run
    assert run.stdout_lines == [
        "FAIL policies/tests/team.yaml:11 require-team-label/team Pod/shop/orphan: expected pass, got fail",
        "1 passed, 1 failed",
    ]


def test_json_lists_every_row_with_what_was_expected_and_what_happened(run_cli, write):
    write("policies/team.yaml", POLICY)
    write("policies/tests/team.yaml", TEST)

    run = run_cli("test", "policies", "--format", "json")

    assert run.code == 1, run
    row = {
        "test": "policies/tests/team.yaml",
        "policy": "require-team-label",
        "rule": "team",
        "family": "leitplanke",  # a PolicyTest; Kyverno CLI suites run too
    }
    assert run.stderr_lines == ["1 passed, 1 failed"]
    assert json.loads(run.stdout) == {
        "rows": [
            {
                **row,
                "line": 10,
                "resource": "Pod/shop/owned",
                "expected": "pass",
                "actual": "pass",
                "ok": True,
            },
            {
                **row,
                "line": 11,
                "resource": "Pod/shop/orphan",
                "expected": "pass",
                "actual": "fail",
                "ok": False,
            },
        ]
    }


def test_a_path_that_does_not_exist_is_a_usage_error_not_zero_tests_passed(run_cli):
    run = run_cli("test", "polices")

    assert (run.code, run.stdout, run.stderr_lines) == (
        2,
        "",
        ["leitplanke: polices: no such file or directory"],
    )


def test_an_expected_resource_that_is_not_there_names_the_nearest_one(run_cli, write):
    write("policies/team.yaml", POLICY)
    write("policies/tests/team.yaml", TEST.replace("resource: Pod/shop/orphan", "resource: Pod/shop/orphn"))

    run = run_cli("test", "policies")

    assert run.code == 1, run
    assert run.stdout_lines == [
        "FAIL policies/tests/team.yaml:11 require-team-label/team Pod/shop/orphn: expected pass, got none "
        "(no resource Pod/shop/orphn in the test's resources; did you mean Pod/shop/orphan?)",
        "1 passed, 1 failed",
    ]


def test_an_error_row_shows_the_evaluation_error(run_cli, write):
    write(
        "policies/team.yaml",
        POLICY.replace(
            "has(object.metadata.labels) && 'team' in object.metadata.labels",
            "object.metadata.labels.team != ''",
        ),
    )
    write("policies/tests/team.yaml", TEST)

    run = run_cli("test", "policies", "--format", "json")

    assert run.code == 1, run
    orphan = json.loads(run.stdout)["rows"][1]
    assert (orphan["actual"], orphan["note"]) == ("error", 'NOT_FOUND: Key not found in map : "labels"')


def test_a_policy_that_does_not_compile_exits_2_as_lint_does(run_cli, write):
    write("policies/team.yaml", POLICY.replace("'team' in object", "'team' in objct"))
    write("policies/tests/team.yaml", TEST)

    run = run_cli("test", "policies")
    lint = run_cli("policies", "lint", "-p", "policies/team.yaml")

    assert (run.code, lint.code) == (2, 2), (run, lint)
    problem = "[spec.rules[0].validate]: undeclared reference to 'objct.metadata.labels'"
    note = f"the policy could not run: policies/tests/../team.yaml:9:70 {problem.replace(']: ', ']: cel-compile: ')}"
    assert run.stdout_lines == [
        f"policies/tests/../team.yaml:9:70: error cel-compile {problem}",
        f"FAIL policies/tests/team.yaml:10 require-team-label/team Pod/shop/owned: expected pass, got error ({note})",
        f"FAIL policies/tests/team.yaml:11 require-team-label/team Pod/shop/orphan: expected pass, got error ({note})",
        "0 passed, 2 failed",
    ]

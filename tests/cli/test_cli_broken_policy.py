"""``scan`` with a broken policy among good ones: every format written, the broken one named, exit 2.

One native policy with a CEL syntax error and one Kyverno policy that does not convert sit next
to a sound policy; the sound one runs, each format says which could not run and why.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

GOOD = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-labels}
spec:
  title: Pods carry labels
  severity: high
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
  severity: medium
  match: {kinds: [Pod]}
  rules:
  - name: team
    validate: "object.metadata.(("
"""
KYVERNO = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: require-team}
spec:
  rules:
  - name: team-label
    match: {any: [{resources: {kinds: [Deployment]}}]}
    validate:
      cel:
        expressions:
        - expression: "object.metadata.labels.team =="
"""
POD = """
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec:
  containers: [{name: app, image: nginx:1.27}]
"""
SYNTAX = "Syntax error: no viable alternative at input '.('"
KYVERNO_SYNTAX = (
    "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', "
    "'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
)
PROBLEM_LINES = [
    f"policies/broken.yaml:9:32: error cel-compile [spec.rules[0].validate]: {SYNTAX}",
]
BROKEN_NOTE = (
    f"the policy could not run: policies/broken.yaml:9:32 [spec.rules[0].validate]: cel-compile: {SYNTAX}"
)


RAN = "leitplanke: 3 policies: 3 from policies; no built-in pack"  # the note of what ran, on stderr


@pytest.fixture
def scanned(write: Callable[[str, str], Path]) -> list[str]:
    write("policies/good.yaml", GOOD)
    write("policies/broken.yaml", BROKEN)
    write("policies/kyverno.yaml", KYVERNO)
    write("in/pod.yaml", POD)
    return ["scan", "in", "--pack", "none", "-p", "policies", "-j", "1"]


def test_the_table_lists_the_results_the_problems_and_the_policies_that_could_not_run(run_cli, scanned):
    run = run_cli(*scanned)

    assert run.code == 2, run
    assert run.stderr_lines == [RAN]
    lines = run.stdout_lines
    assert lines[:6] == [
        "in/pod.yaml",
        "  Pod/shop/web",
        "        1  error   medium    the policy could not run: policies/broken.yaml:9:32",
        "                             [spec.rules[0].validate]: cel-compile: Syntax error: no viable",
        "                             alternative at input '.('",
        "                             known-teams/team",
    ]
    start = lines.index("Policies that could not run")
    assert lines[start : start + 4] == [
        "Policies that could not run",
        "    known-teams   Policy         policies/broken.yaml:1   cel-compile",
        "    require-team  ClusterPolicy  policies/kyverno.yaml:1  cel-compile",
        "",
    ]
    assert lines[-1] == (
        "1 resource, 2 checks: 0 passed, 1 failed, 0 warnings, 1 error, 0 skipped; "
        "2 problems, 2 policies could not run"
    )


def test_the_json_report_names_each_broken_policy_with_its_problems(run_cli, scanned):
    run = run_cli(*scanned, "-f", "json")

    assert run.code == 2, run
    report = run.json()
    assert [(b["name"], b["kind"], b["file"], b["line"]) for b in report["brokenPolicies"]] == [
        ("known-teams", "Policy", "policies/broken.yaml", 1),
        ("require-team", "ClusterPolicy", "policies/kyverno.yaml", 1),
    ]
    assert report["brokenPolicies"][0]["problems"] == [
        {
            "code": "cel-compile",
            "column": 32,
            "field": "spec.rules[0].validate",
            "file": "policies/broken.yaml",
            "level": "error",
            "line": 9,
            "message": SYNTAX,
        }
    ]
    assert [(r["policy"], r["rule"], r["verdict"], r["message"]) for r in report["results"]] == [
        ("known-teams", "team", "error", BROKEN_NOTE),
        ("require-labels", "labels", "fail", "the pod has no labels"),
    ]
    ran, *problems = run.stderr_lines
    assert ran == RAN
    native, kyverno = sorted(problems)
    assert native == PROBLEM_LINES[0]
    assert kyverno == (
        "policies/kyverno.yaml:11: error cel-compile [spec.rules[0].validate.cel.expressions[0].expression]: "
        f"{KYVERNO_SYNTAX}"
    )


def test_the_json_report_with_broken_policies_follows_its_schema(run_cli, scanned, repo):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((repo / "src/leitplanke/reports/schemas/scan-v1.schema.json").read_text())

    run = run_cli(*scanned, "-f", "json")

    jsonschema.validate(run.json(), schema)


def test_sarif_reports_broken_policies_as_tool_configuration_notifications(run_cli, scanned):
    run = run_cli(*scanned, "-f", "sarif")

    assert run.code == 2, run
    [invocation] = run.json()["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"] == []
    notes = invocation["toolConfigurationNotifications"]
    assert notes[0] == {
        "descriptor": {"id": "cel-compile"},
        "level": "error",
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": "policies/broken.yaml", "uriBaseId": "%SRCROOT%"},
                    "region": {"startColumn": 32, "startLine": 9},
                }
            }
        ],
        "message": {"text": f"policy known-teams could not run: {SYNTAX} [spec.rules[0].validate]"},
        "properties": {"policy": "known-teams", "policyKind": "Policy"},
    }
    assert [(n["properties"]["policy"], n["descriptor"]["id"]) for n in notes] == [
        ("known-teams", "cel-compile"),
        ("require-team", "cel-compile"),
    ]
    results = run.json()["runs"][0]["results"]
    assert [(r["ruleId"], r["kind"], r["message"]["text"]) for r in results] == [
        ("known-teams/team", "open", BROKEN_NOTE),
        ("require-labels/labels", "fail", "the pod has no labels"),
    ]


def test_junit_gives_each_broken_policy_an_erring_testcase_in_its_suite(run_cli, scanned):
    run = run_cli(*scanned, "-f", "junit")

    assert run.code == 2, run
    root = ET.fromstring(run.stdout)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "3")
    cases = [
        (suite.get("name"), case.get("name"), child.tag, child.get("type"))
        for suite in root
        for case in suite.findall("testcase")
        for child in case
    ]
    assert cases == [
        ("known-teams", "known-teams could not run", "error", "policy-broken"),
        ("known-teams", "team: Pod/shop/web", "error", "error"),
        ("require-labels", "labels: Pod/shop/web", "failure", "high"),
        ("require-team", "require-team could not run", "error", "policy-broken"),
    ]
    broken = root.find("testsuite[@name='known-teams']/testcase/error")
    assert broken is not None
    assert broken.get("message") == BROKEN_NOTE.removeprefix("the policy could not run: ")
    assert broken.text == PROBLEM_LINES[0]


def test_the_cluster_policy_report_has_an_error_entry_per_broken_policy(run_cli, scanned):
    run = run_cli(*scanned, "-f", "policyreport")

    assert run.code == 2, run
    namespaced, cluster = list(yaml.safe_load_all(run.stdout))
    assert [(r["policy"], r["result"]) for r in namespaced["results"]] == [
        ("known-teams", "error"),
        ("require-labels", "fail"),
    ]
    assert cluster["summary"] == {"pass": 0, "fail": 0, "warn": 0, "error": 2, "skip": 0}
    first = dict(cluster["results"][0])
    del first["timestamp"]
    assert first == {
        "policy": "known-teams",
        "result": "error",
        "message": BROKEN_NOTE,
        "source": "leitplanke",
        "scored": True,
        "properties": {"kind": "Policy", "file": "policies/broken.yaml", "line": "1", "codes": "cel-compile"},
    }
    assert cluster["results"][1]["policy"] == "require-team"


def test_problems_fatal_to_the_whole_run_still_stop_it_before_any_report(run_cli, scanned):
    run = run_cli(*scanned, "-p", "missing-policies", "-f", "json")

    assert (run.code, run.stdout) == (2, "")
    assert "missing-policies: error not-found: no such file or directory" in run.stderr_lines


def test_without_the_broken_policies_the_same_scan_exits_1_for_its_failure(run_cli, scanned, tmp_path):
    (tmp_path / "policies" / "broken.yaml").unlink()
    (tmp_path / "policies" / "kyverno.yaml").unlink()

    run = run_cli(*scanned, "-f", "json")

    assert run.code == 1, run
    assert "brokenPolicies" not in run.json()

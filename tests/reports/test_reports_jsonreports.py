import json

import jsonschema
import pytest

from leitplanke.core.results import ScanReport
from leitplanke.reports import jsonreports, summaries


@pytest.fixture
def validator() -> jsonschema.Draft202012Validator:
    schema = jsonreports.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_the_json_report_matches_its_golden_file(report, policies, now, golden):
    golden("scan.json", jsonreports.render(report, policies=policies, now=now))


def test_the_json_report_validates_against_its_published_schema(report, policies, now, validator):
    validator.validate(json.loads(jsonreports.render(report, policies=policies, now=now)))


def test_an_empty_scan_validates_too(policies, now, validator):
    document = json.loads(jsonreports.render(ScanReport(), policies=policies, now=now))
    validator.validate(document)
    assert (document["results"], document["problems"], document["skipped"]) == ([], [], [])


def test_the_schema_rejects_an_unknown_verdict(report, policies, now, validator):
    document = json.loads(jsonreports.render(report, policies=policies, now=now))
    document["results"][0]["verdict"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(document)


def test_the_summary_counts_verdicts_failures_by_severity_and_inputs(report, policies, now):
    document = json.loads(jsonreports.render(report, policies=policies, now=now))
    assert document["schemaVersion"] == "leitplanke.dev/scan/v1"
    assert document["generatedAt"] == "2025-03-14T09:26:53Z"
    assert document["summary"] == {
        "resources": 5,
        "checks": 10,
        "verdicts": {"pass": 3, "fail": 3, "warn": 1, "error": 1, "skip": 2},
        "failuresBySeverity": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 0},
        "waived": 1,
        "problems": 1,
        "skippedInputs": 1,
    }


def test_results_are_sorted_by_file_document_and_line_and_keep_waiver_and_fix(report, policies, now):
    results = json.loads(jsonreports.render(report, policies=policies, now=now))["results"]
    assert [(r["location"]["file"], r["location"]["line"], r["policy"], r["verdict"]) for r in results] == [
        ("<stdin>", 7, "disallow-privileged", "pass"),
        ("<stdin>", 8, "disallow-latest-tag", "pass"),
        ("manifests/batch/nightly.yaml", 12, "require-probes", "skip"),
        ("manifests/batch/nightly.yaml", 12, "require-resource-limits", "fail"),
        ("manifests/batch/nightly.yaml", 15, "disallow-privileged", "skip"),
        ("manifests/rbac.yaml", 9, "restrict-cluster-admin", "fail"),
        ("manifests/shop/web.yaml", 19, "require-probes", "error"),
        ("manifests/shop/web.yaml", 19, "require-resource-limits", "pass"),
        ("manifests/shop/web.yaml", 20, "disallow-latest-tag", "warn"),
        ("manifests/shop/web.yaml", 24, "disallow-privileged", "fail"),
    ]
    assert [r["waiver"] for r in results if r["waiver"]] == ["legacy-batch-jobs"]
    assert [r["fix"] for r in results if r["fix"]] == [
        {
            "path": "spec.template.spec.containers[0]",
            "merge": {"securityContext": {"privileged": False}},
            "remove": [],
        }
    ]


def test_a_naive_now_is_taken_as_utc(report, policies, now):
    naive = now.replace(tzinfo=None)
    assert json.loads(jsonreports.render(report, policies=policies, now=naive))["generatedAt"] == (
        "2025-03-14T09:26:53Z"
    )


def test_each_result_is_one_line_of_compact_json_holding_its_documented_value(report, policies, now):
    text = jsonreports.render(report, policies=policies, now=now)
    lines = text[text.index('"results": [\n') :].split("\n")[1 : len(report.results) + 1]
    assert [json.loads(line.strip().removesuffix(",")) for line in lines] == [
        jsonreports.result_value(r) for r in summaries.ordered(report)
    ]
    assert all(line.startswith('    {"category":') for line in lines)
    assert lines[-1].endswith("}") and not lines[-1].endswith(",")

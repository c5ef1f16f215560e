import dataclasses
import json
import re
from typing import Any

import jsonschema
import pytest

from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Location, ScanReport, Verdict
from leitplanke.reports import sarif, summaries

# RFC 3986 URI-reference characters: unreserved, reserved and percent-encodings, nothing else
URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-F]{2})+$")


def render(report: ScanReport, policies: dict[str, Any], now: Any) -> dict[str, Any]:
    return json.loads(sarif.render(report, policies=policies, now=now))


def test_the_sarif_log_matches_its_golden_file(report, policies, now, golden):
    golden("scan.sarif", sarif.render(report, policies=policies, now=now))


def test_the_sarif_log_validates_against_the_official_schema(report, policies, now, shared_schema):
    schema = json.loads(shared_schema("sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    validator.validate(render(report, policies, now))
    validator.validate(render(ScanReport(), policies, now))


def test_fail_warn_error_and_waived_results_are_written_with_their_levels(report, policies, now):
    results = render(report, policies, now)["runs"][0]["results"]
    assert [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"], r["kind"], r["level"])
        for r in results
    ] == [
        ("require-resource-limits/memory-limits", 12, "fail", "warning"),
        ("disallow-privileged/no-privileged-containers", 15, "fail", "error"),
        ("restrict-cluster-admin/no-cluster-admin-binding", 9, "fail", "error"),
        ("require-probes/liveness-probe", 19, "open", "none"),
        ("disallow-latest-tag/no-latest-tag", 20, "fail", "warning"),
        ("disallow-privileged/no-privileged-containers", 24, "fail", "error"),
    ]


def test_each_rule_of_each_policy_is_described_once_and_indexed_by_its_results(report, policies, now):
    run = render(report, policies, now)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [(rule["id"], rule["defaultConfiguration"]["level"]) for rule in rules] == [
        ("disallow-latest-tag/no-latest-tag", "warning"),
        ("disallow-privileged/no-privileged-containers", "error"),
        ("require-probes/liveness-probe", "note"),
        ("require-resource-limits/memory-limits", "warning"),
        ("restrict-cluster-admin/no-cluster-admin-binding", "error"),
    ]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])


def test_a_rule_carries_title_description_help_and_github_properties(report, policies, now):
    rule = render(report, policies, now)["runs"][0]["tool"]["driver"]["rules"][1]
    assert rule == {
        "id": "disallow-privileged/no-privileged-containers",
        "name": "no-privileged-containers",
        "shortDescription": {"text": "Privileged containers are not allowed"},
        "fullDescription": {
            "text": "Privileged containers share the host's kernel capabilities and devices."
        },
        "help": {
            "text": "Privileged containers share the host's kernel capabilities and devices.\n\n"
            "Remediation: Remove securityContext.privileged or set it to false.\n\n"
            "Controls: PSS:baseline/privileged, CIS-K8s:5.2.2",
            "markdown": "Privileged containers share the host's kernel capabilities and devices.\n\n"
            "**Remediation:** Remove securityContext.privileged or set it to false.\n\n"
            "**Controls:** `PSS:baseline/privileged`, `CIS-K8s:5.2.2`",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "tags": ["security", "Pod Security", "PSS:baseline/privileged", "CIS-K8s:5.2.2"],
            "security-severity": "9.5",
            "precision": "very-high",
        },
    }


def test_security_severity_follows_the_policy_severity(report, policies, now):
    rules = render(report, policies, now)["runs"][0]["tool"]["driver"]["rules"]
    assert {rule["id"]: rule["properties"]["security-severity"] for rule in rules} == {
        "disallow-latest-tag/no-latest-tag": "3.0",
        "disallow-privileged/no-privileged-containers": "9.5",
        "require-probes/liveness-probe": "0.0",
        "require-resource-limits/memory-limits": "5.5",
        "restrict-cluster-admin/no-cluster-admin-binding": "8.0",
    }


def test_a_result_of_a_policy_not_given_still_gets_a_rule(report, policies, now):
    del policies["restrict-cluster-admin"]
    run = render(report, policies, now)["runs"][0]
    rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"].startswith("restrict-cluster-admin/"))
    assert rule["shortDescription"] == {"text": "restrict-cluster-admin/no-cluster-admin-binding"}
    assert rule["properties"]["tags"] == ["security", "RBAC", "CIS-K8s:5.1.1"]


def test_a_waived_result_is_suppressed_externally(report, policies, now):
    results = render(report, policies, now)["runs"][0]["results"]
    assert [
        (r["locations"][0]["physicalLocation"]["region"]["startLine"], r["suppressions"])
        for r in results
        if "suppressions" in r
    ] == [
        (
            15,
            [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": "Waived by waiver legacy-batch-jobs.",
                }
            ],
        )
    ]


def test_a_waived_result_of_a_warning_rule_stays_a_warning(report, policies, now):
    latest = next(r for r in report.results if r.verdict is Verdict.WARN)
    report.results[:] = [dataclasses.replace(latest, verdict=Verdict.SKIP, waiver="pinned-later")]
    (result,) = render(report, policies, now)["runs"][0]["results"]
    assert (result["kind"], result["level"], result["properties"]["verdict"]) == ("fail", "warning", "skip")


def test_a_fix_is_described_and_offered_as_an_insertion_of_the_merge_patch(report, policies, now):
    results = render(report, policies, now)["runs"][0]["results"]
    assert [r["fixes"] for r in results if "fixes" in r] == [
        [
            {
                "description": {
                    "text": "At spec.template.spec.containers[0]: merge {securityContext: {privileged: false}}"
                },
                "artifactChanges": [
                    {
                        "artifactLocation": {"uri": "manifests/shop/web.yaml", "uriBaseId": "%SRCROOT%"},
                        "replacements": [
                            {
                                "deletedRegion": {
                                    "startLine": 24,
                                    "startColumn": 1,
                                    "endLine": 24,
                                    "endColumn": 1,
                                },
                                "insertedContent": {"text": "securityContext:\n  privileged: false\n"},
                            }
                        ],
                    }
                ],
            }
        ]
    ]


def test_a_fix_that_only_removes_keys_deletes_nothing_in_the_text(report, policies, now):
    web_fail = next(r for r in report.results if r.fix is not None)
    report.results[:] = [
        dataclasses.replace(web_fail, fix={"path": "metadata.annotations", "merge": {}, "remove": ["a", "b"]})
    ]
    (fix,) = render(report, policies, now)["runs"][0]["results"][0]["fixes"]
    assert fix["description"] == {"text": "At metadata.annotations: remove a, b"}
    assert fix["artifactChanges"][0]["replacements"] == [
        {"deletedRegion": {"startLine": 24, "startColumn": 1, "endLine": 24, "endColumn": 1}}
    ]


def test_locations_name_the_resource_and_field_path(report, policies, now):
    result = render(report, policies, now)["runs"][0]["results"][-1]
    assert result["locations"] == [
        {
            "physicalLocation": {
                "artifactLocation": {"uri": "manifests/shop/web.yaml", "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": 24},
            },
            "logicalLocations": [
                {
                    "name": "spec.template.spec.containers[0].securityContext",
                    "fullyQualifiedName": "Deployment/shop/web:spec.template.spec.containers[0].securityContext",
                    "kind": "property",
                }
            ],
        }
    ]


def test_fingerprints_are_distinct_and_survive_a_moved_line(report):
    findings = [r for r in report.results if summaries.is_finding(r)]
    prints = {sarif.fingerprint(r) for r in findings}
    assert len(prints) == len(findings)
    moved = dataclasses.replace(findings[0], location=dataclasses.replace(findings[0].location, line=99))
    assert sarif.fingerprint(moved) == sarif.fingerprint(findings[0])
    other_path = dataclasses.replace(findings[0], location=Location("x.yaml", 1, "spec.other"))
    assert sarif.fingerprint(other_path) != sarif.fingerprint(findings[0])


def test_problems_are_tool_notifications_and_an_error_makes_the_execution_unsuccessful(report, policies, now):
    invocation = render(report, policies, now)["runs"][0]["invocations"][0]
    assert invocation == {
        "executionSuccessful": False,
        "endTimeUtc": "2025-03-14T09:26:53Z",
        "toolExecutionNotifications": [
            {
                "level": "error",
                "message": {"text": "mapping values are not allowed here"},
                "descriptor": {"id": "yaml.syntax"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": "manifests/shop/broken.yaml",
                                "uriBaseId": "%SRCROOT%",
                            },
                            "region": {"startLine": 3, "startColumn": 9},
                        }
                    }
                ],
            }
        ],
    }


def test_warnings_alone_leave_the_execution_successful(report, policies, now):
    report.problems[:] = [Problem("values.yaml", 0, "helm.values", "unused key", level=Level.WARNING)]
    invocation = render(report, policies, now)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    region = invocation["toolExecutionNotifications"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 1}


@pytest.mark.parametrize(
    ("file", "uri"),
    [
        ("manifests/web.yaml", "manifests/web.yaml"),
        ("./manifests/web.yaml", "manifests/web.yaml"),
        ("manifests\\windows\\web.yaml", "manifests/windows/web.yaml"),
        ("<stdin>", "%3Cstdin%3E"),
        ("dir with space/a#b.yaml", "dir%20with%20space/a%23b.yaml"),
        ("weird:name.yaml", "weird%3Aname.yaml"),
        ("/srv/repo/web.yaml", "file:///srv/repo/web.yaml"),
        ("C:\\repo\\web.yaml", "file:///C:/repo/web.yaml"),
    ],
)
def test_artifact_uris_are_valid_uri_references_with_forward_slashes(file, uri):
    assert sarif.artifact_uri(file) == uri
    assert URI_REFERENCE.match(uri)


def test_stdin_is_a_valid_uri_without_a_source_root(report, policies, now):
    report.results[:] = [
        dataclasses.replace(r, location=dataclasses.replace(r.location, file="<stdin>"))
        for r in report.results
    ]
    log = render(report, policies, now)
    artifacts = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in log["runs"][0]["results"]]
    assert {json.dumps(a) for a in artifacts} == {json.dumps({"uri": "%3Cstdin%3E"})}

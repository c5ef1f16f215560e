import dataclasses
import xml.etree.ElementTree as ET

from leitplanke.core.results import ScanReport, Verdict
from leitplanke.reports import junit


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode())


def outcome_of(case: ET.Element) -> str:
    tags = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    return tags[0] if tags else "passed"


def test_the_junit_report_matches_its_golden_file(report, policies, now, golden):
    golden("scan.junit.xml", junit.render(report, policies=policies, now=now))


def test_there_is_a_suite_per_policy_and_a_case_per_rule_and_resource(report, policies, now):
    root = parse(junit.render(report, policies=policies, now=now))
    cases = [
        (suite.get("name"), case.get("classname"), case.get("name"), outcome_of(case))
        for suite in root.iter("testsuite")
        for case in suite.iter("testcase")
    ]
    assert cases == [
        ("disallow-latest-tag", "disallow-latest-tag", "no-latest-tag: Deployment/shop/web", "passed"),
        ("disallow-latest-tag", "disallow-latest-tag", "no-latest-tag: Pod/debug", "passed"),
        (
            "disallow-privileged",
            "disallow-privileged",
            "no-privileged-containers: CronJob/batch/nightly-report",
            "skipped",
        ),
        (
            "disallow-privileged",
            "disallow-privileged",
            "no-privileged-containers: Deployment/shop/web",
            "failure",
        ),
        ("disallow-privileged", "disallow-privileged", "no-privileged-containers: Pod/debug", "passed"),
        ("require-probes", "require-probes", "liveness-probe: CronJob/batch/nightly-report", "skipped"),
        ("require-probes", "require-probes", "liveness-probe: Deployment/shop/web", "error"),
        (
            "require-resource-limits",
            "require-resource-limits",
            "memory-limits: CronJob/batch/nightly-report",
            "failure",
        ),
        (
            "require-resource-limits",
            "require-resource-limits",
            "memory-limits: Deployment/shop/web",
            "passed",
        ),
        (
            "restrict-cluster-admin",
            "restrict-cluster-admin",
            "no-cluster-admin-binding: ClusterRoleBinding/ci-admin",
            "failure",
        ),
        ("leitplanke:problems", "leitplanke:problems", "yaml.syntax: manifests/shop/broken.yaml", "error"),
    ]


def test_totals_add_up_per_suite_and_overall(report, policies, now):
    root = parse(junit.render(report, policies=policies, now=now))
    totals = {
        suite.get("name"): tuple(
            int(suite.get(name, "-1")) for name in ("tests", "failures", "errors", "skipped")
        )
        for suite in root.iter("testsuite")
    }
    assert totals == {
        "disallow-latest-tag": (2, 0, 0, 0),
        "disallow-privileged": (3, 1, 0, 1),
        "require-probes": (2, 0, 1, 1),
        "require-resource-limits": (2, 1, 0, 0),
        "restrict-cluster-admin": (1, 1, 0, 0),
        "leitplanke:problems": (1, 0, 1, 0),
    }
    assert {name: root.get(name) for name in ("tests", "failures", "errors", "skipped")} == {
        "tests": "11",
        "failures": "3",
        "errors": "2",
        "skipped": "2",
    }


def test_a_failure_carries_the_message_and_the_severity_as_its_type(report, policies, now):
    root = parse(junit.render(report, policies=policies, now=now))
    failure = root.find("testsuite[@name='disallow-privileged']/testcase[2]/failure")
    assert failure is not None
    assert (failure.get("message"), failure.get("type"), failure.text) == (
        "container 'web' is privileged",
        "critical",
        "manifests/shop/web.yaml:24 spec.template.spec.containers[0].securityContext: "
        "fail [critical] container 'web' is privileged",
    )


def test_a_waived_failure_is_skipped_and_a_warning_passes_with_output(report, policies, now):
    root = parse(junit.render(report, policies=policies, now=now))
    waived = root.find("testsuite[@name='disallow-privileged']/testcase[1]/skipped")
    assert waived is not None
    assert (waived.get("type"), waived.get("message")) == (
        "waived",
        "container 'report' is privileged (waived by legacy-batch-jobs: moves to restricted pods in Q3)",
    )
    warned = root.find("testsuite[@name='disallow-latest-tag']/testcase[1]")
    assert warned is not None
    assert [child.tag for child in warned] == ["system-out"]
    assert warned.findtext("system-out") == (
        "manifests/shop/web.yaml:20 spec.template.spec.containers[0].image: "
        "warn [low] image 'shop/web:latest' is not pinned"
    )


def test_the_worst_result_of_a_case_decides_it(report, policies, now):
    web_fail = next(r for r in report.results if r.verdict is Verdict.FAIL and r.resource.name == "web")
    second_container = web_fail.location.path.replace("[0]", "[1]")
    report.results.append(
        dataclasses.replace(
            web_fail,
            verdict=Verdict.PASS,
            message="",
            fix=None,
            location=dataclasses.replace(web_fail.location, line=40, path=second_container),
        )
    )
    root = parse(junit.render(report, policies=policies, now=now))
    case = root.find("testsuite[@name='disallow-privileged']/testcase[2]")
    assert case is not None
    assert (case.get("name"), outcome_of(case), case.get("line")) == (
        "no-privileged-containers: Deployment/shop/web",
        "failure",
        "24",
    )


def test_an_empty_scan_is_an_empty_testsuites_element(policies, now):
    assert junit.render(ScanReport(), policies=policies, now=now) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites name="leitplanke" tests="0" failures="0" errors="0" skipped="0" time="0" />\n'
    )

"""Every report format through ``leitplanke scan -f``, parsed back and checked for what CI reads from it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import yaml

BASELINE = ("--pack", "pss-baseline", "-j", "1")
RAN = "leitplanke: 12 policies: 12 from packs pss-baseline"  # the note of what ran, on stderr


def test_the_table_lists_each_failure_under_its_file_and_resource_and_ends_with_the_summary(
    run_cli, examples
):
    run = run_cli("scan", "examples/bad", *BASELINE)

    assert run.code == 1, run
    assert run.stdout_lines == [
        "examples/bad/node-agent-deployment.yaml",
        "  Deployment/monitoring/node-agent",
        "       18  fail    high      the pod sets hostNetwork to true",
        "                             disallow-host-namespaces/no-host-network at",
        "                             spec.template.spec.hostNetwork",
        "       23  fail    critical  container agent sets securityContext.privileged to true",
        "                             disallow-privileged-containers/no-privileged-containers at",
        "                             spec.template.spec.containers[0].securityContext.privileged",
        "       25  fail    high      container agent adds capabilities outside the baseline set: SYS_ADMIN",
        "                             restrict-added-capabilities/baseline-capabilities-only at",
        "                             spec.template.spec.containers[0].securityContext.capabilities.add",
        "       32  fail    high      volume host-root mounts the host path /",
        "                             disallow-host-path/no-host-path-volumes at",
        "                             spec.template.spec.volumes[0].hostPath",
        "",
        "examples/bad/process-snapshot-cronjob.yaml",
        "  CronJob/monitoring/process-snapshot",
        "       14  fail    high      the pod sets hostPID to true",
        "                             disallow-host-namespaces/no-host-pid at",
        "                             spec.jobTemplate.spec.template.spec.hostPID",
        "",
        "examples/bad/tuned-pod.yaml",
        "  Pod/default/tuned-cache",
        "       14  fail    medium    the pod sets sysctl net.core.somaxconn=4096, which is not in the safe",
        "                             set of v1.37",
        "                             restrict-sysctls/safe-sysctls-only at",
        "                             spec.securityContext.sysctls[1].name",
        "",
        "1 input skipped (not-kubernetes: 1)",
        "3 resources, 69 checks: 63 passed, 6 failed, 0 warnings, 0 errors, 0 skipped; 0 problems",
    ]
    assert run.stderr_lines == [RAN]


def test_the_table_of_all_examples_ends_with_the_skipped_inputs_and_the_summary_line(run_cli, examples):
    run = run_cli("scan", "examples", *BASELINE)

    assert run.code == 1, run
    # skipped, not Kubernetes objects: examples/bad/app-config.yaml, kpis.yaml, leitplanke.yaml, the two
    # documents of report-schedules.yaml and webhook/leitplanke.yaml
    assert run.stdout_lines[-2:] == [
        "6 inputs skipped (not-kubernetes: 6)",
        "50 resources, 161 checks: 155 passed, 6 failed, 0 warnings, 0 errors, 0 skipped; 0 problems",
    ]


def test_json_has_the_exact_summary_and_every_failure_with_file_line_and_path(
    run_cli, examples, bad_findings
):
    run = run_cli("scan", "examples/bad", "-f", "json", *BASELINE)

    assert run.code == 1, run
    report = run.json()
    assert report["schemaVersion"] == "leitplanke.dev/scan/v1"
    assert report["summary"] == {
        "checks": 69,
        "failuresBySeverity": {"critical": 1, "high": 4, "medium": 1, "low": 0, "info": 0},
        "problems": 0,
        "resources": 3,
        "skippedInputs": 1,
        "verdicts": {"pass": 63, "fail": 6, "warn": 0, "error": 0, "skip": 0},
        "waived": 0,
    }
    assert run.findings("fail") == bad_findings
    assert report["skipped"] == [
        {"file": "examples/bad/app-config.yaml", "index": 0, "line": 3, "reason": "not-kubernetes"}
    ]
    assert report["problems"] == []
    privileged = next(r for r in report["results"] if r["rule"] == "no-privileged-containers")
    assert {key: privileged[key] for key in ("severity", "message", "fix", "waiver")} == {
        "severity": "critical",
        "message": "container agent sets securityContext.privileged to true",
        "fix": {
            "path": "spec.template.spec.containers[0]",
            "merge": {"securityContext": {"privileged": False}},
            "remove": [],
        },
        "waiver": None,
    }


def test_sarif_is_valid_sarif_2_1_0_with_one_result_per_failure(run_cli, examples, shared):
    schema_file = shared / "schemas" / "sarif-schema-2.1.0.json"
    if not schema_file.is_file():
        pytest.skip(f"the SARIF schema is not at {schema_file}")

    run = run_cli("scan", "examples/bad", "-f", "sarif", *BASELINE)

    assert run.code == 1, run
    sarif = run.json()
    jsonschema.validate(sarif, json.loads(schema_file.read_text(encoding="utf-8")))
    (only_run,) = sarif["runs"]
    assert only_run["tool"]["driver"]["name"] == "leitplanke"
    assert {
        (
            result["ruleId"],
            result["level"],
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            result["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for result in only_run["results"]
    } == {
        ("disallow-host-namespaces/no-host-network", "error", "examples/bad/node-agent-deployment.yaml", 18),
        (
            "disallow-privileged-containers/no-privileged-containers",
            "error",
            "examples/bad/node-agent-deployment.yaml",
            23,
        ),
        (
            "restrict-added-capabilities/baseline-capabilities-only",
            "error",
            "examples/bad/node-agent-deployment.yaml",
            25,
        ),
        ("disallow-host-path/no-host-path-volumes", "error", "examples/bad/node-agent-deployment.yaml", 32),
        ("disallow-host-namespaces/no-host-pid", "error", "examples/bad/process-snapshot-cronjob.yaml", 14),
        ("restrict-sysctls/safe-sysctls-only", "warning", "examples/bad/tuned-pod.yaml", 14),
    }


def test_junit_has_a_suite_per_policy_and_a_failure_per_failing_check(run_cli, examples):
    run = run_cli("scan", "examples/bad", "-f", "junit", *BASELINE)

    assert run.code == 1, run
    root = ET.fromstring(run.stdout)
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "testsuites",
        "69",
        "6",
        "0",
        "0",
    )
    assert len(root.findall("testsuite")) == 12  # one per policy of the pack
    failed = {
        (case.get("classname"), case.get("name"), case.get("file"), case.get("line"))
        for case in root.iter("testcase")
        if case.find("failure") is not None
    }
    agent, agent_file = "Deployment/monitoring/node-agent", "examples/bad/node-agent-deployment.yaml"
    assert failed == {
        ("disallow-host-namespaces", f"no-host-network: {agent}", agent_file, "18"),
        ("disallow-privileged-containers", f"no-privileged-containers: {agent}", agent_file, "23"),
        ("restrict-added-capabilities", f"baseline-capabilities-only: {agent}", agent_file, "25"),
        ("disallow-host-path", f"no-host-path-volumes: {agent}", agent_file, "32"),
        (
            "disallow-host-namespaces",
            "no-host-pid: CronJob/monitoring/process-snapshot",
            "examples/bad/process-snapshot-cronjob.yaml",
            "14",
        ),
        (
            "restrict-sysctls",
            "safe-sysctls-only: Pod/default/tuned-cache",
            "examples/bad/tuned-pod.yaml",
            "14",
        ),
    }


def test_policyreport_has_one_report_per_namespace_and_one_for_the_cluster(run_cli, examples):
    run = run_cli("scan", "examples/bad", "-f", "policyreport", *BASELINE)

    assert run.code == 1, run
    reports = list(yaml.safe_load_all(run.stdout))
    assert [
        (r["apiVersion"], r["kind"], r["metadata"]["name"], r["metadata"].get("namespace"), r["summary"])
        for r in reports
    ] == [
        (
            "wgpolicyk8s.io/v1alpha2",
            "PolicyReport",
            "leitplanke-scan",
            "default",
            {"pass": 22, "fail": 1, "warn": 0, "error": 0, "skip": 0},
        ),
        (
            "wgpolicyk8s.io/v1alpha2",
            "PolicyReport",
            "leitplanke-scan",
            "monitoring",
            {"pass": 41, "fail": 5, "warn": 0, "error": 0, "skip": 0},
        ),
        (
            "wgpolicyk8s.io/v1alpha2",
            "ClusterPolicyReport",
            "leitplanke-scan",
            None,
            {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0},
        ),
    ]
    failing = {
        (r["policy"], r["rule"], r["resources"][0]["name"], r["properties"]["line"])
        for report in reports
        for r in report["results"]
        if r["result"] == "fail"
    }
    assert failing == {
        ("disallow-host-namespaces", "no-host-network", "node-agent", "18"),
        ("disallow-privileged-containers", "no-privileged-containers", "node-agent", "23"),
        ("restrict-added-capabilities", "baseline-capabilities-only", "node-agent", "25"),
        ("disallow-host-path", "no-host-path-volumes", "node-agent", "32"),
        ("disallow-host-namespaces", "no-host-pid", "process-snapshot", "14"),
        ("restrict-sysctls", "safe-sysctls-only", "tuned-cache", "14"),
    }


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_output_writes_the_report_to_the_file_and_nothing_to_stdout(
    run_cli, examples, tmp_path, bad_findings, findings_of, fmt
):
    run = run_cli("scan", "examples/bad", "-f", fmt, "--output", "report.out", *BASELINE)

    assert (run.code, run.stdout, run.stderr_lines) == (1, "", [RAN, "report written to report.out"])
    written = (tmp_path / "report.out").read_text(encoding="utf-8")
    if fmt == "json":
        assert findings_of(json.loads(written)) == bad_findings
    else:  # to a file, never coloured
        assert "\x1b[" not in written
        assert written.splitlines()[-1] == (
            "3 resources, 69 checks: 63 passed, 6 failed, 0 warnings, 0 errors, 0 skipped; 0 problems"
        )


@pytest.mark.parametrize("fmt", ["json", "table", "sarif"])
def test_a_report_written_over_an_older_one_is_exactly_the_new_report(run_cli, examples, tmp_path, fmt):
    fresh = run_cli("scan", "examples/bad", "-f", fmt, "--output", "fresh.out", *BASELINE)
    assert fresh.code == 1
    expected = (tmp_path / "fresh.out").read_bytes()
    timestamp = b"generatedAt" if fmt == "json" else b"endTimeUtc" if fmt == "sarif" else b""
    for older in (b"x" * (3 * len(expected)), b"short"):  # longer and shorter than the new report
        (tmp_path / "report.out").write_bytes(older)
        run = run_cli("scan", "examples/bad", "-f", fmt, "--output", "report.out", *BASELINE)
        assert run.code == 1
        written = (tmp_path / "report.out").read_bytes()
        if timestamp:
            expected_lines = [
                line for line in expected.splitlines() if timestamp not in line and b"TimeUtc" not in line
            ]
            assert [
                line for line in written.splitlines() if timestamp not in line and b"TimeUtc" not in line
            ] == expected_lines
            assert len(written) == len(expected)
        else:
            assert written == expected

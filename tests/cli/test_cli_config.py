"""The organisation config ``leitplanke.yaml``, read from the working directory or ``--config``."""

from __future__ import annotations

import pytest

SYSCTLS = (
    "restrict-sysctls",
    "safe-sysctls-only",
    "Pod/default/tuned-cache",
    "examples/bad/tuned-pod.yaml",
    14,
    "spec.securityContext.sysctls[1].name",
)
CAPABILITIES = (
    "restrict-added-capabilities",
    "baseline-capabilities-only",
    "Deployment/monitoring/node-agent",
    "examples/bad/node-agent-deployment.yaml",
    25,
    "spec.template.spec.containers[0].securityContext.capabilities.add",
)


def scan_json(run_cli, *args):
    return run_cli("scan", "examples/bad", "-f", "json", "-j", "1", *args)


def test_the_packs_of_the_config_are_the_ones_scanned(run_cli, write, examples, baseline_rules):
    write("leitplanke.yaml", "packs: [pss-baseline]\n")

    run = scan_json(run_cli)

    assert {(policy, rule) for policy, rule, _, _ in run.verdicts()} == baseline_rules


def test_a_severity_override_shows_in_every_result_and_in_the_counts(run_cli, write, examples):
    write(
        "leitplanke.yaml",
        """
        packs: [pss-baseline]
        overrides:
          disallow-host-namespaces: {severity: medium}
        """,
    )

    report = scan_json(run_cli).json()

    severities = {r["severity"] for r in report["results"] if r["policy"] == "disallow-host-namespaces"}
    assert severities == {"medium"}
    assert report["summary"]["failuresBySeverity"] == {
        "critical": 1,
        "high": 2,
        "medium": 3,
        "low": 0,
        "info": 0,
    }


def test_a_disabled_policy_has_no_results_at_all(run_cli, write, examples, bad_findings):
    write(
        "leitplanke.yaml",
        """
        packs: [pss-baseline]
        overrides:
          restrict-sysctls: {enabled: false}
        """,
    )

    run = scan_json(run_cli)

    assert "restrict-sysctls" not in {policy for policy, _, _, _ in run.verdicts()}
    assert run.findings("fail") == bad_findings - {SYSCTLS}


def test_params_of_an_override_replace_those_of_the_pack(run_cli, write, examples, bad_findings):
    write(
        "leitplanke.yaml",
        """
        packs: [pss-baseline]
        overrides:
          restrict-added-capabilities: {params: {allowedCapabilities: [SYS_ADMIN]}}
        """,
    )

    run = scan_json(run_cli)

    assert run.findings("fail") == bad_findings - {CAPABILITIES}
    assert (
        "restrict-added-capabilities",
        "baseline-capabilities-only",
        "Deployment/monitoring/node-agent",
        "pass",
    ) in (run.verdicts())


@pytest.mark.parametrize(("option", "code"), [((), 0), (("--fail-on", "high"), 1)])
def test_fail_on_from_the_config_applies_unless_the_command_line_says_otherwise(
    run_cli, write, examples, option, code
):
    write("leitplanke.yaml", "packs: [pss-baseline]\nfailOn: critical\n")

    run = run_cli(
        "scan", "examples/bad/process-snapshot-cronjob.yaml", "-j", "1", *option
    )  # one high failure

    assert run.code == code, run


def test_a_config_named_with_config_is_used_from_any_working_directory(run_cli, write, examples, tmp_path):
    write("settings/org.yaml", "packs: [pss-baseline]\nfailOn: critical\n")

    run = run_cli(
        "scan",
        "bad/process-snapshot-cronjob.yaml",
        "--config",
        "../settings/org.yaml",
        "-j",
        "1",
        cwd=examples,
    )

    assert run.code == 0, run


def test_an_override_of_an_unknown_policy_is_a_configuration_error(run_cli, write, examples):
    write(
        "leitplanke.yaml",
        """
        packs: [pss-baseline]
        overrides:
          disallow-host-namespace: {severity: low}
        """,
    )

    run = scan_json(run_cli)

    assert (run.code, run.stdout) == (2, "")
    assert run.stderr_lines == [
        "leitplanke.yaml: error unknown-policy [overrides]: override for unknown policy 'disallow-host-namespace'"
    ]

"""``leitplanke scan --waivers``: a waived failure is a ``skip`` naming its waiver; an expired waiver
only warns; a waiver that never expires is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

BASELINE = ("--pack", "pss-baseline", "-j", "1")
RAN = "leitplanke: 12 policies: 12 from packs pss-baseline"  # the note of what ran, on stderr
HOST_NETWORK = (
    "disallow-host-namespaces",
    "no-host-network",
    "Deployment/monitoring/node-agent",
    "examples/bad/node-agent-deployment.yaml",
    18,
    "spec.template.spec.hostNetwork",
)


def waiver(name: str, *, policies: str, match: str, expires: str | None, rules: str = "") -> str:
    lines = [
        "apiVersion: leitplanke.dev/v1",
        "kind: Waiver",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  policies: [{policies}]",
        *([f"  rules: [{rules}]"] if rules else []),
        f"  match: {match}",
        "  reason: reads host network statistics",
        "  owner: team-observability",
        "  approver: alice",
        *([f"  expires: {expires}"] if expires else []),
    ]
    return "\n".join(lines) + "\n"


def in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


def test_a_valid_waiver_turns_exactly_its_failure_into_a_skip_that_names_it(
    run_cli, write, examples, bad_findings
):
    write(
        "waivers/node-agent.yaml",
        waiver(
            "node-agent-host-network",
            policies="disallow-host-namespaces",
            rules="no-host-network",
            match="{kinds: [Deployment], namespaces: [monitoring], names: [node-agent]}",
            expires=in_days(30),
        ),
    )

    run = run_cli("scan", "examples/bad", "--waivers", "waivers", "-f", "json", *BASELINE)

    assert run.code == 1, run  # the other failures still fail the scan
    assert run.findings("fail") == bad_findings - {HOST_NETWORK}
    assert run.findings("skip") == {HOST_NETWORK}
    (waived,) = [r for r in run.json()["results"] if r["verdict"] == "skip"]
    assert (waived["waiver"], waived["message"]) == (
        "node-agent-host-network",
        "the pod sets hostNetwork to true (waived by node-agent-host-network: reads host network statistics)",
    )
    assert run.json()["summary"]["waived"] == 1
    assert run.stderr_lines == [RAN]


def test_waiving_the_only_failure_at_the_threshold_makes_the_scan_pass(run_cli, write, examples):
    write(
        "waivers/sysctls.yaml",
        waiver(
            "tuned-cache", policies="restrict-sysctls", match="{names: [tuned-cache]}", expires=in_days(7)
        ),
    )
    scan = ("scan", "examples/bad/tuned-pod.yaml", "--fail-on", "medium", *BASELINE)

    assert run_cli(*scan).code == 1
    assert run_cli(*scan, "--waivers", "waivers").code == 0


def test_an_expired_waiver_is_warned_about_and_suppresses_nothing(run_cli, write, examples, bad_findings):
    write(
        "waivers/old.yaml",
        waiver(
            "old-node-agent",
            policies="disallow-host-namespaces",
            match="{kinds: [Deployment]}",
            expires='"2020-01-31T12:00:00Z"',
        ),
    )

    run = run_cli("scan", "examples/bad", "--waivers", "waivers", "-f", "json", *BASELINE)

    assert run.code == 1, run
    assert run.findings("fail") == bad_findings
    assert run.stderr_lines == [
        RAN,
        "waivers/old.yaml:1: warning waiver-expired: waiver 'old-node-agent' expired on "
        "2020-01-31T12:00:00+00:00 and suppresses nothing",
    ]


@pytest.mark.parametrize(
    ("expires", "problem"),
    [
        (
            None,
            "waivers/forever.yaml:4: error missing-expiry [spec.expires]: a waiver must expire (spec.expires)",
        ),
        (
            f'"{in_days(365)}T12:00:00Z"',
            f"waivers/forever.yaml:10: error expiry-too-far [spec.expires]: expires {in_days(365)}T12:00:00+00:00, "
            "more than 90 days from now",
        ),
        (
            # a date means the end of that day, and the message says so
            in_days(365),
            f"waivers/forever.yaml:10: error expiry-too-far [spec.expires]: expires the end of {in_days(365)}, "
            "more than 90 days from now",
        ),
    ],
)
def test_a_waiver_without_an_expiry_in_reach_is_refused_with_exit_2(
    run_cli, write, examples, expires, problem
):
    write(
        "waivers/forever.yaml",
        waiver(
            "forever", policies="disallow-host-namespaces", match="{kinds: [Deployment]}", expires=expires
        ),
    )

    run = run_cli("scan", "examples/bad", "--waivers", "waivers", *BASELINE)

    assert (run.code, run.stdout, run.stderr_lines) == (2, "", [problem])

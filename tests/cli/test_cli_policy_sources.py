"""``--policies`` adds to the built-in packs, ``--pack none`` replaces them, and a user's policy
named like a built-in one replaces that one with a notice; one stderr line says what ran."""

from __future__ import annotations

import pytest

from leitplanke.engine import loading

OWN_SYSCTLS = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: restrict-sysctls}
spec:
  title: No sysctls at all here
  severity: high
  category: Pod Security
  match: {podSpec: true}
  rules:
  - name: no-sysctls
    validate: "podSpec.?securityContext.?sysctls.orValue([]).size() == 0"
    message: "'this cluster allows no sysctls'"
"""
TEAM_LABEL = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-team-label}
spec:
  title: Every pod names its team
  severity: low
  category: Organisation
  match: {kinds: [Pod]}
  rules:
  - name: team-label
    validate: "'team' in object.metadata.?labels.orValue({})"
    message: "'no team label'"
"""
POD = "examples/bad/tuned-pod.yaml"
BASELINE_FINDING = ("restrict-sysctls", "safe-sysctls-only", "Pod/default/tuned-cache", "fail")
OWN_FINDING = ("require-team-label", "team-label", "Pod/default/tuned-cache", "fail")


@pytest.fixture
def mine(write):
    write("mine/team.yaml", TEAM_LABEL)


def _failed(run):
    return {v for v in run.verdicts() if v[3] == "fail"}


def test_policies_add_to_the_chosen_pack(run_cli, examples, mine):
    run = run_cli("scan", POD, "--pack", "pss-baseline", "-p", "mine", "-f", "json", "-j", "1")

    assert _failed(run) == {BASELINE_FINDING, OWN_FINDING}, run
    assert run.stderr_lines == ["leitplanke: 13 policies: 12 from packs pss-baseline; 1 from mine"]


def test_policies_add_to_the_default_packs(run_cli, examples, mine):
    run = run_cli("scan", POD, "-p", "mine", "-f", "json", "-j", "1")

    assert {BASELINE_FINDING, OWN_FINDING} <= _failed(run), run
    [line] = run.stderr_lines
    assert line.startswith("leitplanke: ")
    assert line.endswith(f" from packs {', '.join(loading.default_packs())}; 1 from mine")


def test_pack_none_runs_the_given_policies_alone(run_cli, examples, mine):
    run = run_cli("scan", POD, "--pack", "none", "-p", "mine", "-f", "json", "-j", "1")

    assert _failed(run) == {OWN_FINDING}, run
    assert run.stderr_lines == ["leitplanke: 1 policy: 1 from mine; no built-in pack"]


def test_a_policy_named_like_a_built_in_one_replaces_it_with_a_notice(run_cli, examples, write):
    write("mine/sysctls.yaml", OWN_SYSCTLS)

    run = run_cli("scan", POD, "--pack", "pss-baseline", "-p", "mine", "-f", "json", "-j", "1")

    assert run.code == 1, run
    assert _failed(run) == {("restrict-sysctls", "no-sysctls", "Pod/default/tuned-cache", "fail")}
    assert run.stderr_lines == [
        "leitplanke: policy 'restrict-sysctls' of mine/sysctls.yaml:1 replaces the built-in one of pack "
        "pss-baseline",
        "leitplanke: 12 policies: 11 from packs pss-baseline; 1 from mine",
    ]


def test_quiet_leaves_out_the_note_of_what_ran(run_cli, examples, mine):
    run = run_cli("scan", POD, "--pack", "pss-baseline", "-p", "mine", "-q", "-j", "1")

    assert run.stderr == "", run


def test_lint_of_given_policies_lints_them_alone(run_cli, mine):
    run = run_cli("policies", "lint", "-p", "mine")

    assert (run.code, run.stdout_lines) == (0, ["1 policies, 0 errors"]), run

"""``leitplanke policies list|show|lint``: what is loaded, what one policy says, whether policies are sound."""

from __future__ import annotations

import yaml


def pack_policies(packs):
    """(pack, policy id) of every policy file of the built-in packs, read without leitplanke."""
    found = set()
    for file in packs.glob("*/*.yaml"):
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        if doc.get("kind") == "Policy":
            found.add((file.parent.name, doc["metadata"]["name"]))
    return found


def test_list_all_shows_every_policy_of_every_pack(run_cli, repo):
    packs = repo / "src" / "leitplanke" / "packs"

    run = run_cli("policies", "list", "--all", "-f", "json")

    assert (run.code, run.stderr) == (0, ""), run
    listed = run.json()
    assert {(p["pack"], p["id"]) for p in listed} == pack_policies(packs)
    assert {p["pack"] for p in listed} == {d.name for d in packs.iterdir() if d.is_dir()}


def test_the_list_table_has_a_row_for_every_policy(run_cli, repo):
    run = run_cli("policies", "list", "--all")

    assert run.code == 0, run
    rows = {line.split()[0] for line in run.stdout_lines[2:] if not line.startswith(" ")}  # ids, whole
    assert rows == {policy for _, policy in pack_policies(repo / "src" / "leitplanke" / "packs")}


def test_show_prints_the_policy_with_its_source_and_rules(run_cli, repo):
    source = repo / "src" / "leitplanke" / "packs" / "pss-baseline" / "disallow-privileged-containers.yaml"

    run = run_cli("policies", "show", "disallow-privileged-containers")

    assert run.code == 0, run
    lines = run.stdout_lines
    assert lines[:6] == [
        "disallow-privileged-containers: Privileged containers are not allowed",
        "  pack:        pss-baseline",
        "  severity:    critical",
        "  category:    Pod Security",
        "  controls:    PSS:baseline/privileged, CIS-K8s:5.2.2",
        f"  source:      {source}:1",
    ]
    assert lines[6].startswith("  description: A privileged container runs with every Linux capability")
    assert lines[7].startswith("  remediation: Delete securityContext.privileged from every container")
    assert lines[8:] == [
        "  rules:",
        "  - no-privileged-containers (fixable, unsafe)",
        "      forEach:  podSpec.containers + podSpec.?initContainers.orValue([]) "
        "+ podSpec.?ephemeralContainers.orValue([])",
        "      validate: !item.?securityContext.?privileged.orValue(false)",
        "      fix:      sets securityContext.privileged to false: the container loses the host's devices "
        "and every capability beyond the runtime's default set",
    ]


def test_show_of_an_unknown_policy_exits_2(run_cli):
    run = run_cli("policies", "show", "disallow-everything")

    assert (run.code, run.stdout, run.stderr_lines) == (2, "", ["no policy 'disallow-everything'"])


def test_lint_lists_every_problem_with_line_and_field_and_exits_2(run_cli, write):
    write(
        "policies/good.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata: {name: require-team-label}
        spec:
          severity: medium
          match: {kinds: [Pod]}
          rules:
          - name: team
            validate: has(object.metadata.labels)
        """,
    )
    write(
        "policies/broken.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata: {name: broken}
        spec:
          severity: urgent
          match: {kinds: [Pod]}
          rules:
          - name: first
            validate: "true"
          - name: second
            message: "'x'"
        """,
    )

    run = run_cli("policies", "lint", "-p", "policies")

    assert run.code == 2, run
    assert run.stdout_lines == [
        "policies/broken.yaml:5: error invalid-severity [spec.severity]: unknown severity 'urgent'; "
        "use one of critical, high, medium, low, info",
        "policies/broken.yaml:10: error missing-field [spec.rules[1].validate]: spec.rules[1].validate is required",
        "1 policies, 2 errors",
    ]


def test_lint_of_sound_policies_exits_0(run_cli, repo):
    run = run_cli("policies", "lint", "-p", str(repo / "src" / "leitplanke" / "packs" / "pss-baseline"))

    assert (run.code, run.stdout_lines) == (0, ["12 policies, 0 errors"])

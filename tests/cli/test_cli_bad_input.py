"""Bad input through ``leitplanke scan``: each broken file is one problem with file and line, the scan
goes on with the other files, and the exit code is 1 because an input could not be read.

Broken policies are different: nothing is scanned, every problem is listed, and the exit code is 2.
"""

from __future__ import annotations

import os
import re

import pytest

BASELINE = ("--pack", "pss-baseline", "-j", "1")
RAN = "leitplanke: 12 policies: 12 from packs pss-baseline"  # the note of what ran, on stderr
GOOD_POD = """
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
      namespace: shop
    spec:
      containers:
      - name: web
        image: nginx:1.27
    """
BILLION_LAUGHS = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: lol}
    data:
      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
      i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    """
BAD_FILES = {
    "broken.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n   labels: {}\n",
    "broken.json": '{"apiVersion": "v1",\n "kind": "Pod"\n "metadata": {"name": "web"}\n}\n',
    "bomb.yaml": BILLION_LAUGHS,
    "blob.yaml": b"\x00\x01\x02\x03 not text",
    "latin1.yaml": b"apiVersion: v1\nkind: Pod\nmetadata:\n  name: caf\xe9\n",
    "not-a-mapping.yaml": "- a\n- b\n---\njust text\n",
}


@pytest.fixture
def good_pod(write):
    return write("in/web.yaml", GOOD_POD)


@pytest.fixture
def passes_of_the_good_pod(baseline_rules):
    return {(policy, rule, "Pod/shop/web", "pass") for policy, rule in baseline_rules}


@pytest.mark.parametrize(
    ("name", "where", "problems"),
    [
        (
            "broken.yaml",
            [(5, 10, "yaml-syntax")],
            ["in/broken.yaml:5:10: error yaml-syntax: mapping values are not allowed in this context"],
        ),
        (
            "broken.json",
            [(3, 2, "json-syntax")],
            ["in/broken.json:3:2: error json-syntax: Expecting ',' delimiter"],
        ),
        (
            "bomb.yaml",
            [(1, 0, "alias-bomb")],
            [
                "in/bomb.yaml:1: error alias-bomb: expands to more than 1000000 nodes through aliases (billion laughs?)"
            ],
        ),
        (
            "blob.yaml",
            [(0, 0, "binary-file")],
            ["in/blob.yaml: error binary-file: NUL bytes in the first 8 KB: not a text file"],
        ),
        (
            "latin1.yaml",
            [(4, 12, "not-utf8")],
            ["in/latin1.yaml:4:12: error not-utf8: invalid UTF-8 (byte 0xe9 at offset 46)"],
        ),
        (
            "not-a-mapping.yaml",
            [(1, 0, "not-a-mapping"), (4, 0, "not-a-mapping")],
            [
                "in/not-a-mapping.yaml:1: error not-a-mapping: a document must be a mapping, found a list",
                "in/not-a-mapping.yaml:4: error not-a-mapping: a document must be a mapping, found a scalar",
            ],
        ),
    ],
)
def test_a_broken_file_is_a_problem_with_its_line_and_the_other_files_are_still_scanned(
    run_cli, write, good_pod, passes_of_the_good_pod, name, where, problems
):
    write(f"in/{name}", BAD_FILES[name])

    run = run_cli("scan", "in", "-f", "json", *BASELINE)

    assert run.code == 1, run  # nothing failed: an input could not be read
    assert run.stderr_lines == [RAN, *problems]
    assert [(p["file"], p["line"], p["column"], p["code"]) for p in run.json()["problems"]] == [
        (f"in/{name}", line, column, code) for line, column, code in where
    ]
    assert run.verdicts() == passes_of_the_good_pod


def test_the_table_lists_every_broken_file_under_problems_and_counts_them(run_cli, write, good_pod):
    for name, content in BAD_FILES.items():
        write(f"in/{name}", content)

    run = run_cli("scan", "in", *BASELINE)

    assert run.code == 1, run
    assert run.stdout_lines == [
        "No failed, warning or error checks.",
        "",
        "Problems",
        "    in/blob.yaml             error  binary-file    NUL bytes in the first 8 KB: not a text file",
        "    in/bomb.yaml:1           error  alias-bomb     expands to more than 1000000 nodes through",
        "                                                   aliases (billion laughs?)",
        "    in/broken.json:3:2       error  json-syntax    Expecting ',' delimiter",
        "    in/broken.yaml:5:10      error  yaml-syntax    mapping values are not allowed in this context",
        "    in/latin1.yaml:4:12      error  not-utf8       invalid UTF-8 (byte 0xe9 at offset 46)",
        "    in/not-a-mapping.yaml:1  error  not-a-mapping  a document must be a mapping, found a list",
        "    in/not-a-mapping.yaml:4  error  not-a-mapping  a document must be a mapping, found a scalar",
        "",
        "1 resource, 23 checks: 23 passed, 0 failed, 0 warnings, 0 errors, 0 skipped; 7 problems",
    ]
    assert run.stderr_lines == [RAN]


def test_a_100_mb_file_is_refused_unread_and_the_scan_stays_small(
    run_cli, write, tmp_path, good_pod, passes_of_the_good_pod
):
    baseline = run_cli("scan", "in", "-f", "json", *BASELINE)  # the same scan without the big file
    huge = write("in/huge.yaml", "")
    size = 100 * 1024 * 1024
    os.truncate(huge, size)  # sparse: costs no disk

    run = run_cli("scan", "in", "-f", "json", *BASELINE)

    assert run.code == 1, run
    assert run.stderr_lines == [
        RAN,
        f"in/huge.yaml: error too-large: {size} bytes is more than the limit of 67108864",
    ]
    assert run.verdicts() == passes_of_the_good_pod
    assert run.max_rss < baseline.max_rss + size // 4, "the whole file was read into memory"


# ---- policies: a broken policy is reported with every problem listed; the others run


def test_cel_syntax_errors_and_unknown_variables_exit_2_each_with_file_line_and_field(
    run_cli, write, good_pod
):
    write(
        "policies/labels.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata:
          name: require-labels
        spec:
          severity: high
          match: {kinds: [Pod]}
          rules:
          - name: labels
            validate: has(object.metadata.labels) &&
        """,
    )
    write(
        "policies/teams.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata:
          name: known-teams
        spec:
          severity: high
          match: {kinds: [Pod]}
          rules:
          - name: known
            validate: "true"
          - name: team
            message: "'unknown team'"
            validate: object.metadata.labels.team in teams
        """,
    )

    run = run_cli("scan", "in", "--pack", "none", "-p", "policies", "-j", "1", "-f", "json")

    assert run.code == 2, run
    assert [(b["name"], b["file"]) for b in run.json()["brokenPolicies"]] == [
        ("require-labels", "policies/labels.yaml"),
        ("known-teams", "policies/teams.yaml"),
    ]
    assert run.verdicts() == {
        ("known-teams", "known", "Pod/shop/web", "error"),
        ("known-teams", "team", "Pod/shop/web", "error"),
        ("require-labels", "labels", "Pod/shop/web", "error"),
    }
    syntax = (
        "Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', "
        "'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"
    )
    ran, *problems = run.stderr_lines
    assert ran == "leitplanke: 2 policies: 2 from policies; no built-in pack"
    found = [re.fullmatch(r"(.+):(\d+:\d+): error (\S+) \[(.+?)\]: (.*)", line) for line in problems]
    assert [m.groups() if m else line for m, line in zip(found, problems, strict=True)] == [
        # the end of the line: the expression stops after `&&`
        ("policies/labels.yaml", "10:45", "cel-compile", "spec.rules[0].validate", syntax),
        (
            "policies/teams.yaml",
            "13:46",
            "cel-compile",
            "spec.rules[1].validate",
            "undeclared reference to 'teams'",
        ),
    ]


def test_a_cel_error_points_at_the_column_of_the_file_where_the_mistake_is(run_cli, write, good_pod):
    write(
        "policies/teams.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata: {name: known-teams}
        spec:
          match: {kinds: [Pod]}
          rules:
          - name: team
            validate: object.metadata.labels.team in teams
          - name: folded
            validate: >-
              object.metadata.name != ''
              && teamz.exists(t, t == 'x')
        """,
    )

    run = run_cli("scan", "in", "--pack", "none", "-p", "policies", "-j", "1", "-f", "json")

    ran, *problems = run.stderr_lines
    assert ran == "leitplanke: 1 policy: 1 from policies; no built-in pack"
    assert [line.split(": ")[0] for line in problems] == [
        "policies/teams.yaml:8:46",  # `teams`, after `    validate: object.metadata.labels.team in `
        "policies/teams.yaml:12:10",  # `teamz`, on the second line of the folded scalar
    ]


def test_a_field_missing_at_run_time_is_an_error_result_with_the_runtime_message(
    run_cli, write, good_pod, passes_of_the_good_pod
):
    write(
        "policies/team.yaml",
        """
        apiVersion: leitplanke.dev/v1
        kind: Policy
        metadata: {name: require-team-label}
        spec:
          severity: high
          match: {kinds: [Pod]}
          rules:
          - name: team
            validate: object.metadata.labels.team != ''
            path: metadata.labels.team
        """,
    )
    write(
        "in/labelled.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: labelled
          namespace: shop
          labels: {team: shop}
        spec:
          containers: [{name: web, image: nginx:1.27}]
        """,
    )

    run = run_cli("scan", "in", "-p", "policies", "--pack", "pss-baseline", "-j", "1", "-f", "json")

    assert run.code == 1, run  # an error verdict fails the scan whatever its severity
    errors = [r for r in run.json()["results"] if r["verdict"] == "error"]
    assert [(r["policy"], r["rule"], r["location"], r["message"]) for r in errors] == [
        (
            "require-team-label",
            "team",
            # the nearest line that exists: metadata, since labels.team is not there
            {"file": "in/web.yaml", "index": 0, "line": 3, "path": "metadata.labels.team"},
            'NOT_FOUND: Key not found in map : "labels"',
        )
    ]
    labelled = {
        (policy, rule, "Pod/shop/labelled", verdict) for policy, rule, _, verdict in passes_of_the_good_pod
    }
    assert run.verdicts() == passes_of_the_good_pod | labelled | {
        ("require-team-label", "team", "Pod/shop/web", "error"),
        ("require-team-label", "team", "Pod/shop/labelled", "pass"),
    }

"""The table and ``policies list`` as wide as the terminal says (``COLUMNS``), a list when narrow;
colour, ``--quiet``, ``--severity`` and the progress bar.

Policies of the test's own (``--pack none -p mine``), so the text does not move with the packs.
"""

from __future__ import annotations

import io
import time

import pytest

from leitplanke import settings
from leitplanke.cli import progressbars, terminals

POLICIES = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: require-team-label}
spec:
  title: Every workload names its team
  severity: medium
  category: Organisation
  controls: ["ORG:ownership", "ORG:labels/team-label-required-on-every-workload"]
  match: {kinds: [Deployment]}
  rules:
  - name: team-label
    validate: "'team' in object.metadata.?labels.orValue({})"
    message: >-
      'Deployment ' + object.metadata.name + ' has no team label; add metadata.labels.team with the
      name of the team that is woken at night when it breaks'
---
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: prefer-few-replicas}
spec:
  title: Replicas are counted
  severity: low
  category: Cost
  match: {kinds: [Deployment]}
  rules:
  - name: replicas
    validate: "object.spec.?replicas.orValue(1) <= 2"
    message: "'Deployment ' + object.metadata.name + ' runs ' + string(object.spec.replicas) + ' replicas'"
"""
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: web
        image: registry.example.com/web:1.0
"""
OWN = ("--pack", "none", "-p", "mine", "-j", "1")
SUMMARY = "1 resource, 2 checks: 0 passed, 2 failed, 0 warnings, 0 errors, 0 skipped; 0 problems"


@pytest.fixture
def own(write):
    write("mine/policies.yaml", POLICIES)
    write("web.yaml", WEB)


SCAN_120 = f"""\
web.yaml
  Deployment/shop/web
        1  fail    low       Deployment web runs 3 replicas
                             prefer-few-replicas/replicas
        1  fail    medium    Deployment web has no team label; add metadata.labels.team with the name of the team that
                             is woken at night when it breaks
                             require-team-label/team-label

{SUMMARY}
"""
SCAN_80 = f"""\
web.yaml
  Deployment/shop/web
        1  fail    low       Deployment web runs 3 replicas
                             prefer-few-replicas/replicas
        1  fail    medium    Deployment web has no team label; add
                             metadata.labels.team with the name of the team that
                             is woken at night when it breaks
                             require-team-label/team-label

{SUMMARY}
"""
SCAN_50 = f"""\
web.yaml
  Deployment/shop/web
    fail low at line 1
      Deployment web runs 3 replicas
      prefer-few-replicas/replicas
    fail medium at line 1
      Deployment web has no team label; add
      metadata.labels.team with the name of the
      team that is woken at night when it breaks
      require-team-label/team-label

{SUMMARY}
"""


@pytest.mark.parametrize(("columns", "table"), [("120", SCAN_120), ("80", SCAN_80), ("50", SCAN_50)])
def test_the_scan_table_follows_columns_and_turns_into_a_list_when_narrow(run_cli, own, columns, table):
    run = run_cli("scan", "web.yaml", *OWN, env={"COLUMNS": columns, "NO_COLOR": "1"})

    assert (run.code, run.stdout) == (0, table), run
    assert run.stderr_lines == ["leitplanke: 2 policies: 2 from mine; no built-in pack"]


def test_without_columns_a_pipe_gets_the_default_width_of_100(run_cli, own):
    run = run_cli("scan", "web.yaml", *OWN)

    assert run.stdout_lines[4:6] == [
        "        1  fail    medium    Deployment web has no team label; add metadata.labels.team with the",
        "                             name of the team that is woken at night when it breaks",
    ]


LIST_120 = """\
policy                pack   severity   category       controls                                           rules
───────────────────────────────────────────────────────────────────────────────────────────────────────────────
prefer-few-replicas   -      low        Cost                                                                  1
require-team-label    -      medium     Organisation   ORG:ownership                                          1
                                                       ORG:labels/team-label-required-on-every-workload
"""
LIST_80 = """\
policy                                               pack   severity   rules
────────────────────────────────────────────────────────────────────────────
prefer-few-replicas                                  -      low            1
  Cost
require-team-label                                   -      medium         1
  Organisation
  ORG:ownership
  ORG:labels/team-label-required-on-every-workload
"""
LIST_50 = """\
prefer-few-replicas
  low, pack -, Cost, 1 rule
require-team-label
  medium, pack -, Organisation, 1 rule
  controls: ORG:ownership,
  ORG:labels/team-label-required-on-every-workload
"""


@pytest.mark.parametrize(("columns", "listing"), [("120", LIST_120), ("80", LIST_80), ("50", LIST_50)])
def test_policies_list_fits_the_terminal_without_broken_box_lines(run_cli, own, columns, listing):
    run = run_cli("policies", "list", "--pack", "none", "-p", "mine", env={"COLUMNS": columns})

    assert (run.code, run.stdout, run.stderr) == (0, listing, ""), run
    assert all(len(line) <= int(columns) for line in run.stdout_lines)


def test_every_built_in_policy_id_is_listed_whole_at_80_columns(run_cli):
    ids = {p["id"] for p in run_cli("policies", "list", "--all", "-f", "json").json()}

    run = run_cli("policies", "list", "--all", env={"COLUMNS": "80"})

    assert {line.split()[0] for line in run.stdout_lines[2:] if not line.startswith(" ")} == ids
    assert max(len(line) for line in run.stdout_lines) <= 80


def test_quiet_prints_the_summary_line_alone_and_keeps_the_exit_code(run_cli, own):
    run = run_cli("scan", "web.yaml", *OWN, "--quiet", "--fail-on", "low")

    assert (run.code, run.stdout, run.stderr) == (1, SUMMARY + "\n", ""), run


def test_severity_hides_lower_results_but_neither_the_summary_nor_the_exit_code_changes(run_cli, own):
    run = run_cli("scan", "web.yaml", *OWN, "--severity", "medium", "--fail-on", "low")

    assert run.code == 1, run  # the hidden low failure still fails the scan
    assert run.stdout == (
        "web.yaml\n"
        "  Deployment/shop/web\n"
        "        1  fail    medium    Deployment web has no team label; add metadata.labels.team with the\n"
        "                             name of the team that is woken at night when it breaks\n"
        "                             require-team-label/team-label\n"
        "\n"
        "1 result below medium not shown (--severity)\n"
        f"{SUMMARY}\n"
    )


def test_severity_is_refused_for_a_machine_format_that_carries_every_result(run_cli, own):
    run = run_cli("scan", "web.yaml", *OWN, "--severity", "high", "-f", "json")

    assert (run.code, run.stdout) == (2, ""), run
    assert run.stderr_lines == [
        "leitplanke: --severity filters the table; a json report carries every result"
    ]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "no_color", "display", "expected"),
    [
        (_Tty(), False, settings.Display(columns=91), terminals.Terminal(91, color=True, interactive=True)),
        (_Tty(), True, settings.Display(columns=91), terminals.Terminal(91, color=False, interactive=True)),
        (
            _Tty(),
            False,
            settings.Display(columns=91, no_color=True),
            terminals.Terminal(91, color=False, interactive=True),
        ),
        (io.StringIO(), False, settings.Display(), terminals.Terminal(100, color=False, interactive=False)),
        (None, False, settings.Display(columns=72), terminals.Terminal(72, color=False, interactive=False)),
    ],
)
def test_colour_only_on_a_terminal_and_never_with_no_color(stream, no_color, display, expected):
    assert terminals.build_terminal(stream, no_color=no_color, display=display) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, settings.Display()),
        ({"COLUMNS": "72", "NO_COLOR": "1"}, settings.Display(columns=72, no_color=True)),
        ({"COLUMNS": "wide", "NO_COLOR": ""}, settings.Display()),  # no-color.org: empty means unset
        ({"COLUMNS": "0"}, settings.Display()),
    ],
)
def test_the_display_settings_read_columns_and_no_color(environ, expected):
    assert settings.load_display(environ) == expected


def test_a_scan_shorter_than_the_delay_never_shows_a_progress_bar():
    bar = progressbars.ProgressBar(3, enabled=True, delay=0.5)
    with bar as advance:
        assert advance is not None
        advance(3)

    time.sleep(0.6)  # the timer was cancelled with the scan
    assert bar._bar is None


def test_a_progress_bar_that_is_off_gives_no_callback():
    with progressbars.ProgressBar(1000, enabled=False) as advance:
        assert advance is None


def test_a_long_scan_shows_the_bar_once_the_delay_has_passed():
    bar = progressbars.ProgressBar(3, enabled=True, delay=0.05)
    with bar as advance:
        assert advance is not None
        advance(1)
        deadline = time.monotonic() + 5
        while bar._bar is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bar._bar is not None
        advance(2)
        assert bar._bar.tasks[0].completed == 3

"""``leitplanke dora``: the table of an /api/v1/dora answer, and its exit codes without a service."""

from __future__ import annotations

import socket

from leitplanke.cli import dora

ANSWER = {
    "scope": {"level": "team", "name": "team-shop"},
    "env": "prod",
    "periodDays": 14,
    "figures": {
        "start": "2026-11-23T12:00:00Z",
        "end": "2026-12-07T12:00:00Z",
        "deployments": 30,
        "deploymentsPerDay": 2.1429,
        "commits": 61,
        "leadTimeSeconds": 9000.0,
        "failedDeployments": 3,
        "changeFailureRate": 0.1,
        "recovered": 2,
        "recoverySeconds": 2700.0,
        "unrecovered": 1,
        "bands": {
            "deploymentFrequency": "elite",
            "leadTime": "elite",
            "changeFailureRate": "high",
            "recoveryTime": "elite",
        },
    },
    "weeks": [
        {
            "start": "2026-11-23T12:00:00Z",
            "deployments": 0,
            "leadTimeSeconds": None,
            "changeFailureRate": None,
            "recoverySeconds": None,
        },
        {
            "start": "2026-11-30T12:00:00Z",
            "deployments": 30,
            "leadTimeSeconds": 9000.0,
            "changeFailureRate": 0.1,
            "recoverySeconds": 2700.0,
        },
    ],
}


def test_the_table_shows_each_figure_with_its_band_and_the_weekly_trend() -> None:
    text = dora.render_dora(ANSWER, color=False, width=90)
    assert [line.rstrip() for line in text.splitlines()] == [
        "DORA figures of team team-shop in prod, last 14 days",
        "metric                          value   band    basis",
        "─" * 77,
        "deployment frequency         2.14/day   elite   30 deployments",
        "lead time for changes            2.5h   elite   median of 61 commits",
        "change failure rate             10.0%   high    3 failed",
        "failed deployment recovery        45m   elite   median of 2 recovered, 1 open",
        "Weekly trend",
        "week from    deploys   lead time   failure rate   recovery",
        "──────────────────────────────────────────────────────────",
        "2026-11-23         0           —              —          —",
        "2026-11-30        30        2.5h          10.0%        45m",
    ]


def test_durations_read_as_minutes_hours_or_days() -> None:
    assert [dora.duration(s) for s in (None, 59.0, 3600.0, 86399.0, 86400.0 * 3.25)] == [
        "—",
        "1m",
        "1.0h",
        "24.0h",
        "3.2d",
    ]


def test_dora_from_a_closed_port_exits_4_and_two_scopes_exit_2(run_cli) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    closed = run_cli("dora", "--server", url, "--team", "team-shop", env={"LEITPLANKE_TOKEN": "t"})
    both = run_cli("dora", "--team", "a", "--app", "b", env={"LEITPLANKE_TOKEN": "t"})
    assert (closed.code, closed.stdout) == (4, ""), closed
    assert closed.stderr_lines[0].startswith(
        f"leitplanke: could not reach {url}/api/v1/dora?period=90d&team=team-shop"
    )
    assert (both.code, both.stderr_lines) == (2, ["leitplanke: give one of --team, --app and --value-stream"])

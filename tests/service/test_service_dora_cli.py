"""End to end: a generated history recorded in the database, a real ``leitplanke serve`` over it, and
``leitplanke dora --team X --period 28d`` printing the figures the generator made (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import serviceprocesses

import leitplanke
from leitplanke import catalog
from leitplanke.cli.dora import duration
from leitplanke.delivery import bands, histories
from leitplanke.governance import access

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
DAYS = 28


def _environment(url: str, data_dir: Path, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(data_dir),
        "LEITPLANKE_TOKEN": token,
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }


def _expected_rows(expected: histories.Expected) -> list[list[str]]:
    rate = expected.change_failure_rate or 0.0
    return [
        [
            "deployment",
            "frequency",
            f"{expected.deployments_per_day:.2f}/day",
            bands.deployment_frequency(expected.deployments_per_day),
            f"{expected.deployments}",
            "deployments",
        ],
        [
            "lead",
            "time",
            "for",
            "changes",
            duration(expected.lead_time_seconds),
            str(bands.lead_time(expected.lead_time_seconds)),
            "median",
            "of",
            f"{expected.commits}",
            "commits",
        ],
        [
            "change",
            "failure",
            "rate",
            f"{rate * 100:.1f}%",
            str(bands.change_failure_rate(rate)),
            f"{expected.failed_deployments}",
            "failed",
        ],
        [
            "failed",
            "deployment",
            "recovery",
            duration(expected.recovery_seconds),
            str(bands.recovery_time(expected.recovery_seconds)),
            "median",
            "of",
            f"{expected.recovered}",
            "recovered",
        ],
    ]


def test_leitplanke_dora_prints_the_generated_figures_of_a_team(database: Any, tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    history = histories.build_history(start=now - timedelta(days=DAYS), days=DAYS, seed=3)
    catalog.apply_catalog(database, histories.catalog_of(), actor="test", now=now)
    histories.replay(database, history, now=now)
    token = access.create_token(
        database, subject="user:lead", name="lead", role="viewer", team="team-platform", actor="test", now=now
    ).token
    port = serviceprocesses.free_port()
    env = _environment(database.url, tmp_path / "data", token)
    serve = [LEITPLANKE, "serve", "--port", str(port)]
    with serviceprocesses.serving(serve, port=port, cwd=tmp_path, env=env):
        server = f"http://127.0.0.1:{port}"
        shown = subprocess.run(
            [LEITPLANKE, "dora", "--server", server, "--team", "team-platform", "--period", f"{DAYS}d"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        refused = subprocess.run(
            [LEITPLANKE, "dora", "--server", server, "--team", "team-shop"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert (shown.returncode, shown.stderr) == (0, "")
    lines = shown.stdout.splitlines()
    assert lines[0] == f"DORA figures of team team-platform in prod, last {DAYS} days"
    expected = history.expected(level="team", name="team-platform", start=history.start, end=history.end)
    assert [line.split() for line in lines[3:7]] == _expected_rows(expected)
    assert lines[7] == "Weekly trend"
    assert refused.returncode == 5 and "refused (403)" in refused.stderr

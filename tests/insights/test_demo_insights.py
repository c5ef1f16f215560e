"""``make run``'s demo data (``db seed-demo``) yields the insights the issue promises: a memory leak and a
repeated OOM kill found by the leak detector in the generated series, ``require-probes`` recurring in
three apps, and a report (``--prometheus demo:``) whose every section is filled (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from leitplanke.cli import db
from leitplanke.insights import histories, trends
from leitplanke.store import rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(module_database: Any) -> Any:
    """Read only by the tests: seeded once per module and database."""
    db.seed_demo(module_database, examples=ROOT / "examples")
    return module_database


def _open_runtime_findings(database: Any) -> list[tuple[str, str, str, str]]:
    from sqlalchemy import select

    with database.reading() as session:
        query = (
            select(rows.App.name, rows.Environment.name, rows.Finding.policy, rows.Finding.severity)
            .join(rows.App, rows.App.id == rows.Finding.app_id)
            .join(rows.Environment, rows.Environment.id == rows.Finding.env_id)
            .where(rows.Finding.policy.like("runtime-%"), rows.Finding.status != "fixed")
        )
        return sorted((a, e, p, s) for a, e, p, s in session.execute(query))


def test_the_demo_holds_the_leak_and_oom_findings_of_the_generated_series(demo: Any) -> None:
    assert _open_runtime_findings(demo) == [
        ("checkout", "prod", "runtime-memory-leak", "high"),
        ("legacy-batch", "prod", "runtime-memory-leak", "critical"),
        ("legacy-batch", "prod", "runtime-oom-kills", "high"),
    ]


def test_the_demo_history_has_require_probes_recurring_in_three_apps(demo: Any) -> None:
    history = histories.load_history(demo, until=db.servicecommands.now())
    found = trends.build_trends(history, since=history.until - timedelta(days=30)).as_dict()
    assert found["recurring"] == [
        {"policy": "require-probes", "apps": ["checkout", "legacy-batch", "node-agent"], "reopenings": 12}
    ]


def test_the_demo_report_fills_every_section(demo: Any) -> None:
    command = [sys.executable, "-m", "leitplanke.cli", "report", "--database", str(demo.url)]
    command += ["--prometheus", "demo:", "--namespace-env", "checkout=prod", "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(command, capture_output=True, timeout=300, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    compliance, performance, cost = report["compliance"], report["performance"], report["cost"]
    assert compliance["recurring"][0]["policy"] == "require-probes"
    assert [f["framework"] for f in compliance["frameworks"] if f["controlsFailing"]] == [
        "PSS",
        "CIS Kubernetes",
        "NSA Kubernetes",
        "CKS",
    ]
    assert report["security"]["open"]["critical"] > 0
    assert (performance["leaks"], performance["oomKilled"]) == (2, 1)
    assert performance["doraFigures"]["deployments"] > 0
    assert sorted(cost["apps"]) == ["checkout", "legacy-batch", "node-agent"]
    assert sorted(cost["environments"]) == ["prod", "unassigned"]
    assert sorted(cost["valueStreams"]) == ["commerce", "observability", "reporting"]
    measured = {k["kpi"] for k in report["kpis"]["kpis"] if k["value"] is not None}
    assert measured == {
        "critical-open-over-7d",
        "sla-adherence",
        "waiver-ratio",
        "production-enforced",
        "production-observed",
        "deployment-frequency",
        "change-failure-rate",
        "cost-efficiency",
    }
    assert report["comparison"]["apps"] == {
        "cloud-native": ["checkout", "node-agent"],
        "not-cloud-native": ["legacy-batch"],
    }

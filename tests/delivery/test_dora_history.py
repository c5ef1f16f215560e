"""The DORA figures computed from the store equal those the generator made by construction, for every
app, team, value stream and the organisation, over the period and week by week (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leitplanke import catalog
from leitplanke.delivery import deliveryviews, dorametrics, histories
from leitplanke.store import deliveries

START = datetime(2026, 9, 7, 0, 0, tzinfo=UTC)
DAYS = 28
SCOPES = [
    ("app", "checkout"),
    ("app", "payments"),
    ("app", "node-agent"),
    ("app", "legacy-batch"),
    ("team", "team-shop"),
    ("team", "team-platform"),
    ("value-stream", "commerce"),
    ("value-stream", "observability"),
    ("org", ""),
]


def _scope(level: str, name: str) -> deliveries.Scope:
    return {
        "app": deliveries.Scope(app=name),
        "team": deliveries.Scope(team=name),
        "value-stream": deliveries.Scope(value_stream=name),
        "org": deliveries.Scope(),
    }[level]


def _as_expected(figures: dorametrics.DoraFigures) -> histories.Expected:
    return histories.Expected(
        deployments=figures.deployments,
        deployments_per_day=figures.deployments_per_day,
        commits=figures.commits,
        lead_time_seconds=figures.lead_time_seconds,
        failed_deployments=figures.failed_deployments,
        change_failure_rate=figures.change_failure_rate,
        recovered=figures.recovered,
        recovery_seconds=figures.recovery_seconds,
    )


@pytest.fixture(scope="module")
def replayed(module_database: Any) -> tuple[Any, histories.History]:
    """Read only by the tests: seeded once per module and database."""
    database = module_database
    history = histories.build_history(start=START, days=DAYS, seed=7)
    catalog.apply_catalog(database, histories.catalog_of(), actor="test", now=START)
    histories.replay(database, history)
    return database, history


def test_the_generated_history_has_every_kind_of_habit_and_failure() -> None:
    history = histories.build_history(start=START, days=DAYS, seed=7)
    org = history.expected(level="org", start=history.start, end=history.end)
    by_app = {
        app: history.expected(level="app", name=app, start=START, end=history.end)
        for app in ("checkout", "payments", "node-agent", "legacy-batch")
    }
    # seed 7: start offsets and ±20 minutes of jitter decide how many fit into the four weeks
    assert {app: (e.deployments, e.commits, e.failed_deployments) for app, e in by_app.items()} == {
        "checkout": (166, 320, 13),  # about every 4 hours; an incident every 12th
        "payments": (32, 95, 4),  # daily, and 4 reverts that roll back every 7th
        "node-agent": (4, 31, 1),  # weekly; an incident every 3rd
        "legacy-batch": (2, 60, 1),  # every 20 days, large batches; an incident every 2nd
    }
    assert (org.deployments, org.failed_deployments, org.recovered) == (204, 19, 19)


@pytest.mark.parametrize(("level", "name"), SCOPES)
def test_the_figures_of_each_scope_over_the_period_are_the_generated_ones(
    replayed: tuple[Any, histories.History], level: str, name: str
) -> None:
    database, history = replayed
    report = deliveryviews.dora_report(database, _scope(level, name), now=history.end, days=DAYS)
    assert asdict(_as_expected(report.figures)) == asdict(
        history.expected(level=level, name=name, start=history.start, end=history.end)
    )


def test_each_week_of_the_organisation_has_the_generated_figures(
    replayed: tuple[Any, histories.History],
) -> None:
    database, history = replayed
    report = deliveryviews.dora_report(database, deliveries.Scope(), now=history.end, days=DAYS)
    bounds = [
        (history.end - timedelta(days=7 * (4 - k)), history.end - timedelta(days=7 * (3 - k)))
        for k in range(4)
    ]
    assert [(w.start, w.end) for w in report.weeks] == bounds
    assert [asdict(_as_expected(w)) for w in report.weeks] == [
        asdict(history.expected(level="org", start=lo, end=hi)) for lo, hi in bounds
    ]

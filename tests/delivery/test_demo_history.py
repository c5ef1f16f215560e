"""``make run``'s demo (``db seed-demo``) holds four weeks of delivery history in prod for the demo
catalog's apps, whose figures are the generator's; seeding again adds nothing."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from leitplanke import catalog
from leitplanke.cli import db
from leitplanke.delivery import deliveryviews, histories
from leitplanke.store import deliveries

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_the_demo_seeds_four_weeks_whose_figures_are_the_generated_ones(database: Any) -> None:
    parsed, problems = catalog.parse_catalog(db.DEMO_CATALOG)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    db._seed_delivery_history(database, now=NOW)
    db._seed_delivery_history(database, now=NOW)  # again: every event a duplicate
    start = NOW - timedelta(days=db.DEMO_HISTORY_DAYS)
    history = histories.build_history(
        start=start, days=db.DEMO_HISTORY_DAYS, seed=1, habits=histories.DEMO_HABITS
    )
    for level, name, scope in (
        ("org", "", deliveries.Scope()),
        ("team", "team-platform", deliveries.Scope(team="team-platform")),
    ):
        report = deliveryviews.dora_report(database, scope, now=NOW, days=db.DEMO_HISTORY_DAYS, weekly=False)
        expected = history.expected(level=level, name=name, start=start, end=NOW)
        found = report.figures
        assert (found.deployments, found.commits, found.failed_deployments, found.recovered) == (
            expected.deployments,
            expected.commits,
            expected.failed_deployments,
            expected.recovered,
        )
        assert (found.lead_time_seconds, found.recovery_seconds) == (
            expected.lead_time_seconds,
            expected.recovery_seconds,
        )
    # seed 1: node-agent's weekly train has four releases and the revert of the failed one
    assert asdict(history.expected(level="app", name="node-agent", start=start, end=NOW)) == {
        "deployments": 5,
        "deployments_per_day": 5 / 28,
        "commits": 36,
        "lead_time_seconds": 341910.0,
        "failed_deployments": 1,
        "change_failure_rate": 0.2,
        "recovered": 1,
        "recovery_seconds": 13140.0,
    }

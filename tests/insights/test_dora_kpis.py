"""The scorecard's delivery KPIs and the report's DORA figures come from the generated delivery history
(``delivery.histories``) whose figures are known by construction (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leitplanke import catalog
from leitplanke.delivery import histories as deliveryhistories
from leitplanke.insights import deliverymeasures, histories, kpis, scopes, views

START = datetime(2026, 9, 7, tzinfo=UTC)
DAYS = 28
NOW = START + timedelta(days=DAYS)
PERIOD = timedelta(days=DAYS)
APPS = ("checkout", "legacy-batch", "node-agent", "payments")


@pytest.fixture(scope="module")
def replayed(module_database: Any) -> tuple[Any, deliveryhistories.History]:
    """Read only by the tests: seeded once per module and database."""
    database = module_database
    history = deliveryhistories.build_history(start=START, days=DAYS, seed=7)
    catalog.apply_catalog(database, deliveryhistories.catalog_of(), actor="test", now=START)
    deliveryhistories.replay(database, history)
    return database, history


def _expected(history: deliveryhistories.History, app: str) -> deliveryhistories.Expected:
    return history.expected(level="app", name=app, start=START, end=NOW)


def test_each_apps_deployments_per_week_and_change_failure_rate_are_the_generated_ones(
    replayed: tuple[Any, deliveryhistories.History],
) -> None:
    database, history = replayed
    measured = deliverymeasures.load_dora_measures(database, apps=list(APPS), now=NOW, period=PERIOD)
    expected = {app: _expected(history, app) for app in APPS}
    assert measured.current == {
        "deployment-frequency": {app: (float(e.deployments), 4.0) for app, e in expected.items()},
        "change-failure-rate": {
            app: (float(e.failed_deployments), float(e.deployments)) for app, e in expected.items()
        },
    }
    # the period before the history: nothing deployed, no rate
    assert measured.before == {
        "deployment-frequency": {app: (0.0, 4.0) for app in APPS},
        "change-failure-rate": {},
    }


def test_the_org_scorecard_carries_the_delivery_kpis_with_value_trend_and_the_apps_that_miss_them(
    replayed: tuple[Any, deliveryhistories.History],
) -> None:
    database, history = replayed
    asked = views.Asked(
        scope=scopes.Scope("org"), now=NOW, period=PERIOD, kpis=kpis.default_kpis(), sla_days={"critical": 7}
    )
    loaded = histories.load_history(database, until=NOW)
    asked = views.with_delivery(database, asked, loaded)
    card = views.scorecard(loaded, sorted(loaded.teams), asked)
    lines = {line["kpi"]: line for line in card["kpis"]}
    expected = {app: _expected(history, app) for app in APPS}
    deployed = sum(e.deployments for e in expected.values())
    failed = sum(e.failed_deployments for e in expected.values())
    frequency = lines["deployment-frequency"]
    assert (frequency["value"], frequency["previous"], frequency["trend"]) == (
        round(deployed / (4.0 * len(APPS)), 4),
        0.0,
        "better",
    )
    assert frequency["missing"] == sorted(app for app, e in expected.items() if e.deployments / 4.0 < 1.0)
    rate = lines["change-failure-rate"]
    assert (rate["value"], rate["previous"], rate["note"]) == (round(failed / deployed, 4), None, "")
    assert rate["missing"] == sorted(
        app
        for app, e in expected.items()
        if e.change_failure_rate is not None and e.change_failure_rate > 0.15
    )


def test_the_reports_dora_figures_of_a_team_are_the_generated_ones(
    replayed: tuple[Any, deliveryhistories.History],
) -> None:
    database, history = replayed
    figures = deliverymeasures.scope_figures(
        database, scopes.Scope("team", "team-shop"), now=NOW, period=PERIOD
    )
    expected = history.expected(level="team", name="team-shop", start=START, end=NOW)
    assert figures["deployments"] == expected.deployments
    assert figures["deploymentsPerWeek"] == round(expected.deployments_per_day * 7, 4)
    assert figures["failedDeployments"] == expected.failed_deployments
    assert figures["changeFailureRate"] == round(expected.change_failure_rate or 0, 4)
    assert figures["leadTimeHours"] == round((expected.lead_time_seconds or 0) / 3600, 2)


def test_without_deployments_the_delivery_kpis_stay_not_measured(catalog_database: Any) -> None:
    measured = deliverymeasures.load_dora_measures(
        catalog_database, apps=["checkout"], now=NOW, period=PERIOD
    )
    assert (measured.current, measured.before) == ({}, {})

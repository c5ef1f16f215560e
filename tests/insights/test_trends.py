"""Policy trends from a generated findings history with known answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import historydata
import pytest

from leitplanke.insights import histories, trends
from leitplanke.insights.trends import Point, Recurrence, Regression, SlowPolicy, WeekFlow

T = historydata.T


def _zero(**counts: int) -> dict[str, int]:
    return {s: counts.get(s, 0) for s in trends.SEVERITIES}


@pytest.fixture
def history_database(catalog_database: Any, result: Any) -> Any:
    historydata.ingest_history(catalog_database, result)
    return catalog_database


def _trends(database: Any, *, apps: list[str] | None = None) -> trends.Trends:
    history = histories.load_history(database, until=T + timedelta(days=21), apps=apps)
    return trends.build_trends(history, since=T)


def test_open_findings_per_severity_and_the_waiver_ratio_follow_the_history(history_database: Any) -> None:
    assert _trends(history_database).series == [
        Point(T, _zero(critical=1, high=2), 0),
        Point(T + timedelta(days=7), _zero(critical=1), 0),
        Point(T + timedelta(days=14), _zero(critical=1, high=2, medium=1), 0),
        Point(T + timedelta(days=21), _zero(high=1, medium=1), 1),
    ]
    assert [p.waiver_ratio for p in _trends(history_database).series] == [0.0, 0.0, 0.0, 0.3333]


def test_new_reopened_and_fixed_are_counted_per_week(history_database: Any) -> None:
    assert _trends(history_database).weeks == [
        WeekFlow(date(2026, 1, 5), new=3, reopened=0, fixed=0),
        WeekFlow(date(2026, 1, 12), new=0, reopened=0, fixed=2),
        WeekFlow(date(2026, 1, 19), new=1, reopened=2, fixed=0),
        WeekFlow(date(2026, 1, 26), new=0, reopened=0, fixed=1),
    ]


def test_a_policy_failing_again_after_a_fix_recurs_per_app_and_across_apps(history_database: Any) -> None:
    found = _trends(history_database)
    assert found.recurring == [Recurrence("require-probes", ("checkout", "warehouse"), 2)]
    assert found.recurring_by_app == {"checkout": {"require-probes": 1}, "warehouse": {"require-probes": 1}}


def test_findings_that_appeared_with_a_revision_are_its_regressions(history_database: Any) -> None:
    day14 = T + timedelta(days=14)
    assert _trends(history_database).regressions == [
        Regression(
            "checkout", "prod", "tmpl-2", 5, day14, (("require-probes", "liveness", "Deployment/shop/web"),)
        ),
        Regression(
            "warehouse",
            "prod",
            "tmpl-2",
            6,
            day14,
            (
                ("require-probes", "liveness", "Deployment/shop/stock"),
                ("run-as-non-root", "containers", "Deployment/shop/stock"),
            ),
        ),
    ]


def test_the_slowest_to_fix_policies_come_first(history_database: Any) -> None:
    assert _trends(history_database).slowest == [
        SlowPolicy("no-privileged", fixes=1, median_days=21.0, max_days=21.0),
        SlowPolicy("require-probes", fixes=2, median_days=7.0, max_days=7.0),
    ]


def test_a_scope_of_one_app_sees_only_its_history(history_database: Any) -> None:
    found = _trends(history_database, apps=["warehouse"])
    assert [p.open for p in found.series] == [
        _zero(high=1),
        _zero(),
        _zero(high=1, medium=1),
        _zero(high=1, medium=1),
    ]
    assert found.recurring == [Recurrence("require-probes", ("warehouse",), 1)]
    assert found.slowest == [SlowPolicy("require-probes", fixes=1, median_days=7.0, max_days=7.0)]

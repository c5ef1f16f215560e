"""The level-4 scorecard and the cloud-native comparison from a generated history with known answers,
on SQLite and PostgreSQL; KPI targets from configuration."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import historydata
import pytest

from leitplanke.core.problems import Problem
from leitplanke.insights import comparisons, histories, kpis, scorecards
from leitplanke.settings import DEFAULT_SLA_DAYS

T = historydata.T
NOW = T + timedelta(days=21)


@pytest.fixture
def history(catalog_database: Any, result: Any) -> histories.History:
    historydata.ingest_history(catalog_database, result)
    return histories.load_history(catalog_database, until=NOW)


def _card(history: histories.History, **kwargs: Any) -> list[tuple[Any, ...]]:
    card = scorecards.build_scorecard(
        history,
        kpis=kpis.default_kpis(),
        now=NOW,
        period=timedelta(days=14),
        sla_days=DEFAULT_SLA_DAYS,
        **kwargs,
    )
    return [
        (line.kpi.id, line.value, line.met, line.previous, line.trend, line.missing, line.note)
        for line in card.lines
    ]


def test_the_org_scorecard_has_every_kpi_with_value_target_trend_and_the_apps_that_miss_it(
    history: histories.History,
) -> None:
    assert _card(history) == [
        ("critical-open-over-7d", 0, True, 1, "better", (), ""),
        ("sla-adherence", 0.8333, False, 1.0, "worse", ("checkout",), ""),
        ("waiver-ratio", 0.3333, False, 0.0, "worse", ("checkout",), ""),
        ("production-enforced", 1.0, True, None, "", (), ""),
        ("production-observed", 1.0, True, 1.0, "same", (), ""),
        ("change-approval-coverage", None, None, None, "", (), "not measured"),
        ("deployment-frequency", None, None, None, "", (), "not measured"),
        ("change-failure-rate", None, None, None, "", (), "not measured"),
        ("cost-efficiency", None, None, None, "", (), "not measured"),
    ]


def test_a_team_scorecard_counts_only_its_apps_and_delivery_figures_are_taken_when_given(
    history: histories.History,
) -> None:
    external = {"deployment-frequency": {"checkout": (6.0, 3.0), "warehouse": (1.0, 3.0)}}
    lines = _card(history, scope="team:team-data", apps=["warehouse"], external=external)
    assert lines[:3] == [
        ("critical-open-over-7d", 0, True, 0, "same", (), ""),
        ("sla-adherence", 1.0, True, 1.0, "same", (), ""),
        ("waiver-ratio", 0.0, True, None, "", (), ""),
    ]
    assert lines[6] == ("deployment-frequency", 0.3333, False, None, "", ("warehouse",), "")
    assert _card(history, external=external)[6] == (
        "deployment-frequency",
        1.1667,
        True,
        None,
        "",
        ("warehouse",),
        "",
    )


def test_kpi_targets_come_from_configuration_and_every_mistake_is_named() -> None:
    text = "kpis:\n  waiver-ratio: {target: 0.1}\n  cost-efficiency: {enabled: false}\n  sla-adherence: {target: 95}\n  uptime: {target: 1}\n"
    parsed, problems = kpis.parse_targets(text, file="kpis.yaml")
    assert (
        parsed["waiver-ratio"].target,
        parsed["cost-efficiency"].enabled,
        parsed["sla-adherence"].target,
    ) == (0.1, False, 0.95)
    assert problems == [
        Problem("kpis.yaml", 0, "kpi-unknown", "no KPI 'uptime'", field="kpis.uptime"),
        Problem(
            "kpis.yaml", 0, "kpi-value", "a ratio's target is between 0 and 1", field="kpis.sla-adherence"
        ),
    ]


def test_apps_are_classed_by_the_catalog_and_by_their_observed_traits(history: histories.History) -> None:
    assert comparisons.classify(history, at=NOW) == [
        comparisons.AppClass("checkout", True, comparisons.TRAITS),
        comparisons.AppClass("warehouse", False, ("containerised", "horizontal-scaling", "observability")),
    ]


def test_cloud_native_and_other_apps_are_compared_side_by_side(history: histories.History) -> None:
    found = comparisons.compare(
        history, kpis=kpis.default_kpis(), now=NOW, period=timedelta(days=14), sla_days=DEFAULT_SLA_DAYS
    )
    assert found.apps == {"cloud-native": ("checkout",), "not-cloud-native": ("warehouse",)}
    assert found.rows == [
        ("open-findings-per-app", 0.0, 2.0),
        ("critical-open-over-7d", 0, 0),
        ("sla-adherence", 0.6667, 1.0),
        ("waiver-ratio", 1.0, 0.0),
        ("production-observed", 1.0, None),
        ("change-approval-coverage", None, None),
        ("deployment-frequency", None, None),
        ("change-failure-rate", None, None),
        ("cost-efficiency", None, None),
    ]

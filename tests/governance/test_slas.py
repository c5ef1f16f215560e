"""SLA deadlines per severity from the first sighting, and the figures per team and app at an injected time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leitplanke.governance import findings, findingviews, slas
from leitplanke.store import repositories

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}


def _ingest(database: Any, results: list[Any], *, now: datetime, app: str = "checkout") -> None:
    findings.ingest_scan(
        database,
        app=app,
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="t",
        now=now,
        sla_days=SLA,
    )


def test_the_due_date_is_first_seen_plus_the_days_of_the_severity() -> None:
    assert slas.due_date(T0, "critical", SLA) == datetime(2026, 1, 20, 9, 0, tzinfo=UTC)
    assert slas.due_date(T0, "high", SLA) == datetime(2026, 2, 4, 9, 0, tzinfo=UTC)
    assert slas.due_date(T0, "medium", SLA) == datetime(2026, 4, 5, 9, 0, tzinfo=UTC)
    assert slas.due_date(T0, "low", SLA) == datetime(2026, 7, 4, 9, 0, tzinfo=UTC)
    assert slas.due_date(T0, "info", SLA) is None


def test_findings_carry_their_due_date_and_keep_it_from_the_first_sighting(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(
        db,
        [result("p", "crit", "web", severity="critical"), result("p", "info", "web", severity="info")],
        now=T0,
    )
    _ingest(
        db,
        [result("p", "crit", "web", severity="critical"), result("p", "info", "web", severity="info")],
        now=T0 + timedelta(days=3),
    )
    _, views = findingviews.list_findings(db, repositories.FindingFilter(), limit=10, offset=0, now=T0)
    assert {(v.rule, v.sla_due) for v in views} == {("crit", T0 + timedelta(days=15)), ("info", None)}


def test_figures_count_open_overdue_mean_time_to_remediate_and_share_fixed_in_time(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    # checkout (team-shop): a critical fixed after 10 days (in time), a high fixed after 40 days (late),
    # a medium still open and overdue at the end, a low still open and not overdue
    _ingest(
        db,
        [
            result("p", "crit", "web", severity="critical"),
            result("p", "high", "web", severity="high"),
            result("p", "med", "web", severity="medium"),
            result("p", "low", "web", severity="low"),
        ],
        now=T0,
        app="checkout",
    )
    _ingest(
        db,
        [
            result("p", "high", "web", severity="high"),
            result("p", "med", "web", severity="medium"),
            result("p", "low", "web", severity="low"),
        ],
        now=T0 + timedelta(days=10),
        app="checkout",
    )
    _ingest(
        db,
        [result("p", "med", "web", severity="medium"), result("p", "low", "web", severity="low")],
        now=T0 + timedelta(days=40),
        app="checkout",
    )
    # warehouse (team-data): one high, open, not overdue at the end
    _ingest(
        db,
        [result("p", "high", "store", severity="high", namespace="data")],
        now=T0 + timedelta(days=80),
        app="warehouse",
    )

    now = T0 + timedelta(days=100)
    figures = slas.build_figures(db, now=now)
    assert figures == [
        slas.Figures(
            "team-data", "", open=1, overdue=0, fixed=0, mean_days_to_remediate=None, fixed_within_sla=None
        ),
        slas.Figures(
            "team-data",
            "warehouse",
            open=1,
            overdue=0,
            fixed=0,
            mean_days_to_remediate=None,
            fixed_within_sla=None,
        ),
        slas.Figures(
            "team-shop", "", open=2, overdue=1, fixed=2, mean_days_to_remediate=25.0, fixed_within_sla=0.5
        ),
        slas.Figures(
            "team-shop",
            "checkout",
            open=2,
            overdue=1,
            fixed=2,
            mean_days_to_remediate=25.0,
            fixed_within_sla=0.5,
        ),
    ]
    overdue_total, overdue = findingviews.list_findings(
        db, repositories.FindingFilter(overdue_at=now), limit=10, offset=0, now=now
    )
    assert [(v.app, v.rule, v.overdue) for v in overdue] == [("checkout", "med", True)]
    assert overdue_total == 1
    assert slas.build_figures(db, now=now, team="team-data") == figures[:2]

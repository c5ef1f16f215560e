"""Ingestion on both databases: only service waivers waive (a name the client claims is no waiver),
results are consumed once before anything is written, and unchanged findings are not rewritten."""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from leitplanke.governance import errors, findings, findingviews, waivers
from leitplanke.store import repositories
from leitplanke.store.rows import Finding, Scan

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}


def _ingest(database: Any, results: Any, *, now: datetime = T0) -> findings.Ingested:
    return findings.ingest_scan(
        database,
        app="checkout",
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="token:ci",
        now=now,
        sla_days=SLA,
    )


def _approved(database: Any, *, name: str, now: datetime = T0) -> str:
    """An approved service waiver of no-privileged/containers on Deployment shop/<name>; its name."""
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=("no-privileged",),
        rules=("containers",),
        resources=(waivers.ResourceRef("Deployment", name, "shop"),),
        justification="vendor image needs it until 2.0",
        expires=now + timedelta(days=30),
    )
    view = waivers.request_waiver(database, request, actor="token:dev", now=now, max_days=90)
    waivers.decide_waiver(database, view.id, approve=True, note="", actor="token:lead", now=now)
    return view.name


def _rows(database: Any) -> dict[str, tuple[str, str, datetime | None, int]]:
    """Per resource name: (status, waiver, waived_since, last_scan_id) as stored."""
    with database.reading() as session:
        rows = session.execute(
            select(Finding.name, Finding.status, Finding.waiver, Finding.waived_since, Finding.last_scan_id)
        )
        return {name: (status, waiver, since, scan) for name, status, waiver, since, scan in rows}


def test_a_skip_naming_a_waiver_the_service_does_not_know_counts_as_failing(
    catalog_database: Any, result: Any
) -> None:
    outcome = _ingest(
        catalog_database,
        [
            result("no-privileged", "containers", "web", verdict="skip", waiver="my-own-waiver"),
            result("no-privileged", "containers", "api", verdict="skip", waiver="another"),
            result("no-privileged", "containers", "db"),
        ],
    )
    assert outcome.as_dict() == {
        "scan": 1,
        "app": "checkout",
        "env": "prod",
        "findings": 3,
        "transitions": {"none->new": 3},
        "unrecognisedWaivers": ["another", "my-own-waiver"],
    }
    assert _rows(catalog_database) == {
        "web": ("new", "", None, 1),
        "api": ("new", "", None, 1),
        "db": ("new", "", None, 1),
    }


def test_only_an_approved_service_waiver_covering_the_result_waives_it(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    web = _approved(db, name="web")
    outcome = _ingest(
        db,
        [
            result("no-privileged", "containers", "web", verdict="skip", waiver=web),  # recognised
            result(
                "no-privileged", "containers", "api", verdict="skip", waiver=web
            ),  # web's waiver, not api's
            result("no-privileged", "containers", "db", verdict="skip", waiver="local-file-waiver"),
        ],
    )
    assert (outcome.transitions, outcome.unrecognised_waivers) == (
        {"none->new": 2, "none->waived": 1},
        ["local-file-waiver", web],
    )
    assert _rows(db) == {
        "web": ("waived", web, T0, 1),
        "api": ("new", "", None, 1),
        "db": ("new", "", None, 1),
    }


def test_a_failure_a_service_waiver_covers_is_waived_whatever_the_client_sent(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    web = _approved(db, name="web")
    outcome = _ingest(db, [result("no-privileged", "containers", "web")])
    assert (outcome.transitions, outcome.unrecognised_waivers) == ({"none->waived": 1}, [])
    assert _rows(db) == {"web": ("waived", web, T0, 1)}


def test_a_self_granted_waiver_does_not_pause_the_sla_of_a_known_finding(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")])
    later = T0 + timedelta(days=1)
    outcome = _ingest(
        db, [result("no-privileged", "containers", "web", verdict="skip", waiver="w")], now=later
    )
    assert (outcome.transitions, outcome.unrecognised_waivers) == ({"new->open": 1}, ["w"])
    _, (view,) = findingviews.list_findings(db, repositories.FindingFilter(), limit=10, now=later)
    assert (view.status, view.waiver, view.sla_due) == ("open", "", T0 + timedelta(days=30))


def test_results_are_consumed_once_and_a_failure_while_reading_them_writes_nothing(
    catalog_database: Any, result: Any
) -> None:
    consumed: list[int] = []

    def broken() -> Iterator[Any]:
        for index in range(3):
            consumed.append(index)
            yield result("no-privileged", "containers", f"web-{index}")
        raise errors.Invalid("result 3 lacks a policy", field="results[3].policy")

    with pytest.raises(errors.Invalid):
        _ingest(catalog_database, broken())
    assert consumed == [0, 1, 2]
    with catalog_database.reading() as session:
        assert (repositories.count_findings(session), session.scalars(select(Scan)).all()) == (0, [])

    outcome = _ingest(catalog_database, (result("p", "r", f"web-{i}", verdict="pass") for i in range(4)))
    with catalog_database.reading() as session:
        assert session.scalars(select(Scan.results)).all() == [4]
    assert outcome.findings == 0


def test_an_identical_upload_rewrites_no_finding_and_last_seen_follows_the_latest_scan(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    scan = [result("no-privileged", "containers", f"web-{i}") for i in range(30)]
    _ingest(db, scan)
    _ingest(db, scan, now=T0 + timedelta(days=1))  # new -> open: every row changes
    third = _ingest(db, scan, now=T0 + timedelta(days=2))
    assert third.transitions == {}
    assert set(_rows(db).values()) == {("open", "", None, 2)}  # still as the second scan wrote them
    _, views = findingviews.list_findings(db, repositories.FindingFilter(), limit=100, now=T0)
    assert {(v.status, v.first_seen, v.last_seen) for v in views} == {("open", T0, T0 + timedelta(days=2))}

    fourth = _ingest(db, scan[1:], now=T0 + timedelta(days=3))  # web-0 is fixed: last seen by the third
    assert fourth.transitions == {"open->fixed": 1}
    _, views = findingviews.list_findings(db, repositories.FindingFilter(status="fixed"), limit=100, now=T0)
    assert [(v.resource["name"], v.last_seen, v.fixed_at) for v in views] == [
        ("web-0", T0 + timedelta(days=2), T0 + timedelta(days=3))
    ]
    assert _rows(db)["web-0"] == ("fixed", "", None, 3)


def test_a_changed_message_or_severity_is_written_without_a_transition(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")])
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0 + timedelta(days=1))
    changed = result("no-privileged", "containers", "web", severity="critical")
    changed.message = "now worse"
    outcome = _ingest(db, [changed], now=T0 + timedelta(days=2))
    assert outcome.transitions == {}
    _, (view,) = findingviews.list_findings(db, repositories.FindingFilter(), limit=10, now=T0)
    assert (view.status, view.severity, view.message, view.sla_due) == (
        "open",
        "critical",
        "now worse",
        T0 + timedelta(days=15),
    )


def test_the_garbage_collector_is_paused_while_results_are_read_and_on_again_after(
    catalog_database: Any, result: Any
) -> None:
    seen: list[bool] = []

    def results() -> Iterator[Any]:
        seen.append(gc.isenabled())
        yield result("no-privileged", "containers", "web")

    assert gc.isenabled()
    _ingest(catalog_database, results())
    assert (seen, gc.isenabled()) == ([False], True)

    def broken() -> Iterator[Any]:
        yield result("no-privileged", "containers", "web")
        raise errors.Invalid("result 1 lacks a policy", field="results[1].policy")

    with pytest.raises(errors.Invalid):
        _ingest(catalog_database, broken())
    assert gc.isenabled()


def test_an_ingestion_that_wrote_ten_thousand_findings_leaves_them_vacuumed_and_analysed_not_fewer(
    catalog_database: Any, result: Any
) -> None:
    outcome = _ingest(
        catalog_database, [result("no-privileged", "containers", f"web-{i}") for i in range(50)]
    )

    def upkeep() -> tuple[int, int] | None:  # pages marked all-visible, rows the planner knows of
        if catalog_database.dialect != "postgresql":
            return None
        with catalog_database.reading() as session:
            row = session.execute(
                text("SELECT relallvisible, reltuples FROM pg_class WHERE oid = 'findings'::regclass")
            ).one()
        return int(row[0]), int(row[1])

    before = upkeep()
    for written, rewritten in ((9_000, 999), (9_000, 1_000)):
        findings.refresh_statistics(
            catalog_database, dataclasses.replace(outcome, new_findings=written, rewritten_findings=rewritten)
        )
        if written + rewritten < 10_000:
            assert upkeep() == before  # untouched: autovacuum's business
    if catalog_database.dialect == "postgresql":
        assert before is not None and before[0] == 0
        pages, rows = upkeep() or (0, 0)
        assert (pages > 0, rows) == (
            True,
            50,
        )  # VACUUM (ANALYZE): counts from the index alone, 50 rows planned

"""Scans have a source (``ci``, ``drift``, ``cluster:<name>``, ``admission``): on both databases, an upload
fixes only the findings its own source reported last in the scope, a finding reported by another source
becomes that source's, and the result's category is kept with the finding."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from leitplanke.core.results import Resource
from leitplanke.governance import admissiondecisions, findings, findingviews
from leitplanke.store import repositories
from leitplanke.store.rows import Finding, Scan

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}
AGENT = "cluster:prod-eu"


def _ingest(database: Any, results: Any, *, source: str, at: int) -> findings.Ingested:
    return findings.ingest_scan(
        database,
        app="checkout",
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="token:ci",
        now=T0 + timedelta(hours=at),
        sla_days=SLA,
        source=source,
    )


def _drift(result: Any, name: str) -> Any:
    return dataclasses.replace(
        result("drift.deployment", "drifted", name, severity="medium", path=""), category="drift"
    )


def _state(database: Any) -> set[tuple[str, str, str, str, str]]:
    """(policy, resource name, status, source, category) of every finding as stored."""
    with database.reading() as session:
        rows = session.execute(
            select(Finding.policy, Finding.name, Finding.status, Finding.source, Finding.category)
        )
        return {tuple(row) for row in rows}  # type: ignore[misc]


def test_ci_drift_and_agent_uploads_into_one_scope_each_fix_only_their_own_findings(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    ci = _ingest(db, [result("no-privileged", "containers", "web")], source="ci", at=0)
    drift = _ingest(db, [_drift(result, "web")], source="drift", at=1)
    agent = _ingest(db, [result("require-team-label", "team-label", "api")], source=AGENT, at=2)
    assert (ci.transitions, drift.transitions, agent.transitions) == (
        {"none->new": 1},
        {"none->new": 1},
        {"none->new": 1},
    )
    assert _state(db) == {
        ("no-privileged", "web", "new", "ci", ""),
        ("drift.deployment", "web", "new", "drift", "drift"),
        ("require-team-label", "api", "new", AGENT, ""),
    }

    # each source comes back with nothing to say: only its own finding is fixed, every time
    assert _ingest(db, [], source="drift", at=3).transitions == {"new->fixed": 1}
    assert _state(db) == {
        ("no-privileged", "web", "new", "ci", ""),
        ("drift.deployment", "web", "fixed", "drift", "drift"),
        ("require-team-label", "api", "new", AGENT, ""),
    }
    assert _ingest(db, [], source="ci", at=4).transitions == {"new->fixed": 1}
    assert _ingest(db, [], source=AGENT, at=5).transitions == {"new->fixed": 1}
    assert {row[2] for row in _state(db)} == {"fixed"}
    with db.reading() as session:
        sources = session.execute(select(Scan.id, Scan.source).order_by(Scan.id)).all()
    assert [tuple(row) for row in sources] == [
        (1, "ci"),
        (2, "drift"),
        (3, AGENT),
        (4, "drift"),
        (5, "ci"),
        (6, AGENT),
    ]


def test_a_finding_reported_by_a_second_source_is_fixed_only_when_that_source_no_longer_reports_it(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    failing = [result("no-privileged", "containers", "web")]
    _ingest(db, failing, source="ci", at=0)
    # the agent sees the same object fail: one finding (one fingerprint), now the agent's
    assert _ingest(db, failing, source=AGENT, at=1).transitions == {"new->open": 1}
    assert _state(db) == {("no-privileged", "web", "open", AGENT, "")}
    # the CI scan that no longer reports it does not fix what the cluster still runs
    assert _ingest(db, [], source="ci", at=2).transitions == {}
    assert _ingest(db, [], source=AGENT, at=3).transitions == {"open->fixed": 1}
    with db.reading() as session:
        (fixed,) = session.execute(select(Finding.fixed_at, Finding.last_seen, Finding.last_scan_id)).all()
    # fixed by the agent's scan 4; last seen by the agent's scan 2, not by the CI scan 3 between them
    assert tuple(fixed) == (T0 + timedelta(hours=3), T0 + timedelta(hours=1), 2)


def test_a_finding_not_fixed_is_last_seen_at_its_own_sources_latest_scan(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")], source="ci", at=0)
    _ingest(db, [_drift(result, "web")], source="drift", at=1)
    _ingest(db, [result("no-privileged", "containers", "web")], source="ci", at=2)
    _ingest(db, [_drift(result, "web")], source="drift", at=5)
    _, views = findingviews.list_findings(db, repositories.FindingFilter(), limit=10, offset=0, now=T0)
    seen = {(view.policy, view.source, view.category, view.last_seen) for view in views}
    assert seen == {
        ("no-privileged", "ci", "", T0 + timedelta(hours=2)),
        ("drift.deployment", "drift", "drift", T0 + timedelta(hours=5)),
    }


def test_an_admission_finding_is_fixed_by_a_later_ci_scan_but_not_by_a_drift_upload(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    decision = admissiondecisions.Decision(
        uid="uid-1",
        decided_at=T0,
        app="checkout",
        env="prod",
        mode="enforce",
        outcome="deny",
        operation="CREATE",
        user="dev",
        resource=Resource("apps/v1", "Deployment", "shop", "web"),
        results=(
            admissiondecisions.DecisionResult("no-privileged", "containers", "fail", "high", "privileged"),
        ),
    )
    admissiondecisions.record_decisions(db, decisions=[decision], actor="token:webhook", now=T0, sla_days=SLA)
    assert _state(db) == {("no-privileged", "web", "new", "admission", "")}
    assert _ingest(db, [], source="drift", at=1).transitions == {}
    assert _ingest(db, [], source="ci", at=2).transitions == {"new->fixed": 1}

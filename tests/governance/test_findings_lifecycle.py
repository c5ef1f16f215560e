"""Findings move new → open → fixed → reopened across scans of one (app, env); every change is audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leitplanke.governance import auditverifying, errors, findings, findingviews, waivers
from leitplanke.store import auditrecords, repositories
from leitplanke.store.rows import AuditRecord

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}


def _ingest(
    database: Any, results: list[Any], *, now: datetime, app: str = "checkout", env: str = "prod"
) -> Any:
    return findings.ingest_scan(
        database,
        app=app,
        env=env,
        results=results,
        summary={},
        generated_at="",
        actor="token:ci",
        now=now,
        sla_days=SLA,
    )


def _state(database: Any) -> dict[tuple[str, str], tuple[str, datetime, datetime, datetime | None]]:
    total, views = findingviews.list_findings(
        database, repositories.FindingFilter(), limit=100, offset=0, now=T0
    )
    assert total == len(views)
    return {(v.policy, v.resource["name"]): (v.status, v.first_seen, v.last_seen, v.fixed_at) for v in views}


def _approve_waiver(
    database: Any, *, policy: str, rule: str, name: str, now: datetime, expires: datetime
) -> str:
    """An approved service waiver for one Deployment in shop of checkout/prod; its name."""
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=(policy,),
        rules=(rule,),
        resources=(waivers.ResourceRef("Deployment", name, "shop"),),
        justification="needed until the next release",
        expires=expires,
    )
    view = waivers.request_waiver(database, request, actor="token:dev", now=now, max_days=90)
    waivers.decide_waiver(database, view.id, approve=True, note="", actor="token:lead", now=now)
    return view.name


def test_a_finding_is_new_then_open_then_fixed_then_reopened_across_scans(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    t1, t2, t3, t4 = T0, T0 + timedelta(days=1), T0 + timedelta(days=2), T0 + timedelta(days=3)
    name = _approve_waiver(
        db, policy="host-network", rule="pod", name="db", now=t1, expires=t1 + timedelta(days=30)
    )
    first = _ingest(
        db,
        [
            result("no-privileged", "containers", "web"),
            result("run-as-non-root", "containers", "api"),
            result("host-network", "pod", "db", verdict="skip", waiver=name),
            result("probes", "liveness", "web", verdict="pass"),
        ],
        now=t1,
    )
    assert first.transitions == {"none->new": 2, "none->waived": 1}
    assert _state(db) == {
        ("no-privileged", "web"): ("new", t1, t1, None),
        ("run-as-non-root", "api"): ("new", t1, t1, None),
        ("host-network", "db"): ("waived", t1, t1, None),
    }

    second = _ingest(
        db,
        [
            result("no-privileged", "containers", "web"),
            result("run-as-non-root", "containers", "api", verdict="pass"),
        ],
        now=t2,
    )
    assert second.transitions == {"new->open": 1, "new->fixed": 1, "waived->fixed": 1}
    assert _state(db) == {
        ("no-privileged", "web"): ("open", t1, t2, None),
        ("run-as-non-root", "api"): ("fixed", t1, t1, t2),
        ("host-network", "db"): ("fixed", t1, t1, t2),
    }

    third = _ingest(
        db,
        [result("no-privileged", "containers", "web"), result("run-as-non-root", "containers", "api")],
        now=t3,
    )
    assert third.transitions == {"fixed->reopened": 1}
    assert _state(db) == {
        ("no-privileged", "web"): ("open", t1, t3, None),
        ("run-as-non-root", "api"): ("reopened", t1, t3, None),
        ("host-network", "db"): ("fixed", t1, t1, t2),
    }

    fourth = _ingest(
        db,
        [result("no-privileged", "containers", "web"), result("run-as-non-root", "containers", "api")],
        now=t4,
    )
    assert fourth.transitions == {"reopened->open": 1}


def test_every_status_change_is_a_leaf_of_its_scans_audit_record_in_one_valid_chain(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0)
    _ingest(db, [], now=T0 + timedelta(days=1))
    assert auditverifying.verify_database(db, full=True).ok
    with db.reading() as session:
        records = session.query(AuditRecord).order_by(AuditRecord.seq).all()
        scans = [r for r in records if not r.action.startswith("catalog.")]
        changes = [
            (
                r.action,
                [
                    (leaf["from"], leaf["to"], leaf["resource"])
                    for leaf in (json.loads(body) for _, body in auditrecords.audit_leaves_of(session, r.seq))
                ],
            )
            for r in scans
        ]
    assert changes == [
        ("scan.ingested", [(None, "new", "Deployment/shop/web")]),
        ("scan.ingested", [("new", "fixed", "Deployment/shop/web")]),
    ]


def test_the_same_failure_in_two_environments_is_two_findings(catalog_database: Any, result: Any) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0, env="dev")
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0, env="prod")
    _, views = findingviews.list_findings(db, repositories.FindingFilter(), limit=10, offset=0, now=T0)
    assert sorted((v.env, v.status) for v in views) == [("dev", "new"), ("prod", "new")]


def test_the_fingerprint_depends_on_policy_rule_resource_and_path_only(result: Any) -> None:
    base = result("p", "r", "web")
    assert findings.fingerprint(base) == findings.fingerprint(result("p", "r", "web", severity="low"))
    assert findings.fingerprint(base) != findings.fingerprint(result("p", "r", "web", path="spec.other"))
    assert findings.fingerprint(base) != findings.fingerprint(result("p", "r", "web", namespace="other"))
    assert findings.fingerprint(base) != findings.fingerprint(result("p", "r2", "web"))


def test_a_scan_of_an_app_missing_from_the_catalog_is_refused(catalog_database: Any, result: Any) -> None:
    with pytest.raises(errors.NotFound) as caught:
        _ingest(catalog_database, [result("p", "r", "web")], now=T0, app="nope")
    assert caught.value.field == "app"
    with catalog_database.reading() as session:
        assert repositories.count_findings(session) == 0

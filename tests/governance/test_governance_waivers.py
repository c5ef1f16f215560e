"""Waivers as a workflow on both databases: request → approve → findings waived (SLA paused) → expiry
→ findings reopened (due date moved by the waived time), every step audited; refusals; figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from leitplanke.governance import errors, findings, findingviews, waiverexpiring, waiverfigures, waivers
from leitplanke.store import auditrecords, repositories
from leitplanke.store.rows import AuditRecord

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}
DEV, APPROVER = "token:shop-dev", "token:shop-lead"


def _ingest(database: Any, results: list[Any], *, now: datetime, app: str = "checkout") -> findings.Ingested:
    return findings.ingest_scan(
        database,
        app=app,
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="ci",
        now=now,
        sla_days=SLA,
    )


def _request(
    database: Any,
    *,
    now: datetime,
    expires: datetime,
    names: tuple[str, ...] = ("web",),
    actor: str = DEV,
    app: str = "checkout",
) -> waivers.WaiverView:
    request = waivers.WaiverRequest(
        app=app,
        env="prod",
        policies=("no-privileged",),
        rules=("containers",),
        resources=tuple(waivers.ResourceRef("Deployment", name, "shop") for name in names),
        justification="vendor image needs it until 2.0",
        expires=expires,
    )
    return waivers.request_waiver(database, request, actor=actor, now=now, max_days=90)


def _states(database: Any, *, now: datetime) -> set[tuple[str, str, str, str, datetime | None]]:
    _, views = findingviews.list_findings(
        database, repositories.FindingFilter(), limit=100, offset=0, now=now
    )
    return {(v.rule, v.resource["name"], v.status, v.waiver, v.sla_due) for v in views}


def _audit(database: Any, since: int = 0) -> list[tuple[str, str, str]]:
    with database.reading() as session:
        rows = session.scalars(select(AuditRecord).where(AuditRecord.seq > since).order_by(AuditRecord.seq))
        return [(r.actor, r.action, r.target) for r in rows]


def _head(database: Any) -> int:
    with database.reading() as session:
        head = auditrecords.audit_head(session)
    return 0 if head is None else head[0]


def test_an_approved_waiver_waives_its_findings_and_its_expiry_reopens_them_with_the_clock_moved(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    failing = [result("no-privileged", "containers", "web"), result("no-privileged", "containers", "api")]
    _ingest(db, failing, now=T0)
    fp_web = findings.fingerprint(failing[0])
    due = T0 + timedelta(days=30)
    start = _head(db)

    requested = _request(db, now=T0 + timedelta(days=1), expires=T0 + timedelta(days=11))
    assert (requested.id, requested.name, requested.status, requested.team) == (
        1,
        "waiver-1",
        "requested",
        "team-shop",
    )
    assert _states(db, now=T0) == {
        ("containers", "web", "new", "", due),
        ("containers", "api", "new", "", due),
    }  # a request covers nothing

    approved = waivers.decide_waiver(
        db, 1, approve=True, note="ok", actor=APPROVER, now=T0 + timedelta(days=1)
    )
    assert (approved.status, approved.decided_by, approved.decided_at) == (
        "approved",
        APPROVER,
        T0 + timedelta(days=1),
    )
    assert _states(db, now=T0) == {
        ("containers", "web", "waived", "waiver-1", due),
        ("containers", "api", "new", "", due),
    }

    # a later scan that does not apply the waiver itself keeps the finding waived
    outcome = _ingest(db, failing, now=T0 + timedelta(days=5))
    assert outcome.transitions == {"new->open": 1}
    assert _states(db, now=T0) == {
        ("containers", "web", "waived", "waiver-1", due),
        ("containers", "api", "open", "", due),
    }

    # before its time nothing expires; at its time it does, and the finding is reopened with its due
    # date moved by the 11 days it spent waived
    assert waiverexpiring.expire_waivers(db, now=T0 + timedelta(days=10)) == []
    assert waiverexpiring.expire_waivers(db, now=T0 + timedelta(days=12)) == [1]
    assert waivers.get_waiver(db, 1).status == "expired"
    assert _states(db, now=T0) == {
        ("containers", "web", "reopened", "", due + timedelta(days=11)),
        ("containers", "api", "open", "", due),
    }
    # the next scan keeps the moved due date
    _ingest(db, failing, now=T0 + timedelta(days=13))
    assert _states(db, now=T0) == {
        ("containers", "web", "open", "", due + timedelta(days=11)),
        ("containers", "api", "open", "", due),
    }
    # an ingestion's own transitions are leaves of its one record (governance.auditing)
    assert _audit(db, start)[:6] == [
        (DEV, "waiver.requested", "waiver:1"),
        (APPROVER, "waiver.approved", "waiver:1"),
        (APPROVER, "finding.status", f"finding:checkout/prod/{fp_web}"),
        ("ci", "scan.ingested", "scan:2"),
        ("system", "waiver.expired", "waiver:1"),
        ("system", "finding.status", f"finding:checkout/prod/{fp_web}"),
    ]


def test_a_waiver_expires_on_the_next_ingestion_even_without_the_periodic_task(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    failing = [result("no-privileged", "containers", "web")]
    _ingest(db, failing, now=T0)
    _request(db, now=T0, expires=T0 + timedelta(days=2))
    waivers.decide_waiver(db, 1, approve=True, note="", actor=APPROVER, now=T0)
    outcome = _ingest(db, failing, now=T0 + timedelta(days=3))
    assert outcome.transitions == {"reopened->open": 1}
    assert waivers.get_waiver(db, 1).status == "expired"
    assert _states(db, now=T0) == {("containers", "web", "open", "", T0 + timedelta(days=33))}


def test_a_finding_first_seen_under_an_approved_waiver_is_waived_and_its_clock_starts_paused(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _request(db, now=T0, expires=T0 + timedelta(days=20))
    waivers.decide_waiver(db, 1, approve=True, note="", actor=APPROVER, now=T0)
    failing = [result("no-privileged", "containers", "web")]
    assert _ingest(db, failing, now=T0 + timedelta(days=1)).transitions == {"none->waived": 1}
    waiverexpiring.expire_waivers(db, now=T0 + timedelta(days=20))
    # first seen on day 1, waived from day 1 to day 20: due on day 1 + 30 + 19
    assert _states(db, now=T0) == {("containers", "web", "reopened", "", T0 + timedelta(days=50))}


def test_the_requester_cannot_approve_their_own_waiver_and_the_refusal_is_audited(
    catalog_database: Any,
) -> None:
    db = catalog_database
    _request(db, now=T0, expires=T0 + timedelta(days=10), actor=APPROVER)
    start = _head(db)
    with pytest.raises(errors.Forbidden, match="token:shop-lead requested waiver 1 and cannot approve it"):
        waivers.decide_waiver(db, 1, approve=True, note="", actor=APPROVER, now=T0)
    assert waivers.get_waiver(db, 1).status == "requested"
    assert _audit(db, start) == [(APPROVER, "access.denied", "waiver:1")]


def test_a_rejected_waiver_covers_nothing_and_cannot_be_decided_again(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0)
    _request(db, now=T0, expires=T0 + timedelta(days=10))
    rejected = waivers.decide_waiver(db, 1, approve=False, note="fix it", actor=APPROVER, now=T0)
    assert (rejected.status, rejected.decision_note) == ("rejected", "fix it")
    assert _states(db, now=T0) == {("containers", "web", "new", "", T0 + timedelta(days=30))}
    with pytest.raises(errors.Conflict, match="waiver 1 is rejected, not requested"):
        waivers.decide_waiver(db, 1, approve=True, note="", actor="token:admin", now=T0)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"expires": T0 + timedelta(days=91)}, "expires", "is more than 90 days away"),
        ({"expires": T0}, "expires", "expires must be in the future"),
        ({"policies": ()}, "policies", "a waiver names its policies"),
        ({"policies": ("*",)}, "policies[0]", "without wildcards"),
        ({"rules": ("no-*",)}, "rules[0]", "without wildcards"),
        ({"resources": ()}, "resources", "a waiver names the resources it covers"),
        (
            {"resources": (waivers.ResourceRef("Deployment", "*", "shop"),)},
            "resources[0].name",
            "without wildcards",
        ),
        ({"resources": (waivers.ResourceRef("", "web", "shop"),)}, "resources[0].kind", "is required"),
        ({"justification": " "}, "justification", "needs a justification"),
    ],
)
def test_requests_without_an_explicit_scope_or_a_capped_expiry_are_refused(
    change: dict[str, Any], field: str, message: str
) -> None:
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=("no-privileged",),
        rules=(),
        resources=(waivers.ResourceRef("Deployment", "web", "shop"),),
        justification="why",
        expires=T0 + timedelta(days=90),
    )
    waivers.check_request(request, now=T0, max_days=90)  # the unchanged request passes
    from dataclasses import replace

    with pytest.raises(errors.Invalid, match=message) as raised:
        waivers.check_request(replace(request, **change), now=T0, max_days=90)
    assert raised.value.field == field


def test_a_renewal_is_a_new_request_linked_to_the_old_waiver_that_takes_over_its_findings(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(db, [result("no-privileged", "containers", "web")], now=T0)
    _request(db, now=T0, expires=T0 + timedelta(days=10))
    waivers.decide_waiver(db, 1, approve=True, note="", actor=APPROVER, now=T0)
    renewal = waivers.renew_waiver(
        db,
        1,
        justification="2.0 slipped",
        expires=T0 + timedelta(days=40),
        actor=DEV,
        now=T0 + timedelta(days=8),
        max_days=90,
    )
    assert (renewal.id, renewal.renews, renewal.status, renewal.resources) == (
        2,
        1,
        "requested",
        [{"kind": "Deployment", "namespace": "shop", "name": "web"}],
    )
    waivers.decide_waiver(db, 2, approve=True, note="", actor=APPROVER, now=T0 + timedelta(days=9))
    assert waiverexpiring.expire_waivers(db, now=T0 + timedelta(days=10)) == [1]
    assert _states(db, now=T0) == {("containers", "web", "waived", "waiver-2", T0 + timedelta(days=30))}
    with pytest.raises(errors.Conflict, match="waiver 2 is approved, not requested"):
        waivers.decide_waiver(db, 2, approve=False, note="", actor=APPROVER, now=T0)


def test_figures_give_active_waivers_waiver_ratio_and_age_per_team_and_app(
    catalog_database: Any, result: Any
) -> None:
    db = catalog_database
    _ingest(
        db,
        [
            result("no-privileged", "containers", "web"),
            result("no-privileged", "containers", "api"),
            result("no-privileged", "containers", "cart"),
            result("probes", "liveness", "web"),
        ],
        now=T0,
    )
    _ingest(db, [result("probes", "liveness", "store", namespace="data")], now=T0, app="warehouse")
    _request(db, now=T0, expires=T0 + timedelta(days=30), names=("web",))
    _request(db, now=T0, expires=T0 + timedelta(days=30), names=("api",))
    _request(db, now=T0, expires=T0 + timedelta(days=30), names=("cart",))  # stays requested
    waivers.decide_waiver(db, 1, approve=True, note="", actor=APPROVER, now=T0)
    waivers.decide_waiver(db, 2, approve=True, note="", actor=APPROVER, now=T0 + timedelta(days=4))
    now = T0 + timedelta(days=10)
    expected_shop = dict(active=2, waived=2, failing=2, ratio=0.5, mean_age_days=8.0, max_age_days=10.0)
    assert waiverfigures.build_figures(db, now=now) == [
        waiverfigures.WaiverFigures(
            "team-data", "", active=0, waived=0, failing=1, ratio=0.0, mean_age_days=None, max_age_days=None
        ),
        waiverfigures.WaiverFigures(
            "team-data",
            "warehouse",
            active=0,
            waived=0,
            failing=1,
            ratio=0.0,
            mean_age_days=None,
            max_age_days=None,
        ),
        waiverfigures.WaiverFigures("team-shop", "", **expected_shop),
        waiverfigures.WaiverFigures("team-shop", "checkout", **expected_shop),
    ]
    assert waiverfigures.build_figures(db, now=now, team="team-data")[0].failing == 1

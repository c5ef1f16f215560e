"""``POST /api/v1/admission/decisions`` on SQLite and PostgreSQL: each decision recorded once by its
request uid, its failing results findings of the owning app and environment, one audit record each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from conftest import Service
from leitplanke.governance import auditverifying
from leitplanke.store.rows import AdmissionDecision, AuditRecord, Finding

URL = "/api/v1/admission/decisions"


def _decision(uid: str, *, app: str = "checkout", env: str = "prod", waiver: str = "") -> dict[str, Any]:
    verdict = "skip" if waiver else "fail"
    return {
        "uid": uid,
        "decidedAt": "2026-02-01T11:59:00Z",
        "app": app,
        "env": env,
        "mode": "enforce",
        "outcome": "allow" if waiver else "deny",
        "operation": "CREATE",
        "user": "alice",
        "resource": {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web"},
        "results": [
            {
                "policy": "no-privileged",
                "rule": "unprivileged",
                "verdict": verdict,
                "severity": "high",
                "message": "container app is privileged",
                "path": "spec.containers[0].securityContext.privileged",
                "waiver": waiver,
            }
        ],
    }


def _findings(service: Service) -> list[tuple[str, str, str, str]]:
    with service.database.reading() as session:
        rows = session.scalars(select(Finding).order_by(Finding.id)).all()
        return [(row.policy, row.name, row.status, row.waiver) for row in rows]


def _audited(service: Service) -> list[tuple[str, str, list[str]]]:
    with service.database.reading() as session:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "admission.decided").order_by(AuditRecord.seq)
        ).all()
        return [(row.target, row.details["outcome"], row.details["waivers"]) for row in rows]


def test_a_batch_sent_twice_records_each_decision_once(service: Service) -> None:
    body = {"decisions": [_decision("uid-1"), _decision("uid-2", app="nobody")]}
    first = service.client.post(URL, json=body, headers=service.headers("admin"))
    assert first.status_code == 200
    assert first.json() == {
        "recorded": ["uid-1", "uid-2"],
        "duplicates": [],
        "unowned": ["uid-2"],
        "findings": 1,
    }
    again = service.client.post(URL, json=body, headers=service.headers("admin"))
    assert again.json() == {"recorded": [], "duplicates": ["uid-1", "uid-2"], "unowned": [], "findings": 0}
    assert _findings(service) == [("no-privileged", "web", "new", "")]
    assert _audited(service) == [("admission:uid-1", "deny", []), ("admission:uid-2", "deny", [])]
    with service.database.reading() as session:
        recorded = session.scalars(select(AdmissionDecision.uid).order_by(AdmissionDecision.uid)).all()
    assert list(recorded) == ["uid-1", "uid-2"]
    assert auditverifying.verify_database(service.database, full=True).problems == ()


def test_a_second_decision_about_the_same_object_moves_its_finding_from_new_to_open(service: Service) -> None:
    for uid in ("uid-1", "uid-2"):
        service.client.post(URL, json={"decisions": [_decision(uid)]}, headers=service.headers("admin"))
    assert _findings(service) == [("no-privileged", "web", "open", "")]


def test_a_waiver_the_service_does_not_know_waives_nothing_and_is_not_audited(service: Service) -> None:
    answer = service.client.post(
        URL, json={"decisions": [_decision("uid-1", waiver="waiver-99")]}, headers=service.headers("admin")
    )
    assert answer.status_code == 200
    assert _findings(service) == [("no-privileged", "web", "new", "")]
    assert _audited(service) == [("admission:uid-1", "allow", [])]


def test_only_a_platform_admin_may_record_admission_decisions(service: Service) -> None:
    body = {"decisions": [_decision("uid-1")]}
    answer = service.client.post(URL, json=body, headers=service.headers("shop-admin"))
    assert answer.status_code == 403
    assert service.client.post(URL, json=body).status_code == 401
    assert _findings(service) == []


def test_a_decision_without_a_uid_is_refused_with_the_field_named(service: Service) -> None:
    bad = _decision("")
    answer = service.client.post(URL, json={"decisions": [bad]}, headers=service.headers("admin"))
    assert answer.status_code == 422
    assert "uid" in answer.text


def test_a_nul_character_or_a_time_utc_cannot_hold_is_refused_with_the_field_named(service: Service) -> None:
    nul = _decision("uid-1")
    nul["results"][0]["message"] = "a\x00b"
    answer = service.client.post(URL, json={"decisions": [nul]}, headers=service.headers("admin"))
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (
        422,
        "decisions[0].results[0].message",
    )
    early = _decision("uid-2")
    early["decidedAt"] = "0001-01-01T00:00:00+05:00"
    answer = service.client.post(URL, json={"decisions": [early]}, headers=service.headers("admin"))
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "decisions[0].decidedAt")
    assert _findings(service) == []

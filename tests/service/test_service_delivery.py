"""The delivery webhooks, incidents API and DORA figures of the service, in-process on SQLite and
PostgreSQL: authentication before the body, bounded bodies, the field named on bad input, the same
event twice counted once, and the figures of a known history."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from leitplanke.service import create_app
from leitplanke.settings import Settings

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # the service fixture's clock
SECRET = "flux-shared-secret"
SHA_A, SHA_B, SHA_C = "a" * 40, "b" * 40, "c" * 40


def _ci(
    revision: str, *, time: str, status: str = "succeeded", committed: str = "", **extra: Any
) -> dict[str, Any]:
    """A CI event whose one commit was made ``committed`` (two hours before ``time`` if not given)."""
    if not committed:
        committed = (datetime.fromisoformat(time) - timedelta(hours=2)).isoformat()
    commits = [{"sha": revision, "time": committed}]
    return {
        "app": "checkout",
        "env": "prod",
        "revision": revision,
        "status": status,
        "time": time,
        "commits": commits,
        **extra,
    }


def _argocd(trigger: str, revision: str, finished: str) -> dict[str, Any]:
    return {
        "trigger": trigger,
        "application": {
            "metadata": {
                "name": "checkout-prod",
                "labels": {"leitplanke.dev/app": "checkout", "leitplanke.dev/env": "prod"},
            },
            "status": {
                "sync": {"revision": revision},
                "operationState": {
                    "phase": "Succeeded",
                    "finishedAt": finished,
                    "syncResult": {"revision": revision},
                },
            },
        },
    }


def _flux(
    revision: str, *, reason: str = "ReconciliationSucceeded", severity: str = "info"
) -> dict[str, Any]:
    return {
        "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "checkout"},
        "severity": severity,
        "timestamp": "2026-02-01T10:00:00Z",
        "message": "Reconciliation finished",
        "reason": reason,
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{revision}", "env": "prod"},
        "reportingController": "kustomize-controller",
    }


def _alert(status: str, *, ends: str = "0001-01-01T00:00:00Z", app: str = "checkout") -> dict[str, Any]:
    return {
        "version": "4",
        "status": status,
        "receiver": "leitplanke",
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "HighErrorRate", "app": app, "env": "prod"},
                "annotations": {"summary": "checkout answers 5xx"},
                "startsAt": "2026-02-01T10:30:00Z",
                "endsAt": ends,
                "fingerprint": "f00d",
            },
            {"status": status, "labels": {"alertname": "Watchdog"}, "startsAt": "2026-02-01T10:30:00Z"},
        ],
    }


@pytest.fixture
def signed(catalog_database: Any) -> Iterator[TestClient]:
    """A service that also accepts events signed with the shared secret."""
    settings = Settings(database_url=catalog_database.url, delivery_webhook_secret=SECRET)
    with TestClient(create_app(settings, database=catalog_database, clock=lambda: NOW)) as client:
        yield client


def test_a_ci_deployment_is_recorded_once_however_often_it_is_sent(service: Any) -> None:
    first = service.client.post(
        "/hooks/ci", json=_ci(SHA_A, time="2026-02-01T10:00:00Z"), headers=service.headers("shop-dev")
    )
    again = service.client.post(
        "/hooks/ci", json=_ci(SHA_A, time="2026-02-01T10:00:00Z"), headers=service.headers("shop-dev")
    )
    assert (first.status_code, first.json()["outcome"], first.json()["commits"]) == (200, "recorded", 1)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert again.json()["deployment"] == first.json()["deployment"]


def test_argocd_sync_failed_then_deployed_is_one_succeeded_deployment(service: Any) -> None:
    headers = service.headers("shop-dev")
    failed = service.client.post(
        "/hooks/argocd", json=_argocd("on-sync-failed", SHA_B, "2026-02-01T09:55:00Z"), headers=headers
    )
    done = service.client.post(
        "/hooks/argocd", json=_argocd("on-deployed", SHA_B, "2026-02-01T10:00:00Z"), headers=headers
    )
    assert [failed.json()["outcome"], failed.json()["status"]] == ["recorded", "failed"]
    assert [done.json()["outcome"], done.json()["status"]] == ["succeeded-after-failure", "succeeded"]
    assert done.json()["problem"] == "no local repository for this app"
    listed = service.client.get("/api/v1/deployments", params={"app": "checkout"}, headers=headers).json()
    assert listed == [
        {
            "id": done.json()["deployment"],
            "app": "checkout",
            "env": "prod",
            "revision": SHA_B,
            "status": "succeeded",
            "rollback": False,
            "source": "argocd",
            "deployedAt": "2026-02-01T10:00:00Z",
            "rolledBackAt": None,
            "commits": 0,
        }
    ]
    other = service.client.get(
        "/api/v1/deployments", params={"app": "checkout"}, headers=service.headers("data-viewer")
    )
    assert other.status_code == 403


def test_a_flux_event_signed_with_the_shared_secret_is_recorded_and_progress_is_ignored(
    signed: TestClient,
) -> None:
    body = orjson.dumps(_flux(SHA_C))
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = signed.post("/hooks/flux", content=body, headers={"X-Signature": signature})
    assert (answer.status_code, answer.json()["revision"], answer.json()["status"]) == (
        200,
        SHA_C,
        "succeeded",
    )
    progress = orjson.dumps(_flux(SHA_C, reason="Progressing"))
    signature = "sha256=" + hmac.new(SECRET.encode(), progress, hashlib.sha256).hexdigest()
    ignored = signed.post("/hooks/flux", content=progress, headers={"X-Signature": signature})
    assert (ignored.status_code, ignored.json()) == (202, {"outcome": "ignored"})


def test_a_sha512_signature_is_accepted_and_an_unknown_hash_is_not(signed: TestClient) -> None:
    body = orjson.dumps(_flux(SHA_C))
    good = "sha512=" + hmac.new(SECRET.encode(), body, hashlib.sha512).hexdigest()
    md5 = "md5=" + hmac.new(SECRET.encode(), body, hashlib.md5).hexdigest()
    answers = [
        signed.post("/hooks/flux", content=body, headers={"X-Signature": s}).status_code for s in (good, md5)
    ]
    assert answers == [200, 401]


def test_a_wrong_signature_or_no_credentials_is_refused_with_401(signed: TestClient, service: Any) -> None:
    body = orjson.dumps(_flux(SHA_C))
    wrong = signed.post("/hooks/flux", content=body, headers={"X-Signature": "sha256=" + "0" * 64})
    anonymous = signed.post("/hooks/flux", content=body)
    # without a configured secret a signature is never enough
    unconfigured = service.client.post(
        "/hooks/flux", content=body, headers={"X-Signature": "sha256=" + "0" * 64}
    )
    bad_token = service.client.post("/hooks/ci", content=body, headers={"Authorization": "Bearer lp_nope"})
    assert [(r.status_code, r.json()["field"]) for r in (wrong, anonymous, unconfigured, bad_token)] == [
        (401, "authorization")
    ] * 4
    assert wrong.json()["detail"] == "the X-Signature does not match the body"


def test_an_anonymous_body_is_refused_before_it_is_read(service: Any) -> None:
    def endless() -> Iterator[bytes]:
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    answer = service.client.post("/hooks/ci", content=endless(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 401


def test_a_body_over_a_mebibyte_is_refused_with_413(service: Any) -> None:
    body = b'{"app": "' + b"x" * (1024 * 1024) + b'"}'
    answer = service.client.post("/hooks/ci", content=body, headers=service.headers("shop-dev"))
    assert (answer.status_code, answer.json()["limit"]) == (413, 1024 * 1024)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, "body"),
        (orjson.dumps({**_ci(SHA_A, time="2026-02-01T10:00:00Z"), "status": "maybe"}), 422, "status"),
        (orjson.dumps(_ci(SHA_A, time="yesterday", committed="2026-01-01T00:00:00Z")), 422, "time"),
        (orjson.dumps({**_ci("--upload-pack=evil", time="2026-02-01T10:00:00Z")}), 422, "revision"),
        (
            orjson.dumps({**_ci(SHA_A, time="2026-02-01T10:00:00Z"), "commits": [{"sha": SHA_A}]}),
            422,
            "commits[0].time",
        ),
        (orjson.dumps({**_ci(SHA_A, time="2026-02-01T10:00:00Z"), "app": "nowhere"}), 404, "app"),
        (
            orjson.dumps(
                {
                    **_ci(SHA_A, time="2026-01-01T10:00:00Z"),
                    "commits": [{"sha": SHA_B, "time": "2026-01-02T00:00:00Z"}],
                }
            ),
            422,
            "commits[0].time",
        ),
        (orjson.dumps({**_ci(SHA_A, time="2026-02-01T10:00:00Z"), "extra": 1}), 422, "extra"),
    ],
)
def test_a_malformed_ci_event_is_answered_with_the_field_at_fault(
    service: Any, body: bytes, status: int, field: str
) -> None:
    answer = service.client.post("/hooks/ci", content=body, headers=service.headers("shop-dev"))
    assert (answer.status_code, answer.json()["field"]) == (status, field)


def test_another_teams_token_cannot_record_an_event_of_the_app(service: Any) -> None:
    answer = service.client.post(
        "/hooks/ci", json=_ci(SHA_A, time="2026-02-01T10:00:00Z"), headers=service.headers("data-viewer")
    )
    assert answer.status_code == 403


def test_alertmanager_firing_then_resolved_is_one_incident_against_the_live_deployment(
    service: Any,
) -> None:
    headers = service.headers("shop-dev")
    deployed = service.client.post(
        "/hooks/ci", json=_ci(SHA_A, time="2026-02-01T10:00:00Z"), headers=headers
    ).json()
    firing = service.client.post("/hooks/alertmanager", json=_alert("firing"), headers=headers).json()
    again = service.client.post("/hooks/alertmanager", json=_alert("firing"), headers=headers).json()
    resolved = service.client.post(
        "/hooks/alertmanager", json=_alert("resolved", ends="2026-02-01T11:10:00Z"), headers=headers
    ).json()
    key = "alertmanager:f00d:2026-02-01T10:30:00+00:00"
    assert firing == {
        "incidents": [{"key": key, "incident": 1, "outcome": "opened"}],
        "skipped": [{"index": 1, "reason": "no app or env label"}],
    }
    assert [again["incidents"][0]["outcome"], resolved["incidents"][0]["outcome"]] == [
        "unchanged",
        "resolved",
    ]
    listed = service.client.get("/api/v1/incidents", params={"app": "checkout"}, headers=headers).json()
    assert listed == [
        {
            "id": 1,
            "key": key,
            "app": "checkout",
            "env": "prod",
            "title": "checkout answers 5xx",
            "source": "alertmanager",
            "openedAt": "2026-02-01T10:30:00Z",
            "resolvedAt": "2026-02-01T11:10:00Z",
            "deployment": deployed["deployment"],
        }
    ]


def test_an_alert_of_an_unknown_app_is_skipped_not_refused(service: Any) -> None:
    answer = service.client.post(
        "/hooks/alertmanager", json=_alert("firing", app="ghost"), headers=service.headers("admin")
    )
    assert answer.json()["skipped"][-1] == {
        "key": "alertmanager:f00d:2026-02-01T10:30:00+00:00",
        "reason": "no application 'ghost' in the catalog",
    }


def test_incidents_are_opened_and_resolved_through_the_api_once(service: Any) -> None:
    headers = service.headers("shop-dev")
    body = {
        "app": "checkout",
        "env": "prod",
        "title": "checkout is slow",
        "key": "INC-7",
        "openedAt": "2026-02-01T11:00:00Z",
    }
    opened = service.client.post("/api/v1/incidents", json=body, headers=headers)
    retried = service.client.post("/api/v1/incidents", json=body, headers=headers)
    assert (opened.status_code, opened.json()["id"]) == (201, retried.json()["id"])
    incident = opened.json()["id"]
    early = service.client.post(
        f"/api/v1/incidents/{incident}/resolve", json={"resolvedAt": "2026-02-01T10:00:00Z"}, headers=headers
    )
    resolved = service.client.post(f"/api/v1/incidents/{incident}/resolve", json={}, headers=headers)
    twice = service.client.post(f"/api/v1/incidents/{incident}/resolve", json={}, headers=headers)
    assert (early.status_code, early.json()["field"]) == (422, "resolvedAt")
    assert (resolved.status_code, resolved.json()["resolvedAt"]) == (200, "2026-02-01T12:00:00Z")
    assert twice.status_code == 409
    future = {**body, "key": "INC-9", "openedAt": "2026-02-02T00:00:00Z"}
    ahead = service.client.post("/api/v1/incidents", json=future, headers=headers)
    assert (ahead.status_code, ahead.json()["field"]) == (422, "openedAt")
    viewer = service.client.post(
        "/api/v1/incidents", json={**body, "key": "INC-8"}, headers=service.headers("shop-viewer")
    )
    assert viewer.status_code == 403


def test_the_dora_figures_of_a_small_history_are_exact(service: Any) -> None:
    headers = service.headers("shop-dev")
    for revision, time in (
        (SHA_A, "2026-01-30T10:00:00Z"),
        (SHA_B, "2026-01-31T10:00:00Z"),
        (SHA_C, "2026-02-01T10:00:00Z"),
    ):
        service.client.post("/hooks/ci", json=_ci(revision, time=time), headers=headers)
    # SHA_B failed: an incident 30 minutes after it went live, resolved 90 minutes later
    service.client.post(
        "/api/v1/incidents",
        json={
            "app": "checkout",
            "env": "prod",
            "title": "down",
            "key": "x",
            "openedAt": "2026-01-31T10:30:00Z",
        },
        headers=headers,
    )
    service.client.post(
        "/api/v1/incidents/1/resolve", json={"resolvedAt": "2026-01-31T12:00:00Z"}, headers=headers
    )
    answer = service.client.get(
        "/api/v1/dora", params={"team": "team-shop", "period": "7d"}, headers=headers
    ).json()
    assert answer["figures"] | {"start": "", "end": ""} == {
        "start": "",
        "end": "",
        "deployments": 3,
        "deploymentsPerDay": round(3 / 7, 4),
        "commits": 3,
        "leadTimeSeconds": 2 * 3600.0,
        "failedDeployments": 1,
        "changeFailureRate": round(1 / 3, 4),
        "recovered": 1,
        "recoverySeconds": 90 * 60.0,
        "unrecovered": 0,
        "bands": {
            "deploymentFrequency": "high",
            "leadTime": "elite",
            "changeFailureRate": "low",
            "recoveryTime": "high",
        },
    }
    assert [week["deployments"] for week in answer["weeks"]] == [3]
    assert (answer["scope"], answer["env"], answer["periodDays"]) == (
        {"level": "team", "name": "team-shop"},
        "prod",
        7,
    )


def test_dora_refuses_two_scopes_a_bad_period_and_another_teams_figures(service: Any) -> None:
    headers = service.headers("shop-viewer")
    two = service.client.get("/api/v1/dora", params={"team": "team-shop", "app": "checkout"}, headers=headers)
    bad = service.client.get("/api/v1/dora", params={"period": "forever"}, headers=headers)
    other = service.client.get("/api/v1/dora", params={"team": "team-data"}, headers=headers)
    org = service.client.get("/api/v1/dora", headers=headers)
    assert [(two.status_code, two.json()["field"]), (bad.status_code, bad.json()["field"])] == [
        (422, "team"),
        (422, "period"),
    ]
    assert (other.status_code, org.status_code) == (403, 200)


def test_metrics_show_the_dora_gauges_and_the_events_counted(service: Any) -> None:
    service.client.post(
        "/hooks/ci", json=_ci(SHA_A, time="2026-02-01T10:00:00Z"), headers=service.headers("shop-dev")
    )
    text = service.client.get("/metrics").text
    lines = {
        line
        for line in text.splitlines()
        if line.startswith(("leitplanke_dora", "leitplanke_delivery_events_total"))
    }
    assert 'leitplanke_dora_deployments_per_day{team="team-shop"} 0.03333333333333333' in lines
    assert 'leitplanke_dora_lead_time_seconds{team="team-shop"} 7200.0' in lines
    assert 'leitplanke_dora_change_failure_ratio{team=""} 0.0' in lines
    assert 'leitplanke_delivery_events_total{outcome="recorded",source="ci"} 1.0' in lines
    assert not any(line.startswith("leitplanke_dora_recovery_seconds") for line in lines)

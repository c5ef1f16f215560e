"""The REST API in-process: uploads become findings, tokens and teams decide who sees what,
bad payloads get problem+json, and concurrent uploads create no duplicates."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from leitplanke.core.results import ScanReport
from leitplanke.governance import auditverifying
from leitplanke.reports import jsonreports
from leitplanke.store import repositories

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _scan_json(results: list[Any]) -> dict[str, Any]:
    out = io.StringIO()
    jsonreports.write(ScanReport(results=list(results), documents=len(results)).finish(), out, now=NOW)
    document: dict[str, Any] = json.loads(out.getvalue())
    return document


def _upload(service: Any, who: str, results: list[Any], *, app: str = "checkout", env: str = "prod") -> Any:
    body = {"app": app, "env": env, "scan": _scan_json(results)}
    return service.client.post("/api/v1/scans", json=body, headers=service.headers(who))


def _findings(service: Any, who: str, **params: Any) -> Any:
    return service.client.get("/api/v1/findings", params=params, headers=service.headers(who))


def test_an_uploaded_scan_becomes_findings_with_owner_severity_and_due_date(
    service: Any, result: Any
) -> None:
    response = _upload(
        service,
        "shop-dev",
        [
            result("no-privileged", "containers", "web", severity="critical"),
            result("probes", "liveness", "web", verdict="pass"),
            result("run-as-non-root", "containers", "api", severity="medium", verdict="skip", waiver="w1"),
        ],
    )
    assert response.status_code == 201, response.text
    assert response.json() == {
        "scan": 1,
        "app": "checkout",
        "env": "prod",
        "findings": 2,
        # a waiver the client names is no waiver of the service: the skip counts as failing
        "transitions": {"none->new": 2},
        "unrecognisedWaivers": ["w1"],
    }
    page = _findings(service, "shop-viewer").json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 100, 0)
    assert [
        (
            f["app"],
            f["team"],
            f["env"],
            f["policy"],
            f["rule"],
            f["resource"]["name"],
            f["severity"],
            f["status"],
            f["slaDue"],
        )
        for f in page["items"]
    ] == [
        (
            "checkout",
            "team-shop",
            "prod",
            "run-as-non-root",
            "containers",
            "api",
            "medium",
            "new",
            "2026-05-02T12:00:00Z",
        ),
        (
            "checkout",
            "team-shop",
            "prod",
            "no-privileged",
            "containers",
            "web",
            "critical",
            "new",
            "2026-02-16T12:00:00Z",
        ),
    ]
    filtered = _findings(
        service, "shop-viewer", status="new", severity="medium", env="prod", policy="run-as-non-root"
    )
    assert [f["resource"]["name"] for f in filtered.json()["items"]] == ["api"]
    second_page = _findings(service, "shop-viewer", limit=1, offset=1).json()
    assert [f["policy"] for f in second_page["items"]] == ["no-privileged"]


def test_a_request_without_a_valid_token_is_refused_with_401(service: Any) -> None:
    assert service.client.get("/api/v1/findings").status_code == 401
    response = service.client.get("/api/v1/findings", headers={"Authorization": "Bearer lp_nonsense"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_team_never_sees_another_teams_findings_and_the_denial_is_audited(
    service: Any, result: Any
) -> None:
    assert _upload(service, "shop-dev", [result("no-privileged", "containers", "web")]).status_code == 201

    by_app = _findings(service, "data-viewer", app="checkout")
    assert by_app.status_code == 403
    assert by_app.headers["content-type"] == "application/problem+json"
    assert by_app.json()["title"] == "Forbidden"
    by_team = _findings(service, "data-viewer", team="team-shop")
    assert by_team.status_code == 403
    assert _findings(service, "data-viewer").json()["items"] == []
    assert _findings(service, "admin").json()["total"] == 1

    audit = service.client.get(
        "/api/v1/audit", params={"limit": 1000}, headers=service.headers("admin")
    ).json()
    denials = [
        (r["actor"], r["target"], r["details"]["wanted"])
        for r in audit["items"]
        if r["action"] == "access.denied"
    ]
    assert denials == [
        ("user:data-viewer via token:data-viewer", "app:checkout", "read findings"),
        ("user:data-viewer via token:data-viewer", "team:team-shop", "read findings"),
    ]


def test_a_viewer_cannot_upload_and_another_team_cannot_upload_for_an_app(service: Any, result: Any) -> None:
    assert _upload(service, "shop-viewer", [result("p", "r", "web")]).status_code == 403
    assert _upload(service, "data-viewer", [result("p", "r", "web")]).status_code == 403
    with service.database.reading() as session:
        assert repositories.count_findings(session) == 0


def test_a_malformed_upload_gets_problem_json_naming_the_field(service: Any, result: Any) -> None:
    scan = _scan_json([result("p", "r", "web")])
    scan["results"][0]["verdict"] = "maybe"
    response = service.client.post(
        "/api/v1/scans",
        json={"app": "checkout", "env": "prod", "scan": scan},
        headers=service.headers("shop-dev"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"], body["field"]) == (
        422,
        "Invalid request",
        "scan.results[0].verdict",
    )

    missing = service.client.post(
        "/api/v1/scans", json={"env": "prod", "scan": scan}, headers=service.headers("shop-dev")
    )
    assert missing.json()["field"] == "app"

    broken = service.client.post(
        "/api/v1/scans",
        content=b'{"app": "checkout", "env": ',
        headers={**service.headers("shop-dev"), "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert broken.headers["content-type"] == "application/problem+json"
    assert broken.json()["title"] == "Malformed JSON"

    unknown = _upload(service, "admin", [result("p", "r", "web")], env="staging")
    assert (unknown.status_code, unknown.json()["field"]) == (404, "env")


def test_an_oversized_upload_is_refused_with_413(small_service: Any, result: Any) -> None:
    response = _upload(small_service, "shop-dev", [result("p", f"r{n}", "web") for n in range(20)])
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Payload too large",
        "status": 413,
        "detail": "the request body is larger than 2048 bytes",
        "field": "body",
        "limit": 2048,
    }


def test_concurrent_uploads_for_the_same_app_create_no_duplicate_findings(service: Any, result: Any) -> None:
    results = [result("p", f"r{n}", f"web-{n % 7}") for n in range(60)]
    body = {"app": "checkout", "env": "prod", "scan": _scan_json(results)}
    statuses: list[int] = []

    def upload() -> None:
        statuses.append(
            service.client.post("/api/v1/scans", json=body, headers=service.headers("shop-dev")).status_code
        )

    threads = [threading.Thread(target=upload) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201, 201]
    page = _findings(service, "shop-viewer", limit=1000).json()
    assert page["total"] == 60
    assert sorted((f["rule"], f["resource"]["name"]) for f in page["items"]) == sorted(
        (f"r{n}", f"web-{n % 7}") for n in range(60)
    )
    assert {f["status"] for f in page["items"]} == {"open"}
    assert auditverifying.verify_database(service.database, full=True).ok


def test_health_readiness_metrics_and_the_openapi_document_answer(service: Any, result: Any) -> None:
    assert service.client.get("/healthz").json() == {"status": "ok"}
    home = service.client.get("/", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (307, "/docs")
    assert service.client.get("/readyz").json() == {"status": "ready"}
    _upload(service, "shop-dev", [result("p", "r", "web")])
    metrics = service.client.get("/metrics")
    assert metrics.status_code == 200
    assert "leitplanke_scans_ingested_total 1.0" in metrics.text
    assert 'leitplanke_finding_transitions_total{transition="none->new"} 1.0' in metrics.text
    assert 'leitplanke_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics.text
    paths = service.client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/scans",
        "/api/v1/findings",
        "/api/v1/slas",
        "/api/v1/audit",
        "/healthz",
        "/readyz",
    } <= set(paths)


def test_readiness_fails_when_the_database_is_gone(service: Any) -> None:
    from fastapi.testclient import TestClient

    from leitplanke.service import create_app
    from leitplanke.settings import Settings
    from leitplanke.store import databases

    gone = databases.Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(Settings(database_url=gone.url, migrate_on_start=False), database=gone)
    with TestClient(app) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["title"] == "Not ready"


def test_catalog_changes_need_the_right_role_and_are_listed_after(service: Any) -> None:
    headers = service.headers
    created = service.client.post(
        "/api/v1/teams", json={"name": "team-ml", "title": "ML"}, headers=headers("admin")
    )
    assert (created.status_code, created.json()) == (201, {"name": "team-ml", "outcome": "created"})
    again = service.client.post("/api/v1/teams", json={"name": "team-ml"}, headers=headers("admin"))
    assert (again.status_code, again.json()["field"]) == (409, "name")
    assert (
        service.client.post(
            "/api/v1/environments", json={"name": "qa"}, headers=headers("shop-admin")
        ).status_code
        == 403
    )
    app = {"name": "cart", "owner": "team-shop", "valueStream": "commerce", "cloudNative": False}
    assert service.client.post("/api/v1/apps", json=app, headers=headers("shop-admin")).status_code == 201
    assert (
        service.client.post(
            "/api/v1/apps", json={**app, "name": "x", "owner": "team-data"}, headers=headers("shop-admin")
        ).status_code
        == 403
    )
    moved = service.client.put(
        "/api/v1/apps/cart", json={**app, "lifecycle": "production"}, headers=headers("shop-admin")
    )
    assert moved.json() == {"name": "cart", "outcome": "updated"}
    apps = service.client.get("/api/v1/apps", headers=headers("data-viewer")).json()
    assert [(a["name"], a["owner"], a["lifecycle"], a["cloudNative"]) for a in apps] == [
        ("cart", "team-shop", "production", False),
        ("checkout", "team-shop", "production", True),
        ("warehouse", "team-data", "experimental", False),
    ]
    bad_env = service.client.put(
        "/api/v1/environments/qa", json={"name": "qa", "enforcement": "block"}, headers=headers("admin")
    )
    assert (bad_env.status_code, bad_env.json()["field"]) == (422, "enforcement")


def test_a_nul_character_in_catalog_text_is_refused_before_it_reaches_the_store(service: Any) -> None:
    admin = service.headers("admin")
    team = service.client.post("/api/v1/teams", json={"name": "team-ml", "title": "M\u0000L"}, headers=admin)
    app = {"name": "cart", "owner": "team-shop", "repository": "https://git.example.com/\u0000"}
    refused = service.client.post("/api/v1/apps", json=app, headers=admin)
    assert [(r.status_code, r.json()["field"]) for r in (team, refused)] == [
        (422, "title"),
        (422, "repository"),
    ]
    names = [t["name"] for t in service.client.get("/api/v1/teams", headers=admin).json()]
    assert names == ["team-data", "team-shop"]


def test_sla_figures_are_limited_to_the_callers_team(service: Any, result: Any) -> None:
    _upload(service, "shop-dev", [result("p", "r", "web", severity="critical")])
    figures = service.client.get("/api/v1/slas", headers=service.headers("shop-viewer")).json()
    assert figures == [
        {
            "team": "team-shop",
            "app": "",
            "open": 1,
            "overdue": 0,
            "fixed": 0,
            "meanDaysToRemediate": None,
            "fixedWithinSla": None,
        },
        {
            "team": "team-shop",
            "app": "checkout",
            "open": 1,
            "overdue": 0,
            "fixed": 0,
            "meanDaysToRemediate": None,
            "fixedWithinSla": None,
        },
    ]
    assert service.client.get("/api/v1/slas", headers=service.headers("data-viewer")).json() == []
    assert (
        service.client.get(
            "/api/v1/slas", params={"team": "team-shop"}, headers=service.headers("data-viewer")
        ).status_code
        == 403
    )


def test_the_audit_chain_can_be_verified_through_the_api_by_a_platform_admin_only(service: Any) -> None:
    verified = service.client.get("/api/v1/audit/verify", headers=service.headers("admin")).json()
    assert verified["firstBadSeq"] is None
    assert (
        service.client.get("/api/v1/audit/verify", headers=service.headers("shop-admin")).status_code == 403
    )


@pytest.mark.parametrize(
    ("address", "field"),
    [
        ("/api/v1/findings?app=%00", "app"),
        ("/api/v1/findings?policy=x%00y", "policy"),
        ("/api/v1/slas?team=%00", "team"),
        ("/api/v1/waivers/figures?team=%00", "team"),
        ("/api/v1/waivers/export?app=%00", "app"),
        ("/api/v1/apps/a%00b", "path"),
    ],
)
def test_a_nul_in_a_query_or_path_is_refused_with_422_naming_it_on_both_databases(
    service: Any, address: str, field: str
) -> None:
    answer = service.client.get(address, headers=service.headers("admin"))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field
    assert answer.json()["detail"] == f"{field}: a NUL character is not allowed"

"""The OpenAPI document declares the problems (RFC 9457, ``application/problem+json``) the service answers:
one shared ``Problem`` schema, on each operation the statuses it may answer, and every answer of each
status validates against what the document declares (jsonschema over ``/openapi.json``'s components).

Every other service test's error answers are checked the same way by ``conftest``'s autouse fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from fastapi.testclient import TestClient

from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import databases

PROBLEM = "application/problem+json"
NDJSON = "application/x-ndjson"
COMMON = ["422", "500"]
API = ["401", "403", "422", "500"]
BODY = ["400", "401", "403", "413", "422", "500"]


def test_every_operation_declares_exactly_the_problems_it_may_answer(service: Any) -> None:
    document = service.client.get("/openapi.json").json()
    declared = {
        f"{method.upper()} {path}": sorted(status for status in operation["responses"] if status >= "400")
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    assert declared == {
        "GET /healthz": COMMON,
        "GET /readyz": [*COMMON, "503"],
        "GET /metrics": COMMON,
        "POST /api/v1/scans": sorted([*BODY, "404", "409", "415"]),
        "GET /api/v1/findings": API,
        "GET /api/v1/slas": API,
        "GET /api/v1/teams": API,
        "POST /api/v1/teams": sorted([*BODY, "409"]),
        "GET /api/v1/apps": API,
        "POST /api/v1/apps": sorted([*BODY, "409"]),
        "GET /api/v1/environments": API,
        "POST /api/v1/environments": sorted([*BODY, "409"]),
        "PUT /api/v1/teams/{name}": BODY,
        "PUT /api/v1/apps/{name}": BODY,
        "PUT /api/v1/environments/{name}": BODY,
        "GET /api/v1/audit": API,
        "GET /api/v1/audit/verify": API,
        "GET /api/v1/audit/{seq}/leaves/{idx}": sorted([*API, "404"]),
        "GET /api/v1/waivers": API,
        "POST /api/v1/waivers": sorted([*BODY, "404"]),
        "POST /api/v1/admission/decisions": BODY,
        "GET /api/v1/waivers/figures": API,
        "GET /api/v1/waivers/export": sorted([*API, "404"]),
        "GET /api/v1/waivers/{waiver_id}": sorted([*API, "404"]),
        "POST /api/v1/waivers/{waiver_id}/renew": sorted([*BODY, "404", "409"]),
        "POST /api/v1/waivers/{waiver_id}/approve": sorted([*BODY, "404", "409"]),
        "POST /api/v1/waivers/{waiver_id}/reject": sorted([*BODY, "404", "409"]),
        "POST /hooks/argocd": sorted([*BODY, "404"]),
        "POST /hooks/flux": sorted([*BODY, "404"]),
        "POST /hooks/ci": sorted([*BODY, "404"]),
        "POST /hooks/alertmanager": BODY,
        "GET /api/v1/deployments": API,
        "GET /api/v1/incidents": API,
        "POST /api/v1/incidents": sorted([*BODY, "404", "409"]),
        "POST /api/v1/incidents/{incident_id}/resolve": sorted([*BODY, "404", "409"]),
        "GET /api/v1/dora": sorted([*API, "404"]),
        "GET /api/v1/templates": API,
        "GET /api/v1/templates/{name}": sorted([*API, "404"]),
        "POST /api/v1/templates/{name}/render": sorted([*BODY, "404", "409"]),
        "GET /api/v1/changes": API,
        "POST /api/v1/changes": sorted([*BODY, "404", "409", "502"]),
        "GET /api/v1/changes/{change_id}": sorted([*API, "404"]),
        "POST /api/v1/changes/{change_id}/edit": sorted([*BODY, "404", "409", "502"]),
        "POST /api/v1/changes/{change_id}/revert": sorted([*API, "404", "409", "502"]),
        "POST /api/v1/changes/{change_id}/submit": sorted([*API, "404", "409"]),
        "POST /api/v1/changes/{change_id}/cancel": sorted([*API, "404", "409"]),
        "POST /api/v1/changes/{change_id}/approve": sorted([*API, "404", "409", "502"]),
        "POST /api/v1/changes/{change_id}/reject": sorted([*BODY, "404", "409"]),
        "POST /api/v1/changes/{change_id}/apply": sorted([*BODY, "404", "409", "502"]),
        "GET /api/v1/insights/scorecard": sorted([*API, "404", "409"]),
        "GET /api/v1/insights/trends": sorted([*API, "404", "409"]),
        "GET /api/v1/insights/comparison": sorted([*API, "409"]),
    }


def test_every_declared_problem_is_problem_json_of_the_shared_schema(service: Any) -> None:
    document = service.client.get("/openapi.json").json()
    contents = {
        orjson.dumps(answer["content"]).decode()
        for item in document["paths"].values()
        for operation in item.values()
        for status, answer in operation["responses"].items()
        if status >= "400"
    }
    assert contents == {'{"application/problem+json":{"schema":{"$ref":"#/components/schemas/Problem"}}}'}
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    assert sorted(schemas["Problem"]["properties"]) == [
        "detail",
        "errors",
        "field",
        "limit",
        "status",
        "title",
        "type",
    ]
    assert schemas["Problem"]["additionalProperties"] is False
    assert sorted(schemas["ProblemIssue"]["properties"]) == ["field", "message", "type"]
    unauthorised = document["paths"]["/api/v1/findings"]["get"]["responses"]["401"]
    assert list(unauthorised["headers"]) == ["WWW-Authenticate"]


def test_each_problem_status_answers_what_its_operation_declares(service: Any, conformance: Any) -> None:
    admin, viewer = service.headers("admin"), service.headers("shop-viewer")
    team = {"name": "team-new", "title": "New"}
    assert service.client.post("/api/v1/teams", json=team, headers=admin).status_code == 201
    big = {"name": "team-big", "title": "x" * 4096}
    answers = {
        400: service.client.post(
            "/api/v1/teams", content=b"{", headers={**admin, "Content-Type": "application/json"}
        ),
        401: service.client.get("/api/v1/teams"),
        403: service.client.post("/api/v1/teams", json={"name": "t2", "title": "T"}, headers=viewer),
        404: service.client.get("/api/v1/waivers/999", headers=admin),
        409: service.client.post("/api/v1/teams", json=team, headers=admin),
        413: _small(service).post("/api/v1/teams", json=big, headers=admin),
        415: service.client.post(
            "/api/v1/scans", content=b"x", headers={**admin, "Content-Type": "text/plain"}
        ),
        422: service.client.get("/api/v1/findings?limit=0", headers=admin),
    }
    summary = {
        status: (response.status_code, response.headers["content-type"], response.json()["title"])
        for status, response in answers.items()
    }
    assert summary == {
        400: (400, PROBLEM, "Malformed JSON"),
        401: (401, PROBLEM, "A valid API token is required"),
        403: (403, PROBLEM, "Forbidden"),
        404: (404, PROBLEM, "Not found"),
        409: (409, PROBLEM, "Conflict"),
        413: (413, PROBLEM, "Payload too large"),
        415: (415, PROBLEM, "Unsupported media type"),
        422: (422, PROBLEM, "Invalid request"),
    }
    violations = [
        violation
        for response in answers.values()
        for violation in conformance.violations(
            service.client.app, response.request.method, response.request.url.path, response
        )
    ]
    assert violations == []


def _small(service: Any) -> TestClient:
    """A second application on ``service``'s database that reads bodies of at most 2 KiB."""
    settings = Settings(database_url=service.database.url, max_body_bytes=2048)
    return TestClient(create_app(settings, database=service.database))


def _gone_app() -> Iterator[TestClient]:
    gone = databases.Database("postgresql+psycopg://nobody@127.0.0.1:1/none")
    app = create_app(Settings(database_url=gone.url, migrate_on_start=False), database=gone)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_an_internal_error_and_not_ready_answer_their_declared_problems(conformance: Any) -> None:
    for client in _gone_app():
        headers = {"Authorization": "Bearer lp_0123456789abcdef"}
        internal = client.get("/api/v1/findings", headers=headers)
        not_ready = client.get("/readyz")
        assert (internal.status_code, internal.json()["title"]) == (500, "Internal server error")
        assert (not_ready.status_code, not_ready.json()["title"]) == (503, "Not ready")
        violations = [
            *conformance.violations(client.app, "GET", "/api/v1/findings", internal),
            *conformance.violations(client.app, "GET", "/readyz", not_ready),
        ]
        assert violations == []


def test_an_answer_outside_the_declared_problems_is_named_by_the_check(
    service: Any, conformance: Any
) -> None:
    app = service.client.app
    plain = httpx.Response(404, json={"detail": "Not Found"})
    undeclared = httpx.Response(409, headers={"content-type": PROBLEM}, json={"title": "x", "status": 409})
    extra = httpx.Response(
        404,
        headers={"content-type": PROBLEM},
        json={"type": "about:blank", "title": "Not found", "status": 404, "trace": "..."},
    )
    assert [
        *conformance.violations(app, "GET", "/api/v1/teams", plain),
        *conformance.violations(app, "GET", "/api/v1/teams", undeclared),
        *conformance.violations(app, "GET", "/api/v1/waivers/7", extra),
    ] == [
        "GET /api/v1/teams -> 404: content type 'application/json', not application/problem+json",
        "GET /api/v1/teams -> 409: the operation declares no application/problem+json answer with this status",
        "GET /api/v1/waivers/7 -> 404: Additional properties are not allowed ('trace' was unexpected) at []",
    ]

"""An in-process service (FastAPI's TestClient) over the test database, with tokens of each kind.

Every error answer a TestClient receives in these tests is checked after the test against the app's own
OpenAPI document: a problem (``application/problem+json``) whose status the operation declares, valid
against the schema declared for it (``ProblemConformance``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi.testclient import TestClient

from leitplanke.governance import access
from leitplanke.service import create_app
from leitplanke.settings import Settings

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class Service:
    client: TestClient
    database: Any
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _service(database: Any, *, max_body_bytes: int = 16 * 1024 * 1024) -> Iterator[Service]:
    tokens = {}
    for who, role, team in (
        ("admin", "platform-admin", None),
        ("shop-dev", "developer", "team-shop"),
        ("shop-viewer", "viewer", "team-shop"),
        ("shop-admin", "admin", "team-shop"),
        ("data-viewer", "viewer", "team-data"),
    ):
        created = access.create_token(
            database, subject=f"user:{who}", name=who, role=role, team=team, actor="test", now=NOW
        )
        tokens[who] = created.token
    settings = Settings(database_url=database.url, max_body_bytes=max_body_bytes)
    app = create_app(settings, database=database, clock=lambda: NOW)
    with TestClient(app) as client:
        yield Service(client=client, database=database, tokens=tokens)


@pytest.fixture
def service(catalog_database: Any) -> Iterator[Service]:
    yield from _service(catalog_database)


@pytest.fixture
def threaded_service(service: Service) -> Iterator[Service]:
    """``service``'s database and tokens served by a second application that ingests uploads in a worker
    thread of its own process (no ingestion process)."""
    settings = Settings(database_url=service.database.url, max_body_bytes=16 * 1024 * 1024)
    app = create_app(settings, database=service.database, clock=lambda: NOW, ingestion_process=False)
    with TestClient(app) as client:
        yield Service(client=client, database=service.database, tokens=service.tokens)


@pytest.fixture
def small_service(catalog_database: Any) -> Iterator[Service]:
    """A service that reads bodies of at most 2 KiB."""
    yield from _service(catalog_database, max_body_bytes=2048)


PROBLEM = "application/problem+json"
# answered before routing, so to any address: an anonymous body (401), no route (404), no such method
# (405), a body too large (413), a NUL in the address (422)
ANY_ADDRESS = frozenset({401, 404, 405, 413, 422})


@dataclass
class ProblemConformance:
    """Checks error answers against the OpenAPI document of the app that gave them."""

    documents: dict[int, dict[str, Any]] = field(default_factory=dict)

    def document(self, app: Any) -> dict[str, Any]:
        if id(app) not in self.documents:
            self.documents[id(app)] = app.openapi()
        return self.documents[id(app)]

    def violations(self, app: Any, method: str, path: str, response: httpx.Response) -> list[str]:
        """What is wrong with the error answer ``response`` to ``method path``; empty when it conforms."""
        document = self.document(app)
        where = f"{method} {path} -> {response.status_code}"
        media = response.headers.get("content-type", "").split(";")[0]
        if media != PROBLEM:
            return [f"{where}: content type {media!r}, not {PROBLEM}"]
        operation = operation_of(document, method, path)
        if operation is None:  # no such path or method: the router's 404 or 405, or a guard in front of it
            if response.status_code not in ANY_ADDRESS:
                return [f"{where}: no operation, yet not one of {sorted(ANY_ADDRESS)}"]
            schema: dict[str, Any] = {"$ref": "#/components/schemas/Problem"}
        else:
            declared = operation["responses"].get(str(response.status_code))
            if declared is None or PROBLEM not in declared.get("content", {}):
                return [f"{where}: the operation declares no {PROBLEM} answer with this status"]
            schema = declared["content"][PROBLEM]["schema"]
        validator = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
        return [
            f"{where}: {error.message} at {list(error.absolute_path)}"
            for error in validator.iter_errors(response.json())
        ]


def operation_of(document: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The operation of ``document`` that serves ``method path`` (a literal path before a templated one)."""
    candidates = []
    for template, item in document["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            candidates.append((template.count("{"), item[method.lower()]))
    return min(candidates, key=lambda found: found[0])[1] if candidates else None


@pytest.fixture
def conformance() -> ProblemConformance:
    return ProblemConformance()


@pytest.fixture(autouse=True)
def _error_answers_conform(
    monkeypatch: pytest.MonkeyPatch, conformance: ProblemConformance
) -> Iterator[None]:
    """Records every answer of 400 and more that a TestClient receives during the test, and checks it
    after the test against the declared problems of its app's OpenAPI document."""
    seen: list[tuple[Any, httpx.Request, httpx.Response]] = []
    send = TestClient.send

    def recording(client: TestClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = send(client, request, **kwargs)
        if response.status_code >= 400:
            seen.append((client.app, request, response))
        return response

    monkeypatch.setattr(TestClient, "send", recording)
    yield
    violations = []
    for app, request, response in seen:
        try:
            response.read()
        except httpx.StreamError:  # a streamed answer the test did not read: nothing to check
            continue
        violations += conformance.violations(app, request.method, request.url.path, response)
    assert violations == [], "error answers that leave the declared problems:\n" + "\n".join(violations)

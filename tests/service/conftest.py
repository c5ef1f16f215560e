"""An in-process service (FastAPI's TestClient) over the test database, with tokens of each kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

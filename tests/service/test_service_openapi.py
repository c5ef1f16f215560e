"""Property-based tests of the REST API against its own OpenAPI document (schemathesis): for every
operation, generated requests with a platform-admin token never get a 5xx, and every response
conforms to the schema the document declares. In-process (ASGI), on a SQLite database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from leitplanke.governance import access, auditkeys, catalog
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import databases

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


@dataclass
class Api:
    app: Any
    headers: dict[str, str]


@pytest.fixture
def api(tmp_path: Path, catalog_yaml: str) -> Iterator[Api]:
    keys = auditkeys.generate_keys(tmp_path / "checkpoints")
    database = databases.Database(f"sqlite:///{tmp_path / 'openapi.db'}", audit=keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    token = access.create_token(
        database, name="fuzz", role="platform-admin", team=None, actor="test", now=NOW
    )
    app = create_app(Settings(database_url=database.url, migrate_on_start=False), database=database)
    try:
        yield Api(app=app, headers={"Authorization": f"Bearer {token.token}"})
    finally:
        database.dispose()


# schemathesis' pytest plugin (``from_fixture``) does not run under pytest 9, so the operations are
# walked here and each gets a Hypothesis test of its own
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_no_operation_answers_5xx_or_leaves_its_documented_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    failures: list[tuple[str, str]] = []
    operations = []
    for found in schema.get_all_operations():
        operation = found.ok()
        operations.append(operation.label)

        @SETTINGS
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(
                headers=dict(api.headers), checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            check()
        except Exception as exc:  # every operation's failure is reported, not only the first one
            failures.append((operation.label, str(exc)[:2000]))
    assert len(operations) >= 10, operations
    assert failures == [], "\n\n".join(f"{label}: {error}" for label, error in failures)

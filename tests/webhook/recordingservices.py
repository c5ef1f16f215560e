"""A real ``leitplanke serve`` over the test database (catalog, tokens, audit keys seeded before it starts)
for the webhook tests that record decisions and sync waivers; and helpers to read what it recorded."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from webhookservers import SRC

from leitplanke import catalog
from leitplanke.governance import access
from leitplanke.store import databases
from leitplanke.store.rows import AdmissionDecision, AuditRecord, Finding

SERVICE_PROCESSES = Path(__file__).resolve().parents[1] / "service"
sys.path.insert(0, str(SERVICE_PROCESSES))
import serviceprocesses  # noqa: E402  (tests/service's helper, one folder over)

CONFIG = """\
admission:
  default: audit
  environments:
    prod: {mode: enforce, failurePolicy: fail}
    dev: {mode: warn, failurePolicy: ignore}
  namespaces: {shop: prod, shop-dev: dev}
"""


@dataclass
class Service:
    url: str
    port: int
    database: databases.Database
    tokens: dict[str, str]
    folder: Path

    def call(self, method: str, path: str, who: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.tokens[who]}", "Content-Type": "application/json"}
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())

    def token_file(self) -> Path:
        path = self.folder / "service-token"
        path.write_text(self.tokens["webhook"] + "\n")
        return path

    def recorded(self) -> list[str]:
        with self.database.reading() as session:
            return sorted(session.scalars(select(AdmissionDecision.uid)).all())

    def audited(self) -> list[tuple[str, dict[str, Any]]]:
        """(target, details) of every ``admission.decided`` record, in chain order."""
        with self.database.reading() as session:
            query = (
                select(AuditRecord).where(AuditRecord.action == "admission.decided").order_by(AuditRecord.seq)
            )
            return [(row.target, row.details) for row in session.scalars(query).all()]

    def findings(self) -> list[tuple[str, str, str, str]]:
        with self.database.reading() as session:
            rows = session.scalars(select(Finding).order_by(Finding.name)).all()
            return [(row.policy, row.name, row.status, row.waiver) for row in rows]


@contextmanager
def running_service(url: str, audit_keys: object, catalog_yaml: str, folder: Path) -> Iterator[Service]:
    database = databases.Database(url, audit=audit_keys)  # type: ignore[arg-type]
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    now = datetime.now(UTC)
    catalog.apply_catalog(database, parsed, actor="test", now=now)
    tokens = {
        who: access.create_token(
            database, subject=subject, name=who, role=role, team=team, actor="test", now=now
        ).token
        for who, subject, role, team in (
            ("webhook", "service:admission-webhook", "platform-admin", None),
            ("shop-dev", "user:dev", "developer", "team-shop"),
            ("shop-approver", "user:approver", "approver", "team-shop"),
        )
    }
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(folder),
        "PYTHONPATH": str(SRC),
    }
    command = [sys.executable, "-m", "leitplanke.cli", "serve", "--port", str(port)]
    try:
        with serviceprocesses.serving(command, port=port, cwd=folder, env=env):
            yield Service(f"http://127.0.0.1:{port}", port, database, tokens, folder)
    finally:
        database.dispose()


def wait_until(check: Callable[[], bool], *, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()  # SIGKILL: no shutdown code runs
    process.wait(10)

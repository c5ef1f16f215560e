"""Databases for the governance, store and service tests: every such test runs on SQLite and on
PostgreSQL (127.0.0.1:5432, trust auth, database ``test``), each test in a fresh database or schema.

When PostgreSQL cannot be reached its tests are skipped with a message, or fail with it when CI=true
(a broken database setup must not pass CI silently). LEITPLANKE_TEST_POSTGRES_URL points elsewhere:
then only that URL is tried.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# compiled CEL is cached between runs (settings.cache_directory, read by the CLI): the tests, and the CLI
# processes they start, keep theirs in a folder of their own, not in the home directory
os.environ.setdefault(
    "LEITPLANKE_CACHE_DIR",
    os.path.join(os.environ.get("TMPDIR", "/tmp"), f"leitplanke-test-cache-{os.getpid()}"),
)

# the CLI's table follows COLUMNS, and pytest-xdist's workers are started with COLUMNS=80 and LINES=24:
# the CLI processes the tests start print at the default width unless a test names one
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# portal passwords: argon2id with one pass over 1 MiB instead of three over 64 MiB (0.13 s a hash here,
# hundreds of hashes in the suite); the default parameters have a test of their own
os.environ.setdefault("LEITPLANKE_ARGON2", "t=1,m=1024,p=1")

POSTGRES_CANDIDATES = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
)
_reachable: dict[str, str | None] = {}


def _postgres_url() -> str | None:
    """The first PostgreSQL that answers: LEITPLANKE_TEST_POSTGRES_URL alone when it is set, else the
    default candidates. Tried once per test session."""
    if "url" in _reachable:
        return _reachable["url"]
    from sqlalchemy import create_engine, text

    override = os.environ.get("LEITPLANKE_TEST_POSTGRES_URL")
    found = None
    for url in [override] if override else POSTGRES_CANDIDATES:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            found = url
            break
        except Exception:
            continue
        finally:
            engine.dispose()
    _reachable["url"] = found
    return found


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with _database_url(request.param, tmp_path) as url:
        yield url


@contextlib.contextmanager
def _database_url(kind: str, folder: Path) -> Iterator[str]:
    """A fresh SQLite file in ``folder``, or a fresh schema of the PostgreSQL database (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'leitplanke.db'}"
        return
    base = _postgres_url()
    if base is None:
        tried = os.environ.get("LEITPLANKE_TEST_POSTGRES_URL") or (
            "127.0.0.1:5432 (database test, user postgres or root)"
        )
        message = f"PostgreSQL at {tried} is not reachable"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message} (CI=true: PostgreSQL tests fail instead of skipping)", pytrace=False)
        pytest.skip(message)
    from sqlalchemy import create_engine, text

    schema = f"lp_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def audit_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    """Fresh audit keys in files of the test's own, checkpoints beside them; the LEITPLANKE_AUDIT_*
    variables name them, so that a ``leitplanke`` subprocess of the test uses the same keys."""
    return _audit_keys(tmp_path / "audit-keys", monkeypatch)


def _audit_keys(folder: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    from leitplanke.governance import auditkeys

    paths = {
        "LEITPLANKE_AUDIT_KEY_FILE": folder / "hmac.key",
        "LEITPLANKE_AUDIT_SIGNING_KEY_FILE": folder / "signing-key.pem",
        "LEITPLANKE_AUDIT_CHECKPOINT_DIR": folder / "checkpoints",
    }
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    return auditkeys.load_audit_keys(
        key_file=paths["LEITPLANKE_AUDIT_KEY_FILE"],
        signing_key_file=paths["LEITPLANKE_AUDIT_SIGNING_KEY_FILE"],
        checkpoint_dir=paths["LEITPLANKE_AUDIT_CHECKPOINT_DIR"],
    )


_MIGRATED: dict[str, object] = {}  # per test process: the template of each kind


def _migrated(url: str, audit: object) -> object:
    """A Database at ``url`` (fresh, empty) with the schema at Alembic's head, as ``databases.upgrade``
    makes it, without running Alembic for every test: SQLite gets a copy of a file migrated once per test
    process; PostgreSQL the statements one real migration of this process sent, replayed in one
    transaction (``test_conftest_databases`` checks both against a real migration)."""
    from leitplanke.store import databases

    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    if kind not in _MIGRATED:
        _MIGRATED[kind] = _template(kind, url)
    template = _MIGRATED[kind]
    if isinstance(template, Path):
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
        return databases.Database(url, audit=audit)
    db = databases.Database(url, audit=audit)
    with db.engine.begin() as connection:
        for statement, parameters in template:  # type: ignore[attr-defined]
            connection.exec_driver_sql(statement, parameters)
    return db


def _template(kind: str, url: str) -> object:
    """SQLite: a migrated file beside the first test's; PostgreSQL: the statements of a real migration of
    a scratch schema (dropped after), in order, with their parameters."""
    from sqlalchemy import event

    from leitplanke.store import databases

    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="leitplanke-template-"))
        path = folder / "template.db"
        db = databases.Database(f"sqlite:///{path}")
        databases.upgrade(db)
        db.dispose()
        return path
    sent: list[tuple[str, object]] = []

    def record(connection, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append((statement, parameters))

    with _database_url("postgresql", Path(tempfile.gettempdir())) as scratch:
        db = databases.Database(scratch)
        event.listen(db.engine, "before_cursor_execute", record)
        databases.upgrade(db)
        db.dispose()
    return sent


@pytest.fixture
def database(database_url: str, audit_keys: object) -> Iterator[object]:
    db = _migrated(database_url, audit_keys)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[object]:
    """One database (with its audit keys) for every test of a module, on SQLite and PostgreSQL: for
    tests that only read what an expensive fixture of theirs seeded once (a year of history, the demo)."""

    folder = tmp_path_factory.mktemp(f"module-{request.param}")
    with pytest.MonkeyPatch.context() as monkeypatch, _database_url(request.param, folder) as url:
        db = _migrated(url, _audit_keys(folder / "audit-keys", monkeypatch))
        try:
            yield db
        finally:
            db.dispose()


T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

CATALOG_YAML = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-shop, title: Shop}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-data}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
  annotations: {leitplanke.dev/cloud-native: "true", backstage.io/source-location: "url:https://git.example.com/shop/checkout"}
spec: {type: service, owner: group:team-shop, system: commerce, lifecycle: production}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: warehouse
  annotations: {leitplanke.dev/cloud-native: "false"}
spec: {type: service, owner: team-data, system: logistics, lifecycle: experimental}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: dev}
spec: {enforcement: audit, requiresApproval: false}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: prod}
spec: {enforcement: enforce, requiresApproval: true}
"""


@pytest.fixture
def catalog_yaml() -> str:
    """The test catalog as a file's text."""
    return CATALOG_YAML


@pytest.fixture
def catalog_database(database: object) -> object:
    """``database`` with two teams (team-shop owns checkout, team-data owns warehouse), dev and prod."""
    from leitplanke import catalog

    parsed, problems = catalog.parse_catalog(CATALOG_YAML)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=T0)  # type: ignore[arg-type]
    return database


def build_result(
    policy: str,
    rule: str,
    name: str,
    *,
    verdict: str = "fail",
    severity: str = "high",
    kind: str = "Deployment",
    namespace: str = "shop",
    path: str = "spec.template.spec.containers[0]",
    waiver: str = "",
) -> object:
    from leitplanke.core.policies import Severity
    from leitplanke.core.results import Location, Resource, Result, Verdict

    return Result(
        policy=policy,
        rule=rule,
        resource=Resource("apps/v1", kind, namespace, name),
        verdict=Verdict(verdict),
        severity=Severity.parse(severity),
        message=f"{policy}/{rule} on {name}",
        location=Location(file=f"{name}.yaml", line=1, path=path),
        waiver=waiver,
    )


@pytest.fixture
def result() -> object:
    """A factory of core Results: ``result("policy", "rule", "name", verdict="fail", ...)``."""
    return build_result

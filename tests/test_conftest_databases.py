"""The rule of tests/conftest.py for an unreachable PostgreSQL: its tests skip on a developer's
machine and fail in CI (CI=true), so a broken database setup cannot pass CI silently. Each case runs
a small pytest session in a subprocess with the real conftest and LEITPLANKE_TEST_POSTGRES_URL
pointing at a closed port (only that URL is then tried)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

PROBE = """
def test_a_database_is_there(database_url):
    assert database_url
"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run(tmp_path: Path, **env: str) -> tuple[int, list[str]]:
    shutil.copy(Path(__file__).parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "LEITPLANKE_TEST_POSTGRES_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=environment | env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [re.sub(r" in [0-9.]+s$", "", line.strip("= ")) for line in done.stdout.splitlines()]
    return done.returncode, lines


def test_an_unreachable_postgresql_skips_its_tests_outside_ci(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    code, lines = _run(tmp_path, LEITPLANKE_TEST_POSTGRES_URL=url)
    assert code == 0
    assert f"SKIPPED [1] test_probe.py:2: PostgreSQL at {url} is not reachable" in lines
    assert lines[-1] == "1 passed, 1 skipped"


def test_an_unreachable_postgresql_fails_its_tests_when_ci_is_true(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test"
    code, lines = _run(tmp_path, LEITPLANKE_TEST_POSTGRES_URL=url, CI="true")
    assert code == 1
    assert (
        f"ERROR test_probe.py::test_a_database_is_there[postgresql] - Failed: PostgreSQL at {url} is not "
        "reachable (CI=true: PostgreSQL tests fail instead of skipping)"
    ) in lines
    assert lines[-1] == "1 passed, 1 error"


def test_a_reachable_postgresql_runs_its_tests_in_ci(tmp_path: Path) -> None:
    code, lines = _run(tmp_path, CI="true")
    assert (code, lines[-1]) == (0, "2 passed")


def _shape(database: object) -> list[tuple[object, ...]]:
    """The schema of ``database`` as rows: tables, columns with type, default and nullability, indexes
    and constraints with their definitions, and Alembic's revision."""
    from sqlalchemy import text

    engine = database.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
            ).all()
        else:
            rows = [
                *connection.execute(
                    text(
                        "SELECT table_name, column_name, data_type, column_default, is_nullable "
                        "FROM information_schema.columns WHERE table_schema = current_schema()"
                    )
                ).all(),
                *connection.execute(
                    text(
                        "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                    )
                ).all(),
                *connection.execute(
                    text(
                        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE connamespace = current_schema()::regnamespace"
                    )
                ).all(),
            ]
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        schema = (
            connection.execute(text("SELECT current_schema()")).scalar()
            if rows and engine.dialect.name != "sqlite"
            else None
        )
    named = [tuple(str(v).replace(f"{schema}.", "") if schema else str(v) for v in row) for row in rows]
    return sorted(named) + [tuple(r) for r in revision]


def test_the_test_databases_have_the_schema_a_real_migration_makes(database: object, tmp_path: Path) -> None:
    """``database`` is migrated from a template (a copied file, replayed statements): the same schema,
    index for index and constraint for constraint, as Alembic's upgrade of an empty database."""
    import importlib.util

    from leitplanke.store import databases

    # by its path: under pytest-xdist ``import conftest`` may find another folder's conftest
    spec = importlib.util.spec_from_file_location("root_conftest", Path(__file__).parent / "conftest.py")
    assert spec is not None and spec.loader is not None
    conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conftest)
    kind = database.dialect  # type: ignore[attr-defined]
    with conftest._database_url(kind, tmp_path) as url:
        real = databases.Database(url)
        databases.upgrade(real)
        try:
            shape = _shape(real)
            assert _shape(database) == shape
            tables = {row[0] for row in shape if len(row) == 5} | {
                row[1] for row in shape if row[0] == "table"
            }
            assert {"findings", "audit_records", "change_requests"} <= tables
        finally:
            real.dispose()

"""The schema comes from the Alembic migrations, on SQLite (in WAL mode) and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from leitplanke.store import databases, repositories
from leitplanke.store.rows import Team


def test_upgrade_creates_every_table_and_a_second_upgrade_changes_nothing(database: Any) -> None:
    databases.upgrade(database)
    tables = set(inspect(database.engine).get_table_names())
    assert tables == {
        "alembic_version",
        "teams",
        "apps",
        "environments",
        "scans",
        "findings",
        "audit_records",
        "audit_leaves",
        "api_tokens",
        "waivers",
        "alert_outbox",
        "change_requests",
        "change_approvals",
        "portal_users",
        "portal_sessions",
        "admission_decisions",
        "deployments",
        "deployment_commits",
        "incidents",
        "report_runs",
    }
    assert databases.current_revision(database) == _scripts().get_current_head()


def _scripts() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", databases.migrations_path())
    return ScriptDirectory.from_config(config)


def test_the_migrations_are_one_line_from_0001_to_the_newest() -> None:
    revisions = [r.revision for r in _scripts().walk_revisions()]
    assert revisions == [
        "0018_change_sources",
        "0017_report_runs",
        "0016_runtime_source",
        "0015_portal_files",
        "0015_scan_sources",
        "0013_admission",
        "0012_portal",
        "0009_delivery",
        "0008_changes",
        "0007_finding_writes",
        "0006_ingestion",
        "0005_subjects",
        "0004_audit",
        "0003_alerts",
        "0002_waivers",
        "0001",
    ]


def test_sqlite_databases_run_in_wal_mode(database: Any) -> None:
    if database.dialect != "sqlite":
        pytest.skip("WAL is a SQLite setting")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_times_are_read_back_as_the_same_aware_utc_instant(database: Any) -> None:
    written = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    with database.transaction() as session:
        repositories.add(session, Team(name="t", title="", created_at=written))
    with database.reading() as session:
        team = session.scalars(select(Team)).one()
    assert team.created_at == written
    assert team.created_at.tzinfo is UTC


def test_a_failed_transaction_leaves_nothing_behind(database: Any) -> None:
    try:
        with database.transaction() as session:
            repositories.add(session, Team(name="t", title="", created_at=datetime.now(UTC)))
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with database.reading() as session:
        assert session.execute(text("SELECT count(*) FROM teams")).scalar() == 0


def test_postgresql_urls_without_a_driver_use_psycopg() -> None:
    assert databases.normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert databases.normalise_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_finding_whose_scope_is_not_its_last_scans_is_refused(database: Any) -> None:
    import sqlalchemy.exc

    from leitplanke.store.rows import App, Environment, Finding, Scan

    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with database.transaction() as session:
        team = Team(name="t", title="", created_at=now)
        repositories.add(session, team)
        app_a, app_b = (
            App(name="a", team_id=team.id, created_at=now),
            App(name="b", team_id=team.id, created_at=now),
        )
        env = Environment(name="prod", created_at=now)
        for row in (app_a, app_b, env):
            repositories.add(session, row)
        scan = Scan(
            app_id=app_a.id, env_id=env.id, received_at=now, actor="ci", results=1, failing=1, summary={}
        )
        repositories.add(session, scan)
        ids = (app_a.id, app_b.id, env.id, scan.id)

    def finding(app_id: int) -> Finding:
        return Finding(
            app_id=app_id, env_id=ids[2], fingerprint="f", policy="p", rule="r", api_version="v1", kind="Pod",
            namespace="ns", name="n", path="", severity="high", message="m", status="new",
            first_seen=now, last_seen=now, last_scan_id=ids[3],
        )  # fmt: skip

    with database.transaction() as session:  # in the scope of the scan that saw it: accepted
        repositories.add(session, finding(ids[0]))
    with pytest.raises(sqlalchemy.exc.IntegrityError), database.transaction() as session:
        repositories.add(session, finding(ids[1]))  # app b's finding, seen by a scan of app a
    with database.reading() as session:
        assert session.execute(text("SELECT app_id FROM findings")).scalars().all() == [ids[0]]

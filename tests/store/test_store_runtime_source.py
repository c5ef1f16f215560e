"""Migration 0016_runtime_source on SQLite and PostgreSQL: the leak detector's scans from before (their
summary says ``"source": "prometheus"``, their source was ``ci``) and the findings they last reported
become ``runtime``; CI scans and their findings stay ``ci``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from leitplanke.store import databases


def _catalog(connection: Any) -> None:
    at = {"at": datetime(2026, 1, 1)}
    connection.execute(
        text("INSERT INTO teams (id, name, title, created_at) VALUES (1, 'shop', '', :at)"), at
    )
    connection.execute(
        text(
            "INSERT INTO apps (id, name, team_id, value_stream, lifecycle, cloud_native, repository,"
            " created_at) VALUES (1, 'a', 1, '', '', :yes, '', :at)"
        ),
        {**at, "yes": True},
    )
    connection.execute(
        text(
            "INSERT INTO environments (id, name, enforcement, requires_approval, created_at)"
            " VALUES (1, 'prod-runtime', 'audit', :no, :at)"
        ),
        {**at, "no": False},
    )


def test_the_runtime_scans_of_before_and_their_findings_become_runtime(database_url: str) -> None:
    database = databases.Database(database_url)
    try:
        databases.upgrade(database, "0015_portal_files")
        with database.engine.begin() as connection:
            _catalog(connection)
            for scan_id, summary in ((1, '{"revision": "r1"}'), (2, '{"source": "prometheus", "fail": 1}')):
                connection.execute(
                    text(
                        "INSERT INTO scans (id, app_id, env_id, received_at, generated_at, actor, results, failing,"
                        " summary) VALUES (:id, 1, 1, '2026-01-01 00:00:00', '', 't', 0, 0, :summary)"
                    ),
                    {"id": scan_id, "summary": summary},
                )
            for finding_id, scan_id in ((1, 1), (2, 2)):
                connection.execute(
                    text(
                        "INSERT INTO findings (id, app_id, env_id, fingerprint, policy, rule, api_version, kind,"
                        " namespace, name, path, severity, message, status, waiver, first_seen, last_seen,"
                        " last_scan_id, paused_seconds) VALUES (:id, 1, 1, :fp, 'p', 'r', 'v1', 'Pod', 'ns', 'n',"
                        " '', 'high', '', 'new', '', '2026-01-01 00:00:00', '2026-01-01 00:00:00', :scan, 0)"
                    ),
                    {"id": finding_id, "fp": f"f{finding_id}", "scan": scan_id},
                )
        databases.upgrade(database)
        with database.engine.connect() as connection:
            scans: list[Any] = connection.execute(text("SELECT id, source FROM scans ORDER BY id")).all()
            found: list[Any] = connection.execute(text("SELECT id, source FROM findings ORDER BY id")).all()
        assert [tuple(row) for row in scans] == [(1, "ci"), (2, "runtime")]
        assert [tuple(row) for row in found] == [(1, "ci"), (2, "runtime")]
    finally:
        database.dispose()

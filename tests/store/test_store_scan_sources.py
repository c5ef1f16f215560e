"""Migration 0015_scan_sources on SQLite and PostgreSQL: scans and findings from before are ``ci``, but
the scan rows of admission decisions (their summary says so) and the findings they last reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text

from leitplanke.store import databases


def test_rows_from_before_get_their_source_from_the_scan_that_made_them(database_url: str) -> None:
    database = databases.Database(database_url)
    try:
        databases.upgrade(database, "0013_admission")
        with database.engine.begin() as connection:
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
                    " VALUES (1, 'prod', 'audit', :no, :at)"
                ),
                {**at, "no": False},
            )
            for scan_id, generated, summary in (
                (1, "2026-01-01T00:00:00Z", "{}"),
                (2, "", '{"source": "admission"}'),
            ):
                connection.execute(
                    text(
                        "INSERT INTO scans (id, app_id, env_id, received_at, generated_at, actor, results, failing,"
                        " summary) VALUES (:id, 1, 1, '2026-01-01 00:00:00', :generated, 't', 0, 0, :summary)"
                    ),
                    {"id": scan_id, "generated": generated, "summary": summary},
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
            found: list[Any] = connection.execute(
                text("SELECT id, source, category FROM findings ORDER BY id")
            ).all()
        assert [tuple(row) for row in scans] == [(1, "ci"), (2, "admission")]
        assert [tuple(row) for row in found] == [(1, "ci", ""), (2, "admission", "")]
    finally:
        database.dispose()

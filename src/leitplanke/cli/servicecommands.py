"""What the service's commands share: settings, the database and the clock, built at the edge."""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke import settings as settings_module
from leitplanke.store import databases


def open_database(url: str | None = None, *, migrate: bool = True) -> databases.Database:
    """The database of ``--database`` or LEITPLANKE_DATABASE_URL (default: SQLite under ./data)."""
    database = databases.Database(url or settings_module.load_settings().database_url)
    if migrate:
        databases.upgrade(database)
    return database


def now() -> datetime:
    return datetime.now(UTC)

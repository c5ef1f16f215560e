"""What the service's commands share: settings, the database and the clock, built at the edge.

The store and governance layers are imported when a service command runs, not when the CLI
starts: ``scan`` and ``test`` should not pay for SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leitplanke.store import databases


def open_database(url: str | None = None, *, migrate: bool = True) -> databases.Database:
    """The database of ``--database`` or LEITPLANKE_DATABASE_URL (default: SQLite under ./data)."""
    from leitplanke import settings as settings_module
    from leitplanke.store import databases

    database = databases.Database(url or settings_module.load_settings().database_url)
    if migrate:
        databases.upgrade(database)
    return database


def now() -> datetime:
    return datetime.now(UTC)

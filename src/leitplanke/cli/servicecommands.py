"""What the service's commands share: settings, the database and the clock, built at the edge.

The store and governance layers are imported when a service command runs, not when the CLI
starts: ``scan`` and ``test`` should not pay for SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leitplanke.governance import auditkeys
    from leitplanke.settings import Settings
    from leitplanke.store import databases


def open_database(url: str | None = None, *, migrate: bool = True) -> databases.Database:
    """The database of ``--database`` or LEITPLANKE_DATABASE_URL (default: SQLite under ./data)."""
    from leitplanke import settings as settings_module
    from leitplanke.store import databases

    settings = settings_module.load_settings()
    database = databases.Database(url or settings.database_url, audit=audit_keys(settings))
    if migrate:
        databases.upgrade(database)
    return database


def audit_keys(settings: Settings) -> auditkeys.AuditKeys:
    """The audit chain's keys from the files the settings name (created on first use)."""
    from leitplanke.governance import auditkeys

    return auditkeys.load_audit_keys(
        key_file=settings.audit_key_file,
        signing_key_file=settings.audit_signing_key_file,
        checkpoint_dir=settings.audit_checkpoint_dir,
    )


def now() -> datetime:
    return datetime.now(UTC)

"""The database connection: engines for SQLite (WAL) and PostgreSQL, transactions, migrations.

``Database`` is built at the edges (``service.create_app``, ``cli``) from a URL and passed to the
use cases, which open one transaction each with ``database.transaction()``. The audit chain's keys
travel with it: opaque here (the store knows nothing of them), put into every writing session's
``info`` under ``AUDIT_KEYS`` for the governance layer's ``auditing.Chain`` to read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from leitplanke.core.problems import LeitplankeError

# any constant: the key of the transaction-scoped advisory lock that serialises writers on PostgreSQL
_WRITE_LOCK_KEY = 0x6C70_0001
# where a session carries the audit keys of its database (``governance.auditkeys.AuditKeys``)
AUDIT_KEYS = "leitplanke.audit-keys"


class DatabaseError(LeitplankeError):
    """The database could not be reached or migrated."""

    code = "database"


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3, the driver we ship."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    def __init__(self, url: str, *, echo: bool = False, audit: object | None = None) -> None:
        self.url = normalise_url(url)
        # without keys the audit chain refuses to append (governance.auditing); never an unkeyed chain
        self.audit = audit
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = _sqlite_engine(self.url, echo=echo)
        elif self.dialect == "postgresql":
            self.engine = create_engine(self.url, echo=echo, pool_pre_ping=True, pool_size=10)
        else:
            raise DatabaseError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(leitplanke_read=True), expire_on_commit=False
        )

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing transaction, committed when the block ends without an exception.

        Writers are serialised: on SQLite by ``BEGIN IMMEDIATE``, on PostgreSQL by an advisory lock
        held until the transaction ends, so that the audit chain and the findings of one scope
        never see two writers at once.
        """
        with self._sessions() as session, session.begin():
            session.info[AUDIT_KEYS] = self.audit
            if self.dialect == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK_KEY})
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction for reading; it does not wait for writers on SQLite (rows stay usable after it)."""
        with self._readers() as session, session.begin():
            yield session

    @contextmanager
    def maintaining(self) -> Iterator[Connection]:
        """A connection outside any transaction, for upkeep that may not run in one (``VACUUM``)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # 32 MiB of page cache (the default is 2): an ingestion inserts 100k rows into four indexes
        cursor.execute("PRAGMA cache_size=-32768")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # a deferred transaction that later writes can fail with SQLITE_BUSY whatever the timeout;
        # taking the write lock up front makes writers queue instead
        read_only = connection.get_execution_options().get("leitplanke_read", False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def migrations_path() -> str:
    return str(resources.files("leitplanke.store").joinpath("migrations"))


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", migrations_path())
    try:
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot migrate the database: {exc}") from exc


def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()

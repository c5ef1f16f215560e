"""Alembic environment: runs the migrations on the connection ``store.databases.upgrade`` passes in,
or on ``sqlalchemy.url`` when called by the alembic command itself."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from leitplanke.store import rows

config = context.config
target_metadata = rows.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as fresh:
        _run(fresh)

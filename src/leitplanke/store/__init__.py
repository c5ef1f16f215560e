"""The database: SQLAlchemy rows, repositories and Alembic migrations.

Repositories take a session and never commit; the use cases in ``governance`` own the
transaction (``Database.transaction``). SQLite (WAL) by default, PostgreSQL in production.
"""

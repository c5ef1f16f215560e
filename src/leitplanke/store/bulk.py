"""Bulk writes of many rows in the caller's transaction, below SQLAlchemy's per-row parameter handling.

On PostgreSQL through psycopg's COPY: new rows go straight into their table, rewrites through a
temporary table and one ``UPDATE … FROM`` for all their batches. On SQLite one prepared statement run
by executemany. Values are converted here once per distinct time (a batch shares a handful of them),
not once per row and column. Used by ``repositories`` for the findings of a scan.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Table
from sqlalchemy.orm import Session

_STAGE = "lp_bulk_stage"  # the temporary table of rewrites, dropped at commit


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) into ``table`` in one statement."""
    if not rows:
        return
    columns = list(rows[0])
    values = _Values(session, table, columns)
    if values.dialect == "postgresql":
        with _cursor(session) as cursor, cursor.copy(_copy_sql(table.name, columns)) as copy:
            for row in rows:
                copy.write_row(values.of(row))
        return
    marks = ", ".join("?" * len(columns))
    sql = f"INSERT INTO {_quote(table.name)} ({_names(columns)}) VALUES ({marks})"
    session.connection().exec_driver_sql(sql, [values.of(row) for row in rows])


class Rewrite:
    """Sets ``columns`` of ``table`` by ``id`` from rows given in batches (each with all of them).

    On SQLite each batch is one prepared UPDATE run by executemany. On PostgreSQL the batches are
    COPYed into a temporary table and ``apply`` runs one ``UPDATE … FROM`` for all of them: one plan,
    one pass over the target, where a statement per batch would pay both again and again.
    """

    def __init__(self, session: Session, table: Table, *, columns: Sequence[str]) -> None:
        self.session, self.table, self.columns = session, table, list(columns)
        self.values = _Values(session, table, [*columns, "id"])
        self.staged = 0

    def add(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        names, target = [*self.columns, "id"], _quote(self.table.name)
        if self.values.dialect != "postgresql":
            assignments = ", ".join(f"{_quote(n)} = ?" for n in self.columns)
            sql = f"UPDATE {target} SET {assignments} WHERE id = ?"
            self.session.connection().exec_driver_sql(sql, [self.values.of(row) for row in rows])
            return
        with _cursor(self.session) as cursor:
            if not self.staged:
                cursor.execute(
                    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DROP AS "
                    f"SELECT {_names(names)} FROM {target} WITH NO DATA"
                )
                cursor.execute(f"TRUNCATE {_STAGE}")
            with cursor.copy(_copy_sql(_STAGE, names)) as copy:
                for row in rows:
                    copy.write_row(self.values.of(row))
        self.staged += len(rows)

    def apply(self) -> None:
        """The staged rows written (PostgreSQL; SQLite wrote each batch as it came)."""
        if not self.staged:
            return
        target = _quote(self.table.name)
        assignments = ", ".join(f"{_quote(n)} = s.{_quote(n)}" for n in self.columns)
        with _cursor(self.session) as cursor:
            cursor.execute(f"ANALYZE {_STAGE}")  # else the planner guesses its size and scans the target
            cursor.execute(f"UPDATE {target} AS t SET {assignments} FROM {_STAGE} AS s WHERE t.id = s.id")
        self.staged = 0


class _Values:
    """Rows as the columns store them: times as naive UTC (see ``rows.UtcDateTime``), on SQLite as the
    text SQLAlchemy writes (``2026-01-05 09:00:00.000000``)."""

    def __init__(self, session: Session, table: Table, columns: Sequence[str]) -> None:
        self.dialect = session.get_bind().dialect.name
        self.columns = list(columns)
        self.time_indices = [i for i, name in enumerate(columns) if _is_time(table, name)]
        self.times: dict[datetime, Any] = {}
        self.pick = operator.itemgetter(*self.columns)  # a row's values in column order, in C

    def of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = [row[name] for name in self.columns] if len(self.columns) == 1 else list(self.pick(row))
        times = self.times
        for index in self.time_indices:
            value = values[index]
            if value is not None:
                stored = times.get(value)
                values[index] = self.time(value) if stored is None else stored
        return tuple(values)

    def time(self, value: datetime) -> Any:
        stored = self.times.get(value)
        if stored is None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: pass an aware UTC time")
            naive = value.astimezone(UTC).replace(tzinfo=None)
            stored = naive if self.dialect == "postgresql" else naive.strftime("%Y-%m-%d %H:%M:%S.%f")
            self.times[value] = stored
        return stored


def _is_time(table: Table, name: str) -> bool:
    kind = table.c[name].type
    return isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime)


def _cursor(session: Session) -> Any:
    """A cursor of the psycopg connection under the session's transaction."""
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


def _copy_sql(table: str, columns: Sequence[str]) -> str:
    return f"COPY {_quote(table)} ({_names(columns)}) FROM STDIN"


def _names(columns: Sequence[str]) -> str:
    return ", ".join(_quote(c) for c in columns)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'

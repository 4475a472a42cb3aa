"""Where records go: one SQLite file (default; WAL, batched commits) or PostgreSQL (psycopg 3).

Both keep one table, ``invocations``, with the columns of :data:`record.COLUMNS`. The report
reads it through :meth:`Store.query` with ``?`` placeholders on either database.

**The schema is versioned** (table ``schema_version``, one row). :data:`SCHEMA` lists the
columns each version added; opening a store of an older version migrates it, in one
transaction that holds the database's write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL
advisory lock), so that two collectors starting together migrate it once. A store made before
versions existed (an ``invocations`` table without ``schema_version``) is version 1. A field
added to the record is a new version here: its columns are appended (``ALTER TABLE ... ADD
COLUMN``, nullable, so that rows stored before keep NULL and an older collector can still
insert into a newer store). A store newer than this code is used as it is, with a warning.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from accpy_core.errors import StoreError

from .record import COLUMNS, Record

log = logging.getLogger(__name__)

#: schema version -> the columns it added to ``invocations`` (version 1: the table itself)
SCHEMA: dict[int, tuple[str, ...]] = {
    1: (
        *("time", "day", "user_name", "uid", "host", "pid", "base", "patch", "status", "eol"),
        *("python", "exe", "venv", "kind", "target", "peer"),
    ),
    2: ("format", "interactive", "interactive_patch", "extra"),  # record format 1.1
}
LATEST = max(SCHEMA)
_TYPES = {
    "time": "DOUBLE PRECISION NOT NULL",
    "day": "TEXT NOT NULL",
    "uid": "BIGINT NOT NULL",
    "pid": "BIGINT NOT NULL",
    "patch": "INTEGER NOT NULL",
    "eol": "TEXT",
    "venv": "TEXT",
    "target": "TEXT",
    # added after version 1: nullable (the rows stored before have none)
    "format": "TEXT",
    "interactive": "TEXT",
    "interactive_patch": "INTEGER",
    "extra": "TEXT",
}
#: the report filters on day (and base): one index, so that inserts stay cheap
_INDEXES = ("CREATE INDEX IF NOT EXISTS invocations_day ON invocations (day)",)
_PG_LOCK = 0x41CC_0575  # the advisory lock of a migration ("acc-py usage")


def _column(name: str) -> str:
    return f"{name} {_TYPES.get(name, 'TEXT NOT NULL')}"


def schema_statements(current: int | None) -> list[str]:
    """The DDL that takes a store from version ``current`` (None: empty) to :data:`LATEST`."""
    if current is None:
        statements = [f"CREATE TABLE invocations ({', '.join(_column(c) for c in COLUMNS)})"]
    else:
        statements = [
            f"ALTER TABLE invocations ADD COLUMN {_column(c)}"
            for version in range(current + 1, LATEST + 1)
            for c in SCHEMA[version]
        ]
    statements += list(_INDEXES)
    statements += [
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        "DELETE FROM schema_version",
        f"INSERT INTO schema_version (version) VALUES ({LATEST})",
    ]
    return statements


def migrate(
    query: Callable[[str], list[tuple[Any, ...]]],
    execute: Callable[[str], object],
    has_table: Callable[[str], bool],
    where: str,
) -> None:
    """Bring the store to :data:`LATEST`; call inside a transaction that holds the write lock."""
    if has_table("schema_version"):
        rows = query("SELECT version FROM schema_version")
        current: int | None = int(rows[0][0]) if rows else 1
    else:
        current = 1 if has_table("invocations") else None
    if current is not None and current > LATEST:
        log.warning(
            "%s has schema version %d, newer than this acc-py-usage's %d: its newer columns stay "
            "empty in what this one stores; upgrade acc-py-usage", where, current, LATEST,
        )  # fmt: skip
        return
    if current == LATEST:
        return
    if current is not None:
        log.info("migrating %s from schema version %d to %d", where, current, LATEST)
    for sql in schema_statements(current):
        execute(sql)


class Store(Protocol):
    def insert(self, records: Sequence[Record]) -> None: ...
    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...
    def delete_before(self, day: str) -> int: ...
    def close(self) -> None: ...


#: what the retention removes: the records of the UTC days before a given one
DELETE_BEFORE = "DELETE FROM invocations WHERE day < ?"


def is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def open_store(db: str, *, create: bool = True) -> Store:
    """A store for ``db``: a PostgreSQL URL, or the path of an SQLite file."""
    if is_postgres(db):
        return PostgresStore(db)
    return SqliteStore(Path(db), create=create)


class SqliteStore:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.is_file():
            raise StoreError(f"{path}: no such database; give the --db the collector writes")
        try:
            # one connection, used by one thread at a time (the writer, or the report)
            self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA busy_timeout=10000")
            self.conn.execute("BEGIN IMMEDIATE")  # the write lock: one migration at a time
            try:
                migrate(self.query, self.conn.execute, self._has_table, str(path))
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the SQLite database: {exc}") from exc

    def _has_table(self, name: str) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(self.conn.execute(sql, (name,)).fetchall())

    def insert(self, records: Sequence[Record]) -> None:
        cols = ", ".join(COLUMNS)
        marks = ", ".join("?" * len(COLUMNS))
        with self.conn:  # one transaction per batch
            self.conn.execute("BEGIN")
            self.conn.executemany(
                f"INSERT INTO invocations ({cols}) VALUES ({marks})", [r.row() for r in records]
            )

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def delete_before(self, day: str) -> int:
        with self.conn:
            self.conn.execute("BEGIN")
            return int(self.conn.execute(DELETE_BEFORE, (day,)).rowcount)

    def close(self) -> None:
        self.conn.close()


class PostgresStore:
    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - a packaging mistake
            raise StoreError("PostgreSQL needs psycopg: pip install 'psycopg[binary]'") from exc
        self._errors = psycopg.Error
        try:
            self.conn = psycopg.connect(
                url, autocommit=False, connect_timeout=10, client_encoding="UTF8"
            )
            with self.conn.transaction():
                self.conn.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
                migrate(self._query, self.conn.execute, self._has_table, "the PostgreSQL store")
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL database: {exc}") from exc

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql).fetchall())

    def _has_table(self, name: str) -> bool:
        rows = self.conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchall()
        return bool(rows[0][0])

    def insert(self, records: Sequence[Record]) -> None:
        sql = f"COPY invocations ({', '.join(COLUMNS)}) FROM STDIN"
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
            for r in records:
                copy.write_row(r.row())

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))
            return list(cur.fetchall())

    def delete_before(self, day: str) -> int:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(DELETE_BEFORE.replace("?", "%s"), (day,))
            return int(cur.rowcount)

    def close(self) -> None:
        self.conn.close()

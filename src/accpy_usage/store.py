"""Where records go: one SQLite file (default; WAL, batched commits) or PostgreSQL (psycopg 3).

Both keep one table, ``invocations``, with the columns of :data:`record.COLUMNS`. The report
reads it through :meth:`Store.query` with ``?`` placeholders on either database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from accpy_core.errors import StoreError

from .record import COLUMNS, Record

_TYPES = {
    "time": "DOUBLE PRECISION NOT NULL",
    "day": "TEXT NOT NULL",
    "uid": "BIGINT NOT NULL",
    "pid": "BIGINT NOT NULL",
    "patch": "INTEGER NOT NULL",
    "eol": "TEXT",
    "venv": "TEXT",
    "target": "TEXT",
}
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS invocations ("
    + ", ".join(f"{c} {_TYPES.get(c, 'TEXT NOT NULL')}" for c in COLUMNS)
    + ")"
)
#: the report filters on day (and base): one index, so that inserts stay cheap
_INDEXES = ("CREATE INDEX IF NOT EXISTS invocations_day ON invocations (day)",)


class Store(Protocol):
    def insert(self, records: Sequence[Record]) -> None: ...
    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...
    def close(self) -> None: ...


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
            if create:
                self.conn.execute(_SCHEMA)
                for sql in _INDEXES:
                    self.conn.execute(sql)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the SQLite database: {exc}") from exc

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
                self.conn.execute(_SCHEMA)
                for sql in _INDEXES:
                    self.conn.execute(sql)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL database: {exc}") from exc

    def insert(self, records: Sequence[Record]) -> None:
        sql = f"COPY invocations ({', '.join(COLUMNS)}) FROM STDIN"
        with self.conn.transaction(), self.conn.cursor() as cur, cur.copy(sql) as copy:
            for r in records:
                copy.write_row(r.row())

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(sql.replace("?", "%s"), tuple(params))
            return list(cur.fetchall())

    def close(self) -> None:
        self.conn.close()

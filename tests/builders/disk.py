"""A full disk under a SQLite store, for real: SQLite itself answers SQLITE_FULL ("database or disk is full").

``PRAGMA max_page_count`` caps the database file at the pages it has now (on every connection any
engine opens to that file, so a restart's new store is just as full); triggers make each write to the
store's tables also insert a 1 MiB blob, so that every write needs new pages, as every commit
needs room in the WAL on a real full disk. ``free`` lifts the cap and removes the triggers.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

TABLES = ("order_intents", "orders", "order_events", "fills", "events", "equity", "position_snapshots",
          "auction_plans")


class DiskFull:
    """The disk under the SQLite store at ``path``; ``fill()`` makes it full, ``free()`` frees space."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database
        assert database, "a file-backed SQLite store is needed"
        self.path = Path(database).resolve()
        self.pages: int | None = None

    @property
    def full(self) -> bool:
        return self.pages is not None

    def fill(self) -> None:
        with self.engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS disk_filler (b BLOB)")
            for table in TABLES:
                conn.exec_driver_sql(f"CREATE TRIGGER IF NOT EXISTS disk_full_{table} AFTER INSERT ON {table} "
                                     "BEGIN INSERT INTO disk_filler VALUES (zeroblob(1048576)); END")
        with self.engine.connect() as conn:
            self.pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        sa.event.listen(Engine, "connect", self._cap)
        self.engine.dispose()  # pooled connections get the cap when they are opened again

    def free(self) -> None:
        sa.event.remove(Engine, "connect", self._cap)
        self.pages = None
        self.engine.dispose()
        with self.engine.connect() as conn, conn.begin():
            for table in TABLES:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS disk_full_{table}")
            conn.exec_driver_sql("DROP TABLE IF EXISTS disk_filler")

    def _cap(self, dbapi_conn: Any, _record: Any) -> None:
        if self.pages is None or not isinstance(dbapi_conn, sqlite3.Connection):
            return
        files = [Path(row[2]).resolve() for row in dbapi_conn.execute("PRAGMA database_list") if row[2]]
        if self.path in files:
            dbapi_conn.execute(f"PRAGMA max_page_count = {self.pages}")

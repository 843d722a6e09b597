"""A full disk under the SQLite store (issue 11 item 1): writes fail as ``StoreWriteError`` saying what to do,
and the start-up write probe refuses a store that cannot be written (``builders.disk.DiskFull``: SQLite's
own SQLITE_FULL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from builders.disk import DiskFull
from krakenbot.domain.errors import STORE_WRITE_ADVICE, StoreWriteError
from krakenbot.domain.journal import JournalEvent
from krakenbot.domain.vocabulary import EventKind
from krakenbot.store.engine import is_disk_full
from krakenbot.store.sql import SqlStore, StoreNotWritableError

EVENT = JournalEvent(ts=datetime(2026, 1, 15, tzinfo=UTC), kind=EventKind.EXTERNAL, symbol="PF_XBTUSD", detail="x")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqlStore]:
    with SqlStore(f"sqlite:///{tmp_path / 'krakenbot.db'}") as store:
        yield store


def test_write_on_a_full_disk_raises_store_write_error_naming_the_write_and_what_to_do(
        sqlite_store: SqlStore) -> None:
    disk = DiskFull(sqlite_store.engine)
    disk.fill()
    try:
        with pytest.raises(StoreWriteError, match="recording event external failed") as failed:
            sqlite_store.record_event(EVENT)
    finally:
        disk.free()
    assert "database or disk is full" in str(failed.value) and str(failed.value).endswith(STORE_WRITE_ADVICE)
    assert is_disk_full(failed.value) and not failed.value.protected
    assert sqlite_store.events() == []  # rolled back
    sqlite_store.record_event(EVENT)  # space freed: writes work again
    assert sqlite_store.events() == [EVENT]


def test_write_probe_passes_on_a_writable_store_and_leaves_nothing_behind(sqlite_store: SqlStore) -> None:
    sqlite_store.probe_write()
    sqlite_store.probe_write()
    assert sqlite_store.events() == []


def test_write_probe_refuses_a_store_on_a_full_disk_saying_why(sqlite_store: SqlStore) -> None:
    disk = DiskFull(sqlite_store.engine)
    disk.fill()
    try:
        with pytest.raises(StoreNotWritableError, match=r"^the store .* cannot be written .*; nothing was sent") as no:
            sqlite_store.probe_write()
    finally:
        disk.free()
    assert "database or disk is full" in str(no.value) and str(no.value).endswith(STORE_WRITE_ADVICE)
    sqlite_store.probe_write()


def test_write_probe_refuses_a_read_only_store(sqlite_store: SqlStore) -> None:
    import sqlalchemy as sa

    def read_only(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute("PRAGMA query_only = ON")  # type: ignore[attr-defined]

    sa.event.listen(sqlite_store.engine, "connect", read_only)
    sqlite_store.engine.dispose()
    with pytest.raises(StoreNotWritableError, match="cannot be written"):
        sqlite_store.probe_write()

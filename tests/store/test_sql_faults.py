"""SqlStore under faults: migrations, WAL, a second writer, failing writes roll back, a closed store."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from builders.account import make_position
from builders.clock import T0
from builders.exchange import intent, make_fill, order_of
from krakenbot.domain import OrderSide, OrderStatus
from krakenbot.domain.errors import FatalError, StoreError
from krakenbot.store.engine import alembic_config, current_revision, head_revision, migrate
from krakenbot.store.schema import metadata
from krakenbot.store.sql import SqlStore

TABLES = {"order_intents", "orders", "order_events", "fills", "position_snapshots", "snapshot_positions",
          "auction_plans", "events", "equity"}


def _sqlite_path(url: str) -> str:
    database = sa.make_url(url).database
    assert database
    return database


@contextmanager
def _failing_inserts(store: SqlStore, table: str) -> Iterator[None]:
    """A database trigger that makes every insert into ``table`` fail (a real failure, not a mock)."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                                 "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION fail_insert() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'injected write failure'; END $$")
            conn.exec_driver_sql(f"CREATE TRIGGER fail_{table} BEFORE INSERT ON {table} "
                                 "FOR EACH ROW EXECUTE FUNCTION fail_insert()")
    try:
        yield
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TRIGGER fail_{table}" + ("" if store.dialect == "sqlite" else f" ON {table}"))
            if store.dialect != "sqlite":
                conn.exec_driver_sql("DROP FUNCTION fail_insert()")


def test_migrations_take_an_empty_database_to_head_matching_the_tables(store_url: str) -> None:
    with SqlStore(store_url, migrate_schema=False) as store:
        assert current_revision(store.engine) is None
        migrate(store.engine)
        assert current_revision(store.engine) == head_revision()
        with store.engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) >= TABLES
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        migrate(store.engine)  # at head already: nothing to do
        assert current_revision(store.engine) == head_revision()


def test_migrations_downgrade_to_empty_and_upgrade_again(store_url: str) -> None:
    with SqlStore(store_url) as store:
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
        cfg = alembic_config()
        with store.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
        with store.engine.connect() as conn:
            assert not TABLES & set(sa.inspect(conn).get_table_names())
        migrate(store.engine)
        assert store.intents() == []


def test_database_from_an_unknown_newer_revision_is_refused(store_url: str) -> None:
    with SqlStore(store_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'r9999'")
    with pytest.raises(StoreError, match=r"r9999.*newer Krakenbot"):
        SqlStore(store_url)


def test_reopening_a_store_keeps_its_records(store_url: str) -> None:
    with SqlStore(store_url) as store:
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
        store.record_fill(make_fill("t-1"))
    with SqlStore(store_url) as store:
        assert [i.client_order_id for i in store.intents()] == ["kb-1"]
        assert store.fill_trade_ids() == {"t-1"}


def test_sqlite_store_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    with SqlStore(url, busy_timeout_s=1.5) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1500
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_sqlite_second_writer_waits_the_busy_timeout_then_fails_cleanly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    with SqlStore(url, busy_timeout_s=0.3) as store:
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
        other = sqlite3.connect(_sqlite_path(url), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            started = time.monotonic()
            with pytest.raises(StoreError, match="locked"):
                store.record_intent(intent("kb-2", OrderSide.BUY, "0.1"))
            assert time.monotonic() - started >= 0.25
            assert [i.client_order_id for i in store.intents()] == ["kb-1"]  # readers are not blocked (WAL)
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.record_intent(intent("kb-2", OrderSide.BUY, "0.1"))  # the lock is gone: writes work again
        assert [i.client_order_id for i in store.intents()] == ["kb-1", "kb-2"]


def test_failing_intent_write_raises_store_error_and_leaves_no_intent(store: SqlStore) -> None:
    with _failing_inserts(store, "order_events"), pytest.raises(StoreError, match="injected write failure") as err:
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
    assert isinstance(err.value, FatalError)
    assert "kb-1" in str(err.value)
    assert store.intents() == []  # the intent row went in first and was rolled back with the event
    assert store.open_orders() == []


def test_failing_order_write_rolls_back_the_state_change(store: SqlStore) -> None:
    wish = intent("kb-1", OrderSide.BUY, "0.1", limit="20000")
    store.record_intent(wish)
    with _failing_inserts(store, "order_events"), pytest.raises(StoreError):
        store.record_order(order_of(wish, OrderStatus.OPEN))
    assert store.order("kb-1") == order_of(wish, OrderStatus.INTENDED, exchange_order_id=None)
    store.record_order(order_of(wish, OrderStatus.OPEN))  # the failure passed: the same change goes through
    assert store.open_orders() == [order_of(wish, OrderStatus.OPEN)]


def test_failing_position_snapshot_leaves_the_previous_one_latest(store: SqlStore) -> None:
    btc = make_position("PF_XBTUSD")
    store.record_positions(T0, [btc])
    with _failing_inserts(store, "snapshot_positions"), pytest.raises(StoreError):
        store.record_positions(T0.replace(minute=1), [btc, make_position("PF_ETHUSD")])
    assert store.latest_positions() == [btc]


def test_read_only_sqlite_store_raises_store_error_on_write(tmp_path: Path) -> None:
    path = f"{tmp_path}/k.db"
    with SqlStore(f"sqlite:///{path}") as store:
        store.record_fill(make_fill("t-1"))
    with SqlStore(f"sqlite:///file:{path}?mode=ro&uri=true", migrate_schema=False) as read_only:
        with pytest.raises(StoreError, match=r"readonly|read-only|read only"):
            read_only.record_fill(make_fill("t-2"))
        assert read_only.fill_trade_ids() == {"t-1"}


def test_closed_store_raises_store_error_for_writes_and_reads(store: SqlStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
    with pytest.raises(StoreError, match="closed"):
        store.intents()


def test_unreachable_postgres_raises_store_error_without_the_password() -> None:
    with pytest.raises(StoreError) as err:
        SqlStore("postgresql+psycopg://bot:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "s3cret-pw" not in str(err.value)
    assert "127.0.0.1" in str(err.value)


def test_unsupported_url_raises_store_error() -> None:
    with pytest.raises(StoreError, match="only sqlite"):
        SqlStore("mysql://bot@localhost/krakenbot")

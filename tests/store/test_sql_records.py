"""SqlStore round trips of every record type, exact decimals, UTC timestamps, unique fills (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from builders.account import make_account, make_position
from builders.clock import T0
from builders.exchange import intent, make_fill
from krakenbot.domain import OrderSide, OrderType, Position, Side
from krakenbot.domain.errors import StoreError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.store.sql import SqlStore

EXACT = ["0.1", "0.00000001", "1E-18", "12345678901234567890.123456789012345678", "99999.99999999", "1.50",
         "0.30000000000000000000000000001"]


def test_sql_store_is_a_journal(store: SqlStore) -> None:
    journal: Journal = store
    journal.record_event(JournalEvent(ts=T0, kind="pause", symbol="PF_XBTUSD", detail="stale ticker"))
    assert store.events() == [JournalEvent(ts=T0, kind="pause", symbol="PF_XBTUSD", detail="stale ticker")]


def test_record_intent_round_trips_every_field_and_tick(store: SqlStore) -> None:
    entry = intent("kb-1", OrderSide.BUY, "0.1234", limit="20001.5")
    stop = intent("kb-2", OrderSide.SELL, "0.1234", stop="19000.25", reduce_only=True, order_type=OrderType.STOP)
    store.record_intent(entry, tick=41)
    store.record_intent(stop)

    assert store.intents() == [entry, stop]
    assert store.intent("kb-2") == stop
    assert store.intent("nope") is None
    assert store.tick_of("kb-1") == 41
    assert store.tick_of("kb-2") is None


def test_record_intent_is_visible_to_a_second_connection_when_it_returns(store: SqlStore, store_url: str) -> None:
    store.record_intent(intent("kb-1", OrderSide.BUY, "0.1"))
    with SqlStore(store_url) as other:
        assert [i.client_order_id for i in other.intents()] == ["kb-1"]


def test_record_intent_repeat_is_a_no_op_and_a_reused_id_is_refused(store: SqlStore) -> None:
    first = intent("kb-1", OrderSide.BUY, "0.1")
    store.record_intent(first)
    store.record_intent(first)
    with pytest.raises(StoreError, match="kb-1 is already used"):
        store.record_intent(intent("kb-1", OrderSide.SELL, "0.1"))
    assert store.intents() == [first]


@pytest.mark.parametrize("text", EXACT)
def test_decimals_round_trip_exactly(store: SqlStore, text: str) -> None:
    value = Decimal(text)
    store.record_intent(intent("kb-1", OrderSide.BUY, text, limit=text))
    store.record_fill(make_fill("t-1", size=text, price=text, fee=f"-{text}"))

    stored_intent, fill = store.intent("kb-1"), store.fills()[0]
    assert stored_intent is not None
    for got, want in ((stored_intent.size, value), (stored_intent.limit_price, value), (fill.size, value),
                      (fill.price, value), (fill.fee_usd, Decimal(f"-{text}"))):
        assert isinstance(got, Decimal)
        assert got == want
        assert got.as_tuple() == want.as_tuple()


def test_record_fill_round_trips_and_refuses_a_duplicate_trade_id(store: SqlStore) -> None:
    fill = make_fill("t-1", size="0.05", price="20000.5", fee="0.0125", is_maker=True)
    assert store.record_fill(fill) is True
    assert store.record_fill(fill) is False
    assert store.record_fill(make_fill("t-1", size="9")) is False  # same trade id, whatever it says

    assert store.fills() == [fill]
    assert store.fill_trade_ids() == {"t-1"}


def test_fills_since_keeps_fills_at_or_after_the_bound_in_time_order(store: SqlStore) -> None:
    late = make_fill("t-late", ts=T0 + timedelta(minutes=2))
    early = make_fill("t-early", ts=T0)
    middle = make_fill("t-mid", ts=T0 + timedelta(minutes=1, microseconds=7))
    for fill in (late, early, middle):
        store.record_fill(fill)

    assert store.fills() == [early, middle, late]
    assert store.fills(since=T0 + timedelta(minutes=1)) == [middle, late]
    assert store.fill_trade_ids() == {"t-late", "t-early", "t-mid"}


def test_timestamps_come_back_aware_utc_with_microseconds(store: SqlStore) -> None:
    ts = datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC)
    store.record_fill(make_fill("t-1", ts=ts))
    store.record_plan(ts.astimezone(timezone(timedelta(hours=2))), "open BTC", {})

    got = [store.fills()[0].ts, store.plans()[0].ts]
    assert got == [ts, ts]
    assert all(g.utcoffset() == timedelta(0) for g in got)


def test_naive_timestamp_is_refused_and_nothing_is_written(store: SqlStore) -> None:
    with pytest.raises(StoreError, match="timezone-aware"):
        store.record_plan(datetime(2026, 1, 1), "naive", {})
    assert store.plans() == []


def test_record_event_round_trips_and_filters_by_kind(store: SqlStore) -> None:
    shock = JournalEvent(ts=T0, kind="shock_crash", symbol="PF_ETHUSD", detail="-6.1 % in 5 min")
    close = JournalEvent(ts=T0 + timedelta(seconds=1), kind="close_stop", symbol="PF_XBTUSD", detail="stop hit")
    store.record_event(shock)
    store.record_event(close)

    assert store.events() == [shock, close]
    assert store.events("close_stop") == [close]
    assert store.events("none") == []


def test_record_equity_round_trips_floats_exactly(store: SqlStore) -> None:
    account = make_account(10_000.123456789, initial=1234.5678901234567, ts=T0)
    store.record_equity(account, 0.1 + 0.2)
    store.extend_equity([(T0 + timedelta(minutes=1), 9_999.5, 1e-9, 0.0)])

    assert store.equity_rows() == [(T0, 10_000.123456789, 0.1 + 0.2, 1234.5678901234567),
                                   (T0 + timedelta(minutes=1), 9_999.5, 1e-9, 0.0)]


def test_record_equity_refuses_a_nan_exposure(store: SqlStore) -> None:
    with pytest.raises(ValueError, match="finite"):
        store.record_equity(make_account(), float("nan"))
    assert store.equity_rows() == []


def test_latest_positions_is_the_newest_snapshot_and_an_empty_one_means_flat(store: SqlStore) -> None:
    assert store.latest_positions() == []
    btc = make_position("PF_XBTUSD", Side.LONG, size=0.1234, entry_price=20_000.123, mark=20_100.5, leverage=3.0,
                        score=0.7)
    eth = Position(symbol="PF_ETHUSD", side=Side.SHORT, size=2.5, entry_price=1_000.1, ts_opened=T0,
                   liquidation_price=1_500.25, contract_size=1.0)
    store.record_positions(T0, [btc, eth])
    assert store.latest_positions() == [btc, eth]

    store.record_positions(T0 + timedelta(minutes=1), [eth])
    assert store.latest_positions() == [eth]
    store.record_positions(T0 + timedelta(minutes=2), [])
    assert store.latest_positions() == []


def test_record_plan_keeps_json_details_with_decimals_as_text(store: SqlStore) -> None:
    details = {"opens": [{"symbol": "PF_XBTUSD", "size": Decimal("0.1234"), "side": Side.LONG}],
               "closes": [], "margin_usd": 123.25, "ts": T0}
    store.record_plan(T0, "open PF_XBTUSD long 0.1234", details)

    [plan] = store.plans()
    assert plan.summary == "open PF_XBTUSD long 0.1234"
    assert plan.details == {"opens": [{"symbol": "PF_XBTUSD", "size": "0.1234", "side": "long"}], "closes": [],
                            "margin_usd": 123.25, "ts": "2026-01-15T12:00:00+00:00"}


def test_record_plan_refuses_nan_details(store: SqlStore) -> None:
    with pytest.raises(ValueError, match=r"JSON|NaN|nan"):
        store.record_plan(T0, "bad", {"margin_usd": float("nan")})
    assert store.plans() == []

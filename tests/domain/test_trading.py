"""Orders move only through the transition table; value types refuse nonsense."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from krakenbot.domain import (
    ORDER_TRANSITIONS,
    AccountState,
    Candle,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Side,
    SimulatedClock,
)
from krakenbot.domain.errors import InvalidTransitionError

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def order(status: OrderStatus = OrderStatus.INTENDED) -> Order:
    return Order(client_order_id="kb-1", symbol="PF_XBTUSD", side=OrderSide.BUY, size=Decimal("0.01"),
                 order_type=OrderType.IOC, reduce_only=False, status=status, ts_updated=T0)


def test_cancelled_order_may_still_turn_out_filled():
    cancelled = order(OrderStatus.OPEN).transition(OrderStatus.CANCELLED, ts=T0)
    filled = cancelled.transition(OrderStatus.FILLED, ts=T0, filled_size=Decimal("0.01"))
    assert filled.status is OrderStatus.FILLED


def test_filled_order_cannot_be_reopened():
    filled = order(OrderStatus.FILLED)
    with pytest.raises(InvalidTransitionError, match="filled -> open"):
        filled.transition(OrderStatus.OPEN, ts=T0)


def test_every_status_has_a_row_in_the_table():
    assert set(ORDER_TRANSITIONS) == set(OrderStatus)


def test_intent_needs_limit_price_for_ioc():
    with pytest.raises(ValueError, match="needs a limit_price"):
        OrderIntent(client_order_id="kb-1", symbol="PF_XBTUSD", side=OrderSide.BUY, size=Decimal("1"),
                    order_type=OrderType.IOC, reduce_only=False, reason="test", ts_created=T0)


def test_naive_timestamps_are_refused():
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        Candle(ts=datetime(2026, 1, 1), open=1, high=1, low=1, close=1)


def test_candle_refuses_nan_price():
    with pytest.raises(ValueError, match="close must be a finite price"):
        Candle(ts=T0, open=1, high=1, low=1, close=float("nan"))


def test_simulated_clock_never_goes_backwards():
    clock = SimulatedClock(T0)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == T0 + timedelta(minutes=1)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(T0)


def test_floor_time_aligns_to_the_epoch_grid():
    from krakenbot.domain.clock import floor_time

    ts = datetime(2026, 1, 15, 13, 47, 31, 500_000, tzinfo=UTC)
    assert floor_time(ts, timedelta(hours=1)) == datetime(2026, 1, 15, 13, tzinfo=UTC)
    assert floor_time(ts, timedelta(minutes=15)) == datetime(2026, 1, 15, 13, 45, tzinfo=UTC)
    assert floor_time(ts, timedelta(hours=4)) == datetime(2026, 1, 15, 12, tzinfo=UTC)
    on_the_hour = datetime(2026, 1, 15, 13, tzinfo=UTC)
    assert floor_time(on_the_hour, timedelta(hours=1)) == on_the_hour


def test_value_checks_compare_with_a_typed_zero_and_keep_their_edges_and_messages():
    # the checks compare Decimals with Decimal(0) and floats with 0.0: zero, -0.0 and NaN sit where they did
    fill = {"trade_id": "t-1", "client_order_id": "kb-1", "symbol": "PF_XBTUSD", "side": OrderSide.BUY,
            "price": Decimal("100"), "fee_usd": Decimal("0"), "ts": T0}
    for size in (Decimal("0"), Decimal("-0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValueError, match=r"^Fill\(t-1\)\.size must be a positive Decimal"):
            Fill(size=size, **fill)
    assert Fill(size=Decimal("1E-8"), **fill).size == Decimal("1E-8")
    with pytest.raises(ValueError, match=r"^Order\(kb-1\)\.filled_size -0\.01 must be within \[0, size=0\.01\]$"):
        replace(order(), filled_size=Decimal("-0.01"))
    assert replace(order(), filled_size=Decimal("-0")).filled_size == 0  # -0 is not below zero
    for size in (0.0, -0.0, -1.0, float("nan"), float("inf"), 0):
        with pytest.raises(ValueError, match=r"^Position\(PF_XBTUSD\)\.size must be > 0 contracts, got "):
            Position(symbol="PF_XBTUSD", side=Side.LONG, size=size, entry_price=100.0, ts_opened=T0)
    with pytest.raises(ValueError, match=r"^Position\(PF_XBTUSD\)\.entry_price must be > 0, got -0\.0$"):
        Position(symbol="PF_XBTUSD", side=Side.LONG, size=1.0, entry_price=-0.0, ts_opened=T0)
    account = {"equity_usd": 1.0, "available_margin_usd": 1.0, "ts": T0}
    for initial, maintenance in ((-1e-300, 0.0), (0.0, -1), (-5, 0)):
        with pytest.raises(ValueError, match=r"^AccountState margins must be >= 0$"):
            AccountState(initial_margin_usd=initial, maintenance_margin_usd=maintenance, **account)
    assert AccountState(initial_margin_usd=-0.0, maintenance_margin_usd=0, **account).initial_margin_usd == 0.0

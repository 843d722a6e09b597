"""Orders move only through the transition table; value types refuse nonsense."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from krakenbot.domain import (
    ORDER_TRANSITIONS,
    Candle,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
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

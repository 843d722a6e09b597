"""The contract every venue behind the ``Exchange`` port keeps.

Each venue is a fixture param; the Kraken adapter against the loopback Kraken joins the
paper exchange here (the same assertions run against both).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from decimal import Decimal

import pytest

from builders.account import btc_perp
from builders.clock import T0
from builders.exchange import intent
from krakenbot.config import FeesConfig
from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import OrderSide, OrderStatus, OrderType, SimulatedClock
from krakenbot.domain.errors import (
    DuplicateOrderError,
    InsufficientMarginError,
    OrderNotFoundError,
    OrderRejectedError,
)
from krakenbot.exchange.base import Exchange
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.exchange.paper import PaperExchange
from krakenbot.testing import FakeKraken


@dataclass
class Venue:
    exchange: Exchange
    set_marks: Callable[[dict[str, float]], None]


def paper_venue() -> Venue:
    clock = SimulatedClock(T0)
    paper = PaperExchange(instruments={"PF_XBTUSD": btc_perp()}, fees=FeesConfig(), clock=clock,
                          initial_equity_usd=10_000)
    paper.update_market({"PF_XBTUSD": 30_000.0})

    def set_marks(marks: dict[str, float]) -> None:
        paper.update_market(marks)

    return Venue(exchange=paper, set_marks=set_marks)


def kraken_venue(stack: ExitStack) -> Venue:
    """The real ``KrakenClient`` (real ccxt) against the loopback Kraken: PF_XBTUSD at a 30,000
    mark, 10,000 USD of collateral, 50x first margin tier, lot 0.0001, tick 1 (as the paper venue)."""
    secret = base64.b64encode(b"contract").decode()
    fk = stack.enter_context(FakeKraken(balance_usd=10_000.0, credentials={"contract-key": secret}))
    fk.set_mark("PF_XBTUSD", 30_000.0)
    config = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url)
    client = KrakenClient(config, api_key="contract-key", api_secret=base64.b64encode(b"contract").decode(),
                          sleep=lambda _seconds: None, enable_rate_limit=False)
    exchange: Exchange = client  # the adapter satisfies the port (checked by mypy)

    def set_marks(marks: dict[str, float]) -> None:
        for symbol, mark in marks.items():
            fk.set_mark(symbol, mark)

    return Venue(exchange=exchange, set_marks=set_marks)


@pytest.fixture(params=["paper", "kraken"])
def venue(request: pytest.FixtureRequest) -> Iterator[Venue]:
    with ExitStack() as stack:
        yield paper_venue() if request.param == "paper" else kraken_venue(stack)


def test_ioc_entry_fills_and_opens_position(venue: Venue) -> None:
    order = venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    assert order.status is OrderStatus.FILLED
    assert order.filled_size == Decimal("0.1")
    (position,) = venue.exchange.fetch_positions()
    assert position.symbol == "PF_XBTUSD" and position.size == pytest.approx(0.1)
    assert venue.exchange.fetch_account().initial_margin_usd > 0


def test_ioc_below_market_does_not_fill(venue: Venue) -> None:
    order = venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="29000"))
    assert order.status is OrderStatus.CANCELLED
    assert order.filled_size == 0
    assert venue.exchange.fetch_positions() == []


def test_reduce_only_close_flattens_and_never_flips(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    close = venue.exchange.create_order(intent("kb-2", OrderSide.SELL, "0.5", limit="29700", reduce_only=True))
    assert close.filled_size == Decimal("0.1")
    assert venue.exchange.fetch_positions() == []


def test_reduce_only_without_position_is_rejected(venue: Venue) -> None:
    with pytest.raises(OrderRejectedError, match="reduce-only"):
        venue.exchange.create_order(intent("kb-1", OrderSide.SELL, "0.1", limit="29700", reduce_only=True))


def test_duplicate_client_order_id_is_refused_and_not_executed_twice(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    with pytest.raises(DuplicateOrderError):
        venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    (position,) = venue.exchange.fetch_positions()
    assert position.size == pytest.approx(0.1)
    assert len(venue.exchange.fetch_fills()) == 1


def test_order_found_by_client_id(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-7", OrderSide.BUY, "0.1", limit="30300"))
    found = venue.exchange.fetch_order_by_client_id("kb-7", "PF_XBTUSD")
    assert found is not None and found.client_order_id == "kb-7"
    assert venue.exchange.fetch_order_by_client_id("kb-unknown", "PF_XBTUSD") is None


def test_size_off_lot_is_rejected(venue: Venue) -> None:
    with pytest.raises(OrderRejectedError, match="lot"):
        venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.00015", limit="30300"))


def test_entry_beyond_margin_is_refused(venue: Venue) -> None:
    with pytest.raises(InsufficientMarginError):
        venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "100", limit="30300"))


def test_stop_triggers_on_mark_and_closes(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    venue.exchange.create_order(intent("kb-stop", OrderSide.SELL, "0.1", stop="29000", reduce_only=True,
                                       order_type=OrderType.STOP))
    assert [o.client_order_id for o in venue.exchange.fetch_open_orders()] == ["kb-stop"]
    venue.set_marks({"PF_XBTUSD": 29_500.0})
    assert len(venue.exchange.fetch_positions()) == 1
    venue.set_marks({"PF_XBTUSD": 28_900.0})
    assert venue.exchange.fetch_positions() == []
    assert venue.exchange.fetch_open_orders() == []


def test_cancel_resting_then_cancel_again_is_not_found(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    venue.exchange.create_order(intent("kb-stop", OrderSide.SELL, "0.1", stop="25000", reduce_only=True,
                                       order_type=OrderType.STOP))
    assert venue.exchange.cancel_order("kb-stop", "PF_XBTUSD").status is OrderStatus.CANCELLED
    with pytest.raises(OrderNotFoundError):
        venue.exchange.cancel_order("kb-stop", "PF_XBTUSD")


def test_capabilities_say_what_the_venue_does_not_which_it_is(venue: Venue) -> None:
    kraken = isinstance(venue.exchange, KrakenClient)
    assert venue.exchange.capabilities.polls_fills is kraken  # stops and liquidations happen on Kraken's side
    assert venue.exchange.capabilities.dead_man_switch is kraken


def test_arming_the_dead_man_switch_cancels_nothing_before_it_expires(venue: Venue) -> None:
    venue.exchange.create_order(intent("kb-1", OrderSide.BUY, "0.1", limit="30300"))
    venue.exchange.create_order(intent("kb-stop", OrderSide.SELL, "0.1", stop="25000", reduce_only=True,
                                       order_type=OrderType.STOP))
    venue.exchange.arm_dead_man_switch(60)
    assert [o.client_order_id for o in venue.exchange.fetch_open_orders()] == ["kb-stop"]
    venue.exchange.arm_dead_man_switch(0)  # disarmed
    assert [o.client_order_id for o in venue.exchange.fetch_open_orders()] == ["kb-stop"]

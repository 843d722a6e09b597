"""PositionBook over a real PaperExchange: one read of the account and positions until something changed them,
only the traded symbols, the loop's marks and scores, and a bounded memory of why each order went out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from builders.account import make_perp
from builders.clock import T0
from builders.exchange import intent, order_of
from krakenbot.config import FeesConfig
from krakenbot.domain import (
    AccountState,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    SimulatedClock,
)
from krakenbot.domain.vocabulary import OrderReason
from krakenbot.exchange.paper import PaperExchange
from krakenbot.execution.executor import ExecutionResult
from krakenbot.execution.position_book import PositionBook

BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"


class CountingPaper(PaperExchange):
    """A PaperExchange counting the account and positions reads made from outside (its own are not)."""

    def __init__(self) -> None:
        super().__init__(instruments={BTC: make_perp(BTC, base="BTC", tick="1"),
                                      ETH: make_perp(ETH, base="ETH", lot="0.01", tick="0.01")},
                         fees=FeesConfig(), clock=SimulatedClock(T0), initial_equity_usd=10_000.0)
        self.account_reads = 0
        self.position_reads = 0
        self._inside = 0

    def fetch_account(self) -> AccountState:
        self.account_reads += not self._inside
        return super().fetch_account()

    def fetch_positions(self) -> list[Position]:
        self.position_reads += not self._inside
        return super().fetch_positions()

    def create_order(self, intent: OrderIntent) -> Order:
        self._inside += 1
        try:
            return super().create_order(intent)
        finally:
            self._inside -= 1

    def update_market(self, marks: Mapping[str, float], funding_rates: Mapping[str, float] | None = None) -> list[Fill]:
        self._inside += 1
        try:
            return super().update_market(marks, funding_rates)
        finally:
            self._inside -= 1


@pytest.fixture
def exchange() -> CountingPaper:
    ex = CountingPaper()
    ex.update_market({BTC: 40_000.0, ETH: 2_000.0})
    ex.create_order(intent("buy-btc", OrderSide.BUY, "0.1", limit="41000"))
    ex.create_order(intent("sell-eth", OrderSide.SELL, "1", limit="1900", symbol=ETH))
    return ex


def sent(client_order_id: str, reason: OrderReason | str = OrderReason.AUCTION_OPEN) -> ExecutionResult:
    """The result of an order that went out (it has an order)."""
    order = order_of(intent(client_order_id, OrderSide.BUY, "0.1"), OrderStatus.FILLED, filled="0.1",
                     avg_price="40000")
    return ExecutionResult(symbol=BTC, reason=reason, order=order)


# -- reads ----------------------------------------------------------------------------------------------------
def test_account_and_positions_are_read_once_until_something_changes(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    for _ in range(3):
        book.account()
        book.positions()
    assert (exchange.account_reads, exchange.position_reads, book.reads) == (1, 1, 2)


@pytest.mark.parametrize("change", ["changed", "begin_tick", "remember"])
def test_each_change_makes_the_next_reads_ask_the_exchange_again(exchange: CountingPaper, change: str) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    book.account(), book.positions()
    if change == "remember":
        book.remember(sent("kb-1"))
    else:
        getattr(book, change)()
    book.account(), book.positions(), book.account(), book.positions()
    assert (exchange.account_reads, exchange.position_reads, book.reads) == (2, 2, 4)


def test_a_result_without_an_order_changes_nothing_and_is_not_remembered(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {})
    book.account(), book.positions()
    book.remember(ExecutionResult(symbol=BTC, reason=OrderReason.AUCTION_OPEN, refused="entries paused"))
    book.account(), book.positions()
    assert (exchange.account_reads, exchange.position_reads) == (1, 1)


def test_a_changed_exchange_is_seen_only_after_changed(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    before = book.account()
    assert {p.symbol for p in book.positions()} == {BTC, ETH}
    exchange.create_order(intent("close-btc", OrderSide.SELL, "0.1", limit="39000", reduce_only=True))
    assert book.account() == before and {p.symbol for p in book.positions()} == {BTC, ETH}  # the tick's view
    book.changed()
    assert {p.symbol for p in book.positions()} == {ETH}
    assert book.account() != before


# -- what is returned -----------------------------------------------------------------------------------------
def test_positions_on_foreign_symbols_are_left_out(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {})
    [pos] = book.positions()
    assert pos.symbol == BTC and pos.size == pytest.approx(0.1)
    assert {p.symbol for p in exchange.fetch_positions()} == {BTC, ETH}  # the foreign one is there, untouched


def test_positions_carry_the_loops_latest_marks_and_scores_without_a_new_read(exchange: CountingPaper) -> None:
    marks: dict[str, float] = {BTC: 41_000.0}
    book = PositionBook(exchange, frozenset({BTC, ETH}), marks)
    by_symbol = {p.symbol: p for p in book.positions()}
    assert by_symbol[BTC].mark_price == 41_000.0
    assert by_symbol[ETH].mark_price == 2_000.0  # no mark of ours: the exchange's stands
    assert by_symbol[BTC].score is None
    marks[BTC] = 42_000.0  # the market step moved on: a live view
    book.opened(BTC, stop_price=39_000.0, score=1.7)
    by_symbol = {p.symbol: p for p in book.positions()}
    assert by_symbol[BTC].mark_price == 42_000.0 and by_symbol[BTC].score == 1.7
    assert by_symbol[ETH].score is None
    assert exchange.position_reads == 1


def test_a_new_tick_that_reads_the_same_positions_keeps_their_valued_copies(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {BTC: 41_000.0})
    first = book.positions()
    book.begin_tick()  # time passed, nothing moved: the paper exchange reports the very same positions
    again = book.positions()
    assert exchange.position_reads == 2
    assert all(a is b for a, b in zip(first, again, strict=True))


def test_stop_prices_are_kept_per_symbol_until_forgotten(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    assert book.stop_price(BTC) is None
    book.opened(BTC, stop_price=39_000.0, score=1.0)
    book.set_stop_price(ETH, 2_100.0)
    assert (book.stop_price(BTC), book.stop_price(ETH)) == (39_000.0, 2_100.0)
    book.forget(BTC)
    book.forget("PF_UNKNOWN")  # flat already: nothing to do
    assert (book.stop_price(BTC), book.stop_price(ETH)) == (None, 2_100.0)


# -- why orders went out -------------------------------------------------------------------------------------
def test_remember_keeps_only_the_newest_max_reasons(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {}, max_reasons=3)
    for i, reason in enumerate([OrderReason.AUCTION_OPEN, OrderReason.STOP, OrderReason.SHOCK_TRIM,
                                OrderReason.SHOCK_CLOSE, OrderReason.OPERATOR_STOP]):
        book.remember(sent(f"kb-{i}", reason))
    assert [book.reason_of(f"kb-{i}") for i in range(5)] == [
        OrderReason.EXTERNAL, OrderReason.EXTERNAL, OrderReason.SHOCK_TRIM, OrderReason.SHOCK_CLOSE,
        OrderReason.OPERATOR_STOP]


def test_remembering_an_order_again_makes_it_the_newest(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {}, max_reasons=2)
    book.remember(sent("kb-a", OrderReason.STOP))
    book.remember(sent("kb-b", OrderReason.AUCTION_OPEN))
    book.remember(sent("kb-a", OrderReason.STOP))  # a later result of the same order
    book.remember(sent("kb-c", OrderReason.SHOCK_CLOSE))
    assert book.reason_of("kb-a") is OrderReason.STOP
    assert book.reason_of("kb-b") is OrderReason.EXTERNAL
    assert book.reason_of("kb-c") is OrderReason.SHOCK_CLOSE


@pytest.mark.parametrize(("client_order_id", "reason"), [
    ("liquidation-1", OrderReason.LIQUIDATION), ("liquidation-17", OrderReason.LIQUIDATION),
    ("manual-xyz", OrderReason.EXTERNAL), ("kb-1700000000000-a1", OrderReason.EXTERNAL)])
def test_an_unknown_order_is_a_liquidation_or_external_by_its_id(exchange: CountingPaper, client_order_id: str,
                                                                 reason: OrderReason) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {})
    assert book.reason_of(client_order_id) is reason


def test_a_remembered_reason_spelled_as_its_stored_string_comes_back_as_the_vocabulary_member(
        exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC}), {})
    book.remember(sent("kb-1", "operator_stop"))
    assert book.reason_of("kb-1") is OrderReason.OPERATOR_STOP


# -- stops Kraken accepted that its lookups do not list yet ---------------------------------------------------
def _stop(client_order_id: str, *, status: OrderStatus = OrderStatus.OPEN, minutes: int = 0) -> ExecutionResult:
    order = order_of(intent(client_order_id, OrderSide.SELL, "0.1", stop="38000", reduce_only=True,
                            order_type=OrderType.STOP), status, ts=T0 + timedelta(minutes=minutes))
    return ExecutionResult(symbol=BTC, reason=OrderReason.STOP, order=order)


def test_an_accepted_stop_not_listed_yet_still_stands_until_listed_or_too_old(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    book.remember(_stop("stop-1"))
    assert list(book.unlisted_stops(set(), placed_since=T0)) == [BTC]
    assert book.unlisted_stops({"stop-1"}, placed_since=T0) == {}  # seen listed: from now on, missing means gone
    assert book.unlisted_stops(set(), placed_since=T0) == {}
    book.remember(_stop("stop-2"))
    assert book.unlisted_stops(set(), placed_since=T0 + timedelta(seconds=1)) == {}  # older than the lag allowed


def test_a_stop_done_at_once_or_a_switch_that_may_have_fired_leaves_nothing_standing(exchange: CountingPaper) -> None:
    book = PositionBook(exchange, frozenset({BTC, ETH}), {})
    book.remember(_stop("refused", status=OrderStatus.REJECTED))
    assert book.unlisted_stops(set(), placed_since=T0) == {}
    book.remember(_stop("stop-1"))
    book.stops_may_be_gone()
    assert book.unlisted_stops(set(), placed_since=T0) == {}
    book.remember(_stop("stop-2"))
    book.forget(BTC)  # flat
    assert book.unlisted_stops(set(), placed_since=T0) == {}

"""The refreshed margin decides: after the auction's closes, the refreshed account is the budget the opens
spend in plan order; an open that no longer fits shrinks to what fits or is skipped, with a reason.

The exchange is the real ``PaperExchange`` (recording layer from the test builders) with two faults a
real venue can produce on a close: it fills only part of it, or it fills at a worse price than planned.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from builders.account import make_perp
from builders.clock import T0
from builders.exchange import RecordingPaperExchange
from builders.market import ScriptedMarket, ScriptedSignals, make_signal
from krakenbot.config.models import AppConfig, AuctionConfig, LoopConfig, RiskConfig
from krakenbot.domain import Instrument, OrderIntent, OrderSide, OrderStatus, OrderType, Side, SimulatedClock
from krakenbot.domain.errors import FatalError
from krakenbot.domain.trading import Order
from krakenbot.domain.vocabulary import EventKind
from krakenbot.live.trading import AuctionReport, LiveTrading
from krakenbot.store.journal import MemoryJournal

BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"
MARKS = {BTC: 40_000.0, ETH: 2_000.0}
# 3x contracts, so the paper exchange's initial margin is notional / 3 as the RiskManager counts it; loss
# limits wide, so a bad close does not switch the account to reduce-only (that has its own tests).
RISK = RiskConfig(max_positions=2, max_leverage=3, risk_per_trade_pct=0.05, max_margin_utilization_pct=1.0,
                  max_total_exposure=5, daily_loss_limit_pct=0.5, max_drawdown_pct=0.5)
LOOP = LoopConfig(fast_tick_seconds=0.01, entry_slippage_cap_pct=0.05)  # closes may fill up to 15 % away


class FaultyCloses(RecordingPaperExchange):
    """Reduce-only IOC closes fill only ``close_fill_fraction`` of their size (the rest cancelled), or
    ``close_slippage_pct`` worse than the paper exchange's own slippage."""

    close_fill_fraction: Decimal | None = None
    close_slippage_pct = 0.0
    _closing = False

    def create_order(self, intent: OrderIntent) -> Order:
        if not intent.reduce_only or intent.order_type is not OrderType.IOC:
            return super().create_order(intent)
        self._closing = True
        try:
            if self.close_fill_fraction is None:
                return super().create_order(intent)
            part = self._instruments[intent.symbol].round_size(intent.size * self.close_fill_fraction)
            order = super().create_order(replace(intent, size=part))
            return replace(order, size=intent.size, status=OrderStatus.CANCELLED)  # the rest found no match
        finally:
            self._closing = False

    def _slipped(self, mark: float, side: OrderSide) -> float:
        price = super()._slipped(mark, side)
        if not self._closing:
            return price
        worse = -self.close_slippage_pct if side is OrderSide.SELL else self.close_slippage_pct
        return price * (1 + worse)


def instruments() -> dict[str, Instrument]:
    return {BTC: make_perp(BTC, base="BTC", lot="0.0001", tick="0.5", max_leverage=3),
            ETH: make_perp(ETH, base="ETH", lot="0.01", tick="0.01", max_leverage=3)}


def make_loop(risk: RiskConfig = RISK) -> tuple[LiveTrading, FaultyCloses, ScriptedSignals, MemoryJournal]:
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    exchange = FaultyCloses(instruments=instruments(), clock=clock, journal=journal)
    signals = ScriptedSignals()
    loop = LiveTrading(AppConfig(risk=risk, auction=AuctionConfig(replace_score_margin=0.25, min_hold_minutes=60),
                                 loop=LOOP),
                       clock=clock, market=ScriptedMarket(clock, MARKS), signals=signals, exchange=exchange,
                       journal=journal, instruments=instruments(), symbol_map={"BTC/USD": BTC, "ETH/USD": ETH},
                       market_listeners=[exchange.update_market], instance_id="budget")
    loop.fast_tick()
    return loop, exchange, signals, journal


def outranking_auction(loop: LiveTrading, exchange: FaultyCloses, signals: ScriptedSignals, *,
                       eth_stop: float) -> AuctionReport:
    """A BTC long (20,000 USD at 3x holds 6,667 USD of 10,000) held two hours is outranked by an ETH
    candidate whose margin fits only once the BTC close has freed its margin."""
    exchange.create_order(OrderIntent(client_order_id="manual-1", symbol=BTC, side=OrderSide.BUY,
                                      size=Decimal("0.5"), order_type=OrderType.MARKET, reduce_only=False,
                                      reason="manual", ts_created=T0))
    loop.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    loop.fast_tick()
    now = loop.clock.now()
    signals.next = [make_signal("BTC/USD", score=0.9, ref_price=MARKS[BTC], ts=now),
                    make_signal("ETH/USD", score=2.0, ref_price=MARKS[ETH], stop_distance_pct=eth_stop, ts=now)]
    return loop.slow_tick()


def eth_position_notional(exchange: FaultyCloses) -> float:
    return sum(p.notional_usd for p in exchange.fetch_positions() if p.symbol == ETH)


def events(journal: MemoryJournal, kind: EventKind) -> list[str]:
    return [e.detail for e in journal.events if e.kind == kind]


def test_open_with_a_refreshed_budget_of_zero_sends_no_order_even_with_skip_margin_check() -> None:
    loop, exchange, _, journal = make_loop()
    signal = make_signal("ETH/USD", score=2.0, ref_price=MARKS[ETH], ts=loop.clock.now())
    for budget in (0.0, -1.0):
        result = loop._handle_signal(signal, available_margin_override=budget, notional_override=3_000.0,
                                     skip_margin_check=True)
        assert result.refused and "margin" in result.refused
    assert exchange.sent == [] and journal.intents == []


def test_half_filled_close_leaves_less_margin_and_the_open_shrinks_to_the_refreshed_budget() -> None:
    loop, exchange, signals, journal = make_loop()
    exchange.close_fill_fraction = Decimal("0.5")
    report = outranking_auction(loop, exchange, signals, eth_stop=0.02)

    [close] = report.plan.closes
    [cand] = report.plan.opens
    assert (close.symbol, cand.futures_symbol) == (BTC, ETH)
    assert report.refreshed is not None
    budget = report.refreshed.available_margin_usd
    assert budget < cand.margin_required  # half the BTC margin is still tied up
    opened = eth_position_notional(exchange)
    assert 0 < opened / 3 <= budget  # shrunk to what the refreshed margin pays for ...
    # ... less room for the worst fill (the IOC limit, 5 % here) and the taker fee, and one lot
    assert opened / 3 > budget / (1.05 * (1 + 3 * 0.0005)) - 0.01 * MARKS[ETH] / 3
    assert opened < cand.position_notional
    [shrunk] = events(journal, EventKind.OPEN_SHRUNK)
    assert f"{cand.position_notional:,.2f}" in shrunk


def test_close_filled_with_extra_slippage_leaves_less_margin_and_the_open_shrinks() -> None:
    loop, exchange, signals, journal = make_loop()
    exchange.close_slippage_pct = 0.04  # 0.5 BTC sold 4 % under the mark: about 800 USD less than planned
    report = outranking_auction(loop, exchange, signals, eth_stop=0.018)

    [cand] = report.plan.opens
    assert report.refreshed is not None
    assert report.refreshed.available_margin_usd < cand.margin_required <= report.plan.margin_budget_usd
    opened = eth_position_notional(exchange)
    assert 0 < opened / 3 <= report.refreshed.available_margin_usd
    assert opened < cand.position_notional
    assert len(events(journal, EventKind.OPEN_SHRUNK)) == 1


def test_half_filled_close_keeps_its_slot_and_the_open_that_needed_it_is_skipped() -> None:
    loop, exchange, signals, journal = make_loop(RISK.model_copy(update={"max_positions": 1}))
    exchange.close_fill_fraction = Decimal("0.5")
    report = outranking_auction(loop, exchange, signals, eth_stop=0.04)

    [cand] = report.plan.opens
    assert report.refreshed is not None and report.refreshed.available_margin_usd >= cand.margin_required
    assert eth_position_notional(exchange) == 0  # margin would pay, but max_positions=1 is still taken by BTC
    assert [i for i in journal.intents if i.reason == "auction_open"] == []
    [skipped] = events(journal, EventKind.OPEN_SKIPPED)
    assert "max_positions" in skipped


def test_clean_close_leaves_the_auction_size_untouched() -> None:
    loop, exchange, signals, journal = make_loop()
    report = outranking_auction(loop, exchange, signals, eth_stop=0.02)

    [cand] = report.plan.opens
    opened = eth_position_notional(exchange)
    assert 0 <= cand.position_notional - opened < 0.01 * MARKS[ETH]
    assert events(journal, EventKind.OPEN_SHRUNK) == events(journal, EventKind.OPEN_SKIPPED) == []


@pytest.mark.parametrize("fraction", [Decimal("0.25"), Decimal("0.5"), Decimal("0.75")])
def test_opens_never_plan_more_margin_than_the_refreshed_account_holds(fraction: Decimal) -> None:
    loop, exchange, signals, _ = make_loop()
    exchange.close_fill_fraction = fraction
    report = outranking_auction(loop, exchange, signals, eth_stop=0.02)
    assert report.refreshed is not None
    assert eth_position_notional(exchange) / 3 <= report.refreshed.available_margin_usd
    assert exchange.fetch_account().available_margin_usd >= 0


def test_reversal_whose_close_fills_only_in_part_opens_nothing_on_that_contract() -> None:
    loop, exchange, signals, journal = make_loop()
    exchange.close_fill_fraction = Decimal("0.5")
    exchange.create_order(OrderIntent(client_order_id="manual-1", symbol=BTC, side=OrderSide.BUY,
                                      size=Decimal("0.1"), order_type=OrderType.MARKET, reduce_only=False,
                                      reason="manual", ts_created=T0))
    loop.fast_tick()
    signals.next = [make_signal("BTC/USD", Side.SHORT, score=2.0, ref_price=MARKS[BTC], ts=loop.clock.now())]
    report = loop.slow_tick()

    assert [c.symbol for c in report.plan.closes] == [BTC] and [o.futures_symbol for o in report.plan.opens] == [BTC]
    [btc] = [p for p in exchange.fetch_positions() if p.symbol == BTC]
    assert btc.side is Side.LONG and btc.size == pytest.approx(0.05)  # half the long is still there, no short
    assert [i for i in journal.intents if i.reason == "auction_open"] == []
    [skipped] = events(journal, EventKind.OPEN_SKIPPED)
    assert "did not fill" in skipped


def test_close_that_raises_is_refused_with_its_error_and_the_open_on_another_contract_still_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    loop, exchange, signals, _ = make_loop()

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("venue hiccup")

    monkeypatch.setattr(loop.auction_step.executor, "reduce", broken)
    report = outranking_auction(loop, exchange, signals, eth_stop=0.02)

    [close, opened] = report.results
    assert (close.symbol, close.refused) == (BTC, "failed: RuntimeError: venue hiccup")
    assert opened.symbol == ETH and opened.refused is None and opened.filled_size > 0  # shrunk to the budget
    assert [p.symbol for p in exchange.fetch_positions() if p.symbol == BTC] == [BTC]  # nothing closed it


def test_open_that_raises_a_fatal_error_halts_the_auction(monkeypatch: pytest.MonkeyPatch) -> None:
    loop, _, signals, _ = make_loop()

    def fatal(*args: object, **kwargs: object) -> None:
        raise FatalError("store and venue disagree")

    monkeypatch.setattr(loop, "_handle_signal", fatal)
    signals.next = [make_signal("ETH/USD", score=2.0, ref_price=MARKS[ETH], ts=loop.clock.now())]
    with pytest.raises(FatalError, match="disagree"):
        loop.slow_tick()

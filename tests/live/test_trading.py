"""LiveTrading on a simulated clock, a PaperExchange and scripted ports (run: ``python -m pytest tests/live``).

The market and signal ports are small stand-ins (``ScriptedMarket``, ``ScriptedSignals`` in
``builders.market``) that answer what each test sets; the exchange is the real ``PaperExchange`` (with a
thin recording layer), fed marks through the loop's market listener as in paper trading.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from builders.account import make_perp
from builders.clock import T0
from builders.exchange import RecordingPaperExchange
from builders.market import ScriptedMarket, ScriptedSignals, make_signal
from krakenbot.config.models import AppConfig, LoopConfig, RiskConfig
from krakenbot.domain import (
    Instrument,
    OrderIntent,
    OrderSide,
    OrderType,
    Position,
    Side,
    Signal,
    SimulatedClock,
    Ticker,
)
from krakenbot.domain.errors import TransientError
from krakenbot.live.trading import LiveTrading
from krakenbot.portfolio.plan import CloseReason
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.store.journal import MemoryJournal

BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"
SYMBOL_MAP = {"BTC/USD": BTC, "ETH/USD": ETH}
SPOT = {BTC: "BTC/USD", ETH: "ETH/USD"}
MARKS = {BTC: 40_000.0, ETH: 2_000.0}
PREFIX = "kbtest"


def perps(max_leverage: float = 50) -> dict[str, Instrument]:
    return {BTC: make_perp(BTC, base="BTC", lot="0.0001", tick="0.5", max_leverage=max_leverage),
            ETH: make_perp(ETH, base="ETH", lot="0.01", tick="0.01", max_leverage=max_leverage)}


@dataclass
class Rig:
    clock: SimulatedClock
    market: ScriptedMarket
    signals: ScriptedSignals
    exchange: RecordingPaperExchange
    journal: MemoryJournal
    loop: LiveTrading

    def tick(self, seconds: float = 5.0, **marks: float) -> None:
        """Advance the clock, move marks (``BTC=...``), run one fast tick."""
        self.clock.advance(timedelta(seconds=seconds))
        self.market.marks.update({f"PF_{k.replace('BTC', 'XBT')}USD": v for k, v in marks.items()})
        self.loop.fast_tick()

    def signal(self, futures: str, side: Side = Side.LONG, *, score: float = 1.0, stop: float = 0.02) -> Signal:
        return make_signal(SPOT[futures], side, score=score, ref_price=self.market.marks[futures],
                           stop_distance_pct=stop, ts=self.clock.now())

    def hold(self, futures: str, side: Side, size: str) -> None:
        """A position opened before this loop started (an earlier run or the operator), no stop yet."""
        order_side = OrderSide.to_open(side)
        self.exchange.create_order(OrderIntent(client_order_id=f"manual-{futures}", symbol=futures, side=order_side,
                                               size=Decimal(size), order_type=OrderType.MARKET, reduce_only=False,
                                               reason="manual", ts_created=self.clock.now()))
        self.exchange.calls.clear()
        self.exchange.sent.clear()
        self.exchange.journaled_before_send.clear()

    def position(self, futures: str) -> Position | None:
        return next((p for p in self.exchange.fetch_positions() if p.symbol == futures), None)

    def stops(self, futures: str) -> list[tuple[Decimal, Decimal | None, bool]]:
        """(remaining size, stop price, reduce-only) of the resting stops on ``futures``."""
        return [(o.remaining, o.stop_price, o.reduce_only) for o in self.exchange.fetch_open_orders()
                if o.symbol == futures and o.order_type is OrderType.STOP]

    def intents(self, reason_prefix: str = "", symbol: str | None = None) -> list[OrderIntent]:
        return [i for i in self.journal.intents
                if i.reason.startswith(reason_prefix) and (symbol is None or i.symbol == symbol)]


def make_rig(risk: RiskConfig | None = None, *, max_leverage: float = 50, equity: float = 10_000.0,
             fast_tick_seconds: float = 0.01) -> Rig:
    clock = SimulatedClock(T0)
    cfg = AppConfig(risk=risk or RiskConfig(), loop=LoopConfig(fast_tick_seconds=fast_tick_seconds))
    journal = MemoryJournal()
    instruments = perps(max_leverage)
    exchange = RecordingPaperExchange(instruments=instruments, clock=clock, journal=journal,
                                      initial_equity_usd=equity)
    market = ScriptedMarket(clock, MARKS)
    signals = ScriptedSignals()
    loop = LiveTrading(cfg, clock=clock, market=market, signals=signals, exchange=exchange, journal=journal,
                       instruments=instruments, symbol_map=SYMBOL_MAP, market_listeners=[exchange.update_market],
                       instance_id=PREFIX)
    loop.fast_tick()  # the first good tickers: marks known, nothing stale
    return Rig(clock=clock, market=market, signals=signals, exchange=exchange, journal=journal, loop=loop)


@pytest.fixture
def rig() -> Rig:
    return make_rig()


# -- the auction: closes, refresh, opens ------------------------------------------------------------------
def test_slow_tick_closes_then_refreshes_margin_then_opens_with_auction_sizes_on_fresh_margin(
        caplog: pytest.LogCaptureFixture) -> None:
    # 3x contracts: the paper exchange's initial margin is notional / 3, as the RiskManager counts it
    risk = RiskConfig(max_positions=1, max_leverage=3, risk_per_trade_pct=0.05, max_margin_utilization_pct=1.0,
                      max_total_exposure=5)
    r = make_rig(risk, max_leverage=3)
    r.hold(BTC, Side.LONG, "0.5")  # 20,000 USD notional holds ~6,667 USD of the 10,000
    r.tick(2 * 3600)  # held long enough to be outranked
    stale = r.exchange.fetch_account()
    r.exchange.calls.clear()
    r.signals.next = [r.signal(BTC, score=0.9), r.signal(ETH, score=2.0, stop=0.04)]
    with caplog.at_level(logging.INFO, logger="krakenbot.live.trading"):
        report = r.loop.slow_tick()

    assert [(c.symbol, c.reason) for c in report.plan.closes] == [(BTC, CloseReason.OUTRANKED)]
    [cand] = report.plan.opens
    assert report.refreshed is not None
    # the stale account could not afford the open; the margin the close freed can
    assert cand.margin_required > stale.available_margin_usd
    assert report.refreshed.available_margin_usd >= cand.margin_required
    stale_check = RiskManager(risk).validate_trade(cand.signal, stale, notional_override=cand.position_notional,
                                                   instrument=perps(3)[ETH], now=r.clock.now())
    assert not stale_check.approved and "exceeds available margin" in stale_check.reason
    # ... and the open went through with the auction's size, within one lot
    eth = r.position(ETH)
    assert r.position(BTC) is None and eth is not None and eth.side is Side.LONG
    gap = cand.position_notional - eth.size * MARKS[ETH]
    assert 0 <= gap < 0.01 * MARKS[ETH]
    # order of events: the close, the refresh (log and account read), then the open
    messages = [rec.getMessage() for rec in caplog.records]
    close = next(i for i, m in enumerate(messages) if m.startswith(f"Auction: close {BTC} (outranked)"))
    refresh = next(i for i, m in enumerate(messages) if m.startswith("Auction: Margin refreshed after closes"))
    opened = next(i for i, m in enumerate(messages) if m.startswith(f"Auction: open {ETH}"))
    assert close < refresh < opened
    assert f"available {report.refreshed.available_margin_usd:.2f} USD (was {stale.available_margin_usd:.2f})" \
        in messages[refresh]
    [close_id] = [i.client_order_id for i in r.intents("auction_close", BTC)]
    [open_id] = [i.client_order_id for i in r.intents("auction_open", ETH)]
    calls = r.exchange.calls
    at_close, at_open = calls.index(("create_order", close_id)), calls.index(("create_order", open_id))
    assert ("fetch_account", "") in calls[at_close + 1:at_open]


def test_slow_tick_without_closes_opens_each_signal_with_a_reduce_only_stop_at_its_distance(rig: Rig) -> None:
    rig.signals.next = [rig.signal(BTC, stop=0.02), rig.signal(ETH, stop=0.05)]
    report = rig.loop.slow_tick()
    assert not report.plan.closes and len(report.plan.opens) == 2
    for futures, stop in ((BTC, 0.02), (ETH, 0.05)):
        pos = rig.position(futures)
        assert pos is not None and pos.side is Side.LONG
        [(size, price, reduce_only)] = rig.stops(futures)
        assert reduce_only and size == Decimal(repr(pos.size))
        assert price is not None and float(price) == pytest.approx(pos.entry_price * (1 - stop), rel=1e-4)


def test_partial_entry_fill_sizes_the_stop_from_what_was_filled(rig: Rig) -> None:
    rig.exchange.entry_fill_fraction = Decimal("0.4")
    rig.signals.next = [rig.signal(BTC)]
    [result] = rig.loop.slow_tick().results
    [entry] = rig.intents("auction_open", BTC)
    assert Decimal(0) < result.filled_size < entry.size
    [(size, _, _)] = rig.stops(BTC)
    assert size == result.filled_size
    rig.loop.sync_stops()  # in step already: left alone
    assert rig.stops(BTC) == [(result.filled_size, rig.stops(BTC)[0][1], True)]
    assert len(rig.intents("stop")) == 1


# -- orders: client ids, intents first, reduce-only ------------------------------------------------------
def busy_session(r: Rig) -> None:
    """Opens, a reversal, a stop upkeep and a flatten: every kind of order the auction sends."""
    r.signals.next = [r.signal(BTC), r.signal(ETH)]
    r.loop.slow_tick()
    r.tick(3600)
    r.signals.next = [r.signal(BTC), r.signal(ETH, Side.SHORT)]
    r.loop.slow_tick()
    r.loop.flatten_all("operator_stop")


def test_every_order_carries_a_unique_prefixed_client_id_and_was_journaled_before_it_was_sent(rig: Rig) -> None:
    busy_session(rig)
    sent = [i.client_order_id for i in rig.exchange.sent]
    assert len(sent) >= 8
    assert all(cid.startswith(f"{PREFIX}-") for cid in sent)
    assert len(set(sent)) == len(sent)
    assert all(rig.exchange.journaled_before_send)
    assert [i.client_order_id for i in rig.journal.intents] == sent  # no order without its intent, and vice versa


def test_closes_and_stops_are_reduce_only_and_entries_are_not(rig: Rig) -> None:
    busy_session(rig)
    kinds = {i.reason for i in rig.journal.intents}
    assert {"auction_open", "stop", "auction_close_reversed", "operator_stop"} <= kinds
    for i in rig.journal.intents:
        assert i.reduce_only is (i.reason != "auction_open"), i


# -- reversal ----------------------------------------------------------------------------------------------
def test_reversed_signal_closes_the_long_then_opens_a_short_with_its_stop_above(rig: Rig) -> None:
    rig.signals.next = [rig.signal(BTC, Side.LONG)]
    rig.loop.slow_tick()
    long_size = rig.position(BTC)
    assert long_size is not None and long_size.side is Side.LONG
    rig.tick(3600)
    rig.signals.next = [rig.signal(BTC, Side.SHORT, stop=0.03)]
    report = rig.loop.slow_tick()
    assert [(c.symbol, c.reason) for c in report.plan.closes] == [(BTC, CloseReason.REVERSED)]
    short = rig.position(BTC)
    assert short is not None and short.side is Side.SHORT
    [close] = rig.intents("auction_close_reversed", BTC)
    assert close.side is OrderSide.SELL and close.reduce_only and close.size == Decimal(repr(long_size.size))
    second_open = rig.intents("auction_open", BTC)[-1]
    assert second_open.side is OrderSide.SELL and not second_open.reduce_only
    assert rig.journal.intents.index(close) < rig.journal.intents.index(second_open)
    [(size, price, _)] = rig.stops(BTC)  # the long's stop is gone; one buy stop above the short
    assert size == Decimal(repr(short.size))
    assert price is not None and float(price) == pytest.approx(short.entry_price * 1.03, rel=1e-4)


# -- ShockGuard: entries paused, exposure reduced once per tick --------------------------------------------
def test_shock_move_within_a_minute_pauses_entries_on_that_symbol_only(rig: Rig) -> None:
    rig.tick(60, BTC=MARKS[BTC] * (1 - 0.03))  # 3 % in one minute >= shock_move_pct 2.5 %
    assert rig.loop.guard.is_entry_paused(BTC, rig.clock.now())
    assert any(e.kind == "shock_move" and e.symbol == BTC for e in rig.journal.events)
    rig.signals.next = [rig.signal(BTC), rig.signal(ETH)]
    report = rig.loop.slow_tick()
    assert not rig.intents(symbol=BTC) and rig.position(BTC) is None
    assert [o.futures_symbol for o in report.plan.opens] == [ETH] and rig.position(ETH) is not None
    rig.tick(31 * 60)  # after the cooldown (30 min) entries resume
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()
    assert rig.position(BTC) is not None


def test_shock_move_below_threshold_pauses_nothing(rig: Rig) -> None:
    rig.tick(60, BTC=MARKS[BTC] * (1 - 0.02))
    assert not rig.loop.guard.active(rig.clock.now())
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()
    assert rig.position(BTC) is not None


@pytest.mark.parametrize("bad", ["stale", "suspended", "nan", "missing"])
def test_stale_suspended_nan_or_missing_ticker_pauses_entries_on_that_symbol(rig: Rig, bad: str) -> None:
    rig.clock.advance(timedelta(seconds=5))
    now = rig.clock.now()
    if bad == "missing":
        del rig.market.marks[BTC]
    else:
        rig.market.tickers[BTC] = {
            "stale": Ticker(symbol=BTC, ts=now - timedelta(seconds=31), mark=MARKS[BTC]),
            "suspended": Ticker(symbol=BTC, ts=now, mark=MARKS[BTC], suspended=True),
            "nan": Ticker(symbol=BTC, ts=now, mark=math.nan),
        }[bad]
    rig.loop.fast_tick()
    assert rig.loop.stale == {BTC}
    rig.signals.next = [make_signal("BTC/USD", ref_price=MARKS[BTC], ts=now), rig.signal(ETH)]
    rig.loop.slow_tick()
    assert not rig.intents(symbol=BTC)
    assert rig.position(ETH) is not None


@pytest.mark.parametrize(("size", "action"), [("1.4", "shock_trim"), ("2.0", "shock_close")])
def test_position_near_liquidation_during_shock_is_reduced_once_by_buffer(rig: Rig, size: str, action: str) -> None:
    # 10,000 USD equity, BTC -3 % in a minute; maintenance 1 % (50x). Liquidation buffer afterwards:
    # 1.4 BTC -> ~14 % (between emergency 10 % and trim 18 %: TRIM); 2.0 BTC -> ~9 % (CLOSE).
    rig.hold(BTC, Side.LONG, size)
    rig.tick(60, BTC=MARKS[BTC] * 0.97)
    rig.loop.fast_tick()  # the same tick again: nothing more
    reductions = rig.intents("shock_")
    assert [(i.reason, i.symbol, i.side, i.reduce_only) for i in reductions] == [(action, BTC, OrderSide.SELL, True)]
    left = rig.position(BTC)
    if action == "shock_close":
        assert left is None and not rig.stops(BTC)
        assert reductions[0].size == Decimal(size)
    else:
        assert left is not None and 0 < left.size < float(size)
        assert rig.stops(BTC) == [(Decimal(repr(left.size)), rig.stops(BTC)[0][1], True)]  # the stop follows
    assert any(e.kind == action and e.symbol == BTC for e in rig.journal.events)


def test_rejected_shock_close_is_retried_on_the_next_tick_not_within_the_same_tick(rig: Rig) -> None:
    rig.hold(BTC, Side.LONG, "2.0")
    rig.exchange.reject = lambda i: "exchange busy" if i.reason == "shock_close" else None
    rig.tick(60, BTC=MARKS[BTC] * 0.97)
    rig.loop.fast_tick()
    assert len([i for i in rig.exchange.sent if i.reason == "shock_close"]) == 1
    assert rig.position(BTC) is not None
    rig.exchange.reject = lambda _i: None
    rig.tick(5)
    assert len([i for i in rig.exchange.sent if i.reason == "shock_close"]) == 2
    assert rig.position(BTC) is None


# -- failures: the loop goes on ----------------------------------------------------------------------------
def test_transient_market_error_pauses_entries_for_that_tick_and_the_loop_goes_on(rig: Rig) -> None:
    rig.market.error = TransientError("krakenfutures: fetch_tickers: timed out")
    rig.tick()
    assert rig.loop.stale == {BTC, ETH}
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()
    assert not rig.exchange.sent
    rig.tick()  # tickers are back
    assert rig.loop.stale == set()
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()
    assert rig.position(BTC) is not None


def test_rejected_entry_skips_that_symbol_and_the_others_still_open(rig: Rig) -> None:
    rig.exchange.reject = lambda i: "marketSuspended" if i.symbol == BTC and not i.reduce_only else None
    rig.signals.next = [rig.signal(BTC), rig.signal(ETH)]
    results = {r.symbol: r for r in rig.loop.slow_tick().results}
    refused = results[BTC].refused
    assert refused is not None and "marketSuspended" in refused
    assert results[ETH].filled_size > 0
    assert rig.position(BTC) is None and not rig.stops(BTC)
    assert rig.position(ETH) is not None and rig.stops(ETH)


def test_run_returns_after_max_ticks_with_one_slow_tick_per_signal_bar(rig: Rig) -> None:
    rig.market.error = TransientError("one bad tick")
    calls_before = rig.market.calls
    assert rig.loop.run(threading.Event(), max_ticks=3) == 3
    assert rig.market.calls - calls_before == 3
    assert rig.signals.asked == [T0]  # the clock stood still: one signal bar, one slow tick


def test_run_with_stop_already_set_runs_no_tick(rig: Rig) -> None:
    stop = threading.Event()
    stop.set()
    calls_before = rig.market.calls
    assert rig.loop.run(stop, max_ticks=3) == 0
    assert rig.market.calls == calls_before and not rig.signals.asked


def test_refused_close_keeps_the_protective_stop_of_the_position(rig: Rig) -> None:
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()
    stops = rig.stops(BTC)
    assert len(stops) == 1
    rig.exchange.reject = lambda i: "exchange busy" if i.reason == "operator_stop" else None
    [result] = rig.loop.flatten_all("operator_stop")
    assert result.refused is not None and rig.position(BTC) is not None
    assert rig.stops(BTC) == stops  # still protected
    rig.exchange.reject = lambda _i: None
    rig.loop.flatten_all("operator_stop")
    assert rig.position(BTC) is None and not rig.stops(BTC)


def test_our_stop_left_on_the_wrong_side_is_replaced_even_when_its_size_matches(rig: Rig) -> None:
    rig.hold(BTC, Side.SHORT, "0.1")
    # our BUY stop for that short...
    leftover = OrderIntent(client_order_id=f"{PREFIX}-1-leftover", symbol=BTC, side=OrderSide.BUY,
                           size=Decimal("0.1"), order_type=OrderType.STOP, reduce_only=True, reason="stop",
                           ts_created=rig.clock.now(), stop_price=Decimal("90000"))  # above the mark: resting
    rig.exchange.create_order(leftover)
    # ...outlives a flip to a long of the same size (e.g. a close that filled just before a crash)
    rig.exchange.create_order(OrderIntent(client_order_id="manual-flip", symbol=BTC, side=OrderSide.BUY,
                                          size=Decimal("0.2"), order_type=OrderType.MARKET, reduce_only=False,
                                          reason="manual", ts_created=rig.clock.now()))
    rig.loop.sync_stops()
    stops = [o for o in rig.exchange.fetch_open_orders() if o.symbol == BTC and o.order_type is OrderType.STOP]
    assert [(o.side, o.remaining, o.reduce_only) for o in stops] == [(OrderSide.SELL, Decimal("0.1"), True)]


class _ScriptedReadings(SimulatedClock):
    """A clock answering a scripted list of reading objects, one per ``now`` (the last one repeats)."""

    def __init__(self, readings: list[datetime]) -> None:
        super().__init__(readings[0])
        self.readings = readings

    def now(self) -> datetime:
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def test_loop_time_is_computed_once_per_reading_and_never_goes_back_when_an_old_reading_returns() -> None:
    rig = make_rig()
    early, late = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    rig.loop.clock = _ScriptedReadings([early, early, late, early, early])
    assert rig.loop.now() == early
    assert rig.loop.now() == early  # the same reading: the same answer
    assert rig.loop.now() == late
    assert rig.loop.now() == late  # the older reading object again: the loop's time does not step back
    assert rig.loop.now() == late

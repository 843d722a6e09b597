"""What a slow tick costs at the venue: the account and positions are read once, and again only after an
order of ours changed them (live, each read is an HTTP call; the refresh after the closes is one of them).

The exchange is the real ``PaperExchange`` with the test builders' recording layer, also recording
``fetch_positions``; the market and signal ports are the scripted stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from builders.account import make_perp
from builders.clock import T0
from builders.exchange import RecordingPaperExchange
from builders.market import ScriptedMarket, ScriptedSignals, make_signal
from krakenbot.config.models import AppConfig, LoopConfig, RiskConfig
from krakenbot.domain import Instrument, OrderIntent, OrderSide, OrderType, Position, Side, Signal, SimulatedClock
from krakenbot.live.trading import LiveTrading
from krakenbot.portfolio.plan import CloseReason
from krakenbot.store.journal import MemoryJournal

BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"
MARKS = {BTC: 40_000.0, ETH: 2_000.0}
ACCOUNT, POSITIONS, ORDER = "fetch_account", "fetch_positions", "create_order"
# 3x contracts: the paper exchange's initial margin is notional / 3, as the RiskManager counts it
RISK = RiskConfig(max_positions=1, max_leverage=3, risk_per_trade_pct=0.05, max_margin_utilization_pct=1.0,
                  max_total_exposure=5)


class ReadCountingPaper(RecordingPaperExchange):
    """Records ("fetch_positions", "") too, next to the account reads and orders it records already."""

    def fetch_positions(self) -> list[Position]:
        if not self._inside:
            self.calls.append((POSITIONS, ""))
        return super().fetch_positions()


@dataclass
class Rig:
    clock: SimulatedClock
    signals: ScriptedSignals
    exchange: ReadCountingPaper
    loop: LiveTrading

    def reads(self) -> dict[str, int]:
        kinds = [kind for kind, _ in self.exchange.calls]
        return {ACCOUNT: kinds.count(ACCOUNT), POSITIONS: kinds.count(POSITIONS)}

    def signal(self, futures: str, side: Side = Side.LONG, *, score: float = 1.0, stop: float = 0.02) -> Signal:
        spot = {BTC: "BTC/USD", ETH: "ETH/USD"}[futures]
        return make_signal(spot, side, score=score, ref_price=MARKS[futures], stop_distance_pct=stop,
                           ts=self.clock.now())

    def advance(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.loop.fast_tick()
        self.exchange.calls.clear()


def make_rig(risk: RiskConfig = RISK) -> Rig:
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    instruments: dict[str, Instrument] = {
        BTC: make_perp(BTC, base="BTC", lot="0.0001", tick="0.5", max_leverage=3),
        ETH: make_perp(ETH, base="ETH", lot="0.01", tick="0.01", max_leverage=3)}
    exchange = ReadCountingPaper(instruments=instruments, clock=clock, journal=journal)
    signals = ScriptedSignals()
    loop = LiveTrading(AppConfig(risk=risk, loop=LoopConfig(fast_tick_seconds=0.01)), clock=clock,
                       market=ScriptedMarket(clock, MARKS), signals=signals, exchange=exchange, journal=journal,
                       instruments=instruments, symbol_map={"BTC/USD": BTC, "ETH/USD": ETH},
                       market_listeners=[exchange.update_market], instance_id="reads")
    loop.fast_tick()
    exchange.calls.clear()
    return Rig(clock=clock, signals=signals, exchange=exchange, loop=loop)


def assert_rereads_only_after_orders(calls: list[tuple[str, str]]) -> None:
    """Each read of the account (positions) after the first has an order sent since the previous one."""
    for kind in (ACCOUNT, POSITIONS):
        ordered_since_read: bool | None = None  # None: not read yet this tick
        for call, _ in calls:
            if call == ORDER and ordered_since_read is not None:
                ordered_since_read = True
            elif call == kind:
                assert ordered_since_read is not False, f"{kind} read twice with no order in between: {calls}"
                ordered_since_read = False


# -- a quiet auction ----------------------------------------------------------------------------------------
def test_slow_tick_with_nothing_to_do_reads_account_and_positions_once() -> None:
    rig = make_rig()
    report = rig.loop.slow_tick()
    assert report.plan.is_empty and report.results == ()
    assert rig.reads() == {ACCOUNT: 1, POSITIONS: 1}


def test_slow_tick_keeping_a_protected_position_sends_nothing_and_reads_once() -> None:
    rig = make_rig()
    rig.signals.next = [rig.signal(BTC)]
    rig.loop.slow_tick()  # opens BTC with its stop
    assert [p.symbol for p in rig.exchange.fetch_positions()] == [BTC]
    rig.advance(60)
    rig.signals.next = [rig.signal(BTC), rig.signal(ETH, score=0.5)]  # BTC kept; ETH has no free slot
    report = rig.loop.slow_tick()
    assert report.plan.closes == () and report.plan.opens == ()
    assert [kind for kind, _ in rig.exchange.calls if kind == ORDER] == []
    assert rig.reads() == {ACCOUNT: 1, POSITIONS: 1}


# -- an auction that trades --------------------------------------------------------------------------------------
def test_slow_tick_that_closes_then_opens_rereads_only_after_its_orders_and_refreshes_between_them() -> None:
    rig = make_rig()
    rig.exchange.create_order(OrderIntent(client_order_id="manual-1", symbol=BTC, side=OrderSide.BUY,
                                          size=Decimal("0.5"), order_type=OrderType.MARKET, reduce_only=False,
                                          reason="manual", ts_created=T0))
    rig.advance(2 * 3600)  # held long enough to be outranked
    rig.signals.next = [rig.signal(BTC, score=0.9), rig.signal(ETH, score=2.0, stop=0.04)]
    report = rig.loop.slow_tick()

    assert [(c.symbol, c.reason) for c in report.plan.closes] == [(BTC, CloseReason.OUTRANKED)]
    assert [o.futures_symbol for o in report.plan.opens] == [ETH]
    calls = rig.exchange.calls
    assert_rereads_only_after_orders(calls)
    orders = [cid for kind, cid in calls if kind == ORDER]
    assert len(orders) >= 3  # the close, the open and its stop
    close_at = calls.index((ORDER, orders[0]))
    open_at = calls.index((ORDER, orders[1]))
    assert calls[:close_at].count((ACCOUNT, "")) == 1 and calls[:close_at].count((POSITIONS, "")) == 1
    assert calls[close_at + 1:open_at].count((ACCOUNT, "")) == 1  # the refresh after the close
    assert rig.reads()[ACCOUNT] <= 1 + len(orders) and rig.reads()[POSITIONS] <= 1 + len(orders)


def test_slow_tick_that_only_opens_spends_the_first_read_and_rereads_after_the_orders() -> None:
    rig = make_rig(RiskConfig())
    rig.signals.next = [rig.signal(BTC, stop=0.02), rig.signal(ETH, stop=0.05)]
    report = rig.loop.slow_tick()
    assert report.plan.closes == () and len(report.plan.opens) == 2
    calls = rig.exchange.calls
    assert_rereads_only_after_orders(calls)
    first_order = next(i for i, (kind, _) in enumerate(calls) if kind == ORDER)
    # no close: the "refresh" before the opens is the tick's first read, not a second request
    assert calls[:first_order] == [(ACCOUNT, ""), (POSITIONS, "")]
    assert len([kind for kind, _ in calls if kind == ORDER]) == 4  # two opens, two stops

"""LiveTrading: the one loop that trades live, paper-trades and backtests; a scheduler of two steps.

- ``fast_tick`` (every few seconds live, every base candle in a backtest): the market step
  (``live.market_step``: tickers -> checks -> ShockGuard -> exposure reduction), the orders in
  doubt, live fill polling, stop upkeep (live: every tick, since orders vanish there unasked; in a
  backtest when positions changed), and the dead man's switch (``live.dead_man``).
- ``slow_tick`` (on each closed signal candle): the auction step (``live.auction_step``: signals ->
  plan -> closes -> refreshed account -> opens that spend the refreshed budget), stop upkeep and
  the equity record.

Both steps work on one ``PositionBook`` (positions, stops, scores, order reasons; bounded), which
reads the account and positions at most once per tick unless an order changed them. Guard, risk
manager, auction and shock feed are injected (built from the config when not given) and never
swapped. A backtest drives the loop only through ``advance`` (a wake at the clock's now),
``catch_up`` (what idle bars leave behind) and ``wake_state`` (when it next needs to wake); see
``krakenbot.backtest.engine``.
Errors of one tick or one symbol are logged and the loop goes on; ``FatalError`` halts it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

import numpy as np

from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.domain import AccountState, Clock, Instrument, Order, OrderSide, OrderType, Position, Side, Signal
from krakenbot.domain.clock import ServerClock, TickTime, TickTimes, floor_time
from krakenbot.domain.errors import FatalError, KrakenbotError, StoreError, StoreWriteError
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.trading import CLOSING_SIDE
from krakenbot.domain.vocabulary import EventKind, OrderReason, alert
from krakenbot.exchange.base import Exchange
from krakenbot.execution.executor import ClientOrderIds, ExecutionResult, Executor
from krakenbot.execution.position_book import PositionBook
from krakenbot.execution.protection import FALLBACK_STOP_PCT
from krakenbot.live.account_watch import AccountWatch
from krakenbot.live.auction_step import AuctionReport, AuctionStep
from krakenbot.live.controls import OperatorControls
from krakenbot.live.dead_man import DeadManSwitch
from krakenbot.live.market_step import MarketState, MarketStep, TickStepsFailedError, run_step
from krakenbot.live.ports import LiveShockFeed, MarketFeed, MarketListener, ShockFeed, SignalFeed
from krakenbot.portfolio.auction import AuctionAllocator
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.risk.shock_guard import ShockGuard

log = logging.getLogger(__name__)
# Enum members read on every open and stop check, looked up once (an Enum class attribute costs about a call on 3.11)
_AUCTION_OPEN, _STOP_REASON, _STOP_TYPE = OrderReason.AUCTION_OPEN, OrderReason.STOP, OrderType.STOP

__all__ = ["AuctionReport", "LiveTrading", "WakeState", "build_guard"]


def build_guard(cfg: AppConfig, futures: Sequence[str], *, base_seconds: float = 60.0) -> ShockGuard:
    """The ShockGuard the loop uses on ``futures``, with enough history for its move baselines
    (``max(60 s, base_seconds)`` old; ``base_seconds`` is a backtest's base candle, 60 live). On
    coarser candles one stored tick per candle suffices, so the history ring stays a few columns."""
    lookback = max(60.0, base_seconds)
    return ShockGuard(cfg.risk, tuple(sorted(set(futures))), stale_after_seconds=cfg.loop.stale_ticker_seconds,
                      history_seconds=max(120.0, lookback + cfg.loop.stale_ticker_seconds), base_seconds=base_seconds,
                      min_tick_seconds=1.0 if base_seconds <= 60 else base_seconds)


class TickObserver(Protocol):
    """Told after each tick of the wall-clock loop (``run``): ``kind`` is ``"fast"`` or ``"slow"``, ``seconds``
    its duration (a monotonic clock), ``ok`` False when it failed (logged; the loop goes on). Metrics and
    alerts listen here; an observer that raises is logged and never stops the loop."""

    def tick_done(self, kind: str, seconds: float, ok: bool) -> None: ...


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class WakeState:
    """The loop's answer to "when do you next need me?", in the terms a driver can combine with what it
    knows in advance (signal bars, shock hits, stop and liquidation crossings, funding times):

    - ``held``: the side held on each traded contract (the auction's idle-bar rule starts from it);
    - ``newest_signal_ts``: the newest signal seen per contract (a held one grows stale from it);
    - ``shock_until``: while ShockGuard's pause runs, exposure is checked at every tick (None: no pause).
    """

    held: Mapping[str, Side]
    newest_signal_ts: Mapping[str, datetime]
    shock_until: datetime | None


class LiveTrading:
    """Wires the ports (market, signals, exchange, journal, clock) to the policies and schedules the steps.

    ``instance_id`` prefixes every client order id (``store.instance_id`` of the config when not given).
    Time: each tick's ``now`` is the clock corrected by its skew from ``server_clock`` (Kraken's time) and
    never earlier than the previous tick's (``TickTimes``); a skew beyond ``loop.max_clock_skew_seconds``
    pauses entries and stale-signal closes, a clock that steps back is logged once per step.
    """

    def __init__(self, cfg: AppConfig, *, clock: Clock, market: MarketFeed, signals: SignalFeed, exchange: Exchange,
                 journal: Journal, instruments: Mapping[str, Instrument], symbol_map: Mapping[str, str],
                 shock_feed: ShockFeed | None = None, market_listeners: Sequence[MarketListener] = (),
                 instance_id: str | None = None, persist_snapshots: bool = True,
                 guard: ShockGuard | None = None, risk: RiskManager | None = None,
                 auction: AuctionAllocator | None = None, server_clock: ServerClock | None = None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.server_clock = server_clock  # live and paper: Kraken's serverTime, measured on each tickers answer
        self.times = TickTimes(timedelta(seconds=cfg.loop.max_clock_skew_seconds))
        self._now: tuple[datetime, datetime] | None = None  # (clock reading, loop time): see ``now``
        self._lookup_give_up = timedelta(seconds=cfg.loop.order_lookup_give_up_seconds)
        self.signal_feed = signals
        self.exchange = exchange
        self.journal = journal
        self.instruments = dict(instruments)
        self.symbol_map = {spot: fut for spot, fut in symbol_map.items() if fut}
        self.futures = tuple(sorted(set(self.symbol_map.values())))
        self._traded = frozenset(self.futures)
        missing = [f for f in self.futures if f not in self.instruments]
        if missing:
            raise FatalError(f"no instrument known for {missing}: check the universe and the exchange's instruments")
        self.persist_snapshots = persist_snapshots  # positions and plans each slow tick (backtests skip them)
        self.guard = guard or build_guard(cfg, self.futures)
        self.risk = risk or RiskManager(cfg.risk)
        self.auction = auction or AuctionAllocator(cfg.risk, cfg.auction, self.risk)
        loop_clock = _LoopClock(self)  # orders are timed in the loop's (Kraken's) time, like the ticks
        ids = ClientOrderIds(instance_id or cfg.store.instance_id, loop_clock)
        self.executor = Executor(exchange=exchange, instruments=self.instruments, journal=journal, clock=loop_clock,
                                 ids=ids, loop_cfg=cfg.loop)
        self.account_watch = AccountWatch(ids, instance_id or cfg.store.instance_id, journal, loop_clock)
        self.timeframe = timedelta(minutes=TIMEFRAME_MINUTES[cfg.strategy.timeframe])
        self._state = MarketState(self.futures)
        self.book = PositionBook(exchange, self._traded, self._state.marks)
        self.market_step = MarketStep(cfg, market=market, guard=self.guard, shock_feed=shock_feed or LiveShockFeed(),
                                      book=self.book, executor=self.executor, journal=journal, state=self._state,
                                      instruments=self.instruments, listeners=market_listeners,
                                      account_watch=self.account_watch)
        self.auction_step = AuctionStep(cfg, auction=self.auction, guard=self.guard, book=self.book,
                                        executor=self.executor, journal=journal, state=self._state,
                                        instruments=self.instruments, symbol_map=self.symbol_map)
        self._last_slow_bar: datetime | None = None
        self.dead_man = DeadManSwitch(exchange, cfg.loop.dead_man_switch_seconds, journal)
        self._uncovered: set[str] = set()  # positions found without a stop of ours (alerted once until covered)
        self.tick_observers: list[TickObserver] = []  # told after each tick of ``run`` (metrics, alerts)
        self.controls = OperatorControls()  # an operator's commands, applied at the start of each tick of ``run``

    # -- read-only views -----------------------------------------------------------------------------
    @property
    def marks(self) -> Mapping[str, float]:
        """Latest good mark of each traded contract (USD)."""
        return self._state.marks

    @property
    def stale(self) -> frozenset[str]:
        """Contracts whose ticker was refused this tick: entries on them are paused."""
        return frozenset(self._state.stale)

    def now(self) -> datetime:
        """The loop's time now: the clock in Kraken's time, never earlier than a previous tick's.

        Computed once per reading of the clock: a clock that answers the same reading again (a backtest's,
        between two wakes) gets the same answer without asking ``TickTimes`` again (whose answer for an
        unchanged reading and measurement is the same); a new reading or skew measurement computes it anew."""
        local = self.clock.now()
        cached = self._now
        if cached is not None and cached[0] is local:
            return cached[1]
        return self._time_at(local)

    def _time_at(self, local: datetime) -> datetime:
        """``TickTimes.now(local)``, remembered for ``now``: every reading of ``times`` goes through here, so the
        remembered answer is always the newest (an older reading seen again is computed anew)."""
        now = self.times.now(local)
        self._now = (local, now)
        return now

    def wake_state(self) -> WakeState:
        """What decides when the loop next needs to wake, for a driver that sleeps between events."""
        state = new(WakeState)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        WakeState.__init__(state, held={p.symbol: p.side for p in self.book.positions()},
                           newest_signal_ts={fut: sig.ts for fut, sig in self.auction_step.latest_signals.items()},
                           shock_until=self.guard.paused_until(self.now()))
        return state

    # -- fast cadence ----------------------------------------------------------------------------------
    def fast_tick(self) -> None:
        """Tickers, checks, fills, ShockGuard, exposure reduction (once per tick), stop upkeep.

        Live, our stops are compared with the positions on every tick (``openorders``: cheap), so a stop
        cancelled on Kraken, or by its dead man's switch, is back within one tick; when no arm of the switch
        succeeded for its timeout, it is armed again first. In a backtest stops are kept up when positions
        changed. Each step is contained: one that raises (other than ``FatalError``) is logged with its name
        and the others still run; then ``TickStepsFailedError`` names the failed steps (``run`` skips the
        auction). Whatever fails in the tick, the dead man's switch is refreshed: our stops stay on the
        exchange while the bot runs, also when market data is unavailable.
        """
        local = self.clock.now()
        self.book.begin_tick()
        failed: list[str] = []
        armed = False
        try:
            # the tickers first: their answer measures the clock's skew, which sets this tick's time
            tickers = run_step("tickers", self.market_step.fetch_tickers, None, failed)
            tick = run_step("clock", self._tick_time, None, failed, local)
            now = tick.now if tick is not None else self._time_at(local)
            fired = self.dead_man.fired(now)
            if fired:  # Kraken may have cancelled every order of ours: arm first, then put the stops back
                self.book.stops_may_be_gone()
                armed = True
                run_step("dead_man_switch", self.dead_man.arm, None, failed, local, now)
            upkeep = self.market_step.run(now, failed, tickers)  # a late-found fill or a shock trim
            # live: stop, liquidation and manual fills as they happen; True: a given-up order did fill
            polls_fills = self.exchange.capabilities.polls_fills
            if polls_fills:
                upkeep = run_step("fill_poll", self.market_step.poll_fills, False, failed, now) or upkeep
            if upkeep or fired or polls_fills:
                run_step("stop_upkeep", self.sync_stops, None, failed, now)
        finally:
            if not armed and self.dead_man.in_use:  # a venue without the switch: nothing to refresh
                run_step("dead_man_switch", lambda: self.dead_man.refresh(local, self._time_at(local)), None,
                         failed)
        if failed:  # every step ran; the tick still counts as failed: no auction on a view it could not refresh
            raise TickStepsFailedError(failed)

    def _tick_time(self, local: datetime) -> TickTime:
        """This tick's time (``TickTimes``); logs and records a clock stepping back, and the skew going
        beyond the tolerance (entries and stale-signal closes pause) and coming back."""
        tick = self.times.next(local, self.server_clock.server_time() if self.server_clock is not None else None)
        self._now = (local, tick.now)  # ``next`` read ``times`` (and may have a new skew): its answer is the newest
        if tick.stepped_back is not None:
            detail = (f"the local clock stepped back {tick.stepped_back} (to {local.isoformat()}); the loop's time "
                      f"stays at {tick.now.isoformat()} or later")
            log.warning("%s: ticks go on", detail)
            self.journal.record_event(JournalEvent(ts=tick.now, kind=EventKind.CLOCK_STEPPED_BACK, symbol="*",
                                                   detail=detail))
        skewed = tick.skew_problem is not None
        if skewed and not self._state.clock_skewed:
            log.warning("%s. Entries and stale-signal closes are paused until it is back within tolerance; stops, "
                        "ShockGuard and fill polling go on", tick.skew_problem)
            self.journal.record_event(JournalEvent(ts=tick.now, kind=EventKind.CLOCK_SKEWED, symbol="*",
                                                   detail=str(tick.skew_problem)))
        elif not skewed and self._state.clock_skewed:
            detail = f"the local clock is back within tolerance of Kraken's (skew {tick.skew.total_seconds():+.1f}s)"
            log.info("%s: entries and stale-signal closes resume", detail)
            self.journal.record_event(JournalEvent(ts=tick.now, kind=EventKind.CLOCK_SKEW_CLEARED, symbol="*",
                                                   detail=detail))
        self._state.clock_skewed = skewed
        return tick

    # -- slow cadence ----------------------------------------------------------------------------------
    def slow_tick(self) -> AuctionReport:
        """On a closed signal candle: signals, auction, execution, stops, equity."""
        now = self.now()
        self.book.begin_tick()
        fresh = {fut: mark for fut, mark in self._state.marks.items() if fut not in self._state.stale}
        report = self._run_auction_allocation(self.signal_feed.signals(now, fresh), now)
        self.sync_stops(now)
        positions = self.book.positions()
        exposure_usd: float = 0  # gross notional (USD), summed from 0 in position order, as ``sum`` would
        for p in positions:
            exposure_usd += p.notional_usd
        self.journal.record_equity(self.book.account(), exposure_usd)
        if self.persist_snapshots:
            self.journal.record_positions(now, positions)
            if not report.plan.is_empty:
                self.journal.record_plan(now, report.plan.summary(), _plan_details(report))
        return report

    def _run_auction_allocation(self, signals: Sequence[Signal], now: datetime) -> AuctionReport:
        """The auction at the slow tick's ``now``: closes first, margin refreshed, then the opens through
        ``_handle_signal``."""
        return self.auction_step.run(signals, now, self._handle_signal)

    def _handle_signal(self, signal: Signal, available_margin_override: float | None = None,
                       notional_override: float | None = None, skip_margin_check: bool = False, *,
                       account: AccountState | None = None) -> ExecutionResult:
        """Validate ``signal`` with the RiskManager and enter with the size it approves; place the
        protective stop on a fill. ``available_margin_override`` is the budget the open may spend
        (always enforced); ``skip_margin_check`` skips only the check against the (stale) account."""
        now = self.now()
        fut = self.symbol_map.get(signal.symbol, "")
        if not fut:
            return ExecutionResult(symbol=signal.symbol, reason=_AUCTION_OPEN, refused="no futures contract")
        if self.guard.is_entry_paused(fut, now) or not self._state.tradable(fut):
            return ExecutionResult(symbol=fut, reason=_AUCTION_OPEN,
                                   refused="entries paused (shock, stale data, clock skew or market status)")
        if self.account_watch.entries_paused:
            return ExecutionResult(symbol=fut, reason=_AUCTION_OPEN,
                                   refused="entries paused (another process trades this account)")
        if (operator := self.controls.entry_refusal(fut)) is not None:
            return ExecutionResult(symbol=fut, reason=_AUCTION_OPEN, refused=operator)
        decision = self.risk.validate_trade(
            signal, account or self.book.account(), available_margin_override, notional_override,
            skip_margin_check, instrument=self.instruments[fut], positions=self.book.positions(),
            equity_marks=self.auction_step.equity_marks, now=now)
        if not decision.approved or decision.size is None:
            return ExecutionResult(symbol=fut, reason=_AUCTION_OPEN, refused=decision.reason)
        result = self.executor.open(symbol=fut, side=signal.side, size=decision.size, mark=self._state.marks[fut],
                                    reason=_AUCTION_OPEN, stop_distance_pct=signal.stop_distance_pct)
        self.book.remember(result)
        filled, avg_price = result.filled_size, result.avg_price  # summed over the fills once
        if filled > 0 and avg_price is not None:
            stop = avg_price * (1 - signal.side.sign * signal.stop_distance_pct)
            self.book.opened(fut, stop_price=stop, score=signal.score)
            self.book.remember(self.executor.place_stop(symbol=fut, side=signal.side, size=filled,
                                                        stop_price=stop, reason=_STOP_REASON))
        return result

    # -- upkeep ------------------------------------------------------------------------------------------
    def sync_stops(self, now: datetime | None = None) -> None:
        """Keep one reduce-only stop per position, on its closing side and sized like it; cancel
        our stops on flat symbols and any of ours left on the wrong side (e.g. after a reversal).

        A stop Kraken accepted that its open orders do not list yet (its lookups lag) still stands for
        ``loop.order_lookup_give_up_seconds``; a symbol with an order in doubt gets no new stop (the
        executor refuses it). A position found without any stop of ours is an ``ALERT stop_missing``
        (journaled; once until it is covered again), and gets one at once.
        ``now``: the tick's time (the loop's ``now()`` when not given)."""
        positions = {p.symbol: p for p in self.book.positions()}
        stops: dict[str, list[tuple[OrderSide, Decimal]]] = {}
        if now is None:
            now = self.now()
        listed = set()
        for order in self.exchange.fetch_open_orders():
            self.account_watch.saw(order.client_order_id, symbol=order.symbol, what="open order", now=now)
            listed.add(order.client_order_id)
            if self._is_our_stop(order):
                stops.setdefault(order.symbol, []).append((order.side, order.remaining))
        lagging = self._still_standing(self.book.unlisted_stops(listed, placed_since=now - self._lookup_give_up))
        flat = [symbol for symbol in stops if symbol not in positions]  # our stops on symbols without a position
        for symbol in sorted(flat) if len(flat) > 1 else flat:
            self.executor.cancel_stops(symbol)
            self.book.forget(symbol)
        if self._uncovered:
            self._uncovered.intersection_update(positions)
        # one position (the common case): no sort; symbol order otherwise
        for symbol, pos in sorted(positions.items()) if len(positions) > 1 else positions.items():
            try:
                self._sync_stop(symbol, pos, stops.get(symbol, ()), lagging, now)
            except FatalError:
                raise
            except Exception:  # one symbol's failed stop never keeps the others' from going out
                log.exception("%s: stop upkeep failed; the other symbols go on", symbol)

    def _sync_stop(self, symbol: str, pos: Position, held: Sequence[tuple[OrderSide, Decimal]],
                   lagging: Mapping[str, Order], now: datetime) -> None:
        """One position's stop: kept, replaced, or placed (see ``sync_stops``). ``held``: our listed stops'
        (side, remaining size) on ``symbol``."""
        want = self.instruments[symbol].round_size(pos.size)
        closing = CLOSING_SIDE[pos.side]
        if symbol in lagging:
            held = [*held, (lagging[symbol].side, lagging[symbol].remaining)]
        if len(held) == 1:  # one stop, the common case: the check below without its generators
            covered = held[0][0] is closing and held[0][1] == want
        else:
            covered = all(side is closing for side, _ in held) and sum((r for _, r in held), Decimal(0)) == want
        if covered:
            self._uncovered.discard(symbol)
            return
        if symbol in lagging or any(i.symbol == symbol for i in self.executor.in_doubt.values()):
            return  # not listed yet, or in doubt: it cannot be cancelled now, nor doubled
        if not held:
            self._stop_missing(pos, now)
        else:
            self.executor.cancel_stops(symbol)
            if any(self._is_our_stop(o) and o.symbol == symbol for o in self.exchange.fetch_open_orders()):
                log.warning("%s: a stop of ours is still listed after its cancel; the new one waits for the "
                            "next tick (never two stops)", symbol)
                return
        price = self.book.stop_price(symbol)
        if price is None:
            price = pos.entry_price * (1 - pos.side.sign * FALLBACK_STOP_PCT)
            self.book.set_stop_price(symbol, price)
        remainders, mark = self.market_step.stop_remainders, self._state.marks.get(symbol)
        if remainders.exiting(symbol):
            return  # closed reduce-only each fast tick while the mark stays through its stop
        if mark is not None and (mark - price) * pos.side.sign <= 0:  # a stop there would trigger at once
            remainders.exit_through(pos, price, mark, now)
            return
        placed = self.executor.place_stop(symbol=symbol, side=pos.side, size=want, stop_price=price,
                                          reason=_STOP_REASON)
        self.book.remember(placed)
        if placed.order is not None and not placed.order.is_done:
            self._uncovered.discard(symbol)

    def _still_standing(self, lagging: Mapping[str, Order]) -> dict[str, Order]:
        """Of our stops not listed yet, those that may still stand: each one's status is asked for (1 unit
        of Kraken's budget), and one Kraken reports done (e.g. cancelled on its website before any tick
        listed it) no longer counts. Unknown to the lookup too (Kraken lagging): trusted for now."""
        standing = {}
        for symbol, order in lagging.items():
            try:
                found = self.exchange.fetch_order_by_client_id(order.client_order_id, symbol)
            except KrakenbotError as exc:
                if isinstance(exc, FatalError):
                    raise
                found = None
                log.warning("%s: status of stop %s unavailable (%s); trusted for now", symbol,
                            order.client_order_id, exc)
            if found is not None and found.is_done:
                self.book.forget_unlisted(symbol)
                continue
            standing[symbol] = order
        return standing

    def _is_our_stop(self, order: Order) -> bool:
        return (order.order_type is _STOP_TYPE and not order.is_done and order.symbol in self._traded
                and self.executor.ids.is_ours(order.client_order_id))

    def _stop_missing(self, pos: Position, now: datetime) -> None:
        """``pos`` has no stop of ours on the exchange (cancelled outside the bot, the dead man's switch, a stop
        that filled only in part): alert and journal it, once until it is covered again."""
        if pos.symbol in self._uncovered:
            return
        self._uncovered.add(pos.symbol)
        detail = (f"{pos.side.value} {pos.size} has no stop of ours on the exchange (cancelled outside the bot, "
                  f"or the dead man's switch fired): placing one")
        log.warning("%s", alert(EventKind.STOP_MISSING, f"{pos.symbol}: {detail}"))
        self.journal.record_event(JournalEvent(ts=now, kind=EventKind.STOP_MISSING, symbol=pos.symbol,
                                               detail=detail))

    def flatten_all(self, reason: OrderReason | str, *, symbol: str | None = None) -> list[ExecutionResult]:
        """Close every position (``symbol``'s only, when given) reduce-only at the latest marks (end of a
        backtest, an operator's flatten)."""
        results = []
        for position in self.book.positions():
            if symbol is not None and position.symbol != symbol:
                continue
            result = self.executor.reduce(position, size=None, mark=self._state.marks.get(position.symbol,
                                                                                         position.price),
                                          reason=reason)
            self.book.remember(result)
            results.append(result)
        return results

    # -- the driver API: a backtest advances the loop through these, never through its internals -----------
    def advance(self, seen_marks: Mapping[str, float], *, slow: bool) -> AuctionReport | None:
        """One wake at the clock's now: ``seen_marks`` are marks that reached the venue while the loop
        slept (they count as the last good marks), then a fast tick, and a slow tick when ``slow``."""
        self._state.marks.update(seen_marks)
        self.fast_tick()
        return self.slow_tick() if slow else None

    def catch_up(self, ts_ns: np.ndarray, equity_usd: np.ndarray, signals: Iterable[Signal]) -> None:
        """What idle signal bars (whose auction would only keep everything) leave behind: the loss
        limits' equity marks move along the equity path (``equity_usd[k]`` USD at ``ts_ns[k]``, UTC
        nanoseconds, oldest first), and ``signals`` (oldest first) become the newest word on their contracts.
        Nothing reads that word before the next ``advance(slow=True)``'s auction notes its own signals, so a
        driver may leave out a contract the next wake's signals speak for."""
        self.auction_step.note_equity(ts_ns, equity_usd)
        self.auction_step.note_signals(signals)

    # -- the wall-clock loop -------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, max_ticks: int | None = None) -> int:
        """Tick until ``stop`` is set (SIGINT/SIGTERM) or ``max_ticks``; returns ticks run.

        A tick always finishes before the loop checks ``stop``: positions stay protected by
        their exchange-side stops after exit, since leaving ``run`` (a stop or a halt) disarms the
        dead man's switch. A ``StoreError`` (e.g. a full disk) halts it as
        ``StoreWriteError`` once every position has a stop from Kraken's view (``Executor.protect``).
        """
        ticks = 0
        try:
            while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
                started = self.clock.now()
                self._guarded_tick()
                ticks += 1
                elapsed = max(0.0, (self.clock.now() - started).total_seconds())  # < 0: the clock stepped back
                if elapsed > self.cfg.loop.fast_tick_seconds:  # no catch-up burst: the next tick starts now
                    log.warning("tick took %.1fs, over its %.1fs cadence; the next one starts at once",
                                elapsed, self.cfg.loop.fast_tick_seconds)
                stop.wait(max(0.0, self.cfg.loop.fast_tick_seconds - elapsed))
        finally:
            self._stand_down()
        return ticks

    def _guarded_tick(self) -> None:
        """One fast tick, and the slow tick when a new signal candle closed. A ``StoreError`` halts as a
        protected ``StoreWriteError``, a ``FatalError`` halts, anything else is logged and the loop goes on."""
        kind, started = "fast", time.monotonic()
        try:
            self.controls.apply_pending(self)  # an operator's commands, on this thread, before the tick's orders
            self.fast_tick()
            bar = floor_time(self.now(), self.timeframe)
            if self._last_slow_bar is None or bar > self._last_slow_bar:
                self._tell_observers(kind, time.monotonic() - started, ok=True)
                kind, started = "slow", time.monotonic()
                self.slow_tick()
                self._last_slow_bar = bar
            self._tell_observers(kind, time.monotonic() - started, ok=True)
        except StoreError as exc:  # protection first: each position's stop from Kraken's view, then halt
            if isinstance(exc, StoreWriteError) and exc.protected:
                log.critical("store failure: halting the loop: %s", exc)
                raise
            halt = self.executor.protect(self.futures, exc)
            log.critical("store failure: halting the loop: %s", halt)
            raise halt from exc
        except FatalError:
            log.critical("fatal error: halting the loop", exc_info=True)
            raise
        except Exception:  # one bad tick never kills the loop
            log.exception("tick failed; the loop goes on")
            self._tell_observers(kind, time.monotonic() - started, ok=False)

    def _tell_observers(self, kind: str, seconds: float, *, ok: bool) -> None:
        for observer in self.tick_observers:
            try:
                observer.tick_done(kind, seconds, ok)
            except Exception:  # an observer (metrics, alerts) never stops the loop
                log.exception("tick observer %r failed; the loop goes on", observer)

    def _stand_down(self) -> None:
        """Leaving ``run`` (a stop, ``max_ticks`` or a halt): disarm Kraken's dead man's switch, so our
        protective stops outlive the bot. Only a crash, which never gets here, leaves it to fire."""
        self.controls.close("the loop has stopped")
        self.dead_man.disarm()


class _LoopClock:
    """``LiveTrading.now`` as a ``Clock``: what the executor and the account watch time orders by, so an
    order's give-up (``loop.order_lookup_give_up_seconds``) is Kraken's time, not a skewed local clock's."""

    __slots__ = ("_loop",)

    def __init__(self, loop: LiveTrading) -> None:
        self._loop = loop

    def now(self) -> datetime:
        return self._loop.now()


def _plan_details(report: AuctionReport) -> dict[str, object]:
    plan = report.plan
    return {
        "closes": [{"symbol": c.symbol, "reason": c.reason.value, "detail": c.detail} for c in plan.closes],
        "opens": [{"symbol": o.futures_symbol, "side": o.side.value, "score": o.score,
                   "notional_usd": o.position_notional, "margin_usd": o.margin_required,
                   "size": None if o.size is None else str(o.size)} for o in plan.opens],
        "rejected": [{"symbol": r.candidate.futures_symbol or r.candidate.symbol, "reason": r.reason.value,
                      "detail": r.detail} for r in plan.rejected],
        "results": [{"symbol": r.symbol, "reason": str(r.reason), "filled": str(r.filled_size), "refused": r.refused,
                     "client_order_id": r.order.client_order_id if r.order else None} for r in report.results],
        "available_margin_usd": plan.available_margin_usd, "freed_margin_usd": plan.freed_margin_usd,
        "refreshed_available_margin_usd": report.refreshed.available_margin_usd if report.refreshed else None,
    }

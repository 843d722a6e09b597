"""LiveTrading: the one loop that trades live, paper-trades and backtests.

Two cadences share it. ``fast_tick`` (every few seconds live, every base candle in a backtest):
bulk tickers, stale-data check, paper fills, ShockGuard detection and exposure reduction.
``slow_tick`` (on each closed signal candle): signals, the auction, execution, stop upkeep.

The auction runs closes first, refreshes the account, then opens with the auction's sizes
(``notional_override``, ``skip_margin_check``), so fresh margin, not stale margin, decides.
Errors of one tick or one symbol are logged and the loop goes on; ``FatalError`` halts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.data.ticker_checks import check_ticker
from krakenbot.domain import AccountState, Clock, Fill, Instrument, OrderSide, OrderType, Position, Signal, to_decimal
from krakenbot.domain.clock import floor_time
from krakenbot.domain.errors import FatalError, KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.exchange.base import Exchange
from krakenbot.execution.executor import ClientOrderIds, ExecutionResult, Executor
from krakenbot.live.ports import LiveShockFeed, MarketFeed, MarketListener, ShockFeed, SignalFeed
from krakenbot.portfolio.auction import AuctionAllocator
from krakenbot.portfolio.plan import AllocationPlan
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.risk.shock_exposure import ShockActionKind
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.risk.trading_state import EquityMarks

log = logging.getLogger(__name__)

FALLBACK_STOP_PCT = 0.05  # stop distance for a position whose signal's stop is unknown (adopted)
FILLS_POLL_LOOKBACK = timedelta(hours=1)  # the first live fill poll reads this far back (fills are kept once)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionReport:
    """What one auction did: the plan, the refreshed account and each execution."""

    plan: AllocationPlan
    refreshed: AccountState | None
    results: tuple[ExecutionResult, ...]


class LiveTrading:
    """Wires the ports (market, signals, exchange, journal, clock) to the policies."""

    def __init__(self, cfg: AppConfig, *, clock: Clock, market: MarketFeed, signals: SignalFeed, exchange: Exchange,
                 journal: Journal, instruments: Mapping[str, Instrument], symbol_map: Mapping[str, str],
                 shock_feed: ShockFeed | None = None, market_listeners: Sequence[MarketListener] = (),
                 instance_id: str = "kb", persist_snapshots: bool = True) -> None:
        self.cfg = cfg
        self.clock = clock
        self.market = market
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
        self.shock_feed = shock_feed or LiveShockFeed()
        self.persist_snapshots = persist_snapshots  # positions and plans each slow tick (backtests skip them)
        self.market_listeners = tuple(market_listeners)
        self.guard = ShockGuard(cfg.risk, self.futures, stale_after_seconds=cfg.loop.stale_ticker_seconds,
                                history_seconds=max(120.0, 60.0 + cfg.loop.stale_ticker_seconds))
        self.risk = RiskManager(cfg.risk)
        self.auction = AuctionAllocator(cfg.risk, cfg.auction, self.risk)
        self.executor = Executor(exchange=exchange, instruments=self.instruments, journal=journal, clock=clock,
                                 ids=ClientOrderIds(instance_id, clock), loop_cfg=cfg.loop)
        # Kraken flex: maintenance margin is half the initial margin of the tier (1 / max leverage).
        self.maintenance_rates = {f: 0.5 / self.instruments[f].max_leverage for f in self.futures}
        self.timeframe = timedelta(minutes=TIMEFRAME_MINUTES[cfg.strategy.timeframe])
        self.marks: dict[str, float] = {}
        self.stale: set[str] = set(self.futures)  # paused until the first good tickers
        self.equity_marks: EquityMarks | None = None
        self.latest_signals: dict[str, Signal] = {}  # futures symbol -> newest signal (stale closes)
        self._stops: dict[str, float] = {}  # futures symbol -> stop price of its position
        self._scores: dict[str, float] = {}  # futures symbol -> score of the signal it was opened on
        self._reasons: dict[str, str] = {}  # client order id -> why it was sent
        self._done_actions: set[str] = set()
        self._stale_logged: dict[str, datetime] = {}
        self._last_slow_bar: datetime | None = None
        self._dms_armed_at: datetime | None = None
        self._fills_since: datetime | None = None  # newest fill seen by the live fill poll
        self._seen_trade_ids: set[str] = set()

    # -- fast cadence ---------------------------------------------------------------------------
    def fast_tick(self) -> None:
        """Tickers, stale check, paper fills, ShockGuard, exposure reduction once per tick.

        Whatever fails in the tick, the dead man's switch is refreshed: our stops stay on the
        exchange while the bot runs, also when market data is unavailable.
        """
        now = self.clock.now()
        try:
            self._fast_tick(now)
        finally:
            self._refresh_dead_man_switch(now)

    def _fast_tick(self, now: datetime) -> None:
        try:
            tickers = self.market.futures_tickers()
        except KrakenbotError as exc:
            if isinstance(exc, FatalError):
                raise
            log.warning("tickers unavailable (%s: %s): entries paused this tick", type(exc).__name__, exc)
            self.stale = set(self.futures)
            return
        marks: dict[str, float] = {}
        index: dict[str, float] = {}
        funding: dict[str, float] = {}
        refused: dict[str, str] = {}
        max_age = timedelta(seconds=self.cfg.loop.stale_ticker_seconds)
        for fut in self.futures:
            # self.marks holds the last good mark: a 50 % jump the index does not confirm is refused
            verdict = check_ticker(tickers.get(fut), symbol=fut, now=now, max_age=max_age,
                                   previous_mark=self.marks.get(fut))
            if verdict.mark is None:
                refused[fut] = verdict.reason or "refused"
                continue
            ticker = tickers[fut]
            marks[fut] = verdict.mark
            if ticker.index is not None and ticker.index > 0:
                index[fut] = ticker.index
            if ticker.funding_rate is not None:
                funding[fut] = ticker.funding_rate / verdict.mark  # Kraken's is USD/contract/hour
        newly_stale = set(self.futures) - set(marks) - self.stale
        quiet = timedelta(minutes=self.cfg.logging.candle_source_log_minutes)
        for fut in sorted(newly_stale):  # at most once per symbol per interval: quiet markets flap
            if now - self._stale_logged.get(fut, datetime.min.replace(tzinfo=now.tzinfo)) >= quiet:
                self._stale_logged[fut] = now
                log.info("%s: ticker refused (%s): entries paused", fut, refused.get(fut, "missing"))
        self.stale = set(self.futures) - set(marks)
        self.marks.update(marks)
        for listener in self.market_listeners:
            for fill in listener(marks, funding):
                self._record_external_fill(fill)
        for event in self.shock_feed.detect(self.guard, now, marks, index):
            self.journal.record_event(JournalEvent(ts=event.ts, kind=f"shock_{event.kind}", symbol=event.symbol,
                                                   detail=f"magnitude={event.magnitude:.6g} "
                                                          f"threshold={event.threshold:.6g}"))
        found = False
        if self.executor.in_doubt:
            for result in self.executor.poll_in_doubt(
                    give_up_after=timedelta(seconds=self.cfg.loop.order_lookup_give_up_seconds)):
                self._remember(result)
                found = found or result.filled_size > 0
        if self.guard.active(now):
            self._reduce_exposure(now)
        if found:  # an order found late that filled: protect its position now, not at the next bar
            self.sync_stops()
        if self.exchange.capabilities.polls_fills:  # live: stop, liquidation and manual fills as they happen
            self._poll_fills(now)

    def _poll_fills(self, now: datetime) -> None:
        """Record fills the exchange reports on our symbols that no order call of ours returned."""
        since = self._fills_since or now - FILLS_POLL_LOOKBACK
        for fill in self.exchange.fetch_fills(since=since):
            if fill.trade_id in self._seen_trade_ids:
                continue
            if self.executor.ids.is_ours(fill.client_order_id) or fill.symbol in self._traded:
                self._record_external_fill(fill)
            self._seen_trade_ids.add(fill.trade_id)
            self._fills_since = max(self._fills_since or fill.ts, fill.ts)

    def _refresh_dead_man_switch(self, now: datetime) -> None:
        """Live: keep Kraken's cancel-all-after timer ahead of us, so orders die with the bot."""
        timeout = self.cfg.loop.dead_man_switch_seconds
        arm = getattr(self.exchange, "arm_dead_man_switch", None)
        if not timeout or not self.exchange.capabilities.dead_man_switch or arm is None:
            return
        if self._dms_armed_at is None or (now - self._dms_armed_at).total_seconds() >= timeout / 4:
            arm(int(timeout))
            self._dms_armed_at = now

    def _record_external_fill(self, fill: Fill) -> None:
        """A fill we did not just ask for: a stop, a resting order, or a liquidation."""
        if not self.journal.record_fill(fill):
            return
        reason = self._reasons.get(fill.client_order_id,
                                   "liquidation" if fill.client_order_id.startswith("liquidation") else "external")
        self.journal.record_event(JournalEvent(ts=fill.ts, kind=reason, symbol=fill.symbol,
                                               detail=f"{fill.side.value} {fill.size} @ {fill.price}"))
        log.warning("%s: %s filled %s %s @ %s", fill.symbol, reason, fill.side.value, fill.size, fill.price)

    def _reduce_exposure(self, now: datetime) -> None:
        positions = self.positions()
        if not positions:
            return
        plan = self.guard.evaluate(positions, self.exchange.fetch_account(), now,
                                   maintenance_margin_rate=self.maintenance_rates)
        by_symbol = {p.symbol: p for p in positions}
        for action in plan.actions:
            if action.key in self._done_actions or action.symbol not in by_symbol:
                continue
            self._done_actions.add(action.key)
            size = None if action.action is ShockActionKind.CLOSE else Decimal(repr(action.reduce_size))
            result = self.executor.reduce(by_symbol[action.symbol], size=size, mark=action.mark_price,
                                          reason=action.reason)
            self._remember(result)
            self.journal.record_event(JournalEvent(ts=now, kind=action.reason, symbol=action.symbol,
                                                   detail=f"{action.detail}; filled {result.filled_size}"
                                                          + (f"; {result.refused}" if result.refused else "")))
        if plan.actions:
            self.sync_stops()

    # -- slow cadence ---------------------------------------------------------------------------
    def slow_tick(self) -> AuctionReport:
        """On a closed signal candle: signals, auction, execution, stops, equity."""
        now = self.clock.now()
        signals = self.signal_feed.signals(now)
        report = self._run_auction_allocation(signals)
        self.sync_stops()
        positions = self.positions()
        self.journal.record_equity(self.exchange.fetch_account(), sum(p.notional_usd for p in positions))
        if self.persist_snapshots:
            self.journal.record_positions(now, positions)
            if not report.plan.is_empty:
                self.journal.record_plan(now, report.plan.summary(), _plan_details(report))
        return report

    def _run_auction_allocation(self, signals: Sequence[Signal]) -> AuctionReport:
        now = self.clock.now()
        account = self.exchange.fetch_account()
        positions = self.positions()
        self.equity_marks = (EquityMarks.start(account.equity_usd, now) if self.equity_marks is None
                             else self.equity_marks.update(account.equity_usd, now))
        state = self.equity_marks.assess(account.equity_usd, self.cfg.risk)
        # Size candidates without the positions their signals reverse: those close before any open.
        reversing = {self.symbol_map[s.symbol]: s.side for s in signals if s.symbol in self.symbol_map}
        staying = [p for p in positions if reversing.get(p.symbol, p.side) is p.side]
        candidates, refusals = self.auction.candidates_from_signals(
            signals, self.symbol_map, account, now, instruments=self.instruments, positions=staying)
        log.info("Auction: %d signals, %d candidates, %d refused, %d positions held, state %s",
                 len(signals), len(candidates), len(refusals), len(positions), state.state.value)
        for sig in signals:  # the strategy says nothing when a trend fades: remember its last word
            if sig.symbol in self.symbol_map:
                self.latest_signals[self.symbol_map[sig.symbol]] = sig
        paused = self.guard.paused_symbols(now) | self.stale
        plan = self.auction.plan(candidates, positions, account, now, paused_symbols=paused,
                                 signals_by_symbol=dict(self.latest_signals),
                                 entries_allowed=state.state.allows_entries)
        results: list[ExecutionResult] = []
        unclosed: set[str] = set()  # a reversal whose close did not fill in full: no open on that symbol
        for close in plan.closes:
            result = self.executor.reduce(close.position, size=None,
                                          mark=self.marks.get(close.symbol, close.position.price),
                                          reason=f"auction_close_{close.reason.value}")
            self._remember(result)
            results.append(result)
            if result.filled_size < self.instruments[close.symbol].round_size(close.position.size):
                unclosed.add(close.symbol)
            self.journal.record_event(JournalEvent(ts=now, kind=f"close_{close.reason.value}", symbol=close.symbol,
                                                   detail=f"{close.detail}; filled {result.filled_size}"))
            log.info("Auction: close %s (%s) -> filled %s%s", close.symbol, close.reason.value, result.filled_size,
                     f" ({result.refused})" if result.refused else "")
        if not plan.opens:
            return AuctionReport(plan=plan, refreshed=None, results=tuple(results))
        refreshed = self.exchange.fetch_account()
        log.info("Auction: Margin refreshed after closes: available %.2f USD (was %.2f), equity %.2f USD, "
                 "initial margin %.2f USD, %d closes done, %d opens to go", refreshed.available_margin_usd,
                 account.available_margin_usd, refreshed.equity_usd, refreshed.initial_margin_usd,
                 len(plan.closes), len(plan.opens))
        available = refreshed.available_margin_usd
        for cand in plan.opens:
            if cand.futures_symbol in unclosed:
                result = ExecutionResult(symbol=cand.futures_symbol, reason="auction_open",
                                         refused="the close of the position it reverses did not fill")
                results.append(result)
                log.warning("%s: open skipped: %s", cand.futures_symbol, result.refused)
                continue
            result = self._handle_signal(cand.signal, available_margin_override=available,
                                         notional_override=cand.position_notional, skip_margin_check=True,
                                         account=refreshed)
            results.append(result)
            if result.filled_size > 0 and result.avg_price is not None:
                inst = self.instruments[cand.futures_symbol]
                available -= float(result.filled_size) * float(inst.contract_size) * result.avg_price / cand.leverage
            log.info("Auction: open %s %s notional %.2f USD -> filled %s @ %s%s", cand.futures_symbol,
                     cand.side.value, cand.position_notional, result.filled_size, result.avg_price,
                     f" ({result.refused})" if result.refused else "")
        return AuctionReport(plan=plan, refreshed=refreshed, results=tuple(results))

    def _handle_signal(self, signal: Signal, available_margin_override: float | None = None,
                       notional_override: float | None = None, skip_margin_check: bool = False, *,
                       account: AccountState | None = None) -> ExecutionResult:
        """Validate ``signal`` with the RiskManager and enter; place its protective stop on a fill."""
        now = self.clock.now()
        fut = self.symbol_map.get(signal.symbol, "")
        if not fut:
            return ExecutionResult(symbol=signal.symbol, reason="auction_open", refused="no futures contract")
        if self.guard.is_entry_paused(fut, now) or fut in self.stale or fut not in self.marks:
            return ExecutionResult(symbol=fut, reason="auction_open", refused="entries paused (shock or stale data)")
        instrument = self.instruments[fut]
        mark = self.marks[fut]
        decision = self.risk.validate_trade(
            signal, account or self.exchange.fetch_account(), available_margin_override, notional_override,
            skip_margin_check, instrument=instrument, positions=self.positions(), equity_marks=self.equity_marks,
            now=now)
        if not decision.approved:
            return ExecutionResult(symbol=fut, reason="auction_open", refused=decision.reason)
        # Exact division: a float quotient can land a hair below a lot (110.89999999999999 -> 110.8).
        size = instrument.round_size(to_decimal(decision.notional_usd) / (to_decimal(mark) * instrument.contract_size))
        result = self.executor.open(symbol=fut, side=signal.side, size=size, mark=mark, reason="auction_open")
        self._remember(result)
        if result.filled_size > 0 and result.avg_price is not None:
            self._stops[fut] = result.avg_price * (1 - signal.side.sign * signal.stop_distance_pct)
            self._scores[fut] = signal.score
            self._remember(self.executor.place_stop(symbol=fut, side=signal.side, size=result.filled_size,
                                                    stop_price=self._stops[fut], reason="stop"))
        return result

    # -- upkeep ---------------------------------------------------------------------------------
    def positions(self) -> list[Position]:
        """Open positions on the symbols we trade, with our latest marks and the scores they were opened on."""
        out = []
        for pos in self.exchange.fetch_positions():
            if pos.symbol not in self._traded:  # foreign, or outside the universe: never touched
                continue
            mark = self.marks.get(pos.symbol, pos.mark_price)
            out.append(replace(pos, mark_price=mark, score=self._scores.get(pos.symbol, pos.score)))
        return out

    def sync_stops(self) -> None:
        """Keep one reduce-only stop per position, on its closing side and sized like it; cancel
        our stops on flat symbols and any of ours left on the wrong side (e.g. after a reversal)."""
        positions = {p.symbol: p for p in self.positions()}
        stops: dict[str, list[tuple[OrderSide, Decimal]]] = {}
        for order in self.exchange.fetch_open_orders():
            if (order.order_type is OrderType.STOP and not order.is_done and order.symbol in self._traded
                    and self.executor.ids.is_ours(order.client_order_id)):
                stops.setdefault(order.symbol, []).append((order.side, order.remaining))
        for symbol in sorted(set(stops) - set(positions)):
            self.executor.cancel_stops(symbol)
            self._stops.pop(symbol, None)
        for symbol, pos in sorted(positions.items()):
            want = self.instruments[symbol].round_size(pos.size)
            closing = OrderSide.to_close(pos.side)
            held = stops.get(symbol, [])
            if all(side is closing for side, _ in held) and sum((r for _, r in held), Decimal(0)) == want:
                continue
            if held:
                self.executor.cancel_stops(symbol)
            price = self._stops.get(symbol, pos.entry_price * (1 - pos.side.sign * FALLBACK_STOP_PCT))
            self._stops[symbol] = price
            self._remember(self.executor.place_stop(symbol=symbol, side=pos.side, size=want, stop_price=price,
                                                    reason="stop"))

    def flatten_all(self, reason: str) -> list[ExecutionResult]:
        """Close every position reduce-only at the latest marks (end of a backtest, operator stop)."""
        results = []
        for position in self.positions():
            result = self.executor.reduce(position, size=None, mark=self.marks.get(position.symbol, position.price),
                                          reason=reason)
            self._remember(result)
            results.append(result)
        return results

    def reasons(self) -> dict[str, str]:
        """Client order id -> why it was sent (``auction_open``, ``stop``, ``shock_trim``, ...)."""
        return dict(self._reasons)

    def _remember(self, result: ExecutionResult) -> None:
        if result.order is not None:
            self._reasons[result.order.client_order_id] = result.reason

    # -- the wall-clock loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event, *, max_ticks: int | None = None) -> int:
        """Tick until ``stop`` is set (SIGINT/SIGTERM) or ``max_ticks``; returns ticks run.

        A tick always finishes before the loop checks ``stop``: positions stay protected by
        their exchange-side stops after exit.
        """
        ticks = 0
        while not stop.is_set() and (max_ticks is None or ticks < max_ticks):
            started = self.clock.now()
            try:
                self.fast_tick()
                bar = floor_time(started, self.timeframe)
                if self._last_slow_bar is None or bar > self._last_slow_bar:
                    self.slow_tick()
                    self._last_slow_bar = bar
            except FatalError:
                log.critical("fatal error: halting the loop", exc_info=True)
                raise
            except Exception:  # one bad tick never kills the loop
                log.exception("tick failed; the loop goes on")
            ticks += 1
            elapsed = (self.clock.now() - started).total_seconds()
            if elapsed > self.cfg.loop.fast_tick_seconds:  # no catch-up burst: the next tick starts now
                log.warning("tick took %.1fs, over its %.1fs cadence; the next one starts at once",
                            elapsed, self.cfg.loop.fast_tick_seconds)
            stop.wait(max(0.0, self.cfg.loop.fast_tick_seconds - elapsed))
        return ticks


def _plan_details(report: AuctionReport) -> dict[str, object]:
    plan = report.plan
    return {
        "closes": [{"symbol": c.symbol, "reason": c.reason.value, "detail": c.detail} for c in plan.closes],
        "opens": [{"symbol": o.futures_symbol, "side": o.side.value, "score": o.score,
                   "notional_usd": o.position_notional, "margin_usd": o.margin_required} for o in plan.opens],
        "rejected": [{"symbol": r.candidate.futures_symbol or r.candidate.symbol, "reason": r.reason.value,
                      "detail": r.detail} for r in plan.rejected],
        "results": [{"symbol": r.symbol, "reason": r.reason, "filled": str(r.filled_size), "refused": r.refused,
                     "client_order_id": r.order.client_order_id if r.order else None} for r in report.results],
        "available_margin_usd": plan.available_margin_usd, "freed_margin_usd": plan.freed_margin_usd,
        "refreshed_available_margin_usd": report.refreshed.available_margin_usd if report.refreshed else None,
    }

"""The backtest: recorded candles through the LiveTrading loop, on a simulated clock, with paper fills.

The loop is the live one; only its ports differ (``backtest.feeds``). Two ways to drive it:

- ``step_every_candle=True`` wakes the loop at every base candle (the reference);
- the default wakes it only when something can change: a signal candle closes whose auction can
  act (``IdleBars``: a held position reverses or goes stale, or a signal on a contract not held may
  open: not while the loss limits hold a flat account in reduce-only, ``_entries_from``, nor, with
  every slot taken, unless its score may outrank the weakest holding), a shock threshold is
  reached (precomputed over the whole history), a candle's low (high) reaches a sell (buy) stop,
  a candle's adverse extreme moves far enough that liquidation becomes possible, and every candle
  while a shock is active on open positions.
  Funding wakes nothing: the hourly settlements between two wakes are computed at the next
  (``_funding_between``: each hour at the mark and rate the paper exchange would have had there)
  and paid in order (``PaperExchange.settle_funding``), the idle bars' equity counting them.

At each wake the paper exchange walks the newest base candle's intrabar path (open -> high/low ->
close; the conventions are stated once, in ``krakenbot.exchange.intrabar``). The wake rules use
the same highs and lows, so no skipped candle held a stop or liquidation level.

Both give the same trades (``tests/backtest/test_engine.py`` pins it on the shipped data).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from krakenbot.backtest.feeds import (
    BacktestMarket,
    CandleShockFeed,
    ClockNs,
    PrecomputedSignals,
    ReplayShockFeed,
    first_crossing,
)
from krakenbot.backtest.futures_series import series_sources
from krakenbot.backtest.gc_scope import young_collections_only
from krakenbot.backtest.instruments import perpetual_for, synthetic_perpetual
from krakenbot.backtest.market_data import MarketData, timeframe_ns
from krakenbot.backtest.metrics import DETECTION_KINDS
from krakenbot.backtest.range_bounds import RangeBounds
from krakenbot.backtest.result import (
    EVENT_COLUMNS,
    BacktestResult,
    config_hash,
    empty_events,
    epoch_us,
    us_column,
    utc_column,
)
from krakenbot.backtest.trades import build_trades
from krakenbot.config.models import AppConfig
from krakenbot.domain import Fill, OrderSide, OrderType, Position, Side, SimulatedClock
from krakenbot.domain.errors import ConfigError
from krakenbot.domain.timeconv import NS_PER_SECOND, NS_PER_US, duration_ns, from_ns, to_ns
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.exchange.paper import PaperExchange
from krakenbot.live.trading import LiveTrading, WakeState, build_guard
from krakenbot.portfolio.idle_bars import IdleBars
from krakenbot.progress import progress_bar
from krakenbot.risk.shock_guard import config_warnings
from krakenbot.store.journal import MemoryJournal
from krakenbot.strategy.loader import load_strategy

log = logging.getLogger(__name__)

HOUR_NS = duration_ns(timedelta(hours=1))
BACKTEST_INSTANCE_ID = "bt"  # client order id prefix of backtest orders
LIQUIDATION_SAFETY = 0.9  # wake when a move reaches 90 % of the provably safe distance
_STOP, _SELL, _LONG = OrderType.STOP, OrderSide.SELL, Side.LONG  # read once: on Python 3.11 an Enum's class
# attribute costs about a function call


@dataclass(slots=True)
class _Timeline:
    """Wake-up candidates: every base candle close and every signal bar close, in order."""

    times: np.ndarray  # int64 ns
    is_bar: np.ndarray  # bool, a signal bar closes at this time
    row: np.ndarray  # index of the newest base candle closed at this time
    bar_index: np.ndarray  # positions of the bar times in ``times``
    bars_through: np.ndarray  # int64, signal bars at or before each time: the index of the first bar after it


def _timeline(data: MarketData, tf_ns: int) -> _Timeline:
    close_ns = data.ts + timeframe_ns(data.base_timeframe)
    first_bar = -(-int(close_ns[0]) // tf_ns) * tf_ns
    # the count in integers: np.arange's length is a float division that drops the last bar of long data
    count = max((int(close_ns[-1]) - first_bar) // tf_ns + 1, 0)
    # The closes on a multiple of tf_ns are distinct bars (from the first close to the last bar): when there are
    # ``count`` of them, every bar closes with a candle (the usual case) and the closes are the times.
    on_bar = close_ns % tf_ns == 0
    if int(np.count_nonzero(on_bar)) == count:
        times, is_bar, row = close_ns, on_bar, np.arange(len(close_ns))
        if len(times) == count:  # and every close is a bar's (bars as long as the candles): the bars are the rows
            return _Timeline(times=times, is_bar=is_bar, row=row, bar_index=row, bars_through=row + 1)
    else:
        bars = first_bar + tf_ns * np.arange(count, dtype=np.int64)
        pos = np.minimum(np.searchsorted(close_ns, bars), len(close_ns) - 1)
        times = np.union1d(close_ns, bars[close_ns[pos] != bars])  # with the bar closes no candle closes at
        # every multiple of tf_ns from the first close to the last bar is a bar (as np.isin(times, bars) says)
        is_bar = (times % tf_ns == 0) & (times <= bars[-1])
        row = np.searchsorted(close_ns, times, side="right") - 1
    return _Timeline(times=times, is_bar=is_bar, row=row, bar_index=np.flatnonzero(is_bar),
                     bars_through=np.cumsum(is_bar, dtype=np.int64))


class Backtest:
    """One backtest run over ``data`` with ``cfg``, trading from ``start`` (default: the data's start; earlier
    candles only warm the strategy up). Call ``run()`` once."""

    def __init__(self, cfg: AppConfig, data: MarketData, *, start: datetime | None = None,
                 step_every_candle: bool = False, progress: bool = True) -> None:
        base_ns, tf_ns = timeframe_ns(data.base_timeframe), timeframe_ns(cfg.strategy.timeframe)
        if tf_ns < base_ns or tf_ns % base_ns:
            raise ConfigError(f"strategy.timeframe: {cfg.strategy.timeframe} must be a multiple of the data's "
                              f"{data.base_timeframe} candles")
        history = data  # candles before ``start`` warm the strategy up and are never traded
        data = data if start is None else data.since(to_ns(start))
        if len(data.ts) == 0:
            raise ConfigError("backtest: the data holds no candles in the chosen window")
        self.cfg, self.data, self.step, self.progress = cfg, data, step_every_candle, progress
        self._base_ns = base_ns
        self.futures = {spot: perpetual_for(spot) for spot in data.symbols}
        self.instruments = {}
        first_rows = data.present.argmax(axis=0)  # each column's first present row (0 where none is)
        for col, (spot, row) in enumerate(zip(data.symbols, first_rows.tolist(), strict=True)):
            if data.present[row, col]:
                self.instruments[self.futures[spot]] = synthetic_perpetual(spot, float(data.close[row, col]))
        self.futures = {s: f for s, f in self.futures.items() if f in self.instruments}
        self.timeline = _timeline(data, tf_ns)
        self.clock = SimulatedClock(from_ns(int(self.timeline.times[0])))
        self.paper = PaperExchange(instruments=self.instruments, fees=cfg.fees, clock=self.clock,
                                   initial_equity_usd=cfg.backtest.initial_equity_usd)
        self.journal = MemoryJournal()
        self.signals = PrecomputedSignals(load_strategy(cfg.strategy), history.resample(cfg.strategy.timeframe))
        base_seconds = base_ns / NS_PER_SECOND
        guard = build_guard(cfg, list(self.futures.values()), base_seconds=base_seconds)
        for warning in config_warnings(cfg.risk, list(self.futures.values()), base_seconds):
            log.warning("%s", warning)
        self.replay = None if step_every_candle else ReplayShockFeed(guard, data, self.futures)
        shock_feed = CandleShockFeed(guard, data, self.futures) if self.replay is None else self.replay
        self.market = BacktestMarket(data, self.futures, ClockNs(self.clock), cfg.backtest.funding_rate_hourly_pct)
        self.loop = LiveTrading(
            cfg, clock=self.clock, market=self.market,
            signals=self.signals, exchange=self.paper, journal=self.journal, instruments=self.instruments,
            symbol_map=self.futures, market_listeners=[self._listen], instance_id=BACKTEST_INSTANCE_ID,
            persist_snapshots=False, guard=guard, shock_feed=shock_feed)
        self._view = data.mark_view()  # the recorded mark where the data has one, else the spot candles
        # Stop and liquidation wakes look at fresh candles only (views of the data when nothing is carried).
        self._lows, self._highs = self._view.fresh("low"), self._view.fresh("high")
        self._carried_close = self._view.close  # ``_listen``'s candle closes too: the same array
        # every candle present (``fresh`` gave the arrays themselves): no row's carried flags need reading
        self._never_stale = [False] * len(self.futures) if self._lows is self._view.low else None
        self._row = -1
        self._walked = -1  # the newest row whose candles the paper exchange walked
        self._order = sorted(self.futures.values())  # futures symbols, the columns of the bar sides
        self._col_of = {fut: col for col, fut in enumerate(self._order)}
        self._spot_of = {fut: spot for spot, fut in self.futures.items()}
        tl = self.timeline
        every = len(tl.bar_index) == len(tl.times)  # every time a bar close: the times and rows themselves, no gathers
        bar_times = tl.times if every else tl.times[tl.bar_index]
        self._bar_times, self._bar_rows = bar_times, tl.row if every else tl.row[tl.bar_index]
        spots = [self._spot_of[f] for f in self._order]
        self._bar_sides, bar_scores = self.signals.sides_and_scores_at(bar_times, spots)
        stale_ns = duration_ns(timedelta(minutes=cfg.auction.stale_signal_minutes))
        self.idle = IdleBars(self._bar_sides, bar_times, stale_ns, scores=bar_scores,
                             max_positions=cfg.risk.max_positions, replace_margin=cfg.auction.replace_score_margin)
        self._column = {self.futures[s]: data.column(s) for s in self.futures}
        self._columns = np.fromiter(self._column.values(), dtype=np.int64, count=len(self._column))
        self._every_column = self._columns.tolist() == list(range(len(data.symbols)))  # every data column, in order
        self.wakes = 0
        self._carried_at: tuple[int, dict[str, float], list[float]] = (-1, {}, [])  # (row, its ``_carried``, closes)
        self._bounds: dict[bool, RangeBounds] = {}  # the fresh lows' (True) and highs' ``_extremes`` tables
        self._extremes_at: tuple[tuple[int, int, int, bool], tuple[float, float]] = ((-1, -1, -1, False), (0.0, 0.0))
        # (ts ns, equity, exposure, initial margin) arrays of the idle bars' equity rows (the journal holds the wakes')
        self._idle_equity: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def run(self) -> BacktestResult:
        """Replay the data; flatten what is open at the end; return the result. Python collects only its young
        generations meanwhile (``gc_scope``: the journal the run keeps grows the oldest one with every wake)."""
        tl = self.timeline
        i, n = 0, len(tl.times)
        with young_collections_only():
            with progress_bar(n, "backtest", enabled=self.progress) as bar:
                while i < n:
                    self.clock.set(from_ns(tl.times.item(i)))
                    self._row = tl.row.item(i)
                    self.loop.advance(self._carried(), slow=tl.is_bar.item(i))
                    self.wakes += 1
                    nxt = i + 1 if self.step else self._next_wake(i)
                    bar.advance(nxt - i)
                    i = nxt
            self.loop.flatten_all(OrderReason.END_OF_DATA)
            return self._result()

    def _carried(self) -> dict[str, float]:
        """Every symbol's latest recorded close at the current row. Live, each of these marks reached
        the loop and the paper exchange when it was fresh; a run that skipped those candles catches up
        here (no stop or liquidation level lay on their paths: the wake rules below guarantee it)."""
        if self._row < 0:
            return {}
        if self._carried_at[0] == self._row:  # the wake's own call, then its ``_listen``'s: one build per row
            return self._carried_at[1]
        row = self._carried_close[self._row]
        closes = (row if self._every_column else row[self._columns]).tolist()  # one conversion for the row
        carried = {fut: close for fut, close in zip(self._column, closes, strict=True) if close > 0}
        self._carried_at = (self._row, carried, closes)  # read-only to its callers (the loop copies what it keeps)
        return carried

    def _listen(self, marks: Mapping[str, float], funding: Mapping[str, float]) -> list[Fill]:
        """The paper exchange walks the current row's recorded candles (once per row; a symbol without
        a candle there only takes its carried close), at the candles' close time."""
        carried = {**self._carried(), **marks}
        if self._row < 0 or self._row == self._walked:
            return self.paper.update_market(carried, funding)
        self._walked, view, row = self._row, self._view, self._row
        cols = slice(None) if self._every_column else self._columns  # a view of the row, not a gather, when it can
        # one conversion per field for the row (Python floats, as float() of each element gives; the closes are
        # ``_carried``'s, the same array's); a fresh candle is one not carried with a close > 0 (NaN is not),
        # tested in Python: a row is a few columns
        ohlc = zip(view.open[row, cols].tolist(), view.high[row, cols].tolist(), view.low[row, cols].tolist(),
                   self._carried_at[2], strict=True)
        stale = self._never_stale if self._never_stale is not None else view.carried[row, cols].tolist()
        candles = {fut: candle for fut, candle, old in zip(self._column, ohlc, stale, strict=True)
                   if not old and candle[3] > 0}
        return self.paper.update_candles(candles, carried, funding)

    # -- event skipping -------------------------------------------------------------------------
    def _next_wake(self, i: int) -> int:
        tl = self.timeline
        n = len(tl.times)
        if i + 1 >= n:
            return n
        state = self.loop.wake_state()
        positions = self.paper.fetch_positions()
        first = tl.bars_through.item(i)  # the first signal bar after i
        busy = self._next_busy_bar(first, state)
        wake = tl.bar_index.item(busy) if busy < len(tl.bar_index) else n - 1
        busy_wake = wake
        now_ns = tl.times.item(i)
        if self.replay is not None:
            hit = self.replay.next_hit_us(now_ns // NS_PER_US)
            if hit is not None:
                wake = min(wake, int(tl.times.searchsorted(hit * NS_PER_US, side="left")))
        due: list[tuple[int, int]] = []
        payments: list[tuple[int, int, str, float]] = []
        if positions and state.shock_until is not None:  # a shock pause: exposure is checked at every candle
            wake = i + 1
        elif positions:  # funding falls due without a wake: settled below (``_funding_between``)
            r0, r1 = tl.row.item(i) + 1, tl.row.item(wake) + 1
            if r1 > r0:
                wake = min(wake, self._stop_wake(r0, r1))
            if not self.market.funding_free:  # else the hours pay nothing: the paper exchange passes them itself
                due = self._funding_boundaries(i, wake)
                payments = self._funding_between(due)
            if r1 > r0:
                outflow = sum(max(p, 0.0) for _, _, _, p in payments)  # at most what the window pays
                wake = min(wake, self._liquidation_wake(r0, r1, positions, outflow))
        wake = max(wake, i + 1)
        if due:
            due = [(j, b) for j, b in due if j < wake]
            payments = [pay for pay in payments if pay[0] < wake]
        # the idle bars [first, last) lie strictly between i and the wake (the busy bar's own wake: its index)
        last = busy if wake == busy_wake and busy < len(tl.bar_index) else tl.bars_through.item(wake - 1)
        self._catch_up_bars(first, last, positions, payments, wake_is_bar=tl.is_bar.item(wake))
        if due:  # the hours between the wakes are settled: the paper exchange pays from the next one on
            self.paper.settle_funding([(from_ns(b), sym, p) for _, b, sym, p in payments],
                                      from_ns(due[-1][1] + HOUR_NS))
        return wake

    def _funding_boundaries(self, i: int, wake: int) -> list[tuple[int, int]]:
        """(timeline index, boundary ns) of the hourly settlements the paper exchange would have paid at
        a wake strictly between ``i`` and ``wake``: each at the first timeline time at or after it."""
        nxt = self.paper.next_funding
        if nxt is None:
            return []
        times, out = self.timeline.times, list[tuple[int, int]]()
        b = to_ns(nxt)
        while True:
            j = int(times.searchsorted(b, side="left"))
            if j <= i:  # already due at i (the paper paid it there)
                b += HOUR_NS
                continue
            if j >= wake:
                return out
            out.append((j, b))
            b += HOUR_NS

    def _funding_between(self, due: list[tuple[int, int]]) -> list[tuple[int, int, str, float]]:
        """(timeline index, boundary ns, futures symbol, USD paid) of the funding that falls due at the
        boundaries ``due`` (``_funding_boundaries``), as the hourly wakes it replaces would have paid it.

        Convention (the paper exchange's, ``PaperExchange._accrue_funding``): the settlement at boundary
        H is paid at the first timeline time j >= H, on the position held, at the mark the paper exchange
        would hold there (the recorded close carried to row j, as ``_listen`` passes it) and the relative
        rate the loop's market step would pass (``funding_rate x mark / mark``, as Kraken quotes it: USD per
        contract per hour). The rate is recorded where the data has a funding series covering j
        (``RecordedFutures.funding_at``), else assumed (``backtest.funding_rate_hourly_pct``). Assumed: the
        ticker at j passes the loop's checks (a position is held, so its mark is fresh enough to price it).
        A zero rate pays nothing (and records no payment), as an update would."""
        out: list[tuple[int, int, str, float]] = []
        for j, b in due:
            row = int(self.timeline.row[j])
            now_ns = int(self.timeline.times[j])
            marks, rates = {}, {}
            for fut, col in self._column.items():
                mark = float(self._carried_close[row, col]) if row >= 0 else 0.0
                if mark > 0 and math.isfinite(mark):
                    marks[fut] = mark
                    rates[fut] = self.market.funding_rate(col, now_ns) * mark / mark
            out.extend((j, b, sym, p) for sym, p in self.paper.funding_due(marks, rates))
        return out

    def _next_busy_bar(self, k0: int, state: WakeState) -> int:
        """The first signal bar index >= ``k0`` whose auction can do anything (``IdleBars``), else the bar count."""
        held: dict[int, int] = {}
        newest: dict[int, int] = {}  # the held columns' newest signal times
        for fut, side in state.held.items():  # one pass over the held contracts (usually one or two)
            col = self._col_of[fut]
            held[col] = side.sign
            ts = state.newest_signal_ts.get(fut)
            if ts is not None:
                newest[col] = to_ns(ts)
        # the loss limits' refusals are known ahead only for a flat account: with a holding any bar may open
        return self.idle.next_busy(k0, held, newest, entries_from=k0 if held else self._entries_from(k0))

    def _entries_from(self, k0: int) -> int:
        """The first signal bar index >= ``k0`` whose auction the loss limits let open anything (``IdleBars.bars``:
        none), for a flat account: equity is then the cash and stays it until a trade, so the trading state at a
        later bar is the current marks' on the same UTC day (their peak and day start), and a fresh day start's on
        any later day (the auction's ``EquityMarks.update`` then ``assess`` at that bar)."""
        marks, bars = self.loop.auction_step.equity_marks, self.idle.bars
        if marks is None or k0 >= bars:
            return k0
        equity = self.paper.fetch_account().equity_usd
        times = self.idle.times

        def opens(k: int) -> bool:
            return marks.update(equity, from_ns(int(times[k]))).allows_entries(equity, self.cfg.risk)

        if opens(k0):
            return k0
        day = marks.day + timedelta(days=1)
        next_day = datetime(day.year, day.month, day.day, tzinfo=UTC)
        k = max(k0, int(times.searchsorted(to_ns(next_day), side="left")))
        return k if k < bars and opens(k) else bars

    def _catch_up_bars(self, lo: int, hi: int, positions: list[Position],
                       payments: list[tuple[int, int, str, float]], *, wake_is_bar: bool) -> None:
        """What the idle signal bars ``lo`` to ``hi - 1`` (bar indexes) would have done: record equity, move
        the loss-limit marks, and refresh held symbols' newest same-side signals (``LiveTrading.catch_up``).
        Equity counts the ``payments`` (``_funding_between``) due at or before each bar: the cash path is
        the running subtraction of them (``np.cumsum`` adds in order: the same floats as paying each hour).
        When the next wake is bar ``hi`` itself (``wake_is_bar``), a symbol with a signal there is left out:
        that wake's auction notes its own signal on it before anything reads the newest (``LiveTrading.catch_up``)."""
        if hi <= lo:
            return
        # numpy's cost is per call on these few dozen bars: slices (views) where the bars' rows are contiguous
        first, last = self._bar_rows.item(lo), self._bar_rows.item(hi - 1)
        span = slice(first, last + 1) if last - first == hi - lo - 1 else self._bar_rows[lo:hi]
        marks = {fut: self._carried_close[span, col] for fut, col in self._column.items()}
        cash = None
        if payments:
            steps = np.cumsum(np.array([self.paper.cash_usd, *(-p for *_, p in payments)], dtype=np.float64))
            idx = self.timeline.bar_index[lo:hi]
            cash = steps[np.searchsorted(np.array([j for j, *_ in payments]), idx, side="right")]
        equity, initial, exposure = self.paper.figures_at(marks, cash)
        if not isinstance(exposure, np.ndarray):  # nothing held: floats (the cash an array when it pays funding)
            equity, initial, exposure = (f if isinstance(f, np.ndarray) else np.full(hi - lo, f, dtype=np.float64)
                                         for f in (equity, initial, exposure))
        stamps = self._bar_times[lo:hi]  # int64 ns: datetimes only where a decision needs one
        self._idle_equity.append((stamps, equity, exposure, initial))
        signals = []
        for p in positions:
            col, sign = self._col_of[p.symbol], p.side.sign
            if wake_is_bar and self._bar_sides.item(hi, col):
                continue
            sides = self._bar_sides[lo:hi, col]
            newest = hi - lo - 1
            if sides.item(newest) != sign:  # usually the newest idle bar is on the held side: no scan
                same = np.flatnonzero(sides == sign)
                newest = int(same[-1]) if same.size else -1
            if newest >= 0:
                signal = self.signals.signal_of_ns(  # to the microsecond, as ``to_ns(from_ns(ns))``
                    self._spot_of[p.symbol], stamps.item(newest) // NS_PER_US * NS_PER_US)
                if signal is not None:
                    signals.append(signal)
        self.loop.catch_up(stamps, equity, signals)

    def _to_index(self, row: int) -> int:
        close_ns = int(self.data.ts[row]) + self._base_ns
        return int(self.timeline.times.searchsorted(close_ns, side="left"))

    def _extremes(self, r0: int, r1: int, col: int, below: bool) -> tuple[float, float]:
        """Bounds (lo, hi) of the fresh lows (``below``) or highs of data column ``col`` over rows [r0, r1)
        (``r0 < r1``): every one that is not NaN lies in [lo, hi] (``RangeBounds``: perhaps wider than the rows' own
        extremes; +inf, -inf where none is). Each field's table is built when first asked (the candles never change)."""
        key = (r0, r1, col, below)
        if self._extremes_at[0] == key:  # the stop wake's question, asked again by the liquidation wake
            return self._extremes_at[1]
        table = self._bounds.get(below)
        if table is None:
            table = self._bounds[below] = RangeBounds(self._lows if below else self._highs)
        found = table.bounds(r0, r1, col)
        self._extremes_at = (key, found)
        return found

    def _stop_wake(self, r0: int, r1: int) -> int:
        """Index of the first candle in rows [r0, r1) whose low (high) reaches a resting sell (buy) stop, else
        the end; a stop beyond the bounds of the stretch's candles (``_extremes``) is not scanned for."""
        wake = len(self.timeline.times)
        for order in self.paper.fetch_open_orders():
            if order.order_type is not _STOP or order.stop_price is None:
                continue
            below = order.side is _SELL  # a sell stop is reached by a candle's low, a buy stop by its high
            col, level = self._column[order.symbol], float(order.stop_price)
            low, high = self._extremes(r0, r1, col, below)
            if not (low <= level if below else high >= level):  # NaN compares False, as in ``first_crossing``
                continue
            hit = first_crossing((self._lows if below else self._highs)[r0:r1, col], level, below=below)
            if hit is not None:
                wake = min(wake, self._to_index(r0 + hit))
        return wake

    def _liquidation_wake(self, r0: int, r1: int, positions: list[Position], outflow: float = 0.0) -> int:
        """Equity falls below maintenance only after some mark moves against its position by more than
        (equity - maintenance) / sum(notional x (1 + maintenance rate)): wake at the first candle whose
        adverse extreme (a long's low, a short's high) comes near that. ``outflow`` (USD, funding the
        window may pay) is taken off the equity first."""
        account = self.paper.fetch_account()
        exposure: float = 0  # summed from 0 in position order, as ``sum`` would
        for p in positions:
            notional = p.notional_usd
            exposure += notional * (1 + self.instruments[p.symbol].maintenance_margin_rate(notional))
        room = ((account.equity_usd - outflow - account.maintenance_margin_usd) / exposure if exposure > 0
                else math.inf)
        safe = (0.0 if room < 0.0 else room) * LIQUIDATION_SAFETY  # ``max(room, 0.0)``, NaN kept, at a tenth the cost
        wake = len(self.timeline.times)
        for p in positions:
            ref = self.paper.mark(p.symbol)
            if ref is None:
                continue
            col, below = self._column[p.symbol], p.side is _LONG
            values = self._lows if below else self._highs
            if 0 < ref < math.inf:  # NaN in the window divides and compares False without a warning
                # x / ref - 1 rounds monotonically in x, so its magnitude over the candles is at most its magnitude
                # at their bounds (``_extremes``): none moved far enough when neither bound did
                low, high = self._extremes(r0, r1, col, below)
                if not (abs(low / ref - 1.0) >= safe or abs(high / ref - 1.0) >= safe):
                    continue
                moved = np.abs(values[r0:r1, col] / ref - 1.0) >= safe
            else:  # never expected (the paper exchange keeps positive marks): the same figures, quietly
                with np.errstate(invalid="ignore"):
                    moved = np.abs(values[r0:r1, col] / ref - 1.0) >= safe
            first = int(np.argmax(moved)) if moved.size else 0  # one pass: argmax, then is it a hit
            if moved.size and moved.item(first):
                wake = min(wake, self._to_index(r0 + first))
        return wake

    # -- result ---------------------------------------------------------------------------------
    def _equity_table(self, rows: list[tuple[datetime, float, float, float]], wake_us: np.ndarray) -> pd.DataFrame:
        """EQUITY_COLUMNS of the wakes' ``rows`` (the journal's, then the final account's; ``wake_us``: their
        times in epoch microseconds) and the idle bars' (kept as arrays), merged by time, a wake's row before an
        idle bar's at the same time, as a stable sort of the concatenated tables by ``ts`` would. Both are in time
        order (the simulated clock never goes back), so the merge places the few wake rows by binary search among
        the idle ones, and the columns are written once, into the one float block the table keeps."""
        # columns: pandas infers each as it would from the rows (a comprehension per column: ``zip(*rows)``
        # would make an iterator per row, tens of thousands for the GC to count)
        names = ("equity_usd", "exposure_usd", "margin_used_usd")
        values = [[row[k] for row in rows] for k in range(1, len(names) + 1)]
        if not self._idle_equity:
            return pd.DataFrame({"ts": us_column(wake_us), **dict(zip(names, values, strict=True))})
        idle_us = np.concatenate([b[0] for b in self._idle_equity]) // NS_PER_US  # ns -> the column's us
        n = len(wake_us) + len(idle_us)
        wake_at = np.arange(len(wake_us)) + np.searchsorted(idle_us, wake_us, side="left")  # idle rows before each
        idle = np.ones(n, dtype=bool)
        idle[wake_at] = False
        idle_at = np.flatnonzero(idle)
        stamps = np.empty(n, dtype=np.int64)
        stamps[wake_at], stamps[idle_at] = wake_us, idle_us
        block = np.empty((len(names), n), dtype=np.float64)  # (columns x rows): the layout of a pandas float block
        for k, column in enumerate(values):
            block[k, wake_at] = np.array(column, dtype=np.float64)
            block[k, idle_at] = np.concatenate([b[k + 1] for b in self._idle_equity])
        table = pd.DataFrame(block.T, columns=list(names), copy=False)  # the block itself, not a copy of it
        table.insert(0, "ts", us_column(stamps))
        return table

    def _result(self) -> BacktestResult:
        """The result after the end-of-data flatten: a last equity row records the account after every
        close, so the summary's final equity is what the trades leave (their PnL sums to its change)."""
        final = self.paper.fetch_account()
        left = sum(p.notional_usd for p in self.paper.fetch_positions())  # 0 unless a close failed
        rows = [*self.journal.equity, (final.ts, final.equity_usd, left, final.initial_margin_usd)]
        wake_stamps = [row[0] for row in rows]  # one clock reading per wake: fills and events happen at them
        wake_us = epoch_us(wake_stamps)
        stamps_us = dict(zip(wake_stamps, wake_us.tolist(), strict=True))
        reasons = {i.client_order_id: i.reason for i in self.journal.intents}
        trades = build_trades(self.journal.fills, reasons, self.instruments, self.paper.funding_payments, stamps_us)
        journal_events = self.journal.events
        if journal_events:  # built by columns: no datetime objects for pandas to parse
            events = pd.DataFrame({"ts": utc_column((e.ts for e in journal_events), stamps_us),
                                   "kind": [e.kind for e in journal_events],
                                   "symbol": ["" if e.symbol == "*" else e.symbol for e in journal_events],
                                   "detail": [e.detail for e in journal_events]}, columns=list(EVENT_COLUMNS))
        else:
            events = empty_events()
            events["ts"] = pd.to_datetime(events["ts"], utc=True)
        equity = self._equity_table(rows, wake_us)
        signal_data = self.data.resample(self.cfg.strategy.timeframe)
        prices = _price_table(signal_data)
        strategy = self.signals.strategy
        warmup_end = from_ns(int(self.data.ts[0])) + strategy.warmup_bars * strategy.bar_duration
        end = from_ns(int(self.timeline.times[-1]))
        kinds = [e.kind for e in journal_events]
        return BacktestResult(
            start=from_ns(int(self.data.ts[0])), end=end,
            symbols=tuple(self.data.symbols), candles=int(self.data.present.sum()), trades=trades, equity=equity,
            events=events, prices=prices, fees_usd=self.paper.fees_paid_usd, funding_usd=self.paper.funding_paid_usd,
            liquidations=self.paper.liquidations, insurance_deficit_usd=self.paper.insurance_fund_usd,
            shock_events=sum(kind in DETECTION_KINDS for kind in kinds),
            shock_trims=kinds.count(EventKind.SHOCK_TRIM), shock_closes=kinds.count(EventKind.SHOCK_CLOSE),
            config_hash=config_hash(self.cfg), initial_equity_usd=self.cfg.backtest.initial_equity_usd,
            futures_symbols=dict(self.futures), warmup_bars=strategy.warmup_bars, warmup_end=min(warmup_end, end),
            series_sources=series_sources(self.data.futures, tuple(perpetual_for(s) for s in self.data.symbols),
                                          start_ns=int(self.data.ts[0]), end_ns=int(self.timeline.times[-1]),
                                          assumed_funding=self.cfg.backtest.funding_rate_hourly_pct))

def _price_table(bars: MarketData) -> pd.DataFrame:
    """(ts UTC, symbol, close) of every complete bar, symbol by symbol in the data's order, oldest first
    (``MarketData.frame`` of each symbol, stacked): built from the arrays in one pass."""
    complete = bars.complete.T  # symbol-major: each symbol's bars together, in time order
    counts = complete.sum(axis=1)
    rows = np.broadcast_to(bars.ts, complete.shape)[complete]
    frame = pd.DataFrame({"ts": pd.to_datetime(rows.view("datetime64[ns]"), utc=True),  # typed: no per-value parse
                          "symbol": _symbol_column(bars.symbols, counts),
                          "close": bars.close.T[complete]})
    return frame


def _symbol_column(symbols: tuple[str, ...], counts: np.ndarray) -> Any:
    """``symbols[k]`` repeated ``counts[k]`` times, as the column pandas infers from those strings. Where that is
    pyarrow-backed (pandas' default ``str``), its buffers are written directly (the UTF-8 bytes of each symbol
    repeated, and the row offsets): no Python string per row to convert, no per-row copy."""
    target = pd.Series(np.array(symbols, dtype=object)).dtype
    rows = int(counts.sum())
    if isinstance(target, pd.StringDtype) and target.storage == "pyarrow" and rows:  # no rows: object
        import pyarrow as pa

        encoded = [symbol.encode("utf-8") for symbol in symbols]
        data = b"".join(text * int(count) for text, count in zip(encoded, counts, strict=True))
        offsets = np.zeros(rows + 1, dtype=np.int64)  # large_string: int64 offsets, row k is data[off[k]:off[k+1]]
        np.cumsum(np.repeat(np.array([len(text) for text in encoded], dtype=np.int64), counts), out=offsets[1:])
        strings = pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data))
        return pd.array(strings, dtype=target)
    return np.repeat(np.array(symbols, dtype=object), counts)


def run_backtest(cfg: AppConfig, data: MarketData, *, start: datetime | None = None, step_every_candle: bool = False,
                 progress: bool = True) -> BacktestResult:
    """Run one backtest (see the module docstring); candles before ``start`` (UTC) only warm the strategy up.
    Raises ``ConfigError`` on a timeframe mismatch or an empty window."""
    return Backtest(cfg, data, start=start, step_every_candle=step_every_candle, progress=progress).run()

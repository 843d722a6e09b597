"""Recorded data behind the loop's ports: tickers, signals and shock detections on a simulated clock.

Each port answers only from candles *closed* at the clock's now: a base candle that opened at
``ts`` is known from ``ts + base`` on. Nothing later ever leaks into a decision.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping
from datetime import datetime

import numpy as np

from krakenbot.backtest.market_data import MarketData, timeframe_ns
from krakenbot.domain import Clock, Side, Signal, Ticker
from krakenbot.domain.frozen import new
from krakenbot.domain.timeconv import NS_PER_US, duration_ns, from_ns, from_us, to_ns, to_us
from krakenbot.risk.shock_detect import ShockDetected, reaches, scan_magnitudes
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy

_LONG, _SHORT = Side.LONG, Side.SHORT  # read once: on Python 3.11 an Enum's class attribute costs about a call
CHUNK_CELLS = 1_000_000  # rows x symbols of (T x S x 3) magnitudes computed at once: bounds the scan's memory (~150 MB)


def latest_at_or_before(values: np.ndarray) -> Callable[[int], int]:
    """A search over increasing int64 ``values`` (candle or bar close times, ns): for a Python int ``x``, the
    index of the last value <= ``x`` (-1: none), as ``int(values.searchsorted(x, side="right")) - 1``.

    Recorded candles and resampled bars are usually an even grid (one step between every two values):
    checked once here, the answer is then arithmetic (a plain function: a call costs a third of numpy's);
    any other spacing takes numpy's binary search."""
    steps = np.diff(values)
    if not (len(values) > 1 and steps[0] > 0 and bool((steps == steps[0]).all())):
        return lambda x: int(values.searchsorted(x, side="right")) - 1
    first, step, last_index = int(values[0]), int(steps[0]), len(values) - 1

    def on_grid(x: int) -> int:
        if x < first:
            return -1
        i = (x - first) // step
        return i if i < last_index else last_index

    return on_grid


class BacktestMarket:
    """Futures tickers from recorded candles at the latest closed candle: mark = last = the recorded mark's
    close where the data has a mark series for the contract (``MarketData.futures``), index = the spot close;
    without one, mark = index = last = the spot close.

    A symbol whose latest candle is missing carries its previous close with that candle's time,
    so the loop sees it as stale (as Kraken's quiet markets are). Funding is quoted Kraken's way, USD
    per contract per hour = relative rate x mark: the recorded hourly rate where a funding series covers
    now (``RecordedFutures.funding_at``), else ``funding_rate_hourly_pct`` (a fraction per hour).
    """

    def __init__(self, data: MarketData, futures: Mapping[str, str], clock_ns: ClockNs,
                 funding_rate_hourly_pct: float) -> None:
        self._view = data.mark_view()
        self._recorded = data.futures
        self._row_at = latest_at_or_before(data.ts + timeframe_ns(data.base_timeframe))  # the newest closed candle
        self._base_ns = timeframe_ns(data.base_timeframe)
        self._futs = [futures[spot] for spot in data.symbols]
        self._clock_ns = clock_ns
        self._funding = funding_rate_hourly_pct
        # Columns whose funding can change without a new candle (a recorded series): asked at every call.
        # Python lists: a wake compares a handful of columns, where numpy's per-call cost dominates.
        self._timed = [self._recorded is not None and self._recorded.funding_ts[col] is not None
                       for col in range(len(self._futs))]
        # No funding ever falls due: nothing recorded and a zero assumed rate (every ticker quotes 0 USD/hour).
        self.funding_free = funding_rate_hourly_pct == 0.0 and not any(self._timed)
        self._source = [-2] * len(self._futs)  # source candle (ns) of each column's ticker
        self._tickers: dict[str, Ticker] = {}

    def futures_tickers(self) -> Mapping[str, Ticker]:
        """The tickers at now; only the columns whose source candle changed (or whose funding is recorded)
        since the previous call are rebuilt, the others are the same ``Ticker`` objects as before."""
        now, now_ns = self._clock_ns.reading()
        row = self._row_at(now_ns)
        if row < 0:
            return {}
        view = self._view
        source = view.source_ts[row].tolist()
        changed = [col for col, (src, seen, timed) in enumerate(zip(source, self._source, self._timed, strict=True))
                   if src != seen or timed]
        if changed:
            if len(changed) == len(self._futs):  # every column: one conversion per field
                marks, indexes = view.close[row].tolist(), view.index[row].tolist()
            else:  # ``item`` gives the Python floats ``tolist`` gives
                marks = [view.close.item(row, col) for col in changed]
                indexes = [view.index.item(row, col) for col in changed]
            stamps = {now_ns: now}  # candle close (ns) -> its datetime: a fresh candle closed at the clock's now
            for col, mark, index in zip(changed, marks, indexes, strict=True):
                src = self._source[col] = source[col]
                fut = self._futs[col]
                if not mark > 0:
                    self._tickers.pop(fut, None)
                    continue
                close_ns = src + self._base_ns
                ts = stamps.get(close_ns)
                if ts is None:
                    ts = stamps[close_ns] = from_ns(close_ns)
                ticker = self._tickers[fut] = new(Ticker)  # ``domain.frozen``: the same ``__init__``, no keyword dict
                Ticker.__init__(ticker, symbol=fut, ts=ts, last=mark, mark=mark, index=index if index > 0 else None,
                                funding_rate=self.funding_rate(col, now_ns) * mark)
        return dict(self._tickers)

    def funding_rate(self, col: int, now_ns: int) -> float:
        """The relative hourly funding rate of data column ``col`` at ``now_ns``: recorded, else assumed."""
        recorded = None if self._recorded is None else self._recorded.funding_at(col, now_ns)
        return self._funding if recorded is None else recorded


class ClockNs:
    """The simulated clock's now with its integer nanoseconds (cheap to compare in hot paths)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def reading(self) -> tuple[datetime, int]:
        """The clock's now and its nanoseconds since the epoch (a candle that closed now is stamped with that
        datetime itself: no second one built)."""
        now = self._clock.now()
        return now, to_ns(now)


class PrecomputedSignals:
    """The strategy computed once over the whole history; each call reads the bar closed at now.

    Identical to computing on a recent window live (the strategy's warm-up contract, tested in
    ``tests/strategy``), at a fraction of the cost. Which bars carry a signal (``Strategy.signal_at``'s
    rules: a side, a finite score, a stop distance in (0, 1), past the warm-up) is decided once, as
    arrays; a call finds each symbol's newest closed bar in its int64 close times (``latest_at_or_before``;
    once for all symbols when they share the bar grid) and builds a ``Signal`` only when that bar
    changed since the previous call. A strategy that overrides ``last_closed_index`` or ``signal_at``
    is read through its own methods.
    """

    def __init__(self, strategy: Strategy, signal_data: MarketData) -> None:  # type: ignore[type-arg]
        self.strategy = strategy
        self._series: list[tuple[CandleArrays, SignalArrays]] = []
        ts = signal_data.ts.view("datetime64[ns]")  # the same int64 nanoseconds, read-only, no copy
        for symbol in sorted(signal_data.symbols):  # signals() answers sorted by symbol
            col = signal_data.column(symbol)
            complete = signal_data.complete[:, col]  # the bars ``signal_data.frame(symbol)`` holds
            # every bar complete: read-only views (CandleArrays keeps them: no copies), no masked gathers of every bar
            rows: slice | np.ndarray = slice(None) if complete.all() else complete
            arrays = CandleArrays(symbol=symbol, ts=ts[rows], **{f: getattr(signal_data, f)[rows, col]
                                                                  for f in ("open", "high", "low", "close", "volume")})
            if len(arrays):
                self._series.append((arrays, strategy.compute(arrays)))
        cls = type(strategy)
        self._generic = (cls.last_closed_index is not Strategy.last_closed_index
                         or cls.signal_at is not Strategy.signal_at)
        bar_ns = duration_ns(strategy.bar_duration)
        self._close_ns = [arrays.ts.view(np.int64) + bar_ns for arrays, _ in self._series]
        self._last_closed = [latest_at_or_before(c) for c in self._close_ns]  # each series' newest bar closed at a time
        self._has_signal = [_has_signal(computed, strategy.warmup_bars) for _, computed in self._series]
        self._index = {arrays.symbol: k for k, (arrays, _) in enumerate(self._series)}
        first = self._close_ns[0] if self._close_ns else None
        self._shared = first is not None and all(np.array_equal(first, c) for c in self._close_ns[1:])
        self._last: list[tuple[int, Signal | None]] = [(-1, None)] * len(self._series)
        # the newest built bar close (ns) and its datetime, shared by the symbols' signals of that bar (one entry:
        # signals are built bar after bar, so a map of every bar seen would only grow with the run)
        self._stamp: tuple[int, datetime] | None = None

    def sides_at(self, times_ns: np.ndarray, symbols: list[str]) -> np.ndarray:
        """(len(times) x len(symbols)) int8: the side (+1, -1, or 0 for none) ``signals`` would give
        for each symbol at each time. Lets the engine see, without calling the loop, which signal
        bars can change anything."""
        return self.sides_and_scores_at(times_ns, symbols)[0]

    def scores_at(self, times_ns: np.ndarray, symbols: list[str]) -> np.ndarray:
        """(len(times) x len(symbols)) float64: the score of the signal ``signals`` would give for each symbol
        at each time, NaN where it gives none (``sides_at``'s 0)."""
        return self.sides_and_scores_at(times_ns, symbols)[1]

    def sides_and_scores_at(self, times_ns: np.ndarray, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """``sides_at`` and ``scores_at`` together: one binary search of the times per series for both (none when
        the times are the series' own bar closes, the usual case: each bar then answers for itself)."""
        sides = np.zeros((len(times_ns), len(symbols)), dtype=np.int8)
        scores = np.full((len(times_ns), len(symbols)), np.nan)
        for k, (arrays, computed) in enumerate(self._series):
            if arrays.symbol not in symbols:
                continue
            bars: slice | np.ndarray = slice(None)  # the bar closed at each time
            valid = self._has_signal[k]
            if not np.array_equal(self._close_ns[k], times_ns):
                last = np.searchsorted(self._close_ns[k], times_ns, side="right") - 1
                bars = np.maximum(last, 0)
                valid = (last >= 0) & valid[bars]
            col = symbols.index(arrays.symbol)
            np.copyto(sides[:, col], np.sign(computed.side[bars]), where=valid)
            np.copyto(scores[:, col], computed.score[bars], where=valid)
        return sides, scores

    def signal_of(self, symbol: str, now: datetime) -> Signal | None:
        """What ``signals(now)`` says for ``symbol`` alone."""
        return self.signal_of_ns(symbol, to_ns(now), now)

    def signal_of_ns(self, symbol: str, now_ns: int, now: datetime | None = None) -> Signal | None:
        """``signal_of`` at ``now_ns`` (UTC nanoseconds; ``now`` its datetime when the caller has one): the
        datetime is built only for a strategy read through its own methods (a backtest's idle-bar catch-up)."""
        k = self._index.get(symbol)
        if k is None:
            return None
        last = self._last_closed[k](now_ns)
        if now is None and self._generic:
            now = from_ns(now_ns)
        return self._signal(k, last, now, now_ns)

    def signals(self, now: datetime, marks: Mapping[str, float] | None = None) -> list[Signal]:
        if not self._series:
            return []
        now_ns = to_ns(now)
        shared = self._last_closed[0](now_ns) if self._shared else None  # the bar every series closed last
        found = []  # a loop, not comprehensions: each would cost a function object and a frame per call
        for k, last_closed in enumerate(self._last_closed):
            signal = self._signal(k, last_closed(now_ns) if shared is None else shared, now, now_ns)
            if signal is not None:
                found.append(signal)
        return found

    def _signal(self, k: int, last: int, now: datetime | None, now_ns: int) -> Signal | None:
        """Series ``k``'s signal of bar ``last`` (its newest closed at ``now``, ``now_ns`` UTC nanoseconds),
        built once per bar. ``now`` may be None unless the strategy is read through its own methods."""
        arrays, computed = self._series[k]
        if self._generic:
            assert now is not None  # ``signal_of_ns`` builds it for such a strategy
            last = self.strategy.last_closed_index(arrays, now)
            ok = last + 1 >= self.strategy.warmup_bars
            return self.strategy.signal_at(arrays, computed, last) if ok else None
        seen, signal = self._last[k]
        if last != seen:
            signal = self._build(k, last, now, now_ns) if last >= 0 and self._has_signal[k][last] else None
            self._last[k] = (last, signal)
        return signal

    def _build(self, k: int, i: int, now: datetime | None, now_ns: int) -> Signal:
        """``Strategy.signal_at(arrays, computed, i)`` for a bar known to carry a signal, read straight
        from the arrays (the same values: ``.item`` gives the Python floats ``float()`` gives). One bar's
        fields at a time: the backtest reads bars tens apart, so converting blocks of them costs more.
        A bar that closed at ``now`` (``now_ns``; the usual slow tick) is stamped with ``now`` itself."""
        arrays, computed = self._series[k]
        side, score, close = computed.side.item(i), computed.score.item(i), arrays.close.item(i)
        stop, take_profit, close_ns = (computed.stop_distance_pct.item(i), computed.take_profit.item(i),
                                       self._close_ns[k].item(i))
        stamp = self._stamp
        if stamp is None or stamp[0] != close_ns:
            stamp = self._stamp = (close_ns, now if now is not None and close_ns == now_ns else from_ns(close_ns))
        ts = stamp[1]
        signal = new(Signal)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        Signal.__init__(signal, symbol=arrays.symbol, side=_LONG if side > 0 else _SHORT,
                        score=score, ref_price=close, stop_distance_pct=stop, ts=ts,
                        take_profit=take_profit if math.isfinite(take_profit) and take_profit > 0 else None,
                        strategy=self.strategy.name)
        return signal


def _has_signal(computed: SignalArrays, warmup_bars: int) -> np.ndarray:
    """Per bar: ``Strategy.signal_at`` gives a Signal there (side, finite score, stop in (0, 1)), past the warm-up."""
    stop = computed.stop_distance_pct
    with np.errstate(invalid="ignore"):
        ok: np.ndarray = ((computed.side != 0) & np.isfinite(computed.score) & np.isfinite(stop)
                          & (stop > 0) & (stop < 1))
    ok[: max(warmup_bars - 1, 0)] = False
    return ok


class CandleShocks:
    """The guard's inputs from base candles, one tick per candle close: mark = close, and the candle's
    high and low for the range detector (NaN where the candle is missing). Columns follow the guard's
    symbol order (the data's futures, sorted). Where the data has a recorded mark series, marks, highs and
    lows are the mark candles' and ``reference`` (the basis detector's index) comes from the spot candles
    (``candle_basis_reference``); None (no basis) when no mark was recorded."""

    def __init__(self, guard: ShockGuard, data: MarketData, futures: Mapping[str, str]) -> None:
        columns = [data.column(spot) for spot in sorted(futures, key=lambda s: futures[s])]
        order = [futures[data.symbols[c]] for c in columns]
        if tuple(order) != guard.symbols[: len(order)]:
            raise ValueError(f"guard symbols {guard.symbols} do not start with the data's futures {order}")
        self.ts_us: np.ndarray = (data.ts + timeframe_ns(data.base_timeframe)) // NS_PER_US
        present, fields = data.present, {f: getattr(data, f) for f in ("close", "high", "low")}
        self.reference: np.ndarray | None = None
        if data.futures is not None and data.futures.has_mark.any():
            present, fields = data.futures.mark_source(present, fields)
        self.marks, self.high, self.low = (_present_only(fields[f], present, columns) for f in ("close", "high", "low"))
        if data.futures is not None and data.futures.has_mark.any():
            index = {f: np.where(data.present & data.futures.has_mark[None, :], getattr(data, f), np.nan)[:, columns]
                     for f in ("close", "high", "low")}
            self.reference = candle_basis_reference(self.marks, self.high, self.low, index)


def _present_only(values: np.ndarray, present: np.ndarray, columns: list[int]) -> np.ndarray:
    """``values[:, columns]`` with NaN where the candle is missing: the array itself (a view, no copy)
    when the columns are in order and every candle is present, so a year of 1m candles is not copied."""
    if columns == list(range(values.shape[1])):
        return values if bool(present.all()) else np.where(present, values, np.nan)
    return np.where(present[:, columns], values[:, columns], np.nan)


def candle_basis_reference(close: np.ndarray, high: np.ndarray, low: np.ndarray,
                           index: Mapping[str, np.ndarray]) -> np.ndarray:
    """The index price to hand the basis detector (|mark / reference - 1|) for whole mark and index candles.

    Within one period, |mark_low / index_low - 1| never exceeds the largest basis inside it (at the
    moment of the lower of the two lows the other price is at or above its own low), and the same holds
    for the highs; so the candle's basis is the largest of the close, low and high ratios: a proven lower
    bound of its intrabar basis. Returned as close / (1 + basis), with basis signed, so the detector's
    close / reference - 1 equals it; NaN where the candles are missing.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        signed = np.stack([close / index["close"] - 1.0, low / index["low"] - 1.0, high / index["high"] - 1.0])
    widest = np.argmax(np.where(np.isnan(signed), -1.0, np.abs(signed)), axis=0)
    basis = np.take_along_axis(signed, widest[None], axis=0)[0]
    return np.asarray(close / (1.0 + basis))


class CandleShockFeed:
    """Detection fed candle by candle into the guard (the reference the replay must equal): at each
    wake, every base candle closed since the last one is fed with its close, high and low."""

    def __init__(self, guard: ShockGuard, data: MarketData, futures: Mapping[str, str]) -> None:
        self._candles = CandleShocks(guard, data, futures)
        self._next = 0

    def detect(self, guard: ShockGuard, now: datetime, marks: Mapping[str, float],
               reference: Mapping[str, float]) -> list[ShockDetected]:
        c = self._candles
        now_us = to_us(now)
        events: list[ShockDetected] = []
        pad = len(guard.symbols) - c.marks.shape[1]
        while self._next < len(c.ts_us) and c.ts_us[self._next] <= now_us:
            row = self._next
            mark, high, low = (np.pad(a[row], (0, pad), constant_values=np.nan) for a in (c.marks, c.high, c.low))
            ref = None if c.reference is None else np.pad(c.reference[row], (0, pad), constant_values=np.nan)
            events += guard.update_mark_arrays(from_us(int(c.ts_us[row])), mark, ref, high=high, low=low)
            self._next += 1
        guard.observe_marks(now, marks)
        return events


class ReplayShockFeed:
    """Shock detection precomputed over the whole history and replayed into the loop's guard.

    Magnitudes come from the same vectorised scan that ``ShockGuard.scan_history`` uses (proven
    equal to tick-by-tick feeding), on the candles' closes, highs and lows (and the basis to the index
    where a mark series was recorded, ``CandleShocks``); only ticks that reach a
    threshold are kept and gated by the guard itself, so pauses, episodes and market-wide counts
    match feeding every candle (``CandleShockFeed``).
    """

    def __init__(self, guard: ShockGuard, data: MarketData, futures: Mapping[str, str]) -> None:
        self._n_guard = len(guard.symbols)
        self._next = 0
        # the hits' times (µs, increasing): a Python list, searched with ``bisect`` at every wake (few hits;
        # numpy's per-call cost would be most of a search)
        self._hit_ts: list[int] = []
        self._hit_mags: list[np.ndarray] = []
        if not guard.cfg.shock_guard_enabled:  # ``detect`` answers nothing: no scan, and no shock wakes the loop
            return
        candles = CandleShocks(guard, data, futures)
        marks, high, low, ts_us, ref = candles.marks, candles.high, candles.low, candles.ts_us, candles.reference
        thresholds = guard.params.thresholds
        lookback = guard.params.lookback_us + guard.params.tolerance_us + 1
        hit_ts: list[int] = []
        hit_mags: list[np.ndarray] = []
        # Without a basis reference, and with ticks no closer than the guard stores them, only the rows a
        # cheap bound cannot clear are scanned (``_shock_candidates``), with the history each one needs.
        bounded = ref is None and (len(ts_us) < 2 or int(np.diff(ts_us).min()) >= guard.params.min_tick_us)
        limit = float(min(guard.params.move_pct, guard.params.range_pct))
        start, chunk_rows = 0, max(1_000, CHUNK_CELLS // max(marks.shape[1], 1))
        while start < len(ts_us):
            stop = min(start + chunk_rows, len(ts_us))
            lead = int(ts_us.searchsorted(ts_us[start] - lookback, side="left"))  # history the chunk needs
            if bounded:
                rows = _shock_candidates(ts_us[lead:stop], marks[lead:stop], high[lead:stop], low[lead:stop],
                                         lookback, limit)
                keep = rows[rows >= start - lead]  # the chunk's own candidate rows (the lead is history)
                if not keep.size:
                    start = stop
                    continue
                needed = _with_history(ts_us[lead:stop], keep, lookback)
                mags = scan_magnitudes(guard.params, ts_us[lead:stop][needed], marks[lead:stop][needed], None,
                                       high=high[lead:stop][needed], low=low[lead:stop][needed])
                mags = mags[np.isin(needed, keep)]
                hit = np.flatnonzero(reaches(mags, thresholds[None, None, :]).any(axis=(1, 2)))
                hit_ts.extend(int(ts_us[lead + r]) for r in keep[hit])
            else:
                mags = scan_magnitudes(guard.params, ts_us[lead:stop], marks[lead:stop],
                                       None if ref is None else ref[lead:stop], high=high[lead:stop],
                                       low=low[lead:stop])[start - lead:]
                hit = np.flatnonzero(reaches(mags, thresholds[None, None, :]).any(axis=(1, 2)))
                hit_ts.extend(int(ts_us[start + r]) for r in hit)
            hit_mags.extend(mags[hit])  # a copy of the hit rows: a view would keep the whole chunk alive
            start = stop
        self._hit_ts = hit_ts
        self._hit_mags = hit_mags

    def next_hit_us(self, after_us: int) -> int | None:
        """Time (µs) of the first tick after ``after_us`` that reaches a threshold, if any."""
        i = bisect_right(self._hit_ts, after_us)
        return self._hit_ts[i] if i < len(self._hit_ts) else None

    def detect(self, guard: ShockGuard, now: datetime, marks: Mapping[str, float],
               reference: Mapping[str, float]) -> list[ShockDetected]:
        if not guard.cfg.shock_guard_enabled:  # a disabled guard detects nothing and its marks price nothing
            return []
        guard.observe_marks(now, marks)
        now_us = to_us(now)
        events: list[ShockDetected] = []
        hits = self._hit_ts
        while self._next < len(hits) and hits[self._next] <= now_us:
            mags = self._hit_mags[self._next]
            padded = np.full((len(guard.symbols), 3), np.nan)
            padded[: mags.shape[0]] = mags
            events += guard.apply_magnitudes(from_us(hits[self._next]), padded)
            self._next += 1
        return events


def _shock_candidates(ts_us: np.ndarray, marks: np.ndarray, high: np.ndarray, low: np.ndarray, lookback: int,
                      limit: float) -> np.ndarray:
    """Rows where a move or range magnitude could reach ``limit`` (the smaller threshold), increasing.

    Every price ``scan_magnitudes`` compares at row t (the mark, the move's baseline, the range's stored
    marks, the candle's high and low) comes from rows less than ``lookback`` µs before t, so each
    magnitude is at most hi / lo - 1 over those rows (hi: the largest high or mark, lo: the smallest low
    or mark); a row where that bound stays under half the limit for every symbol with a good mark cannot
    reach it, rounding included. The bound is a few vectorised passes (one per row of history).
    """
    n = len(ts_us)
    with np.errstate(invalid="ignore"):
        hi, lo = np.fmax(high, marks), np.fmin(low, marks)
    top, bottom = hi.copy(), lo.copy()
    # over the rows of history only (a few minutes), never over symbols: lag k is within the lookback for
    # some row until the closest pair k rows apart is not (times increase, so no larger lag is either)
    for k in range(1, n):
        within = (ts_us[k:] - ts_us[:-k] < lookback)[:, None]
        if not within.any():
            break
        if within.all():  # evenly spaced candles: every row takes row t - k, in place (no temporaries)
            np.fmax(top[k:], hi[:-k], out=top[k:])
            np.fmin(bottom[k:], lo[:-k], out=bottom[k:])
            continue
        top[k:] = np.where(within, np.fmax(top[k:], hi[:-k]), top[k:])
        bottom[k:] = np.where(within, np.fmin(bottom[k:], lo[:-k]), bottom[k:])
    with np.errstate(invalid="ignore", divide="ignore"):
        cleared = (bottom > 0) & (top / bottom - 1.0 < 0.5 * limit)
        possible = (np.isfinite(marks) & (marks > 0)) & ~cleared
    return np.flatnonzero(possible.any(axis=1))


def _with_history(ts_us: np.ndarray, rows: np.ndarray, lookback: int) -> np.ndarray:
    """``rows`` and every row less than ``lookback`` µs before one of them, increasing."""
    first = np.searchsorted(ts_us, ts_us[rows] - lookback + 1, side="left")
    need = np.zeros(len(ts_us) + 1, dtype=np.int64)
    np.add.at(need, first, 1)
    np.add.at(need, rows + 1, -1)
    return np.flatnonzero(np.cumsum(need[:-1]) > 0)


def first_crossing(values: np.ndarray, level: float, *, below: bool) -> int | None:
    """Index of the first finite value at or beyond ``level`` (<= when ``below``), or None (NaN compares False,
    without a warning: no ``np.errstate`` needed, whose cost is a few numpy calls' on a wake's short window)."""
    hit = values <= level if below else values >= level
    idx = int(np.argmax(hit)) if hit.size else 0
    return idx if hit.size and bool(hit[idx]) else None


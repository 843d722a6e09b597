"""Recorded data behind the loop's ports: tickers, signals and shock detections on a simulated clock.

Each port answers only from candles *closed* at the clock's now: a base candle that opened at
``ts`` is known from ``ts + base`` on. Nothing later ever leaks into a decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np

from krakenbot.backtest.market_data import MarketData, timeframe_ns
from krakenbot.domain import Signal, Ticker
from krakenbot.domain.timeconv import NS_PER_US, duration_ns, from_ns, from_us, to_ns, to_us
from krakenbot.risk.shock_detect import ShockDetected, reaches, scan_magnitudes
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy

CHUNK_ROWS = 100_000  # rows of (T x S x 3) magnitudes computed at once: bounds the scan's memory


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
        self._close_ns = data.ts + timeframe_ns(data.base_timeframe)
        self._base_ns = timeframe_ns(data.base_timeframe)
        self._columns = [(futures[spot], i) for i, spot in enumerate(data.symbols)]
        self._clock_ns = clock_ns
        self._funding = funding_rate_hourly_pct

    def futures_tickers(self) -> Mapping[str, Ticker]:
        now_ns = self._clock_ns()
        row = int(np.searchsorted(self._close_ns, now_ns, side="right")) - 1
        if row < 0:
            return {}
        out: dict[str, Ticker] = {}
        for fut, col in self._columns:
            mark = float(self._view.close[row, col])
            if not mark > 0:
                continue
            index = float(self._view.index[row, col])
            ts = from_ns(int(self._view.source_ts[row, col]) + self._base_ns)
            out[fut] = Ticker(symbol=fut, ts=ts, mark=mark, index=index if index > 0 else None, last=mark,
                              funding_rate=self.funding_rate(col, now_ns) * mark)
        return out

    def funding_rate(self, col: int, now_ns: int) -> float:
        """The relative hourly funding rate of data column ``col`` at ``now_ns``: recorded, else assumed."""
        recorded = None if self._recorded is None else self._recorded.funding_at(col, now_ns)
        return self._funding if recorded is None else recorded


class ClockNs:
    """The simulated clock's now as integer nanoseconds (cheap to read in hot paths)."""

    def __init__(self, clock: object) -> None:
        self._clock = clock

    def __call__(self) -> int:
        return to_ns(self._clock.now())  # type: ignore[attr-defined]


class PrecomputedSignals:
    """The strategy computed once over the whole history; each call reads the bar closed at now.

    Identical to computing on a recent window live (the strategy's warm-up contract, tested in
    ``tests/strategy``), at a fraction of the cost.
    """

    def __init__(self, strategy: Strategy, signal_data: MarketData) -> None:  # type: ignore[type-arg]
        self.strategy = strategy
        self._series: list[tuple[CandleArrays, SignalArrays]] = []
        for symbol in signal_data.symbols:
            arrays = CandleArrays.from_frame(symbol, signal_data.frame(symbol))
            if len(arrays):
                self._series.append((arrays, strategy.compute(arrays)))

    def sides_at(self, times_ns: np.ndarray, symbols: list[str]) -> np.ndarray:
        """(len(times) x len(symbols)) int8: the side (+1, -1, or 0 for none) ``signals`` would give
        for each symbol at each time. Lets the engine see, without calling the loop, which signal
        bars can change anything."""
        out = np.zeros((len(times_ns), len(symbols)), dtype=np.int8)
        bar_ns = duration_ns(self.strategy.bar_duration)
        for arrays, computed in self._series:
            if arrays.symbol not in symbols:
                continue
            ts = arrays.ts.astype(np.int64)
            last = np.searchsorted(ts, times_ns - bar_ns, side="right") - 1
            ok = last + 1 >= self.strategy.warmup_bars
            idx = np.maximum(last, 0)
            stop = computed.stop_distance_pct[idx]
            with np.errstate(invalid="ignore"):
                valid = ok & np.isfinite(computed.score[idx]) & np.isfinite(stop) & (stop > 0) & (stop < 1)
            out[:, symbols.index(arrays.symbol)] = np.where(valid, np.sign(computed.side[idx]), 0)
        return out

    def signal_of(self, symbol: str, now: datetime) -> Signal | None:
        """What ``signals(now)`` says for ``symbol`` alone."""
        for arrays, computed in self._series:
            if arrays.symbol == symbol:
                last = self.strategy.last_closed_index(arrays, now)
                if last + 1 >= self.strategy.warmup_bars:
                    return self.strategy.signal_at(arrays, computed, last)
        return None

    def signals(self, now: datetime, marks: Mapping[str, float] | None = None) -> list[Signal]:
        out = []
        for arrays, computed in self._series:
            last = self.strategy.last_closed_index(arrays, now)
            if last + 1 < self.strategy.warmup_bars:
                continue
            signal = self.strategy.signal_at(arrays, computed, last)
            if signal is not None:
                out.append(signal)
        return sorted(out, key=lambda s: s.symbol)


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
        self.marks, self.high, self.low = (np.where(present[:, columns], fields[f][:, columns], np.nan)
                                           for f in ("close", "high", "low"))
        if data.futures is not None and data.futures.has_mark.any():
            index = {f: np.where(data.present & data.futures.has_mark[None, :], getattr(data, f), np.nan)[:, columns]
                     for f in ("close", "high", "low")}
            self.reference = candle_basis_reference(self.marks, self.high, self.low, index)


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
        candles = CandleShocks(guard, data, futures)
        marks, high, low, ts_us, ref = candles.marks, candles.high, candles.low, candles.ts_us, candles.reference
        thresholds = guard.params.thresholds
        lookback = guard.params.lookback_us + guard.params.tolerance_us + 1
        hit_ts: list[int] = []
        hit_mags: list[np.ndarray] = []
        start = 0
        while start < len(ts_us):
            stop = min(start + CHUNK_ROWS, len(ts_us))
            lead = int(np.searchsorted(ts_us, ts_us[start] - lookback, side="left"))  # history the chunk needs
            mags = scan_magnitudes(guard.params, ts_us[lead:stop], marks[lead:stop],
                                   None if ref is None else ref[lead:stop], high=high[lead:stop],
                                   low=low[lead:stop])[start - lead:]
            rows = np.flatnonzero(reaches(mags, thresholds[None, None, :]).any(axis=(1, 2)))
            hit_ts.extend(int(ts_us[start + r]) for r in rows)
            hit_mags.extend(mags[r] for r in rows)
            start = stop
        self._hit_ts = np.array(hit_ts, dtype=np.int64)
        self._hit_mags = hit_mags
        self._n_guard = len(guard.symbols)
        self._next = 0

    def next_hit_us(self, after_us: int) -> int | None:
        """Time (µs) of the first tick after ``after_us`` that reaches a threshold, if any."""
        i = int(np.searchsorted(self._hit_ts, after_us, side="right"))
        return int(self._hit_ts[i]) if i < len(self._hit_ts) else None

    def detect(self, guard: ShockGuard, now: datetime, marks: Mapping[str, float],
               reference: Mapping[str, float]) -> list[ShockDetected]:
        guard.observe_marks(now, marks)
        now_us = to_us(now)
        events: list[ShockDetected] = []
        while self._next < len(self._hit_ts) and self._hit_ts[self._next] <= now_us:
            mags = self._hit_mags[self._next]
            padded = np.full((len(guard.symbols), 3), np.nan)
            padded[: mags.shape[0]] = mags
            events += guard.apply_magnitudes(from_us(int(self._hit_ts[self._next])), padded)
            self._next += 1
        return events


def first_crossing(values: np.ndarray, level: float, *, below: bool) -> int | None:
    """Index of the first finite value at or beyond ``level`` (<= when ``below``), or None."""
    with np.errstate(invalid="ignore"):
        hit = values <= level if below else values >= level
    idx = int(np.argmax(hit)) if hit.size else 0
    return idx if hit.size and bool(hit[idx]) else None


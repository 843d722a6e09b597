"""Recorded candles of many symbols aligned on one UTC time grid, as numpy arrays.

``MarketData`` is what the backtest engine replays. Layout (T timestamps x S symbols):

- ``ts``: int64 nanoseconds since the Unix epoch (UTC), strictly increasing: the union of every
  symbol's candle open times at ``base_timeframe``. A minute that no symbol traded is absent from
  the grid; a minute that only some symbols traded is present, with the others marked missing.
- ``open, high, low, close, volume``: float64 arrays of shape (T, S). A missing candle (no trade
  recorded, or the symbol's data has not started or has ended) is NaN in all five, and ``False``
  in the boolean ``present`` mask. Prices are never forward-filled: nothing is invented for trading.
- ``mark_view()`` gives the one deliberately carried view: the last recorded candle (open, high,
  low, close) carried over gaps, with a ``carried`` mask and the age of the value, for marking
  positions to market and walking the paper exchange's intrabar path only.

Arrays are read-only (``writeable=False``): the container is frozen through and through.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from krakenbot.backtest.futures_series import RecordedFutures
from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.domain.timeconv import NS_PER_SECOND, from_ns

NS_PER_MINUTE = 60 * NS_PER_SECOND
PRICE_FIELDS = ("open", "high", "low", "close", "volume")


def timeframe_ns(timeframe: str) -> int:
    """Length of a timeframe ('1m', '5m', '15m', '30m', '1h', '4h', '1d') in nanoseconds.

    Raises ValueError for any other string.
    """
    if timeframe not in TIMEFRAME_MINUTES:
        raise ValueError(f"unknown timeframe {timeframe!r}: use one of {', '.join(TIMEFRAME_MINUTES)}")
    return TIMEFRAME_MINUTES[timeframe] * NS_PER_MINUTE


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkView:
    """Last recorded candle per symbol, carried forward over missing candles (for marking only).

    ``close[t, s]`` is the close of the newest present candle at or before ``ts[t]`` (NaN before the
    symbol's first candle); ``open``, ``high`` and ``low`` are that same candle's (the intrabar mark
    path, ``exchange/intrabar.py``: walk a row only where it is not carried); ``carried[t, s]`` is
    True where the values are stale (no candle at ``ts[t]``); ``source_ts[t, s]`` is the open time
    (int64 ns) of the candle they came from (-1 where none), so staleness in time is
    ``ts[t] - source_ts[t, s]``. It feeds the paper exchange's mark path, never a strategy. Where the
    data has a recorded mark series (``MarketData.futures``) these come from it; ``index`` is then the
    spot close carried the same way (equal to ``close`` where no mark was recorded). Where every candle
    is present the arrays are the data's own (read-only views, no copies) and ``carried`` and
    ``source_ts`` are read-only broadcasts: index them, never write to them.
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    carried: np.ndarray
    source_ts: np.ndarray
    index: np.ndarray

    def fresh(self, name: str) -> np.ndarray:
        """``name`` ('open', 'high', 'low', 'close') where the candle is fresh (not carried), NaN elsewhere:
        what a stop or liquidation scan may look at. The array itself (no copy) when nothing is carried."""
        values: np.ndarray = getattr(self, name)
        if not self.carried.any():
            return values
        return _frozen(np.where(self.carried, np.nan, values))


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData:
    """Aligned candles of ``symbols`` (spot pairs such as 'BTC/USD') at ``base_timeframe``.

    ``complete[t, s]`` is False for a present bar built by :meth:`resample` that does not cover its
    whole period (see there); for candles as recorded it equals ``present``. ``futures``: recorded mark
    candles and funding of the symbols' contracts on the same grid (None: none recorded; see futures_series).
    """

    symbols: tuple[str, ...]
    base_timeframe: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    present: np.ndarray
    complete: np.ndarray
    futures: RecordedFutures | None = None
    # Derived data computed once per instance (``mark_view``, ``resample``): the arrays are frozen, so
    # the answers never change; the engine, its market feed and its result all ask for them.
    _derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        timeframe_ns(self.base_timeframe)
        n_ts, n_sym = len(self.ts), len(self.symbols)
        if len(set(self.symbols)) != n_sym:
            raise ValueError(f"MarketData: duplicated symbols in {self.symbols}")
        if self.ts.dtype != np.int64 or self.ts.ndim != 1:
            raise ValueError("MarketData.ts must be a 1-D int64 array of UTC nanoseconds")
        if n_ts > 1 and not bool(np.all(np.diff(self.ts) > 0)):
            raise ValueError("MarketData.ts must be strictly increasing")
        for name in (*PRICE_FIELDS, "present", "complete"):
            array = getattr(self, name)
            if array.shape != (n_ts, n_sym):
                raise ValueError(f"MarketData.{name} has shape {array.shape}, expected {(n_ts, n_sym)}")
            object.__setattr__(self, name, _frozen(array))
        object.__setattr__(self, "ts", _frozen(self.ts))
        if self.futures is not None and self.futures.present.shape != (n_ts, n_sym):
            raise ValueError(f"MarketData.futures has shape {self.futures.present.shape}, expected {(n_ts, n_sym)}")

    # --- views -------------------------------------------------------------------------------

    @property
    def ts_start(self) -> datetime:
        """Open time of the first candle on the grid (UTC)."""
        return from_ns(int(self.ts[0]))

    @property
    def ts_end(self) -> datetime:
        """Open time of the last candle on the grid (UTC)."""
        return from_ns(int(self.ts[-1]))

    def column(self, symbol: str) -> int:
        """Index of ``symbol`` in the arrays' second axis; raises KeyError naming the known symbols."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise KeyError(f"{symbol}: not in this MarketData (symbols: {', '.join(self.symbols)})") from None

    def frame(self, symbol: str, *, complete_only: bool = True) -> pd.DataFrame:
        """The present candles of one symbol as a candle frame (ts UTC, open, high, low, close, volume)."""
        col = self.column(symbol)
        mask = self.complete[:, col] if complete_only else self.present[:, col]
        frame = pd.DataFrame({name: getattr(self, name)[mask, col] for name in PRICE_FIELDS})
        frame.insert(0, "ts", pd.to_datetime(self.ts[mask], utc=True))
        return frame

    def mark_view(self) -> MarkView:
        """Candles carried forward over missing ones, explicitly flagged as carried (see MarkView).

        Computed once per instance. Where every candle is present (and no mark series replaces
        them) the view *is* the data: its arrays are the candles' own, not copies."""
        if "mark_view" not in self._derived:
            self._derived["mark_view"] = self._mark_view()
        view: MarkView = self._derived["mark_view"]
        return view

    def _mark_view(self) -> MarkView:
        index = _carried(self.ts, self.present, {"close": self.close})[0]["close"]
        present, fields = self.present, {f: getattr(self, f) for f in ("open", "high", "low", "close")}
        if self.futures is not None:
            present, fields = self.futures.mark_source(present, fields)
        ohlc, carried, source_ts = _carried(self.ts, present, fields)
        return MarkView(ts=self.ts, **ohlc, carried=carried, source_ts=source_ts, index=index)

    def since(self, ts_ns: int) -> MarketData:
        """The candles that open at or after ``ts_ns`` (int64 UTC nanoseconds); the same symbols."""
        first = int(np.searchsorted(self.ts, ts_ns, side="left"))
        if first == 0:
            return self
        futures = None if self.futures is None else self.futures.rows(slice(first, None))
        return MarketData(symbols=self.symbols, base_timeframe=self.base_timeframe, ts=self.ts[first:], futures=futures,
                          **{f: getattr(self, f)[first:] for f in (*PRICE_FIELDS, "present", "complete")})

    def until(self, ts_ns: int) -> MarketData:
        """The candles that open before ``ts_ns`` (int64 UTC nanoseconds); the same symbols."""
        stop = int(np.searchsorted(self.ts, ts_ns, side="left"))
        if stop == len(self.ts):
            return self
        futures = None if self.futures is None else self.futures.rows(slice(None, stop))
        return MarketData(symbols=self.symbols, base_timeframe=self.base_timeframe, ts=self.ts[:stop], futures=futures,
                          **{f: getattr(self, f)[:stop] for f in (*PRICE_FIELDS, "present", "complete")})

    def subset(self, symbols: tuple[str, ...]) -> MarketData:
        """Only ``symbols`` (in that order); grid rows none of them has are dropped."""
        cols = [self.column(s) for s in symbols]
        rows = self.present[:, cols].any(axis=1)
        futures = None if self.futures is None else self.futures.columns(cols).rows(rows)
        return MarketData(symbols=tuple(symbols), base_timeframe=self.base_timeframe, ts=self.ts[rows], futures=futures,
                          **{f: getattr(self, f)[rows][:, cols] for f in (*PRICE_FIELDS, "present", "complete")})

    # --- resampling --------------------------------------------------------------------------

    def resample(self, timeframe: str, *, keep_incomplete: bool = False) -> MarketData:
        """Build ``timeframe`` bars from these candles: open=first, high=max, low=min, close=last, volume=sum.

        A bar is labelled by its open time, on a grid aligned to the Unix epoch (so '1d' bars open at
        00:00 UTC and '4h' bars at 00:00, 04:00, ... UTC). It is built from the present candles in it;
        missing candles inside a bar (nothing traded) do not make it incomplete, as on an exchange.
        A bar is *complete* for a symbol when that symbol's recorded data covers the whole period:
        its first candle is at or before the bar's open and its last candle at or after the bar's last
        base slot. Incomplete bars (the edges of the data) are dropped (NaN, ``present`` False) unless
        ``keep_incomplete``, which keeps them with ``complete`` False. The new grid holds only bars that
        some symbol has (a bar nobody traded in is absent, as on the base grid). Raises ValueError if
        ``timeframe`` is finer than, or not a multiple of, ``base_timeframe``.
        """
        step_ns, base_ns = timeframe_ns(timeframe), timeframe_ns(self.base_timeframe)
        if step_ns < base_ns or step_ns % base_ns:
            raise ValueError(f"cannot resample {self.base_timeframe} candles to {timeframe}: "
                             f"the target must be a multiple of {self.base_timeframe}")
        if step_ns == base_ns:
            return self
        key = ("resample", timeframe, keep_incomplete)
        if key not in self._derived:
            self._derived[key] = self._resample(step_ns, base_ns, timeframe, keep_incomplete=keep_incomplete)
        bars: MarketData = self._derived[key]
        return bars

    def _resample(self, step_ns: int, base_ns: int, timeframe: str, *, keep_incomplete: bool) -> MarketData:
        arrays: dict[str, Any] = resample_arrays(self.ts, {f: getattr(self, f) for f in PRICE_FIELDS},
                                                 self.present, step_ns=step_ns, base_ns=base_ns,
                                                 keep_incomplete=keep_incomplete)
        return MarketData(symbols=self.symbols, base_timeframe=timeframe, **arrays)


def _carried(ts: np.ndarray, present: np.ndarray,
             fields: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(each of ``fields`` carried over missing rows, carried mask, source candle's open time or -1), frozen.

    Every candle present: the fields themselves (no copy), nothing carried, the grid's own times
    (broadcast, no copy). Otherwise column by column, so the temporaries are one column long."""
    n_ts, n_sym = present.shape
    if bool(present.all()):
        nothing = np.broadcast_to(np.zeros(1, dtype=bool), (n_ts, n_sym))
        return ({name: _frozen(values) for name, values in fields.items()}, nothing,
                np.broadcast_to(ts[:, None], (n_ts, n_sym)))
    out = {name: np.empty((n_ts, n_sym), dtype=np.float64) for name in fields}
    source_ts = np.empty((n_ts, n_sym), dtype=np.int64)
    rows = np.arange(n_ts)
    for col in range(n_sym):
        here = present[:, col]
        last_row = np.maximum.accumulate(np.where(here, rows, -1)) if n_ts else rows
        has = last_row >= 0
        safe = np.where(has, last_row, 0)
        for name, values in fields.items():
            out[name][:, col] = np.where(has, values[safe, col], np.nan)
        source_ts[:, col] = np.where(has, ts[safe], -1)
    return ({name: _frozen(values) for name, values in out.items()}, _frozen((source_ts >= 0) & ~present),
            _frozen(source_ts))


def resample_arrays(ts: np.ndarray, fields: dict[str, np.ndarray], present: np.ndarray, *, step_ns: int,
                    base_ns: int, keep_incomplete: bool) -> dict[str, np.ndarray]:
    """Resample aligned (T, S) OHLCV arrays to ``step_ns`` bars (see :meth:`MarketData.resample`).

    Returns the keyword arguments of a MarketData (``ts``, the five fields, ``present``, ``complete``).
    """
    n_ts, n_sym = present.shape
    if n_ts == 0:
        empty = np.empty((0, n_sym))
        return {"ts": ts.copy(), **dict.fromkeys(PRICE_FIELDS, empty),
                "present": empty.astype(bool), "complete": empty.astype(bool)}
    labels = (ts // step_ns) * step_ns
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    new_ts = labels[starts]
    everywhere = bool(present.all())  # no missing candle: bars take their first and last rows, no (T x S) temporaries
    if everywhere:
        bar_present = np.ones((len(starts), n_sym), dtype=bool)
        out = {"open": fields["open"][starts], "close": fields["close"][np.r_[starts[1:], n_ts] - 1]}
    else:
        rows = np.arange(n_ts)[:, None]
        first_row = np.minimum.reduceat(np.where(present, rows, n_ts), starts, axis=0)
        last_row = np.maximum.reduceat(np.where(present, rows, -1), starts, axis=0)
        bar_present = last_row >= 0
        first_safe = np.where(bar_present, first_row, 0)
        last_safe = np.where(bar_present, last_row, 0)
        out = {"open": np.take_along_axis(fields["open"], first_safe, axis=0),
               "close": np.take_along_axis(fields["close"], last_safe, axis=0)}
    per_bar = step_ns // base_ns
    if everywhere and n_ts == len(starts) * per_bar:  # every bar holds all its slots: a (bars x slots x S) view
        out["high"] = np.fmax.reduce(fields["high"].reshape(len(starts), per_bar, n_sym), axis=1)
        out["low"] = np.fmin.reduce(fields["low"].reshape(len(starts), per_bar, n_sym), axis=1)
    else:
        out["high"] = np.fmax.reduceat(fields["high"], starts, axis=0)
        out["low"] = np.fmin.reduceat(fields["low"], starts, axis=0)
    out["volume"] = np.add.reduceat(fields["volume"] if everywhere else np.where(present, fields["volume"], 0.0),
                                    starts, axis=0)
    # Coverage of each symbol's recorded data, for completeness of the edge bars.
    sym_first = ts[np.where(present.any(axis=0), present.argmax(axis=0), 0)]
    sym_last = ts[n_ts - 1 - np.where(present.any(axis=0), present[::-1].argmax(axis=0), 0)]
    covered = (new_ts[:, None] >= sym_first[None, :]) & (new_ts[:, None] + step_ns - base_ns <= sym_last[None, :])
    complete = bar_present & covered
    keep = bar_present if keep_incomplete else complete
    rows_kept = keep.any(axis=1)  # the grid holds only bars some symbol has
    for name, array in out.items():
        out[name] = np.where(keep, array, np.nan)[rows_kept]
    return {"ts": new_ts[rows_kept], **out, "present": keep[rows_kept], "complete": complete[rows_kept]}

"""CandleManager: closed candles per (symbol, timeframe), in memory and in a Parquet cache.

Signals come from Kraken *spot* candles. When a spot market does not exist, cannot be read, or
its newest closed candle is older than ``stale_candle_factor`` timeframes, the futures contract's
trade candles are used instead ("futures_fallback"), scaled to spot units for a multiplied contract.
Each call returns a :class:`CandleSeries` whose ``frame`` is a pandas DataFrame with columns
``ts`` (UTC open time), ``open``, ``high``, ``low``, ``close``, ``volume``, ordered, unique, closed
candles only. Time comes in as ``now``; this module never reads the clock.

Kraken's spot OHLC endpoint serves only the newest 720 candles. A cache whose newest candle is older
than that (the bot was down longer) has a hole the endpoint cannot fill: the manager finds it on each
call and repairs it from public trades, a bounded number of pages per call
(:mod:`krakenbot.data.gap_repair`); meanwhile the series' ``hole`` says so and its frame holds only the
candles after the hole, so no caller computes across it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import pandas as pd

from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.data.candle_cache import (
    ParquetCandleCache,
    RawCandle,
    clean_candles,
    empty_frame,
    find_gaps,
    merge_frames,
)
from krakenbot.data.gap_repair import OHLC_REACH, CandleHole, GapRepairer
from krakenbot.domain.clock import ensure_utc, floor_time
from krakenbot.domain.errors import ExchangeError, MarketDataError
from krakenbot.domain.market import TradePage

log = logging.getLogger(__name__)

CandleSourceName = Literal["spot", "futures_fallback"]
DROP_LOG_INTERVAL = timedelta(hours=1)  # bad candles of one symbol are logged at most this often
_SPOT, _FUTURES = "spot", "futures"


class CandleSource(Protocol):
    """Where candles come from (``KrakenClient`` live, recorded data in tests).

    ``since``/``until`` bound candle open times (UTC, inclusive; ``until=None`` means up to now). Rows
    may be ``Candle`` values or CCXT rows ``[ms, o, h, l, c, v]``, in any order; bad rows are dropped
    by the manager. A market that does not exist or cannot be read raises an ``ExchangeError``
    (e.g. ``OrderRejectedError`` for an unknown symbol) or ``MarketDataError``. The spot OHLC endpoint
    may serve only the newest ``OHLC_REACH`` candles (Kraken's rule); older spot candles are rebuilt
    from ``fetch_spot_trades``: one page of public trades after Kraken's cursor ``since`` (ns).
    """

    def fetch_spot_ohlcv(self, pair: str, timeframe: str, since: datetime,
                         until: datetime | None = None) -> Sequence[RawCandle]: ...

    def fetch_futures_ohlcv(self, symbol: str, timeframe: str, since: datetime, until: datetime | None = None,
                            price: Literal["trade", "mark"] = "trade") -> Sequence[RawCandle]: ...

    def fetch_spot_trades(self, pair: str, since: int) -> TradePage: ...


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CandleSeries:
    """Closed candles for one spot pair and timeframe, and where they came from.

    ``market`` is the pair or futures id actually read; ``multiplier`` the contract multiplier the
    futures prices were divided by; ``stale`` is True when the newest candle is older than the
    staleness bound or there are none (pause entries); ``gaps`` lists ``(ts_before, ts_after, missing)``;
    ``dropped_bad``/``duplicates`` count rows removed in this update. ``hole`` is a known hole beyond the
    OHLC endpoint's reach (being repaired, failed, or dropped; ``frame`` then starts after it) or None.
    """

    symbol: str
    timeframe: str
    source: CandleSourceName
    market: str
    frame: pd.DataFrame
    stale: bool
    ts_last: datetime | None
    gaps: tuple[tuple[datetime, datetime, int], ...] = ()
    dropped_bad: int = 0
    duplicates: int = 0
    multiplier: int = 1
    problem: str | None = None
    hole: CandleHole | None = None


@dataclass(slots=True)
class _Update:
    frame: pd.DataFrame
    dropped_bad: int = 0
    duplicates: int = 0
    problem: str | None = None
    hole: CandleHole | None = None


def timeframe_delta(timeframe: str) -> timedelta:
    """``'1h'`` -> one hour; raises ``ValueError`` for a timeframe Krakenbot does not know."""
    if timeframe not in TIMEFRAME_MINUTES:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {sorted(TIMEFRAME_MINUTES)}")
    return timedelta(minutes=TIMEFRAME_MINUTES[timeframe])


class CandleManager:
    """Keeps candle series fresh with as few requests as possible.

    ``cache_dir`` holds one Parquet file per series, so a restart reads the cache and asks the
    source only for candles after the last cached one. A request is made only when a candle newer
    than the cached ones has closed. A first fetch asks for ``history_candles`` candles. At most
    ``max_candles`` are kept per series (oldest dropped). The source of each pair is logged at most
    once per ``source_log_interval`` per (pair, source). A spot cache further behind than the OHLC
    endpoint's ``ohlc_reach`` candles is repaired from trades, at most ``gap_repair_max_pages`` pages
    per series and call (0: never; the candles before the hole are dropped instead).
    """

    def __init__(self, source: CandleSource, cache_dir: Path, *, stale_candle_factor: float = 2.0,
                 source_log_interval: timedelta = timedelta(minutes=60), history_candles: int = 720,
                 max_candles: int = 10_000, ohlc_reach: int = OHLC_REACH, gap_repair_max_pages: int = 10) -> None:
        if stale_candle_factor < 1 or history_candles < 1 or max_candles < history_candles:
            raise ValueError("need stale_candle_factor >= 1, history_candles >= 1, max_candles >= history_candles")
        if ohlc_reach < 2 or gap_repair_max_pages < 0:
            raise ValueError("need ohlc_reach >= 2 and gap_repair_max_pages >= 0")
        self._source = source
        self._cache = ParquetCandleCache(cache_dir)
        self._stale_factor = stale_candle_factor
        self._log_interval = source_log_interval
        self._history = history_candles
        self._max = max_candles
        self._frames: dict[tuple[str, str, str], pd.DataFrame] = {}
        self._last_source_log: dict[tuple[str, str], datetime] = {}
        self._last_drop_log: dict[str, datetime] = {}  # per symbol: bad candles are logged once an hour
        self._discarded: dict[tuple[str, str, str], set[pd.Timestamp]] = {}  # refused by the caller: never kept
        self._reach = ohlc_reach
        self._repairs = GapRepairer(source, max_pages=gap_repair_max_pages, max_candles=max_candles)

    @classmethod
    def from_config(cls, source: CandleSource, cache_dir: Path, config: AppConfig) -> CandleManager:
        return cls(source, cache_dir, stale_candle_factor=config.loop.stale_candle_factor,
                   source_log_interval=timedelta(minutes=config.logging.candle_source_log_minutes),
                   gap_repair_max_pages=config.loop.gap_repair_max_pages)

    def get_candles(self, spot_pair: str, timeframe: str, now: datetime, *, futures_symbol: str | None = None,
                    futures_multiplier: int = 1) -> CandleSeries:
        """Closed candles of ``spot_pair``; futures candles of ``futures_symbol`` when spot is missing or stale.

        Never raises for exchange or data problems: they show as ``stale``/``problem`` on the result.
        Raises ``ValueError`` for an unknown timeframe or a naive ``now``.
        """
        ensure_utc(now, field="now")
        step = timeframe_delta(timeframe)
        spot = self._update(_SPOT, spot_pair, timeframe, step, now)
        spot_series = self._series(spot, pair=spot_pair, timeframe=timeframe, source="spot", market=spot_pair,
                                   step=step, now=now, multiplier=1)
        chosen = spot_series
        if spot_series.stale and futures_symbol:
            fut = self._update(_FUTURES, futures_symbol, timeframe, step, now)
            fut_series = self._series(fut, pair=spot_pair, timeframe=timeframe, source="futures_fallback",
                                      market=futures_symbol, step=step, now=now, multiplier=futures_multiplier)
            if not fut_series.stale or (fut_series.ts_last and (spot_series.ts_last is None
                                                                or fut_series.ts_last > spot_series.ts_last)):
                chosen = fut_series
        self._log_source(chosen, now)
        return chosen

    def discard(self, series: CandleSeries, ts: datetime) -> None:
        """Drop the candle opened at ``ts`` from ``series``'s market, in memory and in the cache, and refuse
        it when a later fetch returns it again (a candle the caller found implausible, e.g. far from the
        futures mark). Remembered until newer candles make a refetch of it impossible."""
        key = (_SPOT if series.source == "spot" else _FUTURES, series.market, series.timeframe)
        stamp = pd.Timestamp(ts)
        self._discarded.setdefault(key, set()).add(stamp)
        frame = self._frames.get(key)
        if frame is not None and bool((frame["ts"] == stamp).any()):
            kept = frame[frame["ts"] != stamp].reset_index(drop=True)
            self._frames[key] = kept
            self._cache.save(key[0], series.market, series.timeframe, kept)

    def _series(self, update: _Update, *, pair: str, timeframe: str, source: CandleSourceName, market: str,
                step: timedelta, now: datetime, multiplier: int) -> CandleSeries:
        frame = update.frame
        if multiplier != 1 and not frame.empty:
            frame = frame.copy()
            frame[["open", "high", "low", "close"]] = frame[["open", "high", "low", "close"]] / multiplier
            frame["volume"] = frame["volume"] * multiplier
        ts_last = frame["ts"].iloc[-1].to_pydatetime() if not frame.empty else None
        stale = ts_last is None or now - ts_last > step * self._stale_factor
        return CandleSeries(symbol=pair, timeframe=timeframe, source=source, market=market, frame=frame,
                            stale=stale, ts_last=ts_last, gaps=tuple(find_gaps(frame, step)),
                            dropped_bad=update.dropped_bad, duplicates=update.duplicates,
                            multiplier=multiplier, problem=update.problem, hole=update.hole)

    def _update(self, kind: str, symbol: str, timeframe: str, step: timedelta, now: datetime) -> _Update:
        key = (kind, symbol, timeframe)
        frame = self._frames.get(key)
        if frame is None:
            frame = self._cache.load(kind, symbol, timeframe, step)
            self._frames[key] = frame
        last = None if frame.empty else frame["ts"].iloc[-1].to_pydatetime()
        since = floor_time(now, step) - step * self._history if last is None else last + step
        if since + step > now:  # the next candle has not closed yet: nothing to ask for
            return _Update(frame=frame, hole=self._repairs.hole(key, step))
        reach_start = floor_time(now, step) - step * (self._reach - 1)  # the oldest candle the OHLC endpoint serves
        if kind == _SPOT and last is not None and since < reach_start:
            # the bot was away longer than the endpoint's reach: the candles before reach_start only exist as trades
            self._repairs.open(key, frame, since, reach_start=reach_start, step=step)
            frame = empty_frame()
            self._frames[key] = frame
            self._cache.save(kind, symbol, timeframe, frame)  # a restart must never read across the hole
            since = reach_start
        try:
            if kind == _SPOT:
                rows = self._source.fetch_spot_ohlcv(symbol, timeframe, since, now)
            else:
                rows = self._source.fetch_futures_ohlcv(symbol, timeframe, since, now, price="trade")
        except (ExchangeError, MarketDataError) as exc:
            log.warning("%s: %s candles unavailable (%s: %s)", symbol, kind, type(exc).__name__, exc)
            return _Update(frame=frame, problem=f"{type(exc).__name__}: {exc}", hole=self._repairs.hole(key, step))
        cleaned = clean_candles(rows, step)
        fresh = cleaned.frame[cleaned.frame["ts"] + pd.Timedelta(step) <= pd.Timestamp(now)]  # drop the open candle
        discarded = self._discarded.get(key)
        if discarded:
            fresh = fresh[~fresh["ts"].isin(list(discarded))]
        merged, duplicates = merge_frames(frame, fresh)
        if len(merged) > self._max:
            merged = merged.iloc[-self._max:].reset_index(drop=True)
        if cleaned.dropped_bad:
            self._log_dropped(symbol, kind, cleaned.dropped_bad, cleaned.reason, now)
        repaired = self._repairs.advance(key, merged, step)
        if repaired is not None:
            merged, fresh = repaired, repaired
        if not fresh.empty:
            self._frames[key] = merged
            self._cache.save(kind, symbol, timeframe, merged)
            if discarded:  # a candle before the newest one is never asked for again
                newest = merged["ts"].iloc[-1]
                self._discarded[key] = {t for t in discarded if t > newest}
        return _Update(frame=merged, dropped_bad=cleaned.dropped_bad, duplicates=duplicates,
                       hole=self._repairs.hole(key, step))

    def _log_dropped(self, symbol: str, kind: str, count: int, reason: str | None, now: datetime) -> None:
        last = self._last_drop_log.get(symbol)
        if last is not None and now - last < DROP_LOG_INTERVAL:
            return
        self._last_drop_log[symbol] = now
        log.warning("%s: dropped %d bad %s candles (first: %s); they are never stored nor used (logged once "
                    "an hour per symbol)", symbol, count, kind, reason)

    def _log_source(self, series: CandleSeries, now: datetime) -> None:
        key = (series.symbol, series.source)
        last = self._last_source_log.get(key)
        if last is not None and now - last < self._log_interval:
            return
        self._last_source_log[key] = now
        level = logging.INFO if series.source == "spot" else logging.WARNING
        log.log(level, "%s: candle source %s (%s%s)", series.symbol, series.source, series.market,
                ", stale" if series.stale else "")

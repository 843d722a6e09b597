"""Candles rebuilt from Kraken's public trades, for the spans the OHLC endpoint no longer serves.

Kraken's spot OHLC endpoint answers only the newest 720 candles whatever ``since`` says; older candles
exist only as trades (public ``Trades``, at most 1,000 per page, paged by Kraken's ``last`` cursor).

Conventions (Kraken's own, so rebuilt candles equal the OHLC endpoint's on their overlap):

- a candle's ``ts`` is the open of its bucket on the epoch-aligned grid (``floor(time / step) * step``);
  ``open`` is the bucket's first trade, ``close`` its last, ``high``/``low`` the extremes, ``volume``
  the sum (base units); trades are taken in the order given (oldest first);
- a bucket without trades has no candle (Kraken omits empty minutes);
- only buckets that closed by ``until_ns`` (``open + step <= until_ns``) are candles: a later trade
  could still change an open one.

Paging convention (:func:`fetch_trade_candles`): the first page is asked with ``since = start - 1 ns``
(Kraken's ``since`` is exclusive: it returns the trades after the cursor, so a trade exactly at
``start`` is kept); each next page with ``since = previous page's last``. Pages therefore never overlap
on Kraken. A source that re-serves the boundary anyway (an inclusive ``since``, a retried page) shows
it as a page beginning with the previous page's trailing rows, identical and at or before its cursor:
those are dropped, so no trade is counted twice. Without trade ids a genuine repeat of the previous
trade (same time, price and volume) split exactly at a page boundary cannot be told from a re-served
one and is dropped too (at worst one tiny volume difference in one candle).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.data.candle_cache import COLUMNS, empty_frame
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.market import TradePage
from krakenbot.domain.timeconv import NS_PER_SECOND, to_ns

Rows = tuple[tuple[int, float, float], ...]
_FLUSH_ROWS = 200_000  # trades held before closed buckets are turned into candles (bounds memory)


class TradeSource(Protocol):
    """What :func:`fetch_trade_candles` reads: one page of public trades after Kraken's cursor ``since`` (ns)."""

    def fetch_spot_trades(self, pair: str, since: int) -> TradePage: ...


def step_ns(timeframe: str) -> int:
    """The timeframe's length in nanoseconds; raises ``ValueError`` for an unknown timeframe."""
    if timeframe not in TIMEFRAME_MINUTES:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {sorted(TIMEFRAME_MINUTES)}")
    return TIMEFRAME_MINUTES[timeframe] * 60 * NS_PER_SECOND


TradeArrays = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _arrays(rows: Iterable[tuple[int, float, float]] | TradeArrays) -> TradeArrays:
    if isinstance(rows, tuple) and len(rows) == 3 and all(isinstance(a, np.ndarray) for a in rows):
        times, prices, volumes = rows
        return (np.asarray(times, dtype=np.int64), np.asarray(prices, dtype=np.float64),
                np.asarray(volumes, dtype=np.float64))
    listed: list[tuple[int, float, float]] = list(rows)  # type: ignore[arg-type]
    count = len(listed)
    return (np.fromiter((r[0] for r in listed), np.int64, count),
            np.fromiter((r[1] for r in listed), np.float64, count),
            np.fromiter((r[2] for r in listed), np.float64, count))


def candles_from_trades(rows: Iterable[tuple[int, float, float]] | TradeArrays, timeframe: str, *, until_ns: int,
                        since_ns: int | None = None) -> pd.DataFrame:
    """Candles (a candle frame: ``ts`` UTC open time, ``open``, ``high``, ``low``, ``close``, ``volume``)
    of the trades ``rows`` (``(time ns, price, volume)`` tuples or three numpy arrays), vectorised.

    Only buckets that closed by ``until_ns`` (and, with ``since_ns``, opened at or after it) are returned;
    buckets without trades are absent (see the module docstring). Trades need not be sorted (a stable
    sort by time keeps the order of equal times). Raises ``ValueError`` for an unknown timeframe or a
    trade whose price is not finite and > 0 or whose volume is not finite and >= 0.
    """
    step = step_ns(timeframe)
    times, prices, volumes = _arrays(rows)
    if times.size == 0:
        return empty_frame()
    if not (np.all(np.isfinite(prices) & (prices > 0)) and np.all(np.isfinite(volumes) & (volumes >= 0))):
        bad = int(np.flatnonzero(~(np.isfinite(prices) & (prices > 0) & np.isfinite(volumes) & (volumes >= 0)))[0])
        raise ValueError(f"trade at {int(times[bad])} ns: price {float(prices[bad])!r} / volume "
                         f"{float(volumes[bad])!r} unusable; "
                         "drop it before rebuilding candles")
    if times.size > 1 and not bool(np.all(times[1:] >= times[:-1])):
        order = np.argsort(times, kind="stable")
        times, prices, volumes = times[order], prices[order], volumes[order]
    buckets = (times // step) * step
    keep = buckets + step <= until_ns
    if since_ns is not None:
        keep &= buckets >= since_ns
    if not bool(keep.all()):
        times, prices, volumes, buckets = times[keep], prices[keep], volumes[keep], buckets[keep]
    if buckets.size == 0:
        return empty_frame()
    starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
    ends = np.r_[starts[1:], buckets.size] - 1
    frame = pd.DataFrame({
        "ts": pd.to_datetime(buckets[starts], unit="ns", utc=True).astype("datetime64[ns, UTC]"),
        "open": prices[starts],
        "high": np.maximum.reduceat(prices, starts),
        "low": np.minimum.reduceat(prices, starts),
        "close": prices[ends],
        "volume": np.add.reduceat(volumes, starts),
    })
    return frame[list(COLUMNS)]


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TradeRebuild:
    """Candles rebuilt from trades over ``[start, end)`` so far.

    ``frame`` holds the candles of the buckets whose trades have all been read (opened at or after
    ``start``, closed by ``end``, or by the cursor while ``complete`` is False); ``pages`` counts the
    pages read (over every resumed call); ``complete`` is True once the cursor passed ``end`` or a page
    came back empty; ``cursor`` is Kraken's ``last`` of the newest page (ns), where the next page starts.
    ``pending`` are the trades after the newest closed bucket and ``previous`` the newest page's rows
    (to spot a re-served boundary), kept to resume (``fetch_trade_candles(..., resume=this)``) without
    asking for anything again.
    """

    pair: str
    timeframe: str
    start_ns: int
    end_ns: int
    frame: pd.DataFrame
    pages: int
    complete: bool
    cursor: int
    pending: Rows = ()
    previous: Rows = ()


def _new_rows(page: TradePage, previous: Rows, since: int) -> Rows:
    """``page.rows`` without a re-served copy of ``previous``'s trailing rows (see the module docstring)."""
    rows = page.rows
    if not previous or not rows:
        return rows
    limit = min(len(previous), len(rows))
    overlap = 0
    for n in range(limit, 0, -1):
        head = rows[:n]
        if head[-1][0] <= since and head == previous[-n:]:
            overlap = n
            break
    return rows[overlap:]


def fetch_trade_candles(source: TradeSource, pair: str, timeframe: str, start: datetime, end: datetime, *,
                        max_pages: int | None = None, on_page: Callable[[int], None] | None = None,
                        resume: TradeRebuild | None = None) -> TradeRebuild:
    """Rebuild ``pair``'s candles with open time in ``[start, end)`` from its public trades.

    Pages by Kraken's ``last`` cursor (see the module docstring) until the cursor reaches ``end`` or a
    page brings nothing after the cursor (``complete``; so ``end`` must not be after now), or until
    ``max_pages`` pages were read this call (not complete: pass the result as ``resume`` to go on from
    its cursor). ``on_page`` is called with the number of new trades of each page (a progress bar).
    Memory is bounded: trades are turned into candles as their buckets close.
    Raises what the source raises (``ExchangeError``, ``MarketDataError``), ``MarketDataError`` when the
    cursor does not move forward, ``ValueError`` for an unknown timeframe, naive times, ``end <= start``
    or an unusable trade (price not finite and > 0, volume not finite and >= 0).
    """
    step = step_ns(timeframe)
    start_ns, end_ns = to_ns(start), to_ns(end)
    if end_ns <= start_ns:
        raise ValueError(f"{pair}: trade rebuild needs end ({end.isoformat()}) after start ({start.isoformat()})")
    if resume is not None:
        if (resume.pair, resume.timeframe, resume.start_ns, resume.end_ns) != (pair, timeframe, start_ns, end_ns):
            raise ValueError(f"{pair}: resume is a rebuild of {resume.pair} {resume.timeframe} "
                             f"{resume.start_ns}..{resume.end_ns}, not of this span")
        if resume.complete:
            return resume
        frames, pages, cursor = [resume.frame], resume.pages, resume.cursor
        held, previous = list(resume.pending), resume.previous
    else:
        frames, pages, cursor, held, previous = [], 0, start_ns - 1, [], ()
    complete = False
    read = 0
    while max_pages is None or read < max_pages:
        page = source.fetch_spot_trades(pair, cursor)
        read += 1
        pages += 1
        rows = _new_rows(page, previous, cursor)
        if on_page is not None:
            on_page(len(rows))
        if not rows and page.last <= cursor:  # nothing after the cursor (yet): every trade has been read
            complete = True
            break
        if page.last <= cursor:
            raise MarketDataError(f"{pair}: Kraken's trades cursor did not move forward ({cursor} -> {page.last}) "
                                  f"while {len(rows)} new trades came; the Trades answer is inconsistent, "
                                  "try again later")
        held += rows
        previous, cursor = page.rows, page.last
        if cursor >= end_ns:
            complete = True
            break
        if len(held) >= _FLUSH_ROWS:
            frames, held = _flush(frames, held, timeframe, start_ns, end_ns, cursor, step)
    if complete:
        frames.append(candles_from_trades(held, timeframe, until_ns=end_ns, since_ns=start_ns))
        held = []
    else:
        frames, held = _flush(frames, held, timeframe, start_ns, end_ns, cursor, step)
    return TradeRebuild(pair=pair, timeframe=timeframe, start_ns=start_ns, end_ns=end_ns, frame=_concat(frames),
                        pages=pages, complete=complete, cursor=cursor, pending=tuple(held), previous=previous)


def _flush(frames: list[pd.DataFrame], held: list[tuple[int, float, float]], timeframe: str, start_ns: int,
           end_ns: int, cursor: int, step: int) -> tuple[list[pd.DataFrame], list[tuple[int, float, float]]]:
    """Candles of the buckets every trade of which has been read (closed by ``cursor + 1``); the rest kept."""
    closed_by = min(end_ns, ((cursor + 1) // step) * step)
    if not held or held[0][0] >= closed_by:
        return frames, held
    cut = bisect_left(held, closed_by, key=lambda r: r[0])  # trades are oldest first
    frames = [*frames, candles_from_trades(held[:cut], timeframe, until_ns=closed_by, since_ns=start_ns)]
    return frames, held[cut:]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [f for f in frames if not f.empty]
    if not parts:
        return empty_frame()
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)


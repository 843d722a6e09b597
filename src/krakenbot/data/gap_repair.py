"""Holes in a spot candle series that Kraken's OHLC endpoint cannot fill, and their repair from trades.

Kraken's spot OHLC endpoint serves only the newest ``OHLC_REACH`` (720) candles of a pair, counting the
one still forming. A bot that was down longer than that comes back to a cache whose newest candle is
older than anything the endpoint can serve: between the two lies a *hole*. The ``CandleManager`` finds
it (on start and on every slow tick) and, from then on, hands out only the candles after the hole, so
the strategy never computes across it; the candles before it wait in memory while the hole is rebuilt
from public trades (:func:`~krakenbot.data.trades.fetch_trade_candles`), at most ``max_pages`` pages per
call, resuming where the previous call stopped. Once rebuilt, before + rebuilt + after are merged into
the cache ("repaired from trades"). If trades cannot be read the hole stays, retried each call.

A hole longer than the cache keeps (``max_candles``) is rebuilt only over its newest part; older
candles would be trimmed anyway and are dropped. With ``max_pages = 0`` (no trades requests) the
candles before the hole are dropped at once and the series re-warms from the reachable candles.
A restart during a repair forgets the candles before the hole (they were not written back): the
cache then holds only the candles after it, which is the same as a fresh start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import pandas as pd

from krakenbot.data.candle_cache import clean_candles, empty_frame, merge_frames
from krakenbot.data.trades import TradeRebuild, TradeSource, fetch_trade_candles
from krakenbot.domain.errors import ExchangeError, MarketDataError
from krakenbot.domain.market import SPOT_OHLC_REACH
from krakenbot.domain.timeconv import NS_PER_MS

log = logging.getLogger("krakenbot.data.candles")

OHLC_REACH = SPOT_OHLC_REACH  # the default reach the manager assumes (tests may pass another)
HoleState = Literal["repairing", "failed", "dropped"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CandleHole:
    """Candles of ``symbol`` missing between ``ts_before`` (the newest cached candle before the bot's
    downtime) and ``ts_after`` (the oldest candle Kraken's OHLC endpoint still served), ``missing``
    timeframes long. ``state``: ``repairing`` (being rebuilt from trades; ``pages`` read so far),
    ``failed`` (trades could not be read; retried each slow tick), ``dropped`` (not repaired: the
    candles before it were dropped). ``reason`` says all of it for a log line or a status page.
    While a hole is known the series' frame holds only the candles after it."""

    symbol: str
    timeframe: str
    ts_before: datetime
    ts_after: datetime | None
    missing: int
    state: HoleState
    reason: str
    pages: int = 0


@dataclass(slots=True)
class PendingRepair:
    """A hole being repaired: the cached candles before it (memory only), the first missing candle
    ``start``, the open of the first candle after it ``end`` (set once the OHLC endpoint answered),
    the rebuild so far, and the last trades problem."""

    before: pd.DataFrame
    start: datetime
    reach_start: datetime  # the oldest candle the OHLC endpoint served when the hole was found
    end: datetime | None = None
    rebuild: TradeRebuild | None = None
    problem: str | None = None
    announced_problem: bool = False


def hole_of(repair: PendingRepair, *, symbol: str, timeframe: str, step: timedelta, max_pages: int,
            state: HoleState | None = None) -> CandleHole:
    """The ``CandleHole`` a pending repair stands for, with a reason that names the symbol, the span and
    what is done about it."""
    ts_before = repair.start - step
    end = repair.end if repair.end is not None else repair.reach_start
    missing = int((end - repair.start) / step)
    span = f"{ts_before.isoformat()} .. {end.isoformat()}"
    pages = repair.rebuild.pages if repair.rebuild is not None else 0
    state = state or ("failed" if repair.problem is not None else "repairing")
    if state == "failed":
        reason = (f"{symbol} {timeframe}: candle hole {span} ({missing} candles) beyond Kraken's {OHLC_REACH}-candle "
                  f"OHLC reach cannot be repaired from trades now ({repair.problem}); retried each slow tick; "
                  f"signals use only the candles after the hole; to trade on the full history import Kraken's "
                  f"archive for it or set loop.gap_repair_max_pages to 0 to drop the candles before the hole")
    else:
        reason = (f"{symbol} {timeframe}: candle hole {span} ({missing} candles) beyond Kraken's {OHLC_REACH}-candle "
                  f"OHLC reach: repairing from trades ({pages} pages read, at most {max_pages} per slow tick); "
                  f"signals use only the candles after the hole until it is repaired")
    return CandleHole(symbol=symbol, timeframe=timeframe, ts_before=ts_before, ts_after=end,
                      missing=missing, state=state, reason=reason, pages=pages)


class GapRepairer:
    """The holes of a ``CandleManager``'s spot series and their repair (see the module docstring).

    Keys are the manager's ``(kind, symbol, timeframe)``. ``max_pages`` bounds the trades pages one
    :meth:`advance` reads (0: never repair; drop the candles before the hole); ``max_candles`` is what
    the cache keeps per series.
    """

    def __init__(self, source: TradeSource, *, max_pages: int, max_candles: int) -> None:
        if max_pages < 0:
            raise ValueError(f"max_pages must be >= 0, got {max_pages}")
        self._source = source
        self._max_pages = max_pages
        self._max = max_candles
        self._pending: dict[tuple[str, str, str], PendingRepair] = {}
        self._dropped: dict[tuple[str, str, str], CandleHole] = {}

    def open(self, key: tuple[str, str, str], before: pd.DataFrame, start: datetime, *, reach_start: datetime,
             step: timedelta) -> None:
        """A hole was found: ``before`` ends at ``start - step`` and the OHLC endpoint serves candles from
        ``reach_start`` on. A hole found while another one of the same series is pending replaces it."""
        symbol, timeframe = key[1], key[2]
        missing = int((reach_start - start) / step)
        if self._pending.pop(key, None) is not None:  # ``before`` holds the candles after the first hole
            log.warning("%s %s: a second candle hole opened before the first was repaired: the candles before the "
                        "first are dropped", symbol, timeframe)
        self._dropped.pop(key, None)
        if self._max_pages == 0:
            hole = CandleHole(
                symbol=symbol, timeframe=timeframe, ts_before=start - step, ts_after=None, missing=missing,
                state="dropped",
                reason=(f"{symbol} {timeframe}: candle hole after {(start - step).isoformat()} (about {missing} "
                        f"candles) beyond Kraken's {OHLC_REACH}-candle OHLC reach, not repaired "
                        f"(loop.gap_repair_max_pages is 0): the candles before it were dropped and the series "
                        f"re-warms from the candles Kraken still serves"))
            self._dropped[key] = hole
            log.warning("%s", hole.reason)
            return
        self._pending[key] = PendingRepair(before=before, start=start, reach_start=reach_start)
        log.warning("%s %s: candle hole: the cache ends at %s and Kraken's OHLC endpoint serves only the newest %d "
                    "candles (from %s): about %d candles missing; repairing from trades (at most %d pages per slow "
                    "tick); signals use only the candles after the hole meanwhile", symbol, timeframe,
                    (start - step).isoformat(), OHLC_REACH, reach_start.isoformat(), missing, self._max_pages)

    def hole(self, key: tuple[str, str, str], step: timedelta) -> CandleHole | None:
        """The series' known hole, or None."""
        repair = self._pending.get(key)
        if repair is not None:
            return hole_of(repair, symbol=key[1], timeframe=key[2], step=step, max_pages=self._max_pages)
        return self._dropped.get(key)

    def advance(self, key: tuple[str, str, str], after: pd.DataFrame, step: timedelta) -> pd.DataFrame | None:
        """Read at most ``max_pages`` pages of trades for the series' pending hole, ``after`` being the
        candles after it. Returns the merged frame (before + rebuilt + after, the newest ``max_candles``)
        once the hole is repaired, else None (the hole is still pending). Never raises for exchange or
        data problems: they show on the hole (``failed``)."""
        repair = self._pending.get(key)
        if repair is None or after.empty:
            return None
        symbol, timeframe = key[1], key[2]
        if repair.end is None:
            repair.end = after["ts"].iloc[0].to_pydatetime()
            room = self._max - len(after)
            first_kept = repair.end - step * max(room, 0)
            if first_kept > repair.start:  # longer than the cache keeps: rebuild only its newest part
                log.warning("%s %s: the candle hole from %s is longer than the %d candles the cache keeps: only "
                            "its newest part (from %s) is rebuilt, older candles dropped", symbol, timeframe,
                            repair.start.isoformat(), self._max, first_kept.isoformat())
                repair.start, repair.before = first_kept, empty_frame()
            if repair.start >= repair.end:
                return self._finish(key, repair, empty_frame(), after, step)
        try:
            rebuild = fetch_trade_candles(self._source, symbol, timeframe, repair.start, repair.end,
                                          max_pages=self._max_pages, resume=repair.rebuild)
        except (ExchangeError, MarketDataError, ValueError) as exc:
            repair.problem = f"{type(exc).__name__}: {exc}"
            if not repair.announced_problem:
                repair.announced_problem = True
                log.warning("%s", hole_of(repair, symbol=symbol, timeframe=timeframe, step=step,
                                                  max_pages=self._max_pages).reason)
            return None
        repair.rebuild, repair.problem, repair.announced_problem = rebuild, None, False
        if not rebuild.complete:
            return None
        return self._finish(key, repair, rebuild.frame, after, step)

    def _finish(self, key: tuple[str, str, str], repair: PendingRepair, rebuilt: pd.DataFrame,
                after: pd.DataFrame, step: timedelta) -> pd.DataFrame:
        del self._pending[key]
        rows = ([int(t.value // NS_PER_MS), o, h, lo, c, v] for t, o, h, lo, c, v in rebuilt.itertuples(index=False))
        cleaned = clean_candles(rows, step)  # the same checks as every OHLC candle (plausible prices)
        merged, _ = merge_frames(repair.before, cleaned.frame)
        merged, _ = merge_frames(merged, after)
        if len(merged) > self._max:
            merged = merged.iloc[-self._max:].reset_index(drop=True)
        pages = repair.rebuild.pages if repair.rebuild is not None else 0
        log.warning("%s %s: candle hole %s .. %s repaired from trades: %d candles rebuilt from %d pages%s",
                    key[1], key[2], (repair.start - step).isoformat(), repair.end.isoformat() if repair.end else "?",
                    len(cleaned.frame), pages,
                    f" ({cleaned.dropped_bad} bad dropped: {cleaned.reason})" if cleaned.dropped_bad else "")
        return merged

"""What the trading loop reads from: market data, signals and shock detections.

Each port has a live implementation (Kraken through ``KrakenClient`` and ``CandleManager``) and
a backtest one (recorded data replayed on a simulated clock); the loop cannot tell them apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import pandas as pd

from krakenbot.config.models import RiskConfig
from krakenbot.data.candle_checks import check_spot_vs_mark, isolated_spikes
from krakenbot.data.candles import CandleManager, CandleSeries
from krakenbot.domain import Fill, Signal, Ticker
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.market import InstrumentStatus
from krakenbot.domain.vocabulary import EventKind
from krakenbot.risk.shock_detect import ShockDetected
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.strategy.base import CandleArrays, Strategy

log = logging.getLogger(__name__)
DEFAULT_SPOT_MARK_MAX_DEVIATION_PCT: float = RiskConfig.model_fields["spot_mark_max_deviation_pct"].default

# Paper fills happen when prices move: the paper exchange listens to every tick's marks and
# hourly funding rates and answers with the fills that caused (stops, liquidations).
MarketListener = Callable[[Mapping[str, float], Mapping[str, float]], Sequence[Fill]]


class MarketFeed(Protocol):
    def futures_tickers(self) -> Mapping[str, Ticker]:
        """Tickers of every futures contract, reachable by raw id (``PF_XBTUSD``). One request.

        Raises ``TransientError`` when the exchange cannot be read.
        """
        ...


@runtime_checkable
class InstrumentStatusFeed(Protocol):
    """A market feed that also serves Kraken's ``instruments/status`` (live; a backtest has none)."""

    def instrument_status(self) -> Mapping[str, InstrumentStatus]:
        """Status by contract id (upper case). Raises ``TransientError`` when it cannot be read."""
        ...


class SignalFeed(Protocol):
    def signals(self, now: datetime, marks: Mapping[str, float]) -> list[Signal]:
        """The strategy's signals on the newest candles closed at ``now``, one per symbol at most.

        ``marks`` are this tick's fresh futures marks (USD per contract, refused tickers left out): a
        feed may check its candles against them (the live feed does; a backtest's recorded one does not).
        """
        ...


class ShockFeed(Protocol):
    def detect(self, guard: ShockGuard, now: datetime, marks: Mapping[str, float],
               reference: Mapping[str, float]) -> list[ShockDetected]:
        """Feed ``guard`` this tick's marks (and index prices, for basis); return new shock events."""
        ...


class LiveShockFeed:
    """Detection on the live marks, tick by tick."""

    def detect(self, guard: ShockGuard, now: datetime, marks: Mapping[str, float],
               reference: Mapping[str, float]) -> list[ShockDetected]:
        return guard.update_mark_prices(now, marks, reference)


class StrategySignalFeed:
    """Signals from a strategy over candles kept by a ``CandleManager`` (spot first, futures fallback).

    ``symbols`` maps each spot pair to its futures contract (for the fallback) and multiplier.
    A symbol whose candles are stale or missing gives no signal this tick (logged by the manager).
    Each candle that arrived since the last check (the newest one after a start) is checked against
    its contract's fresh futures mark (:func:`~krakenbot.data.candle_checks.check_spot_vs_mark`,
    ``max_deviation_pct``). One beyond it is quarantined: discarded from the candles (the strategy
    never sees it), logged once and journaled (``candle_quarantined``); while the newest candle is a
    quarantined one the symbol gives no signal (no entry, no reversal; positions keep their stops and
    ShockGuard), and a newer candle within the bound releases it (``candle_released``).
    Without a fresh mark the candles cannot be checked and the symbol gives no signal this tick. The
    history a start fetches behind the newest candle is screened for isolated bad prints instead
    (:func:`~krakenbot.data.candle_checks.isolated_spikes`), which are discarded and journaled the same way.

    A series with a known hole (``CandleSeries.hole``: the bot was down longer than Kraken's OHLC reach and
    the hole is being repaired from trades, cannot be, or was dropped) holds only the candles after the
    hole. When those are at least the strategy's ``warmup_bars`` the strategy computes on them alone,
    identical to the full history by the strategy's contract, and signals go on; otherwise the symbol is
    paused (no signal: no entry, no reversal; positions keep their stops and ShockGuard) until the hole is
    repaired or enough candles arrived. Either is logged once per symbol and hole, never per tick.
    """

    def __init__(self, strategy: Strategy[object], candles: CandleManager,  # type: ignore[type-var]
                 symbols: Mapping[str, tuple[str, int]], *, journal: Journal | None = None,
                 max_deviation_pct: float = DEFAULT_SPOT_MARK_MAX_DEVIATION_PCT) -> None:
        self.strategy = strategy
        self.candles = candles
        self.symbols = dict(symbols)
        self.journal = journal
        self.max_deviation_pct = max_deviation_pct
        self.quarantined: dict[str, datetime] = {}  # spot pair -> open time of its newest quarantined candle
        self._checked_until: dict[str, pd.Timestamp] = {}  # spot pair -> newest candle already checked
        self.holes: dict[str, tuple[datetime, bool]] = {}  # spot pair -> (its hole's ts_before, paused) as logged

    def signals(self, now: datetime, marks: Mapping[str, float]) -> list[Signal]:
        arrays: dict[str, CandleArrays] = {}
        for spot, (futures, multiplier) in sorted(self.symbols.items()):
            series = self.candles.get_candles(spot, self.strategy.timeframe, now, futures_symbol=futures,
                                              futures_multiplier=multiplier)
            if series.stale or series.frame.empty or self._paused_by_hole(series):
                continue
            frame = self._screened(series, futures, multiplier, marks.get(futures), now)
            if frame is not None:
                arrays[spot] = CandleArrays.from_frame(spot, frame)
        return self.strategy.signals(arrays, now)

    def _paused_by_hole(self, series: CandleSeries) -> bool:
        """True when ``series`` has a known hole and fewer candles after it than the strategy's warm-up;
        logs the pause (or that signals go on over the candles after the hole) once per symbol and hole."""
        spot, hole = series.symbol, series.hole
        logged = self.holes.get(spot)
        if hole is None:
            if logged is not None:
                del self.holes[spot]
                self._checked_until.pop(spot, None)  # the rebuilt history is screened like a start's
                if logged[1]:
                    log.warning("%s: resumed: the candle hole after %s is repaired or the candles after it cover "
                                "the strategy's warm-up; signals go on", spot, logged[0].isoformat())
            return False
        need, have = self.strategy.warmup_bars, len(series.frame)
        paused = have < need
        if logged != (hole.ts_before, paused):
            self.holes[spot] = (hole.ts_before, paused)
            if paused:
                log.warning("%s: paused: %s; the strategy needs %d candles and has %d after the hole: no entries "
                            "or reversals on %s until the hole is repaired or %d more candles closed (positions "
                            "keep their stops and ShockGuard)", spot, hole.reason, need, have, spot, need - have)
            else:
                log.warning("%s: %s; the strategy's %d-candle warm-up fits in the %d candles after the hole: "
                            "signals go on, computed on those only", spot, hole.reason, need, have)
        return paused

    def _screened(self, series: CandleSeries, futures: str, multiplier: int, mark: float | None,
                  now: datetime) -> pd.DataFrame | None:
        """``series``'s candles without the quarantined ones, or None when the symbol gives no signal
        (see the class docstring)."""
        spot, frame = series.symbol, series.frame
        if mark is None:
            log.debug("%s: no fresh mark of %s to check the candles against: no signal this tick", spot, futures)
            return None
        newest = frame["ts"].iloc[-1]
        held = self.quarantined.get(spot)
        if held is not None and newest <= pd.Timestamp(held):
            return None  # nothing newer than the quarantined candle yet
        seen = self._checked_until.get(spot)
        arrived = frame[frame["ts"] > seen] if seen is not None else frame.iloc[-1:]
        self._checked_until[spot] = newest
        if seen is None:  # a start: the history behind the newest candle cannot be judged by the mark
            frame = self._without_spikes(series, frame, futures, now)
        bad = []
        for ts, close in zip(arrived["ts"], arrived["close"], strict=True):
            # spot and fallback series alike are in spot units; the mark is per contract of ``multiplier`` units
            verdict = check_spot_vs_mark(close=float(close), mark=mark, multiplier=multiplier,
                                         max_deviation_pct=self.max_deviation_pct)
            if not verdict.ok:
                self.candles.discard(series, ts.to_pydatetime())
                bad.append(ts)
                if held is None and spot not in self.quarantined:
                    log.warning("%s: candle %s quarantined: close %.10g vs futures mark %.10g of %s: deviation "
                                "%.1f%% over the threshold %.1f%%; entries and reversals on %s paused until a "
                                "candle within it arrives (stops and ShockGuard stay)", spot, ts.isoformat(),
                                verdict.close, verdict.reference, futures, verdict.deviation * 100,
                                self.max_deviation_pct * 100, futures)
                    self._record(now, EventKind.CANDLE_QUARANTINED, futures,
                                 f"{spot} candle {ts.isoformat()}: {verdict.reason}")
                self.quarantined[spot] = ts.to_pydatetime()
        if bad:
            frame = frame[~frame["ts"].isin(bad)].reset_index(drop=True)
            if bad[-1] == newest:
                return None
        if spot in self.quarantined:
            del self.quarantined[spot]
            close = float(frame["close"].iloc[-1])
            log.warning("%s: candle quarantine released: candle %s closes at %.10g, within %.1f%% of the futures "
                        "mark %.10g of %s", spot, newest.isoformat(), close, self.max_deviation_pct * 100,
                        mark / multiplier, futures)
            self._record(now, EventKind.CANDLE_RELEASED, futures, f"{spot} candle {newest.isoformat()} closes at "
                         f"{close:.10g}, within {self.max_deviation_pct:.1%} of the mark {mark / multiplier:.10g}")
        return frame

    def _without_spikes(self, series: CandleSeries, frame: pd.DataFrame, futures: str, now: datetime) -> pd.DataFrame:
        """``frame`` without the isolated bad prints of its history (``isolated_spikes``), each discarded
        from the candles; logged once and journaled (``candle_quarantined``) when there are any."""
        spikes = isolated_spikes([float(c) for c in frame["close"]], self.max_deviation_pct)
        if not spikes:
            return frame
        stamps = [frame["ts"].iloc[i] for i in spikes]
        for ts in stamps:
            self.candles.discard(series, ts.to_pydatetime())
        listed = ", ".join(ts.isoformat() for ts in stamps[:5]) + (" ..." if len(stamps) > 5 else "")
        log.warning("%s: %d isolated candle(s) more than %.1f%% from both neighbours dropped from the history "
                    "(bad prints): %s", series.symbol, len(stamps), self.max_deviation_pct * 100, listed)
        self._record(now, EventKind.CANDLE_QUARANTINED, futures,
                     f"{series.symbol}: {len(stamps)} isolated candle(s) dropped from the history: {listed}")
        return frame.drop(index=frame.index[spikes]).reset_index(drop=True)

    def _record(self, now: datetime, kind: EventKind, symbol: str, detail: str) -> None:
        if self.journal is not None:
            self.journal.record_event(JournalEvent(ts=now, kind=kind, symbol=symbol, detail=detail))

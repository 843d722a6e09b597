"""What the trading loop reads from: market data, signals and shock detections.

Each port has a live implementation (Kraken through ``KrakenClient`` and ``CandleManager``) and
a backtest one (recorded data replayed on a simulated clock); the loop cannot tell them apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from krakenbot.data.candles import CandleManager
from krakenbot.domain import Fill, Signal, Ticker
from krakenbot.risk.shock_detect import ShockDetected
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.strategy.base import CandleArrays, Strategy

log = logging.getLogger(__name__)

# Paper fills happen when prices move: the paper exchange listens to every tick's marks and
# hourly funding rates and answers with the fills that caused (stops, liquidations).
MarketListener = Callable[[Mapping[str, float], Mapping[str, float]], Sequence[Fill]]


class MarketFeed(Protocol):
    def futures_tickers(self) -> Mapping[str, Ticker]:
        """Tickers of every futures contract, reachable by raw id (``PF_XBTUSD``). One request.

        Raises ``TransientError`` when the exchange cannot be read.
        """
        ...


class SignalFeed(Protocol):
    def signals(self, now: datetime) -> list[Signal]:
        """The strategy's signals on the newest candles closed at ``now``, one per symbol at most."""
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
    """

    def __init__(self, strategy: Strategy[object], candles: CandleManager,  # type: ignore[type-var]
                 symbols: Mapping[str, tuple[str, int]]) -> None:
        self.strategy = strategy
        self.candles = candles
        self.symbols = dict(symbols)

    def signals(self, now: datetime) -> list[Signal]:
        arrays: dict[str, CandleArrays] = {}
        for spot, (futures, multiplier) in sorted(self.symbols.items()):
            series = self.candles.get_candles(spot, self.strategy.timeframe, now, futures_symbol=futures,
                                              futures_multiplier=multiplier)
            if series.stale or series.frame.empty:
                continue
            arrays[spot] = CandleArrays.from_frame(spot, series.frame)
        return self.strategy.signals(arrays, now)

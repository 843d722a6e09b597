"""The live hole scenario on any ``CandleSource``: the bot runs, is down longer than Kraken's 720-candle
OHLC reach, restarts, and keeps ticking (one call per closed signal candle, as the slow tick does).

Works with an in-memory source (``builders.kraken_spot.KrakenSpot``) and with a real ``KrakenClient``
against the loopback ``FakeKraken``, both reading time from the same ``SimulatedClock``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from krakenbot.data.candles import CandleManager, CandleSeries, CandleSource
from krakenbot.domain import SimulatedClock


@dataclass(frozen=True, slots=True)
class HoleRun:
    """What the scenario saw: the series before the downtime, at restart, and after each later slow tick."""

    before: CandleSeries
    at_restart: CandleSeries
    ticks: list[CandleSeries]

    @property
    def last(self) -> CandleSeries:
        return self.ticks[-1] if self.ticks else self.at_restart


def restart_after_downtime(source: CandleSource, clock: SimulatedClock, cache_dir: Path, *, pair: str,
                           timeframe: str, step: timedelta, down: timedelta, max_ticks: int = 20,
                           gap_repair_max_pages: int = 10, history_candles: int = 720,
                           max_candles: int = 10_000) -> HoleRun:
    """Run ``pair`` until ``clock.now()``, stop for ``down``, restart with a new manager on the same cache,
    then tick once per ``step`` until the series has no hole (or ``max_ticks`` ticks)."""
    def manager() -> CandleManager:
        return CandleManager(source, cache_dir, history_candles=history_candles, max_candles=max_candles,
                             gap_repair_max_pages=gap_repair_max_pages)

    before = manager().get_candles(pair, timeframe, clock.now())
    clock.advance(down)
    restarted = manager()
    at_restart = restarted.get_candles(pair, timeframe, clock.now())
    ticks: list[CandleSeries] = []
    series = at_restart
    while series.hole is not None and series.hole.state != "dropped" and len(ticks) < max_ticks:
        series = restarted.get_candles(pair, timeframe, clock.advance(step))
        ticks.append(series)
    return HoleRun(before=before, at_restart=at_restart, ticks=ticks)

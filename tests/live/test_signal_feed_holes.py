"""StrategySignalFeed over a series with a known candle hole (bot down longer than Kraken's 720-candle OHLC
reach): the strategy never computes across it; a symbol whose warm-up needs candles from before the hole
is paused (logged once) until the hole is repaired from trades; one whose warm-up fits after it goes on."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from builders.kraken_spot import KrakenSpot
from krakenbot.data.candles import CandleManager
from krakenbot.domain import SimulatedClock
from krakenbot.domain.errors import TransientError
from krakenbot.domain.market import Candle
from krakenbot.live.ports import StrategySignalFeed
from live.always_long import AlwaysLong

H = timedelta(hours=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAIR, FUT = "BTC/USD", "PF_XBTUSD"
MARKS = {FUT: 100.0}


class NeedsHistory(AlwaysLong):
    """Always long, after ``warmup`` bars."""

    def __init__(self, warmup: int) -> None:
        super().__init__(timeframe="1h")
        self._warmup = warmup

    @property
    def warmup_bars(self) -> int:
        return self._warmup


def flat(hours: int) -> list[Candle]:
    return [Candle(ts=T0 + i * H, open=100.0, high=101.0, low=99.0, close=100.0, volume=1.0) for i in range(hours)]


def feed(source: KrakenSpot, cache: Path, warmup: int, pages: int = 1) -> StrategySignalFeed:
    return StrategySignalFeed(NeedsHistory(warmup), CandleManager(source, cache, gap_repair_max_pages=pages),
                              {PAIR: (FUT, 1)}, max_deviation_pct=0.2)


def restarted(tmp_path: Path, warmup: int, **source_kwargs) -> tuple[StrategySignalFeed, SimulatedClock, KrakenSpot]:
    """A feed that ran at 800:05, then a new one (the restart) 1,000 hours later; nothing asked yet."""
    clock = SimulatedClock(T0 + 800 * H + timedelta(minutes=5))
    source = KrakenSpot({PAIR: flat(2_000)}, H, clock=clock.now, **source_kwargs)
    feed(source, tmp_path / "cache", warmup).signals(clock.now(), MARKS)
    clock.advance(1_000 * H)
    return feed(source, tmp_path / "cache", warmup), clock, source


def lines(caplog, word: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if word in r.getMessage()]


def test_a_hole_inside_the_warm_up_pauses_the_symbol_once_until_it_is_repaired_from_trades(tmp_path, caplog):
    live, clock, _ = restarted(tmp_path, warmup=1_000)
    with caplog.at_level(logging.WARNING):
        assert live.signals(clock.now(), MARKS) == []  # 719 candles after the hole, 1,000 needed
        assert live.signals(clock.advance(timedelta(minutes=20)), MARKS) == []  # same bar asked again
        assert [s.symbol for s in live.signals(clock.advance(H), MARKS)] == [PAIR]  # second page: repaired
    [paused] = lines(caplog, "paused:")
    assert paused.startswith("BTC/USD: paused: BTC/USD 1h: candle hole") and "needs 1000 candles and has 719" in paused
    assert len(lines(caplog, "repaired from trades")) == 1 and len(lines(caplog, "resumed")) == 1


def test_a_hole_before_the_warm_up_window_lets_signals_go_on_over_the_candles_after_it(tmp_path, caplog):
    live, clock, _ = restarted(tmp_path, warmup=48)
    with caplog.at_level(logging.WARNING):
        assert [s.symbol for s in live.signals(clock.now(), MARKS)] == [PAIR]  # while the hole is repaired
    assert lines(caplog, "paused:") == []
    [goes_on] = lines(caplog, "signals go on")
    assert "48-candle warm-up fits in the 719 candles after the hole" in goes_on


def test_trades_failing_keep_the_symbol_paused_and_say_so_once(tmp_path, caplog):
    live, clock, source = restarted(tmp_path, warmup=1_000, trades_error=TransientError("Trades: HTTP 503"))
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert live.signals(clock.advance(H), MARKS) == []
    [paused] = lines(caplog, "paused:")
    assert "cannot be repaired from trades now (TransientError: Trades: HTTP 503)" in paused
    assert len(source.trade_calls) == 3  # retried on each slow tick, one request each

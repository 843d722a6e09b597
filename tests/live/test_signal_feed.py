"""StrategySignalFeed's candle quarantine: a signal candle far from the futures mark never reaches the
strategy, pauses that symbol's signals (logged once, journaled) and is released by a candle in range."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from krakenbot.data.candles import CandleManager
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.market import Candle
from krakenbot.live.ports import StrategySignalFeed
from krakenbot.store.journal import MemoryJournal
from live.always_long import AlwaysLong

H = timedelta(hours=1)
T0 = datetime(2026, 1, 10, tzinfo=UTC)
FUT = "PF_XBTUSD"


def candle(i: int, close: float = 100.0) -> Candle:
    return Candle(ts=T0 + i * H, open=100.0, high=max(101.0, close), low=min(99.0, close), close=close, volume=1.0)


@dataclass
class Source:
    """Hourly spot candles served by open time (``[since, until]``)."""

    rows: dict[int, Candle] = field(default_factory=lambda: {i: candle(i) for i in range(40)})

    def fetch_spot_ohlcv(self, pair, timeframe, since, until=None):
        return [c for c in self.rows.values() if since <= c.ts and (until is None or c.ts <= until)]

    def fetch_futures_ohlcv(self, symbol, timeframe, since, until=None, price="trade"):
        return []

    def fetch_spot_trades(self, pair, since):
        raise MarketDataError(f"{pair}: no trades recorded in this source")


def feed_on(source: Source, tmp_path: Path, journal: MemoryJournal, *, multiplier: int = 1) -> StrategySignalFeed:
    candles = CandleManager(source, tmp_path / "cache", history_candles=24)
    return StrategySignalFeed(AlwaysLong(), candles, {"BTC/USD": (FUT, multiplier)},  # type: ignore[arg-type]
                              journal=journal, max_deviation_pct=0.2)


def at(hours: int, minutes: int = 1) -> datetime:
    return T0 + hours * H + timedelta(minutes=minutes)


def test_candle_far_from_the_mark_is_quarantined_once_and_released_by_a_candle_in_range(tmp_path, caplog):
    source, journal = Source(), MemoryJournal()
    feed = feed_on(source, tmp_path, journal)
    assert len(feed.signals(at(25), {FUT: 100.0})) == 1
    source.rows[25] = candle(25, close=10.0)  # a tenth; the mark stays at 100
    with caplog.at_level(logging.INFO):
        assert feed.signals(at(26), {FUT: 100.0}) == []
        assert feed.signals(at(26, 30), {FUT: 100.0}) == []  # the same bar asked again: still paused
    warned = [r for r in caplog.records if "quarantined" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    assert all(s in warned[0].getMessage() for s in ("BTC/USD", "close 10 ", "mark 100 ", "90.0%", "20.0%"))
    assert [(e.kind, e.symbol) for e in journal.events] == [("candle_quarantined", FUT)]

    signals = feed.signals(at(27), {FUT: 100.0})  # 26:00 closes in range: released
    assert [s.symbol for s in signals] == ["BTC/USD"]
    assert [e.kind for e in journal.events] == ["candle_quarantined", "candle_released"]
    frame = feed.candles.get_candles("BTC/USD", "1h", at(27)).frame
    assert pd.Timestamp(T0 + 25 * H) not in set(frame["ts"]) and frame["close"].min() == 100.0


def test_a_new_bad_candle_while_quarantined_keeps_it_without_logging_again(tmp_path, caplog):
    source, journal = Source(), MemoryJournal()
    feed = feed_on(source, tmp_path, journal)
    source.rows[25], source.rows[26] = candle(25, close=10.0), candle(26, close=10.0)
    with caplog.at_level(logging.WARNING):
        assert feed.signals(at(26), {FUT: 100.0}) == []
        assert feed.signals(at(27), {FUT: 100.0}) == []
    assert len([r for r in caplog.records if "quarantined" in r.getMessage()]) == 1
    assert [e.kind for e in journal.events] == ["candle_quarantined"]
    assert len(feed.signals(at(28), {FUT: 100.0})) == 1


def test_a_real_move_that_the_mark_shares_is_not_quarantined(tmp_path):
    source, journal = Source(), MemoryJournal()
    feed = feed_on(source, tmp_path, journal)
    source.rows[25] = candle(25, close=70.0)  # a 30 % crash, and the futures mark fell with it
    assert len(feed.signals(at(26), {FUT: 71.0})) == 1 and journal.events == []


@pytest.mark.parametrize("marks", [pytest.param({}, id="no-mark"), pytest.param({"PF_ETHUSD": 100.0}, id="other")])
def test_without_a_fresh_mark_the_candle_cannot_be_checked_and_gives_no_signal(tmp_path, marks):
    journal = MemoryJournal()
    feed = feed_on(Source(), tmp_path, journal)
    assert feed.signals(at(25), marks) == [] and journal.events == []
    assert len(feed.signals(at(25, 2), {FUT: 100.0})) == 1


def test_the_mark_of_a_multiplied_contract_is_compared_per_spot_unit(tmp_path):
    journal = MemoryJournal()
    feed = feed_on(Source(), tmp_path, journal, multiplier=1000)
    assert len(feed.signals(at(25), {FUT: 100_000.0})) == 1 and journal.events == []


def test_a_bad_candle_that_arrives_with_a_newer_good_one_never_reaches_the_strategy(tmp_path, caplog):
    """A bar missed (an outage, a slow tick skipped): its bad candle comes in behind a good one."""
    source, journal = Source(), MemoryJournal()
    seen: list[float] = []

    class Recording(AlwaysLong):
        def compute(self, candles):  # type: ignore[no-untyped-def]
            seen.append(float(candles.close.min()))
            return super().compute(candles)

    feed = StrategySignalFeed(Recording(), CandleManager(source, tmp_path / "cache", history_candles=24),
                              {"BTC/USD": (FUT, 1)}, journal=journal, max_deviation_pct=0.2)
    assert len(feed.signals(at(25), {FUT: 100.0})) == 1
    source.rows[25] = candle(25, close=10.0)
    with caplog.at_level(logging.WARNING):
        assert len(feed.signals(at(27), {FUT: 100.0})) == 1  # 25:00 (bad) and 26:00 (good) arrive together
    assert seen[-1] == 100.0
    assert [e.kind for e in journal.events] == ["candle_quarantined", "candle_released"]
    assert len([r for r in caplog.records if "quarantined" in r.getMessage()]) == 1
    assert pd.Timestamp(T0 + 25 * H) not in set(feed.candles.get_candles("BTC/USD", "1h", at(27, 5)).frame["ts"])


def test_a_spike_inside_the_first_fetch_behind_a_good_newest_candle_never_reaches_the_strategy(tmp_path, caplog):
    """After a start only the newest candle can be compared with the mark; an isolated print far from both
    of its neighbours (which agree with each other) in the history is a bad print too, and dropped."""
    source, journal = Source(), MemoryJournal()
    source.rows[20] = candle(20, close=10.0)  # five bars behind the newest: 0.1x between two closes of 100
    feed = feed_on(source, tmp_path, journal)
    with caplog.at_level(logging.WARNING):
        assert [s.symbol for s in feed.signals(at(25), {FUT: 100.0})] == ["BTC/USD"]
    frame = feed.candles.get_candles("BTC/USD", "1h", at(25)).frame
    assert pd.Timestamp(T0 + 20 * H) not in set(frame["ts"]) and frame["close"].min() == 100.0
    assert len([r for r in caplog.records if "isolated" in r.getMessage()]) == 1
    assert [(e.kind, e.symbol) for e in journal.events] == [("candle_quarantined", FUT)]

"""The live hole, end to end: the real ``KrakenClient`` (real ccxt) against the loopback Kraken, which serves
only the newest 720 spot OHLC candles and the public Trades by Kraken's ``last`` cursor.

The bot runs on XBT/USD hourly candles, is down 1,000 hours (longer than the 720-candle reach), restarts
and ticks once per closed candle. It either repairs the hole from trades, or, with the Trades endpoint
failing, keeps the hole marked (the strategy reads only the candles after it) and says which.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from builders.candle_hole import restart_after_downtime
from krakenbot.config.models import ExchangeConfig
from krakenbot.data.candle_cache import clean_candles
from krakenbot.domain import SimulatedClock
from krakenbot.domain.market import Candle
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_market import Bar

H = timedelta(hours=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def hourly(hours: int, *, empty_every: int = 13) -> list[Bar]:
    """A seeded hourly random walk from T0; every ``empty_every``-th hour had no trade (no candle)."""
    rng = random.Random(11)
    price, bars = 90_000.0, []
    for i in range(hours):
        price = round(price * (1 + rng.uniform(-0.01, 0.01)), 1)
        if i % empty_every == empty_every - 1:
            continue
        close = round(price * (1 + rng.uniform(-0.004, 0.004)), 1)
        bars.append(Bar(ts_s=int((T0 + i * H).timestamp()), open=price, close=close,
                        high=round(max(price, close) * 1.002, 1), low=round(min(price, close) * 0.998, 1),
                        volume=rng.randint(1, 5_000) / 100))
    return bars


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0 + 800 * H + timedelta(minutes=5))


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now, credentials=None) as fk:
        fk.record_candles("XBTUSD", 60, hourly(2_000))
        yield fk


def client(fk: FakeKraken, clock: SimulatedClock) -> KrakenClient:
    config = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url, max_retries=1,
                            retry_base_delay_seconds=0.01)
    return KrakenClient(config, sleep=lambda _s: None, clock=clock, enable_rate_limit=False)


def served(first: datetime, last: datetime) -> pd.DataFrame:
    candles = [Candle(ts=datetime.fromtimestamp(b.ts_s, tz=UTC), open=b.open, high=b.high, low=b.low,
                      close=b.close, volume=b.volume) for b in hourly(2_000)]
    return clean_candles([c for c in candles if first <= c.ts <= last], H).frame


def test_down_longer_than_the_reach_the_restart_repairs_the_hole_from_kraken_trades(fake, clock, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="krakenbot.data.candles"):
        run = restart_after_downtime(client(fake, clock), clock, tmp_path / "cache", pair="BTC/USD", timeframe="1h",
                                     step=H, down=1_000 * H, gap_repair_max_pages=1)
    hole = run.at_restart.hole
    assert hole is not None and hole.state == "repairing"
    assert (hole.ts_before, hole.ts_after) == (T0 + 799 * H, T0 + 1081 * H)
    assert run.at_restart.frame["ts"].iloc[0] >= pd.Timestamp(hole.ts_after)  # never across the hole
    assert run.last.hole is None
    first = run.before.frame["ts"].iloc[0].to_pydatetime()
    frame = run.last.frame.copy()
    expected = served(first, T0 + 1800 * H)
    pd.testing.assert_frame_equal(frame.drop(columns="volume"), expected.drop(columns="volume"))
    assert (frame["volume"] - expected["volume"]).abs().max() < 1e-9  # a float sum of the trades' volumes
    assert fake.requests_to("/0/public/Trades"), "the hole was rebuilt from Kraken's public trades"
    lines = [r.getMessage() for r in caplog.records]
    assert any("repairing from trades" in m for m in lines)
    assert any(m.startswith("BTC/USD 1h:") and "repaired from trades" in m for m in lines)


def test_with_kraken_trades_failing_the_hole_stays_marked_and_is_said_once(fake, clock, tmp_path, caplog):
    fake.inject("status", path="/0/public/Trades", status=503, times=1_000)
    with caplog.at_level(logging.WARNING, logger="krakenbot.data.candles"):
        run = restart_after_downtime(client(fake, clock), clock, tmp_path / "cache", pair="BTC/USD", timeframe="1h",
                                     step=H, down=1_000 * H, max_ticks=3)
    for series in (run.at_restart, *run.ticks):
        assert series.hole is not None and series.hole.state == "failed"
        assert "BTC/USD" in series.hole.reason and "cannot be repaired from trades now" in series.hole.reason
        assert series.frame["ts"].iloc[0] > pd.Timestamp(series.hole.ts_before)
    assert len([r for r in caplog.records if "cannot be repaired" in r.getMessage()]) == 1

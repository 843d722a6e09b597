"""ShockGuard in the backtest on 5-minute base candles: planted and real crashes fire, the replay
equals feeding every candle, and meaningless settings are warned about at start."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.market_data import MarketData
from krakenbot.config import load_config
from krakenbot.config.models import RiskConfig
from krakenbot.config.paths import DEFAULT_CONFIG_PATH
from krakenbot.risk.shock_guard import ShockGuard

REPO = Path(__file__).resolve().parents[2]
REAL_5M = REPO / "tests" / "data" / "shock_5m"  # Binance BTC and ETH 5-minute, 19 May 2021 (PROVENANCE.md)
T0_NS = np.datetime64("2021-05-19T00:00", "ns").astype(np.int64)
FIVE_MIN_NS = 300 * 10**9


@pytest.fixture(scope="module")
def cfg():
    return load_config(DEFAULT_CONFIG_PATH)


def planted() -> MarketData:
    """60 flat 5-minute candles of BTC and ETH; BTC's candle 40 falls 6 %, ETH's candle 50 wicks 4 % up."""
    n = 60
    close = np.column_stack([np.full(n, 30_000.0), np.full(n, 2_000.0)])
    close[40:, 0] *= 0.94
    high, low = close * 1.001, close * 0.999
    high[40, 0], low[40, 0] = 30_000.0 * 1.001, close[40, 0] * 0.999
    high[50, 1] = low[50, 1] * 1.04  # (high - low) / low = 4 %, close where it opened
    opened = np.vstack([close[:1], close[:-1]])
    return MarketData(symbols=("BTC/USD", "ETH/USD"), base_timeframe="5m", ts=T0_NS + FIVE_MIN_NS * np.arange(n),
                      open=opened, high=high, low=low, close=close, volume=np.ones((n, 2)),
                      present=np.ones((n, 2), dtype=bool), complete=np.ones((n, 2), dtype=bool))


def detections(events: pd.DataFrame) -> list[tuple[str, str, str]]:
    found = events[events["kind"].isin(["shock_move", "shock_range", "shock_basis", "shock_marketwide"])]
    return [(k, s, ts.strftime("%H:%M")) for k, s, ts in zip(found["kind"], found["symbol"], found["ts"], strict=True)]


def test_planted_five_minute_crash_and_wick_fire_in_the_backtest(cfg):
    result = Backtest(cfg, planted(), progress=False).run()
    # candle 40 opens at 03:20 and closes at 03:25; candle 50 closes at 04:15
    assert detections(result.events) == [("shock_move", "PF_XBTUSD", "03:25"), ("shock_range", "PF_XBTUSD", "03:25"),
                                         ("shock_range", "PF_ETHUSD", "04:15")]


def test_replay_equals_feeding_every_candle_on_planted_and_real_five_minute_data(cfg):
    for data in (planted(), load_dataset(REAL_5M)):
        fast = Backtest(cfg, data, progress=False).run()
        slow = Backtest(cfg, data, step_every_candle=True, progress=False).run()
        pd.testing.assert_frame_equal(fast.events, slow.events)
        pd.testing.assert_frame_equal(fast.trades, slow.trades)
        assert fast.shock_events == slow.shock_events


def test_real_five_minute_crash_fires_now_and_was_blind_before(cfg):
    data = load_dataset(REAL_5M)
    assert data.base_timeframe == "5m"
    found = detections(Backtest(cfg, data, progress=False).run().events)
    assert len(found) == 18
    assert ("shock_range", "PF_ETHUSD", "11:35") in found  # the 11:30-11:35 candle: ETH's 8.7 % range
    assert {k for k, _, _ in found} == {"shock_move", "shock_range"}
    # before: a one-minute lookback on 5-minute closes, no highs and lows
    blind = ShockGuard(RiskConfig(), stale_after_seconds=cfg.loop.stale_ticker_seconds)
    ts = (data.ts + FIVE_MIN_NS).astype("datetime64[ns]")
    assert blind.scan_history(ts, np.where(data.present, data.close, np.nan), None, ["PF_XBTUSD", "PF_ETHUSD"]) == []


def test_meaningless_settings_are_warned_at_start_naming_the_key(cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="krakenbot.backtest.engine"):
        Backtest(cfg, planted(), progress=False)
    keys = [r.getMessage().split(":")[0] for r in caplog.records if r.name == "krakenbot.backtest.engine"]
    assert keys == ["risk.shock_marketwide_count", "risk.shock_marketwide_window_sec"]

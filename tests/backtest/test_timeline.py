"""The wake timeline's signal bars: every bar close up to the data's end is one, however long the data."""

from __future__ import annotations

import numpy as np
import pytest

from krakenbot.backtest.engine import _timeline
from krakenbot.backtest.market_data import MarketData, timeframe_ns

HOUR_NS = timeframe_ns("1h")


def _hourly(n: int) -> MarketData:
    """``n`` hourly candles of one symbol from 2024-01-01 00:00 UTC: the last closes on an hour boundary."""
    ts = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64) + HOUR_NS * np.arange(n, dtype=np.int64)
    price = np.full((n, 1), 100.0)
    present = np.ones((n, 1), dtype=bool)
    return MarketData(symbols=("BTC/USD",), base_timeframe="1h", ts=ts, open=price, high=price, low=price,
                      close=price, volume=price, present=present, complete=present.copy())


@pytest.mark.parametrize("candles", [2, 1_702, 8_761, 100_001])
def test_the_last_candle_closing_on_a_bar_boundary_closes_a_bar(candles):
    # np.arange's length is a float division: (8760 h + 1 ns) / 1 h rounds to 8760 and drops the last bar
    timeline = _timeline(_hourly(candles), HOUR_NS)
    assert len(timeline.times) == candles
    assert timeline.is_bar.all(), np.flatnonzero(~timeline.is_bar)
    assert timeline.bar_index.tolist() == list(range(candles))

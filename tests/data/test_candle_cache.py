import logging
import math
from datetime import UTC, datetime, timedelta

import pandas as pd

from krakenbot.data.candle_cache import clean_candles
from krakenbot.domain.market import Candle

T0 = datetime(2026, 1, 10, tzinfo=UTC)
T0_MS = 1_768_003_200_000  # T0 in Unix epoch milliseconds


def test_clean_candles_reads_epoch_milliseconds_exactly():
    rows = [[T0_MS, 100, 101, 99, 100, 1], [T0_MS + 60_000, 100, 101, 99, 100, 1]]
    result = clean_candles(rows, timedelta(minutes=1))
    assert result.dropped_bad == 0
    assert list(result.frame["ts"]) == [T0, T0 + timedelta(minutes=1)]


def test_clean_candles_drops_times_off_the_grid_by_less_than_a_second_or_a_millisecond():
    rows = [
        [T0_MS + 500, 100, 101, 99, 100, 1],  # half a second after the minute
        [T0_MS + 0.5, 100, 101, 99, 100, 1],  # not a whole millisecond
        Candle(ts=T0 + timedelta(microseconds=1), open=100, high=101, low=99, close=100, volume=1),
        [1e300, 100, 101, 99, 100, 1],  # beyond datetime's range
        Candle(ts=T0, open=100, high=101, low=99, close=100, volume=1),
    ]
    result = clean_candles(rows, timedelta(minutes=1))
    assert result.dropped_bad == 4
    assert list(result.frame["ts"]) == [T0]


def test_candle_cache_files_and_directories_are_private(tmp_path):
    import os
    import stat

    from krakenbot.data.candle_cache import ParquetCandleCache

    old = os.umask(0o022)
    try:
        cache = ParquetCandleCache(tmp_path / "cache")
        frame = clean_candles([[1_700_000_040_000, 1.0, 2.0, 0.5, 1.5, 3.0]], timedelta(minutes=1)).frame
        cache.save("spot", "BTC/USD", "1m", frame)
        cache.save("spot", "BTC/USD", "1m", frame)  # a rewrite keeps the mode
    finally:
        os.umask(old)
    path = cache.path("spot", "BTC/USD", "1m")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "cache").st_mode) == 0o700


def test_clean_candles_drops_implausible_prices_with_a_reason():
    """Issue 11 item 3: the cache kept a close of 1e308 (finite, positive, bracketed by its high)."""
    rows = [
        [T0_MS, 100, 1e308, 99, 1e308, 1],  # close 1e308, high to match
        [T0_MS + 60_000, 100, 101, 99, math.inf, 1],
        [T0_MS + 120_000, 100, 101, 99, 100, math.inf],  # volume not finite
        [T0_MS + 180_000, 100, 101, 99, 100, 1],
    ]
    result = clean_candles(rows, timedelta(minutes=1))
    assert result.dropped_bad == 3
    assert list(result.frame["close"]) == [100.0]
    assert "1e+308" in str(getattr(result, "reason", "")) and "plausible" in str(getattr(result, "reason", ""))


def test_candle_cache_file_holding_bad_rows_is_cleaned_on_load_with_a_warning(tmp_path, caplog):
    """A cache written before the checks (or by hand) with bad rows: they are dropped on load, not a crash."""
    from krakenbot.data.candle_cache import COLUMNS, ParquetCandleCache

    cache = ParquetCandleCache(tmp_path / "cache")
    path = cache.path("spot", "BTC/USD", "1m")
    path.parent.mkdir(parents=True)
    ts = pd.to_datetime([T0 + timedelta(minutes=i) for i in range(5)], utc=True)
    pd.DataFrame({"ts": ts, "open": [100.0, 100, 100, 100, -1], "high": [101.0, 1e308, 101, 101, 101],
                  "low": [99.0, 99, 99, 102, 99], "close": [100.0, 1e308, math.nan, 100, 100],
                  "volume": [1.0, 1, 1, 1, 1]}, columns=list(COLUMNS)).to_parquet(path, index=False)
    with caplog.at_level(logging.WARNING):
        frame = cache.load("spot", "BTC/USD", "1m", timedelta(minutes=1))
    assert list(frame["ts"]) == [T0] and list(frame["close"]) == [100.0]
    assert any("dropped 4 bad candles from cache" in r.getMessage() for r in caplog.records)

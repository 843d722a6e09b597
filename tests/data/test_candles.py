"""CandleManager against an in-test CandleSource that serves a fixed history and records every request."""

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from krakenbot.data.candles import CandleManager
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.market import Candle

H = timedelta(hours=1)
T0 = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)


def candle(ts: datetime, price: float = 100.0) -> Candle:
    return Candle(ts=ts, open=price, high=price * 1.01, low=price * 0.99, close=price, volume=5.0)


def hourly(start: datetime, count: int, price: float = 100.0) -> list[Candle]:
    return [candle(start + i * H, price + i) for i in range(count)]


@dataclass
class RecordingSource:
    """Serves ``spot``/``futures`` rows by market; each request is recorded as (kind, symbol, since, until)."""

    spot: dict[str, list] = field(default_factory=dict)
    futures: dict[str, list] = field(default_factory=dict)
    calls: list[tuple[str, str, datetime | None, datetime | None]] = field(default_factory=list)

    def _serve(self, rows: list, since: datetime | None, until: datetime | None) -> list:
        def ts_of(row):
            return row.ts if isinstance(row, Candle) else datetime.fromtimestamp(row[0] / 1000, tz=UTC)
        return [r for r in rows if (since is None or ts_of(r) >= since) and (until is None or ts_of(r) <= until)]

    def fetch_spot_ohlcv(self, pair, timeframe, since, until):
        self.calls.append(("spot", pair, since, until))
        if pair not in self.spot:
            raise MarketDataError(f"unknown spot pair {pair}")
        return self._serve(self.spot[pair], since, until)

    def fetch_futures_ohlcv(self, symbol, timeframe, since, until, price="trade"):
        assert price == "trade"
        self.calls.append(("futures", symbol, since, until))
        return self._serve(self.futures.get(symbol, []), since, until)

    def fetch_spot_trades(self, pair, since):
        self.calls.append(("trades", pair, None, None))
        raise MarketDataError(f"{pair}: no trades recorded in this source")


def manager(source, tmp_path, **kwargs) -> CandleManager:
    return CandleManager(source, tmp_path / "cache", history_candles=24, **kwargs)


def test_get_candles_drops_open_candle_and_returns_utc_frame(tmp_path):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 30)})
    now = T0 + 24 * H + timedelta(minutes=30)  # candle 24 (00:00 next day) is still open
    series = manager(source, tmp_path).get_candles("BTC/USD", "1h", now)
    frame = series.frame
    assert list(frame.columns) == ["ts", "open", "high", "low", "close", "volume"]
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].iloc[-1] == pd.Timestamp(T0 + 23 * H)
    assert frame["ts"].is_monotonic_increasing and frame["ts"].is_unique
    assert (series.source, series.stale, series.gaps) == ("spot", False, ())
    assert source.calls[0][2] == T0  # first fetch asks for history_candles (24) candles back


def test_get_candles_fetches_only_what_is_new(tmp_path):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 40)})
    candles = manager(source, tmp_path)
    now = T0 + 24 * H + timedelta(minutes=5)
    candles.get_candles("BTC/USD", "1h", now)
    candles.get_candles("BTC/USD", "1h", now + timedelta(minutes=20))  # nothing new closed: no request
    assert len(source.calls) == 1
    series = candles.get_candles("BTC/USD", "1h", now + 3 * H)
    assert len(source.calls) == 2
    assert source.calls[1][2] == T0 + 24 * H  # since = last cached + one timeframe
    assert len(series.frame) == 27


def test_restart_reuses_parquet_cache_without_refetching_old_candles(tmp_path):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 60)})
    now = T0 + 24 * H + timedelta(minutes=1)
    first = manager(source, tmp_path).get_candles("BTC/USD", "1h", now)
    assert (tmp_path / "cache" / "spot" / "BTC-USD_1h.parquet").exists()

    restarted = RecordingSource(spot={"BTC/USD": hourly(T0, 60)})
    second = manager(restarted, tmp_path)
    same = second.get_candles("BTC/USD", "1h", now + timedelta(minutes=30))
    assert restarted.calls == []  # the cache already holds every closed candle
    pd.testing.assert_frame_equal(same.frame, first.frame)

    later = second.get_candles("BTC/USD", "1h", now + 2 * H)
    assert [c[2] for c in restarted.calls] == [T0 + 24 * H]  # only candles after the cached ones
    assert len(later.frame) == 26


def test_get_candles_bad_rows_duplicates_and_disorder_are_cleaned_and_counted(tmp_path):
    ms = int(T0.timestamp() * 1000)
    hour_ms = 3_600_000
    rows = [
        [ms + 2 * hour_ms, 102, 103, 101, 102, 1],
        [ms, 100, 101, 99, 100, 1],
        [ms + hour_ms, 101, 102, 100, 101, 1],
        [ms + hour_ms, 101, 102, 100, 101.5, 2],  # duplicate ts: the later row wins
        [ms + 3 * hour_ms, math.nan, 103, 101, 102, 1],  # NaN
        [ms + 4 * hour_ms, 0, 0, 0, 0, 0],  # zero prices
        [ms + 5 * hour_ms, 100, 99, 101, 100, 1],  # high below low
        [ms + 6 * hour_ms + 60_000, 100, 101, 99, 100, 1],  # off the hourly grid
        [ms + 7 * hour_ms, 100, 101, 99, 100, -1],  # negative volume
        [ms + 8 * hour_ms, 100, 101, 99, 100, 1],
    ]
    source = RecordingSource(spot={"BTC/USD": rows})
    series = manager(source, tmp_path).get_candles("BTC/USD", "1h", T0 + 9 * H)
    assert series.dropped_bad == 5  # NaN, zero, high<low, off-grid, negative volume
    assert series.duplicates == 1
    assert [t.hour for t in series.frame["ts"]] == [0, 1, 2, 8]
    assert series.frame.loc[series.frame["ts"] == pd.Timestamp(T0 + H), "close"].item() == 101.5
    assert series.gaps == ((T0 + 2 * H, T0 + 8 * H, 5),)


def test_get_candles_spot_gap_falls_back_to_futures_and_logs_source_once_per_interval(tmp_path, caplog):
    spot = hourly(T0, 20)  # spot stops at 19:00: a gap up to now
    futures = hourly(T0, 30, price=100.5)
    source = RecordingSource(spot={"BTC/USD": spot}, futures={"PF_XBTUSD": futures})
    candles = manager(source, tmp_path, source_log_interval=timedelta(minutes=60))
    now = T0 + 24 * H + timedelta(minutes=1)
    with caplog.at_level(logging.INFO, logger="krakenbot.data.candles"):
        results = [candles.get_candles("BTC/USD", "1h", now + i * timedelta(minutes=10), futures_symbol="PF_XBTUSD")
                   for i in range(5)]
        later = candles.get_candles("BTC/USD", "1h", now + 61 * timedelta(minutes=1), futures_symbol="PF_XBTUSD")
    assert all(r.source == "futures_fallback" and not r.stale and r.market == "PF_XBTUSD" for r in results)
    assert results[0].frame["ts"].iloc[-1] == pd.Timestamp(T0 + 23 * H)
    source_lines = [r.getMessage() for r in caplog.records if "candle source" in r.getMessage()]
    assert source_lines == ["BTC/USD: candle source futures_fallback (PF_XBTUSD)"] * 2  # first call, then after 60 min
    assert later.source == "futures_fallback"


def test_get_candles_fresh_spot_never_touches_futures(tmp_path, caplog):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 30)}, futures={"PF_XBTUSD": hourly(T0, 30)})
    with caplog.at_level(logging.INFO, logger="krakenbot.data.candles"):
        series = manager(source, tmp_path).get_candles("BTC/USD", "1h", T0 + 24 * H, futures_symbol="PF_XBTUSD")
    assert series.source == "spot"
    assert {c[0] for c in source.calls} == {"spot"}
    assert [r.getMessage() for r in caplog.records if "candle source" in r.getMessage()] == [
        "BTC/USD: candle source spot (BTC/USD)"]


def test_get_candles_missing_spot_market_uses_futures_scaled_by_multiplier(tmp_path):
    futures = hourly(T0, 30, price=1200.0)  # PF_1MBABYDOGEUSD: 1e6 x spot
    source = RecordingSource(futures={"PF_1MBABYDOGEUSD": futures})
    series = manager(source, tmp_path).get_candles("BABYDOGE/USD", "1h", T0 + 24 * H,
                                                   futures_symbol="PF_1MBABYDOGEUSD", futures_multiplier=1_000_000)
    assert series.source == "futures_fallback"
    assert series.frame["close"].iloc[0] == pytest.approx(1200.0 / 1_000_000)
    assert series.frame["volume"].iloc[0] == pytest.approx(5.0 * 1_000_000)


def test_get_candles_stale_spot_without_futures_is_reported_stale(tmp_path):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 20)})
    series = manager(source, tmp_path, stale_candle_factor=2.0).get_candles("BTC/USD", "1h", T0 + 24 * H)
    assert series.source == "spot"
    assert series.stale
    assert series.ts_last == T0 + 19 * H


@pytest.mark.parametrize(("minutes_after_last_open", "stale"), [(119, False), (121, True)])
def test_get_candles_stale_bound_is_factor_times_timeframe(tmp_path, minutes_after_last_open, stale):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 5)})
    now = T0 + 4 * H + timedelta(minutes=minutes_after_last_open)
    assert manager(source, tmp_path).get_candles("BTC/USD", "1h", now).stale is stale


def test_corrupt_cache_file_is_refetched_not_fatal(tmp_path):
    path = tmp_path / "cache" / "spot" / "BTC-USD_1h.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not parquet")
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 30)})
    series = manager(source, tmp_path).get_candles("BTC/USD", "1h", T0 + 24 * H)
    assert len(series.frame) == 24 and len(source.calls) == 1


def test_get_candles_drops_an_implausible_candle_and_logs_bad_candles_once_an_hour_per_symbol(tmp_path, caplog):
    """Issue 11 item 3: a close of 1e308 is never kept nor stored; the drops are logged once an hour."""
    ms, minute_ms, m = int(T0.timestamp() * 1000), 60_000, timedelta(minutes=1)
    rows = [[ms + i * minute_ms, 100, 101, 99, 100, 1] for i in range(40)]
    for i in (20, 26, 28, 30):
        rows[i] = [ms + i * minute_ms, 100, 1e308, 99, 1e308, 1]
    source = RecordingSource(spot={"BTC/USD": rows})
    candles = manager(source, tmp_path)
    with caplog.at_level(logging.WARNING):
        for minutes in range(25, 36):  # a new bad row every other minute
            series = candles.get_candles("BTC/USD", "1m", T0 + minutes * m + timedelta(seconds=1))
    assert len(source.calls) == 11 and series.frame["close"].max() == 100.0
    restarted = manager(RecordingSource(spot={"BTC/USD": rows}), tmp_path).get_candles("BTC/USD", "1m", T0 + 35 * m)
    assert restarted.frame["close"].max() == 100.0  # the cache never stored it
    dropped = [r for r in caplog.records if "bad spot candles" in r.getMessage()]
    assert len(dropped) == 1 and "1e+308" in dropped[0].getMessage()


def test_discarded_candle_is_removed_from_memory_and_cache_and_refused_when_fetched_again(tmp_path):
    source = RecordingSource(spot={"BTC/USD": hourly(T0, 30)})
    candles = manager(source, tmp_path)
    now = T0 + 25 * H + timedelta(minutes=1)
    series = candles.get_candles("BTC/USD", "1h", now)
    assert series.ts_last == T0 + 24 * H
    candles.discard(series, T0 + 24 * H)
    again = candles.get_candles("BTC/USD", "1h", now + timedelta(minutes=10))  # refetches 24:00, refuses it
    assert again.ts_last == T0 + 23 * H
    later = candles.get_candles("BTC/USD", "1h", now + H)
    assert later.ts_last == T0 + 25 * H and pd.Timestamp(T0 + 24 * H) not in set(later.frame["ts"])
    restarted = manager(RecordingSource(spot={"BTC/USD": hourly(T0, 30)}), tmp_path)
    assert pd.Timestamp(T0 + 24 * H) not in set(restarted.get_candles("BTC/USD", "1h", now + H).frame["ts"])

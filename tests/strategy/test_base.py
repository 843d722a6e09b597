"""CandleArrays: the strategy's input container checks its data at the front door."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from krakenbot.strategy.base import CandleArrays, datetime_to_ts, ts_to_datetime


def frame(n: int = 5) -> pd.DataFrame:
    ts = pd.date_range("2023-03-10 00:00", periods=n, freq="h", tz="UTC")
    close = np.linspace(100, 104, n)
    return pd.DataFrame({"ts": ts, "open": close, "high": close + 1, "low": close - 1, "close": close,
                         "volume": np.ones(n)})


def test_candle_arrays_from_frame_converts_tz_aware_ts_to_utc_ns_and_freezes_arrays() -> None:
    df = frame()
    df["ts"] = df["ts"].dt.tz_convert("Europe/Berlin")
    candles = CandleArrays.from_frame("BTC/USD", df)
    assert candles.ts.dtype == np.dtype("datetime64[ns]")
    assert ts_to_datetime(candles.ts[0]) == datetime(2023, 3, 10, tzinfo=UTC)
    assert len(candles) == 5
    with pytest.raises(ValueError):
        candles.close[0] = 1.0


def test_candle_arrays_copy_a_writable_or_frame_backed_column_and_keep_a_frozen_one() -> None:
    df = frame()
    candles = CandleArrays.from_frame("BTC/USD", df)
    df.loc[2, "close"] = 1.0  # pandas writes the memory its read-only to_numpy views show
    assert candles.close[2] == 102.0
    close = np.array([100.0, 101.0, 102.0, 103.0, 104.0])
    ts = np.arange(5, dtype=np.int64).astype("datetime64[h]").astype("datetime64[ns]")
    copied = CandleArrays(symbol="BTC/USD", ts=ts, open=close, high=close, low=close, close=close, volume=close)
    close[2] = 1.0
    assert copied.close[2] == 102.0 and not copied.close.flags.writeable
    close[2] = 102.0
    close.setflags(write=False)
    ts.setflags(write=False)
    kept = CandleArrays(symbol="BTC/USD", ts=ts, open=close, high=close, low=close, close=close, volume=close)
    assert kept.close is close and kept.ts is ts


def test_candle_arrays_from_frame_accepts_ts_index() -> None:
    candles = CandleArrays.from_frame("BTC/USD", frame().set_index("ts"))
    assert len(candles) == 5


def test_candle_arrays_from_frame_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"\['volume'\]"):
        CandleArrays.from_frame("BTC/USD", frame().drop(columns=["volume"]))


@pytest.mark.parametrize("column", ["open", "high", "low", "close"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 0.0, -1.0])
def test_candle_arrays_rejects_missing_infinite_zero_or_negative_prices(column: str, bad: float) -> None:
    df = frame()
    df.loc[2, column] = bad
    with pytest.raises(ValueError, match="missing"):
        CandleArrays.from_frame("BTC/USD", df)


def test_candle_arrays_accepts_zero_volume_and_no_candles() -> None:
    df = frame()
    df["volume"] = 0.0
    assert len(CandleArrays.from_frame("BTC/USD", df)) == 5
    assert len(CandleArrays.from_frame("BTC/USD", frame(0))) == 0


def test_candle_arrays_rejects_unordered_or_duplicate_timestamps() -> None:
    df = frame()
    df.loc[3, "ts"] = df.loc[2, "ts"]
    with pytest.raises(ValueError, match="strictly increasing"):
        CandleArrays.from_frame("BTC/USD", df)


def test_candle_arrays_tail_and_slice_keep_symbol_and_alignment() -> None:
    candles = CandleArrays.from_frame("BTC/USD", frame(10))
    tail = candles.tail(3)
    assert tail.symbol == "BTC/USD" and len(tail) == 3
    assert tail.close[-1] == candles.close[-1] and tail.ts[0] == candles.ts[7]
    assert len(candles.tail(50)) == 10


def test_datetime_round_trip_through_datetime64() -> None:
    moment = datetime(2023, 3, 11, 7, 40, 12, 345678, tzinfo=UTC)
    assert ts_to_datetime(datetime_to_ts(moment)) == moment
    with pytest.raises(ValueError, match="UTC"):
        datetime_to_ts(datetime(2023, 3, 11))

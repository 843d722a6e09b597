"""Loading recorded candles: the shipped demo set, resampling, and a clear error for each malformed input."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.data import DataError, load_dataset
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.domain.errors import ConfigError

DEMO = DEMO_DATA_DIR
DEMO_ROWS = {"ADA/USD": 12761, "BTC/USD": 12761, "DOGE/USD": 12760, "DOT/USD": 12760, "ETH/USD": 12759,
             "LINK/USD": 12759, "LTC/USD": 12759, "XRP/USD": 12760}
T0 = pd.Timestamp("2024-01-01T00:00:00Z")


def candles(n: int = 10, *, start: pd.Timestamp = T0, minutes: int = 1, price: float = 100.0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq=f"{minutes}min")
    close = price + np.arange(n, dtype="float64")
    return pd.DataFrame({"ts": ts, "open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close,
                         "volume": np.full(n, 2.0)})


def write(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


# --- the shipped demo set -------------------------------------------------------------------

def test_load_dataset_demo_aligns_all_symbols_on_one_minute_grid() -> None:
    md = load_dataset(DEMO)
    assert md.symbols == tuple(sorted(DEMO_ROWS))
    assert md.base_timeframe == "1m"
    assert md.ts.dtype == np.int64 and len(md.ts) == 12761
    assert np.all(np.diff(md.ts) == 60 * 10**9)
    assert md.ts_start == datetime(2021, 5, 12, tzinfo=UTC)
    assert md.ts_end == datetime(2021, 5, 20, 20, 40, tzinfo=UTC)
    assert dict(zip(md.symbols, md.present.sum(axis=0).tolist(), strict=True)) == DEMO_ROWS
    for name in ("open", "high", "low", "close", "volume"):
        array = getattr(md, name)
        assert array.shape == (12761, 8)
        assert np.array_equal(np.isnan(array), ~md.present), name
    assert not md.close.flags.writeable


def test_load_dataset_demo_missing_tail_is_nan_not_filled() -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD", "BTC/USD"])
    eth = md.column("ETH/USD")
    assert md.symbols == ("ETH/USD", "BTC/USD")
    assert md.present[:, eth].sum() == 12759
    assert not md.present[-1, eth] and not md.present[-2, eth] and md.present[-3, eth]
    assert np.isnan(md.close[-1, eth])


def test_mark_view_carries_last_close_and_flags_it() -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD", "BTC/USD"])
    view = md.mark_view()
    eth = md.column("ETH/USD")
    last_close = md.close[-3, eth]
    assert view.close[-1, eth] == last_close and view.close[-2, eth] == last_close
    assert view.carried[-2:, eth].tolist() == [True, True]
    assert not view.carried[:-2, eth].any()
    assert view.source_ts[-1, eth] == md.ts[-3]
    assert np.array_equal(view.close[:-2, eth], md.close[:-2, eth])


def test_load_dataset_date_window_is_inclusive_whole_days() -> None:
    md = load_dataset(DEMO, symbols=["BTC/USD"], start=date(2021, 5, 19), end=date(2021, 5, 19))
    assert len(md.ts) == 1440
    assert md.ts_start == datetime(2021, 5, 19, tzinfo=UTC)
    assert md.ts_end == datetime(2021, 5, 19, 23, 59, tzinfo=UTC)


def test_load_dataset_datetime_end_is_inclusive_instant() -> None:
    md = load_dataset(DEMO, symbols=["BTC/USD"], start=datetime(2021, 5, 19, 13, 0, tzinfo=UTC),
                      end=datetime(2021, 5, 19, 13, 10, tzinfo=UTC))
    assert len(md.ts) == 11
    assert md.low[-1, 0] == 30_000.0  # the recorded crash low, 13:10 UTC


def test_load_dataset_naive_datetime_is_refused() -> None:
    with pytest.raises(DataError, match="no timezone"):
        load_dataset(DEMO, start=datetime(2021, 5, 19))


# --- resampling -----------------------------------------------------------------------------

def _pandas_reference(frame: pd.DataFrame, rule: str, last_ts: pd.Timestamp, step: pd.Timedelta) -> pd.DataFrame:
    ref = frame.set_index("ts").resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    ref = ref[ref.index + step - pd.Timedelta(minutes=1) <= last_ts]
    return ref.reset_index()


@pytest.mark.parametrize(("timeframe", "rule", "minutes"), [("5m", "5min", 5), ("1h", "1h", 60), ("4h", "4h", 240),
                                                             ("1d", "1D", 1440)])
def test_resample_demo_matches_pandas_reference(timeframe: str, rule: str, minutes: int) -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD", "DOGE/USD"])
    bars = md.resample(timeframe)
    assert bars.base_timeframe == timeframe
    for symbol in md.symbols:
        base = md.frame(symbol)
        expected = _pandas_reference(base, rule, base["ts"].iloc[-1], pd.Timedelta(minutes=minutes))
        got = bars.frame(symbol)
        assert got["ts"].tolist() == expected["ts"].tolist()
        for column in ("open", "high", "low", "close"):
            assert np.array_equal(got[column].to_numpy(), expected[column].to_numpy()), (symbol, column)
        np.testing.assert_allclose(got["volume"], expected["volume"], rtol=1e-12)


def test_resample_drops_incomplete_edge_bars_unless_kept() -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD"])  # ends at 20:38: the 20:00 hour and the 20:35 five are partial
    hourly = md.resample("1h")
    assert hourly.frame("ETH/USD")["ts"].iloc[-1] == pd.Timestamp("2021-05-20T19:00:00Z")
    kept = md.resample("1h", keep_incomplete=True)
    assert kept.ts[-1] == pd.Timestamp("2021-05-20T20:00:00Z").value
    assert kept.present[-1, 0] and not kept.complete[-1, 0]
    assert kept.frame("ETH/USD", complete_only=False)["close"].iloc[-1] == md.close[-1, 0]


def test_resample_bar_with_missing_minutes_uses_present_candles(tmp_path: Path) -> None:
    frame = candles(15).drop(index=[0, 3, 4]).reset_index(drop=True)  # 00:00, 00:03, 00:04 not traded
    write(tmp_path, "BTC-USD-1m.parquet", frame)
    first_bar = load_dataset(tmp_path).resample("5m", keep_incomplete=True)
    # data starts at 00:01: the first bar is incomplete (not covered), the others complete despite gaps
    assert first_bar.complete[:, 0].tolist() == [False, True, True]
    assert first_bar.open[0, 0] == frame["open"].iloc[0] and first_bar.close[0, 0] == frame["close"].iloc[1]
    assert first_bar.volume[0, 0] == 4.0


def test_resample_to_finer_timeframe_is_refused() -> None:
    md = load_dataset(DEMO, symbols=["BTC/USD"]).resample("1h")
    with pytest.raises(ValueError, match="multiple of 1h"):
        md.resample("5m")


# --- layouts: timeframes and CSV --------------------------------------------------------------

def test_load_dataset_symbol_with_two_timeframes_uses_finest(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles(10))
    write(tmp_path, "BTC-USD-5m.parquet", candles(2, minutes=5, price=500.0))
    assert load_dataset(tmp_path).base_timeframe == "1m"
    five = load_dataset(tmp_path, timeframe="5m")
    assert five.base_timeframe == "5m" and five.close[0, 0] == 500.0


def test_load_dataset_symbols_with_different_finest_use_the_coarser(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles(10))
    write(tmp_path, "ETH-USD-5m.csv", candles(2, minutes=5, price=2000.0))
    md = load_dataset(tmp_path)
    assert md.base_timeframe == "5m"
    assert md.close[:, md.column("BTC/USD")].tolist() == [104.0, 109.0]


def test_load_dataset_csv_with_epoch_milliseconds(tmp_path: Path) -> None:
    frame = candles(3)
    frame["ts"] = frame["ts"].dt.as_unit("ms").astype("int64")
    write(tmp_path, "SOL-USD-1m.csv", frame)
    md = load_dataset(tmp_path)
    assert md.symbols == ("SOL/USD",) and md.ts_start == datetime(2024, 1, 1, tzinfo=UTC)


# --- malformed input: the message names the file and the problem --------------------------------

def test_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: data folder does not exist"):
        load_dataset(tmp_path / "nowhere")


def test_folder_without_candle_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no candles here")
    with pytest.raises(DataError, match="no candle files"):
        load_dataset(tmp_path)


def test_unknown_file_name_pattern_is_named(tmp_path: Path) -> None:
    write(tmp_path, "BTCUSD_1m.parquet", candles())
    with pytest.raises(DataError, match=r"BTCUSD_1m\.parquet: file name does not match BASE-QUOTE-TF"):
        load_dataset(tmp_path)


def test_unknown_timeframe_in_file_name_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-2m.parquet", candles())
    with pytest.raises(DataError, match=r"BTC-USD-2m\.parquet: file name does not match"):
        load_dataset(tmp_path)


def test_same_series_in_parquet_and_csv_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles())
    write(tmp_path, "BTC-USD-1m.csv", candles())
    with pytest.raises(DataError, match="keep one of them"):
        load_dataset(tmp_path)


@pytest.mark.parametrize("name", ["BTC-USD-1m.parquet", "BTC-USD-1m.csv"])
def test_missing_columns_are_named(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, candles().drop(columns=["low", "volume"]))
    with pytest.raises(DataError, match=r"missing columns low, volume") as info:
        load_dataset(tmp_path)
    assert str(path) in str(info.value)


def test_nan_in_ohlc_names_file_and_timestamp(tmp_path: Path) -> None:
    frame = candles()
    frame.loc[4, "close"] = np.nan
    path = write(tmp_path, "BTC-USD-1m.parquet", frame)
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path)
    message = str(info.value)
    assert message.startswith(f"Some OHLC values are missing (NaN) in {path} at rows/ts 4 (2024-01-01T00:04:00+00:00)")
    assert message.endswith("drop or fill them")


def test_unsorted_timestamps_name_first_offender(tmp_path: Path) -> None:
    frame = candles()
    frame = frame.iloc[[0, 1, 2, 5, 3, 4, 6]].reset_index(drop=True)
    write(tmp_path, "BTC-USD-1m.parquet", frame)
    with pytest.raises(DataError, match=r"BTC-USD-1m\.parquet: timestamps are not sorted: row 4 "
                                        r"\(2024-01-01T00:03:00\+00:00\)"):
        load_dataset(tmp_path)


def test_duplicated_timestamp_is_named(tmp_path: Path) -> None:
    frame = candles()
    frame = pd.concat([frame.iloc[:3], frame.iloc[2:]], ignore_index=True)
    write(tmp_path, "BTC-USD-1m.parquet", frame)
    with pytest.raises(DataError, match=r"BTC-USD-1m\.parquet: duplicated timestamp 2024-01-01T00:02:00\+00:00"):
        load_dataset(tmp_path)


def test_high_below_low_is_named(tmp_path: Path) -> None:
    frame = candles()
    frame.loc[2, ["high", "low"]] = [90.0, 110.0]
    write(tmp_path, "BTC-USD-1m.parquet", frame)
    with pytest.raises(DataError, match=r"BTC-USD-1m\.parquet: high < low at rows/ts 2 "):
        load_dataset(tmp_path)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_non_positive_price_is_named(tmp_path: Path, bad: float) -> None:
    frame = candles()
    frame.loc[6, "low"] = bad
    write(tmp_path, "BTC-USD-1m.parquet", frame)
    with pytest.raises(DataError, match=r"BTC-USD-1m\.parquet: non-positive or infinite prices at rows/ts 6 "):
        load_dataset(tmp_path)


def test_timestamp_off_the_timeframe_grid_is_named(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-5m.parquet", candles(3, start=T0 + pd.Timedelta(minutes=1), minutes=5))
    with pytest.raises(DataError, match=r"BTC-USD-5m\.parquet: timestamps off the 5m grid"):
        load_dataset(tmp_path)


def test_unreadable_parquet_is_named(tmp_path: Path) -> None:
    (tmp_path / "BTC-USD-1m.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match=r"BTC-USD-1m\.parquet: cannot be read"):
        load_dataset(tmp_path)


def test_one_bad_file_fails_the_whole_load(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles())
    bad = candles()
    bad.loc[1, "open"] = np.nan
    write(tmp_path, "ETH-USD-1m.parquet", bad)
    with pytest.raises(DataError, match=r"ETH-USD-1m\.parquet"):
        load_dataset(tmp_path)


def test_window_outside_data_names_the_data_range(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles())
    with pytest.raises(DataError, match=r"window 2025-01-01 \.\. end of data is outside the data "
                                        r"\(2024-01-01T00:00:00\+00:00 \.\. "):
        load_dataset(tmp_path, start=date(2025, 1, 1))
    with pytest.raises(DataError, match="before start"):
        load_dataset(tmp_path, start=date(2024, 1, 2), end=date(2024, 1, 1))


def test_symbol_without_candles_in_window_is_named(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles(3))
    write(tmp_path, "ETH-USD-1m.parquet", candles(3, start=T0 + pd.Timedelta(days=2)))
    with pytest.raises(DataError, match=r"ETH-USD-1m\.parquet: no candles in the window start of data \.\. 2024-01-01"):
        load_dataset(tmp_path, end=date(2024, 1, 1))


def test_unknown_symbol_lists_available(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", candles())
    with pytest.raises(DataError, match=r"no files for SOL/USD \(available: BTC/USD\)"):
        load_dataset(tmp_path, symbols=["SOL/USD"])


def test_data_error_is_a_config_error_and_a_value_error() -> None:
    assert issubclass(DataError, ConfigError) and issubclass(DataError, ValueError)

"""What a backtest replays: the configured universe, one base resolution, and a warm-up on data before the start."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.contracts import KRAKEN_PERPETUALS, known_perpetual
from krakenbot.backtest.data import DataError, load_dataset
from krakenbot.backtest.engine import run_backtest
from krakenbot.backtest.selection import choose_symbols, select_backtest_data
from krakenbot.config import load_config
from krakenbot.config.models import AppConfig, UniverseConfig
from krakenbot.config.paths import DEFAULT_CONFIG_PATH, DEMO_DATA_DIR

REPO = Path(__file__).resolve().parents[2]
DEMO = DEMO_DATA_DIR


def write(folder: Path, name: str, n: int, minutes: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ts = pd.date_range("2024-01-01T00:00:00Z", periods=n, freq=f"{minutes}min")
    close = 100.0 + np.arange(n, dtype="float64")
    pd.DataFrame({"ts": ts, "open": close, "high": close + 1, "low": close - 1, "close": close,
                  "volume": 1.0}).to_parquet(folder / name, index=False)


@pytest.fixture(scope="module")
def cfg() -> AppConfig:
    return load_config(DEFAULT_CONFIG_PATH)


def test_known_perpetual_uses_krakens_list() -> None:
    assert len(KRAKEN_PERPETUALS) == 274
    assert known_perpetual("BTC/USD") == "PF_XBTUSD" and known_perpetual("LUNA2/USD") == "PF_LUNA2USD"
    assert known_perpetual("FOO/USD") is None and known_perpetual("BTC/USDT") is None


def test_default_config_trades_the_eight_demo_symbols(cfg: AppConfig) -> None:
    symbols, warnings = choose_symbols(cfg, DEMO, allow_missing=False)
    assert symbols == sorted(symbols) and len(symbols) == 8 and not warnings


def test_empty_universe_with_allow_takes_only_those_bases() -> None:
    cfg = AppConfig(universe=UniverseConfig(symbols=[], allow=["XBT", "ETH"], deny=["DOGE"]))
    assert choose_symbols(cfg, DEMO, allow_missing=False) == (["BTC/USD", "ETH/USD"], [])


def test_deny_everything_is_an_error_even_with_allow_missing(tmp_path: Path) -> None:
    cfg = AppConfig(universe=UniverseConfig(symbols=["FOO/USD"]))
    write(tmp_path, "FOO-USD-1m.parquet", 10)
    with pytest.raises(DataError, match="nothing left to trade"):
        choose_symbols(cfg, tmp_path, allow_missing=True)


def test_one_resolution_accepts_a_symbol_that_also_has_the_common_timeframe(tmp_path: Path) -> None:
    write(tmp_path, "BTC-USD-1m.parquet", 20)
    write(tmp_path, "BTC-USD-5m.parquet", 4, minutes=5)
    write(tmp_path, "ETH-USD-5m.parquet", 4, minutes=5)
    assert load_dataset(tmp_path, one_resolution=True).base_timeframe == "5m"
    (tmp_path / "BTC-USD-5m.parquet").unlink()
    with pytest.raises(DataError, match=r"mix base resolutions: BTC-USD-1m.parquet \(1m\), ETH-USD-5m.parquet"):
        load_dataset(tmp_path, one_resolution=True)


def test_since_and_subset_slice_rows_and_columns() -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD", "BTC/USD"])
    cut = int(md.ts[100])
    later = md.since(cut)
    assert later.ts[0] == cut and len(later.ts) == len(md.ts) - 100 and later.symbols == md.symbols
    assert np.array_equal(later.close, md.close[100:], equal_nan=True)
    btc = md.subset(("BTC/USD",))
    assert btc.symbols == ("BTC/USD",) and bool(btc.present.all())
    assert np.array_equal(btc.close[:, 0], md.close[md.present[:, 1], 1])


def test_until_keeps_the_candles_that_open_before_the_cut() -> None:
    md = load_dataset(DEMO, symbols=["ETH/USD", "BTC/USD"])
    cut = int(md.ts[100])
    earlier = md.until(cut)
    assert earlier.ts[-1] < cut and len(earlier.ts) == 100 and earlier.symbols == md.symbols
    assert np.array_equal(earlier.close, md.close[:100], equal_nan=True)
    assert md.until(int(md.ts[-1]) + 1) is md


def test_warm_up_loads_warmup_bars_before_start_and_trades_only_from_start(cfg: AppConfig) -> None:
    start = date(2021, 5, 16)
    begin = datetime(2021, 5, 16, tzinfo=UTC)
    chosen = select_backtest_data(cfg, DEMO, start=start, end=date(2021, 5, 18))
    warmup = timedelta(minutes=15) * 231  # TrendStrategy's warm-up at the default 15m
    assert chosen.start == begin and not chosen.warnings
    assert chosen.data.ts_start == begin - warmup
    warmed = run_backtest(cfg, chosen.data, start=chosen.start, progress=False)
    assert warmed.start == begin
    assert warmed.equity["ts"].min() >= pd.Timestamp(begin)
    assert (warmed.trades["ts_open"] >= pd.Timestamp(begin)).all()
    cold_data = load_dataset(DEMO, symbols=chosen.data.symbols, start=start, end=date(2021, 5, 18))
    cold = run_backtest(cfg, cold_data, progress=False)
    assert cold.start == begin
    assert (cold.trades["ts_open"] >= pd.Timestamp(begin + warmup)).all()
    assert (warmed.trades["ts_open"] < pd.Timestamp(begin + warmup)).any(), "warmed up: trades start earlier"


def test_start_after_the_data_is_refused(cfg: AppConfig) -> None:
    with pytest.raises(DataError, match="no candles from the start 2021-05-21"):
        select_backtest_data(cfg, DEMO, start=date(2021, 5, 21))

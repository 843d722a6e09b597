"""`backtest` runs what the configuration names: the universe, known contracts, one resolution, a real warm-up.

Each case calls the CLI in-process (typer's CliRunner) on a small folder of planted candles and checks
the exit code, the message and that nothing was written on a refusal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from krakenbot.cli import app

T0 = pd.Timestamp("2024-01-01T00:00:00Z")
STRATEGY = "krakenbot.strategy.ema_cross:EmaCrossStrategy"



def candles(n: int, *, minutes: int = 60, start: pd.Timestamp = T0, price: float = 100.0) -> pd.DataFrame:
    ts = pd.date_range(start, periods=n, freq=f"{minutes}min")
    close = price * (1 + 0.05 * np.sin(np.arange(n) / 7.0))
    return pd.DataFrame({"ts": ts, "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
                         "volume": np.full(n, 5.0)})


def folder(tmp_path: Path, files: dict[str, pd.DataFrame]) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for name, frame in files.items():
        frame.to_parquet(data / name, index=False)
    return data


def config(tmp_path: Path, *, symbols: list[str], deny: list[str] | None = None, timeframe: str = "1h") -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(f"universe:\n  symbols: {json.dumps(symbols)}\n  deny: {json.dumps(deny or [])}\n"
                    f"strategy:\n  class_path: {STRATEGY}\n  timeframe: {timeframe}\n"
                    "  params: {fast_span: 3, slow_span: 8}\n")
    return path


def run(tmp_path: Path, cfg: Path, data: Path, *extra: str):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["backtest", "--config", str(cfg), "--data", str(data), "--out", str(out),
                                      *extra])
    return result, out


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_backtest_trades_universe_symbols_minus_deny(tmp_path: Path) -> None:
    data = folder(tmp_path, {f"{b}-USD-1h.parquet": candles(200) for b in ("BTC", "ETH", "SOL")})
    result, out = run(tmp_path, config(tmp_path, symbols=["BTC/USD", "ETH/USD"], deny=["ETH"]), data)
    assert result.exit_code == 0, result.output
    assert summary(out)["symbols"] == ["BTC/USD"]


def test_backtest_empty_universe_means_every_file_in_the_folder(tmp_path: Path) -> None:
    data = folder(tmp_path, {f"{b}-USD-1h.parquet": candles(200) for b in ("BTC", "ETH", "SOL")})
    result, out = run(tmp_path, config(tmp_path, symbols=[], deny=["XBT"]), data)  # XBT is BTC
    assert result.exit_code == 0, result.output
    assert summary(out)["symbols"] == ["ETH/USD", "SOL/USD"]


def test_backtest_configured_symbol_without_data_exits_2_naming_it_and_the_folder(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(200)})
    result, out = run(tmp_path, config(tmp_path, symbols=["BTC/USD", "ETH/USD"]), data)
    assert result.exit_code == 2
    assert "universe.symbols: ETH/USD has no candle file in" in result.output
    assert str(data) in result.output and "--allow-missing" in result.output
    assert not out.exists()


def test_backtest_allow_missing_skips_the_symbol_with_a_warning(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(200)})
    result, out = run(tmp_path, config(tmp_path, symbols=["BTC/USD", "ETH/USD"]), data, "--allow-missing")
    assert result.exit_code == 0, result.output
    assert "warning: skipped: universe.symbols: ETH/USD has no candle file" in result.output
    assert summary(out)["symbols"] == ["BTC/USD"]


def test_backtest_data_without_a_known_contract_exits_2_naming_the_file(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(200), "FOO-USD-1h.parquet": candles(200)})
    result, out = run(tmp_path, config(tmp_path, symbols=[]), data)
    assert result.exit_code == 2
    assert "FOO-USD-1h.parquet: FOO/USD has no known Kraken perpetual (PF_FOOUSD" in result.output
    assert not out.exists()
    allowed, out = run(tmp_path, config(tmp_path, symbols=[]), data, "--allow-missing")
    assert allowed.exit_code == 0, allowed.output
    assert "warning: skipped:" in allowed.output and summary(out)["symbols"] == ["BTC/USD"]


def test_backtest_mixed_base_resolutions_are_refused_naming_the_files(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1m.parquet": candles(3000, minutes=1),
                             "ETH-USD-5m.parquet": candles(600, minutes=5)})
    result, out = run(tmp_path, config(tmp_path, symbols=[]), data)
    assert result.exit_code == 2
    assert "mix base resolutions" in result.output
    assert "BTC-USD-1m.parquet (1m)" in result.output and "ETH-USD-5m.parquet (5m)" in result.output
    assert not out.exists()


def test_backtest_warm_up_uses_data_before_start_and_trades_only_from_start(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(24 * 20)})  # 2024-01-01 .. 2024-01-20
    cfg = config(tmp_path, symbols=["BTC/USD"])
    result, out = run(tmp_path, cfg, data, "--start", "2024-01-10")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    start = pd.Timestamp("2024-01-10T00:00:00Z")
    assert summary(out)["start"] == "2024-01-10T00:00:00Z"
    equity = pd.read_csv(out / "equity.csv", parse_dates=["ts"])
    assert equity["ts"].min() >= start and equity["ts"].min() <= start + pd.Timedelta(hours=1)
    trades = pd.read_csv(out / "trades.csv", parse_dates=["ts_open"])
    assert len(trades) and (trades["ts_open"] >= start).all()
    # Warmed up on history: the first entry is as early as the signal allows, not warmup_bars later.
    assert trades["ts_open"].min() < start + pd.Timedelta(hours=8)


def test_backtest_that_cannot_warm_up_exits_2_naming_the_need_and_the_data(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(6)})
    result, out = run(tmp_path, config(tmp_path, symbols=["BTC/USD"]), data)
    assert result.exit_code == 2
    assert "BTC/USD: cannot warm up" in result.output
    assert "warmup_bars=" in result.output and "the data has 6 complete 1h bars" in result.output
    assert not out.exists()


def test_backtest_short_history_before_start_warns_when_the_first_signal_can_come(tmp_path: Path) -> None:
    data = folder(tmp_path, {"BTC-USD-1h.parquet": candles(48, start=pd.Timestamp("2024-01-09T21:00:00Z"))})
    result, _ = run(tmp_path, config(tmp_path, symbols=["BTC/USD"]), data, "--start", "2024-01-10")
    assert result.exit_code == 0, result.output
    assert "warning: BTC/USD: warm-up ends after the start" in result.output
    assert "the data has 3 before 2024-01-10T00:00:00+00:00" in result.output


@pytest.mark.parametrize("flag", ["--allow-missing"])
def test_backtest_help_shows_the_flag(flag: str) -> None:
    assert flag in CliRunner().invoke(app, ["backtest", "--help"]).output

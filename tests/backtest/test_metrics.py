"""Backtest statistics on hand-computed examples, the summary dict, and the config hash."""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from builders.backtest import make_backtest_result
from krakenbot.backtest.metrics import (
    daily_returns,
    max_drawdown,
    round_sig,
    sharpe,
    summary_dict,
    total_return,
    win_rate,
)
from krakenbot.backtest.result import BacktestResult, config_hash, empty_trades
from krakenbot.config.models import AppConfig, RiskConfig

REQUIRED_KEYS = {"start", "end", "symbols", "candles", "trades", "win_rate", "total_return", "max_drawdown",
                 "sharpe", "fees", "funding", "liquidations", "shock_events", "config_hash"}


def equity_frame(values: list[float], ts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"ts": pd.to_datetime(ts, utc=True), "equity_usd": values,
                         "exposure_usd": 0.0, "margin_used_usd": 0.0})


def test_max_drawdown_is_largest_fall_from_running_peak() -> None:
    # peak 120 then trough 90: 30 / 120 = 0.25; the later fall 130 -> 117 is only 0.10
    assert max_drawdown(np.array([100.0, 120.0, 90.0, 95.0, 130.0, 117.0]), 100.0) == pytest.approx(0.25)


def test_max_drawdown_counts_initial_equity_as_first_peak() -> None:
    assert max_drawdown(np.array([90.0, 95.0]), 100.0) == pytest.approx(0.10)


def test_max_drawdown_is_zero_when_equity_never_falls() -> None:
    assert max_drawdown(np.array([100.0, 101.0, 105.0]), 100.0) == 0.0


def test_total_return_is_final_over_initial_minus_one() -> None:
    result = make_backtest_result(equity_usd=[100.0, 120.0, 90.0, 130.0], initial_equity_usd=100.0)
    assert total_return(result) == pytest.approx(0.30)


def test_win_rate_counts_strictly_positive_net_pnl() -> None:
    trades = make_backtest_result(trade_pnls_usd=[10.0, -5.0, 0.0, 3.0]).trades
    assert win_rate(trades) == 0.5


def test_win_rate_without_trades_is_none_and_null_in_summary() -> None:
    assert win_rate(empty_trades()) is None
    result = make_backtest_result(trade_pnls_usd=[])
    summary = summary_dict(result)
    assert summary["trades"] == 0 and summary["win_rate"] is None
    assert '"win_rate": null' in json.dumps(summary)


def test_sharpe_uses_last_equity_of_each_utc_day() -> None:
    # 06:00 rows are intraday noise that must be ignored; day closes 101, 102.01, 100.99, 102.0
    ts = ["2024-01-01T06:00Z", "2024-01-01T23:00Z", "2024-01-02T06:00Z", "2024-01-02T23:00Z",
          "2024-01-03T06:00Z", "2024-01-03T23:00Z", "2024-01-04T12:00Z"]
    equity = equity_frame([50.0, 101.0, 500.0, 102.01, 10.0, 100.99, 102.0], ts)
    returns = [101 / 100 - 1, 102.01 / 101 - 1, 100.99 / 102.01 - 1, 102.0 / 100.99 - 1]
    assert daily_returns(equity, 100.0).to_numpy() == pytest.approx(returns)
    expected = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(365)
    assert sharpe(equity, 100.0) == pytest.approx(expected)


def test_sharpe_day_without_rows_carries_previous_equity() -> None:
    equity = equity_frame([110.0, 121.0], ["2024-01-01T12:00Z", "2024-01-03T12:00Z"])
    assert daily_returns(equity, 100.0).to_numpy() == pytest.approx([0.10, 0.0, 0.10])


def test_sharpe_is_zero_when_undefined() -> None:
    one_day = equity_frame([101.0, 102.0], ["2024-01-01T01:00Z", "2024-01-01T02:00Z"])
    assert sharpe(one_day, 100.0) == 0.0
    flat = equity_frame([100.0, 100.0, 100.0], ["2024-01-01T12:00Z", "2024-01-02T12:00Z", "2024-01-03T12:00Z"])
    assert sharpe(flat, 100.0) == 0.0


def test_round_sig_fixes_last_bit_noise_and_signed_zero() -> None:
    assert round_sig(0.1 + 0.2) == 0.3
    assert round_sig(123456.789012345) == 123456.789
    assert str(round_sig(-0.0)) == "0.0"
    assert round_sig(float("nan")) is None and round_sig(None) is None


def test_summary_dict_has_required_keys_and_units() -> None:
    result = make_backtest_result(equity_usd=[10_000.0, 11_000.0, 9_900.0, 10_500.0],
                                  trade_pnls_usd=[100.0, -50.0, 25.0, -10.0])
    summary = summary_dict(result)
    assert set(summary) >= REQUIRED_KEYS
    assert summary["start"] == "2021-05-18T00:00:00Z" and summary["end"] == "2021-05-18T00:03:00Z"
    assert summary["symbols"] == ["BTC/USD", "ETH/USD"]
    assert summary["total_return"] == 0.05
    assert summary["max_drawdown"] == 0.1
    assert summary["win_rate"] == 0.5
    assert summary["fees"] == 0.6 and summary["funding"] == 0.04
    assert summary["net_pnl_usd"] == 500.0 and summary["final_equity_usd"] == 10_500.0
    assert summary["candles"] == 8 and summary["shock_events"] == 3 and summary["liquidations"] == 0
    assert all(key == key.lower() for key in summary)
    json.dumps(summary, allow_nan=False)


def test_backtest_result_refuses_missing_column_and_naive_time() -> None:
    good = make_backtest_result(minutes=10)
    with pytest.raises(ValueError, match="trades lacks columns pnl_usd"):
        BacktestResult(**{**_fields(good), "trades": good.trades.drop(columns=["pnl_usd"])})
    with pytest.raises(ValueError, match="start must be a timezone-aware UTC datetime"):
        BacktestResult(**{**_fields(good), "start": datetime(2021, 5, 18)})
    with pytest.raises(ValueError, match=r"equity\.ts must be UTC timestamps"):
        BacktestResult(**{**_fields(good), "equity": good.equity.assign(ts=good.equity["ts"].dt.tz_localize(None))})
    assert good.start.tzinfo == UTC


def _fields(result: BacktestResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in BacktestResult.__dataclass_fields__}


def test_config_hash_is_stable_and_sensitive() -> None:
    first, second = config_hash(AppConfig()), config_hash(AppConfig())
    assert first == second and len(first) == 16 and int(first, 16) >= 0
    changed = AppConfig(risk=RiskConfig(max_positions=6))
    assert config_hash(changed) != first


def test_config_hash_ignores_where_files_are(tmp_path) -> None:
    from pathlib import Path

    from krakenbot.config.models import BacktestConfig, LoggingConfig, StoreConfig

    moved = AppConfig(backtest=BacktestConfig(data=tmp_path / "d", out=tmp_path / "o"),
                      store=StoreConfig(url=f"sqlite:///{tmp_path}/k.db"), logging=LoggingConfig(file=Path("k.log")))
    assert config_hash(moved) == config_hash(AppConfig())

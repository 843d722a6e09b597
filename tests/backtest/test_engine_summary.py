"""The summary tells the truth: the trades sum to the equity change after the end-of-data flatten,
equity.csv ends at the final equity, and ShockGuard detections are counted apart from trims and closes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import run_backtest
from krakenbot.backtest.metrics import DETECTION_KINDS, SUMMARY_KEYS, summary_dict
from krakenbot.backtest.result import BacktestResult
from krakenbot.config import load_config
from krakenbot.config.paths import DEFAULT_CONFIG_PATH
from krakenbot.domain.vocabulary import EventKind

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg():
    return load_config(DEFAULT_CONFIG_PATH)


@pytest.fixture(scope="module")
def demo_result(cfg) -> BacktestResult:
    return run_backtest(cfg, load_dataset(REPO / cfg.backtest.data), progress=False)


@pytest.fixture(scope="module")
def synthetic_result(cfg, tmp_path_factory) -> BacktestResult:
    """Two symbols, five days of seeded 1-minute random walk with swings, so the EMA cross trades and
    positions are still open at the end (flattened as ``end_of_data``)."""
    folder = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(11)
    ts = pd.date_range("2024-01-01", periods=5 * 1440, freq="1min", tz="UTC")
    for k, base in enumerate(("BTC", "ETH")):
        drift = 0.004 * np.sin(np.arange(len(ts)) / (300.0 + 90 * k))
        close = (40_000.0 / (k + 10)) * np.exp(np.cumsum(rng.normal(0.0, 0.0012, len(ts)) + drift / 60))
        open_ = np.concatenate([[close[0]], close[:-1]])
        pd.DataFrame({"ts": ts, "open": open_, "high": np.maximum(open_, close) * 1.0005,
                      "low": np.minimum(open_, close) * 0.9995, "close": close, "volume": 1.0}
                     ).to_csv(folder / f"{base}-USD-1m.csv", index=False)
    return run_backtest(cfg, load_dataset(folder), progress=False)


def _assert_trades_sum_to_equity_change(result: BacktestResult) -> None:
    assert len(result.trades) > 0, "the run should trade"
    change = result.final_equity_usd - result.initial_equity_usd
    tolerance = 1e-6 * result.initial_equity_usd  # float summation noise only
    assert float(result.trades["pnl_usd"].sum()) == pytest.approx(change, rel=1e-9, abs=tolerance)
    assert float(result.trades["fees_usd"].sum()) == pytest.approx(result.fees_usd, rel=1e-9, abs=1e-9)
    assert float(result.trades["funding_usd"].sum()) == pytest.approx(result.funding_usd, rel=1e-9, abs=1e-9)
    summary = summary_dict(result)
    assert summary["net_pnl_usd"] == pytest.approx(change, rel=1e-9)
    assert summary["total_return"] == pytest.approx(change / result.initial_equity_usd, rel=1e-9)


@pytest.mark.parametrize("which", ["demo_result", "synthetic_result"])
def test_trades_sum_to_the_equity_change_after_the_end_of_data_flatten(which, request) -> None:
    _assert_trades_sum_to_equity_change(request.getfixturevalue(which))


@pytest.mark.parametrize("which", ["demo_result", "synthetic_result"])
def test_equity_ends_with_a_flat_row_at_the_final_equity(which, request) -> None:
    result = request.getfixturevalue(which)
    last = result.equity.iloc[-1]
    assert last["exposure_usd"] == 0.0 and last["margin_used_usd"] == 0.0
    assert last["ts"] == pd.Timestamp(result.end)
    assert float(last["equity_usd"]) == result.final_equity_usd


def test_the_synthetic_run_flattens_at_the_end_and_the_flatten_counts(synthetic_result) -> None:
    trades = synthetic_result.trades
    assert (trades["close_reason"] == "end_of_data").any(), "the planted run should hold a position at the end"
    before_flatten = float(synthetic_result.equity["equity_usd"].iloc[-2])
    assert synthetic_result.final_equity_usd != before_flatten  # the flatten's fee (at least) moved it


def test_shock_events_count_detections_only_and_trims_closes_apart(demo_result) -> None:
    kinds = demo_result.events["kind"]
    detections = kinds.isin(DETECTION_KINDS)
    assert demo_result.shock_events == int(detections.sum()) > 0
    assert demo_result.shock_trims == int((kinds == EventKind.SHOCK_TRIM).sum())
    assert demo_result.shock_closes == int((kinds == EventKind.SHOCK_CLOSE).sum())
    assert {"shock_move", "shock_range", "shock_basis", "shock_marketwide"} == DETECTION_KINDS
    assert not {"shock_trim", "shock_close"} & DETECTION_KINDS


def test_summary_keys_come_in_the_documented_order(demo_result) -> None:
    summary = summary_dict(demo_result)
    assert tuple(summary) == SUMMARY_KEYS
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "`" + ", ".join(SUMMARY_KEYS) + "`" in readme, "README's backtest table lists the summary keys in order"
    assert summary["warmup_end"] > summary["start"] and summary["warmup_bars"] > 0

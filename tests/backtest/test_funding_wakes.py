"""Funding falls due every hour a position is open; the backtest settles it between wakes (no hourly wake)
with the same money, payment by payment, as a loop woken at every candle."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.futures_files import attach_recorded_futures
from krakenbot.config.models import AppConfig
from krakenbot.config.paths import DEMO_DATA_DIR


def slow_cross(symbol: str, rate: float) -> AppConfig:
    """An always-in EMA cross slow enough to hold each position for many hours, at ``rate`` funding per hour."""
    return AppConfig.model_validate({
        "universe": {"symbols": [symbol]},
        "strategy": {"class_path": "krakenbot.strategy.ema_cross:EmaCrossStrategy", "timeframe": "1m",
                     "params": {"fast_span": 240, "slow_span": 960, "stop_distance_pct": 0.5}},
        "risk": {"risk_per_trade_pct": 0.1, "max_position_notional_usd": 1_000.0, "max_leverage": 50,
                 "max_positions": 10, "max_total_exposure": 50, "max_margin_utilization_pct": 1.0,
                 "daily_loss_limit_pct": 0.99, "max_drawdown_pct": 0.99, "shock_guard_enabled": False},
        "backtest": {"initial_equity_usd": 100_000.0, "funding_rate_hourly_pct": rate},
    })


@pytest.fixture(scope="module")
def demo():
    data = load_dataset(DEMO_DATA_DIR)
    return data.subset(["BTC/USD"])


@pytest.mark.parametrize("rate", [0.0, 0.0001, -0.00007])
def test_funding_is_settled_between_wakes_with_the_money_of_hourly_wakes(demo, rate):
    cfg = slow_cross(demo.symbols[0], rate)
    fast_bt = Backtest(cfg, demo, progress=False)
    fast = fast_bt.run()
    slow_bt = Backtest(cfg, demo, step_every_candle=True, progress=False)
    slow = slow_bt.run()
    assert len(fast.trades) >= 4, "the cross should trade"
    pd.testing.assert_frame_equal(fast.trades, slow.trades)
    pd.testing.assert_frame_equal(fast.equity, slow.equity)
    assert fast_bt.paper.funding_payments == slow_bt.paper.funding_payments
    assert fast_bt.paper.cash_usd == slow_bt.paper.cash_usd
    hours_held = int(fast.trades["ts_close"].sub(fast.trades["ts_open"]).sum() / pd.Timedelta(hours=1))
    if rate:
        assert len(fast_bt.paper.funding_payments) >= hours_held - len(fast.trades)
    # no wake for funding: the run wakes for its signals and the end, not once an hour
    assert fast_bt.wakes < hours_held / 2, (fast_bt.wakes, hours_held)


def test_recorded_funding_is_settled_between_wakes_as_hourly_wakes_settle_it():
    """Kraken's recorded hourly rates (tests/data/kraken-futures, across the 10 Oct 2025 sign flip), on hourly
    candles: each settlement between two wakes charges the rate and mark of its own hour."""
    folder = Path(__file__).resolve().parents[1] / "data" / "kraken-futures"
    data = attach_recorded_futures(folder, load_dataset(folder))
    data = data.subset((data.symbols[0],))
    cfg = slow_cross(data.symbols[0], 0.0)
    cfg = cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={
        "timeframe": "1h", "params": {"fast_span": 12, "slow_span": 48, "stop_distance_pct": 0.5}})})
    fast_bt = Backtest(cfg, data, progress=False)
    fast = fast_bt.run()
    slow_bt = Backtest(cfg, data, step_every_candle=True, progress=False)
    slow = slow_bt.run()
    pd.testing.assert_frame_equal(fast.trades, slow.trades)
    pd.testing.assert_frame_equal(fast.equity, slow.equity)
    assert fast_bt.paper.funding_payments == slow_bt.paper.funding_payments
    assert len({usd > 0 for _, _, usd in fast_bt.paper.funding_payments}) == 2  # paid and received
    assert fast_bt.wakes < len(fast_bt.paper.funding_payments) / 2, (fast_bt.wakes, len(fast_bt.paper.funding_payments))

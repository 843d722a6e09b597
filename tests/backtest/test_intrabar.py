"""The backtest driver and intrabar execution: the wake rules see candle lows and highs, the driver walks
each candle once, and on the shipped demo every stop filled at its stop or at its candle's gap open."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from builders.clock import T0
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.market_data import MarketData
from krakenbot.config import load_config
from krakenbot.config.paths import DEFAULT_CONFIG_PATH
from krakenbot.domain import OrderIntent, OrderSide, OrderType
from krakenbot.domain.timeconv import from_ns

T0_NS = np.datetime64("2021-05-19T00:00", "ns").astype(np.int64)
MINUTE_NS = 60 * 10**9
WICK, GAP = 10, 20  # BTC's candle 10 wicks 5 % down and closes where it opened; candle 20 gaps 6 % down
FUT = "PF_XBTUSD"


@pytest.fixture(scope="module")
def cfg():
    return load_config(DEFAULT_CONFIG_PATH)


def planted(n: int = 40) -> MarketData:
    close = np.full((n, 1), 30_000.0)
    close[GAP:] = 28_200.0
    opened = np.vstack([close[:1], close[:-1]])
    opened[GAP] = 28_200.0  # the gap: the candle opens where it closes, 6 % under the previous close
    high, low = np.maximum(opened, close) + 10.0, np.minimum(opened, close) - 10.0
    low[WICK] = 28_500.0
    return MarketData(symbols=("BTC/USD",), base_timeframe="1m", ts=T0_NS + MINUTE_NS * np.arange(n),
                      open=opened, high=high, low=low, close=close, volume=np.ones((n, 1)),
                      present=np.ones((n, 1), dtype=bool), complete=np.ones((n, 1), dtype=bool))


def order(client_order_id: str, side: OrderSide, size: str, kind: OrderType, stop: str | None = None) -> OrderIntent:
    return OrderIntent(client_order_id=client_order_id, symbol=FUT, side=side, size=Decimal(size), order_type=kind,
                       reduce_only=stop is not None, reason="test", ts_created=T0,
                       stop_price=Decimal(stop) if stop else None)


def holding(cfg, size: str, stop: str | None) -> Backtest:
    """A backtest on the planted candles whose paper account holds ``size`` BTC long from 30,000 USD."""
    bt = Backtest(cfg, planted(), progress=False)
    bt.paper.update_market({FUT: 30_000.0})
    bt.paper.create_order(order("open", OrderSide.BUY, size, OrderType.MARKET))
    if stop is not None:
        bt.paper.create_order(order("stop", OrderSide.SELL, size, OrderType.STOP, stop=stop))
    return bt


def test_a_stop_wakes_the_loop_at_the_first_candle_whose_low_reaches_it(cfg):
    bt = holding(cfg, "0.1", stop="29400")
    assert bt._stop_wake(1, len(bt.data.ts)) == bt._to_index(WICK)  # closes alone would wake at the gap


def test_the_liquidation_bound_wakes_at_the_first_candle_whose_adverse_extreme_comes_near(cfg):
    bt = holding(cfg, "15", stop=None)  # 450,000 USD notional at 50x on 10,000 equity: ~1 % from liquidation
    positions = bt.paper.fetch_positions()
    assert bt._liquidation_wake(1, len(bt.data.ts), positions) == bt._to_index(WICK)


def test_the_driver_walks_a_candle_once_and_fills_the_stop_at_its_price(cfg):
    bt = holding(cfg, "0.1", stop="29400")
    bt._row = WICK
    bt.clock.set(from_ns(int(bt.data.ts[WICK]) + MINUTE_NS))
    fills = bt._listen({FUT: 30_000.0}, {})
    slip = cfg.fees.slippage_pct
    assert [f.client_order_id for f in fills] == ["stop"]
    assert float(fills[0].price) == pytest.approx(29_400 * (1 - slip), abs=float(bt.instruments[FUT].tick_size))
    assert bt._listen({FUT: 30_000.0}, {}) == []  # the same row again: closes only, nothing walked twice


def test_a_gap_through_liquidation_in_the_backtest_floors_equity_and_reports_the_deficit(cfg):
    bt = holding(cfg, "15", stop="29700")  # ~48x long with a 1 % stop
    bt._row = GAP
    bt.clock.set(from_ns(int(bt.data.ts[GAP]) + MINUTE_NS))
    fills = bt._listen({FUT: 28_200.0}, {})
    assert [f.client_order_id for f in fills] == ["liquidation-1"] and float(fills[0].price) == 28_200
    assert bt.paper.liquidations == 1 and bt.paper.fetch_account().equity_usd == 0.0
    assert bt.paper.insurance_fund_usd > 0


def test_mark_view_carries_the_whole_candle_and_flags_it():
    data = planted()
    present = np.ones((len(data.ts), 1), dtype=bool)
    present[1] = False
    md = MarketData(symbols=data.symbols, base_timeframe="1m", ts=data.ts,
                    **{f: np.where(present, getattr(data, f), np.nan) for f in ("open", "high", "low", "close")},
                    volume=data.volume, present=present, complete=present)
    view = md.mark_view()
    for field in ("open", "high", "low", "close"):
        assert getattr(view, field)[1, 0] == getattr(md, field)[0, 0], field
    assert view.carried[:3, 0].tolist() == [False, True, False] and not view.carried[3:].any()

"""Backtest results built without running a backtest, for the metrics and report tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from krakenbot.backtest.result import BacktestResult


def make_backtest_result(*, symbols: Sequence[str] = ("BTC/USD", "ETH/USD"), minutes: int = 2 * 1440,
                         start: datetime = datetime(2021, 5, 18, tzinfo=UTC), initial_equity_usd: float = 10_000.0,
                         equity_usd: Sequence[float] | None = None, trade_pnls_usd: Sequence[float] | None = None,
                         step_minutes: int = 1, seed: int = 5) -> BacktestResult:
    """A synthetic, seeded BacktestResult: random-walk closes with a -20 % crash at 60 % of the window,
    shocks (one market-wide, one per symbol) at the crash, an equity curve (or ``equity_usd``, one row per
    ``step_minutes``), and trades alternating over ``symbols`` with ``trade_pnls_usd`` (default 6 trades)."""
    rng = np.random.default_rng(seed)
    n_rows = len(equity_usd) if equity_usd is not None else minutes // step_minutes
    ts = pd.date_range(start, periods=n_rows, freq=f"{step_minutes}min", tz="UTC")
    crash = int(n_rows * 0.6)
    at = [ts[min(crash + k, n_rows - 1)] for k in range(6)]  # event times just after the crash
    prices = []
    for k, symbol in enumerate(symbols):
        steps = rng.normal(0.0, 0.001, n_rows)
        steps[crash:crash + 10] -= 0.022
        close = (30_000.0 / (k + 1)) * np.exp(np.cumsum(steps))
        prices.append(pd.DataFrame({"ts": ts, "symbol": symbol, "close": close}))
    if equity_usd is None:
        path = np.cumsum(rng.normal(0.00005, 0.0008, n_rows))
        path[crash:] -= 0.08
        equity = initial_equity_usd * np.exp(path)
    else:
        equity = np.asarray(equity_usd, dtype="float64")
    exposure = np.where(np.arange(n_rows) % 700 < 500, 0.5 * equity, 0.0)
    equity_frame = pd.DataFrame({"ts": ts, "equity_usd": equity, "exposure_usd": exposure,
                                 "margin_used_usd": exposure / 3.0})
    pnls = list(trade_pnls_usd) if trade_pnls_usd is not None else [120.0, -45.5, 300.25, -80.0, 0.0, 15.0]
    rows = []
    for i, pnl in enumerate(pnls):
        opened = ts[min(i * 10, n_rows - 1)]
        rows.append({"symbol": symbols[i % len(symbols)], "side": "long" if i % 2 == 0 else "short",
                     "ts_open": opened, "ts_close": opened + pd.Timedelta(minutes=5), "entry_price": 100.0 + i,
                     "exit_price": 101.0 + i, "size": 1.5, "notional_usd": 150.0 + 1.5 * i, "pnl_usd": pnl,
                     "fees_usd": 0.15, "funding_usd": 0.01, "close_reason": "stop" if pnl < 0 else "auction"})
    trades = pd.DataFrame(rows, columns=["symbol", "side", "ts_open", "ts_close", "entry_price", "exit_price",
                                         "size", "notional_usd", "pnl_usd", "fees_usd", "funding_usd",
                                         "close_reason"])
    trades[["ts_open", "ts_close"]] = trades[["ts_open", "ts_close"]].astype("datetime64[ns, UTC]")
    events = pd.DataFrame(
        [{"ts": at[3], "kind": "shock_marketwide", "symbol": "", "detail": "4 symbols fell > 3 % in 5 min"}]
        + [{"ts": at[2], "kind": "shock_move", "symbol": s, "detail": "move -4.1 % in 1 min"} for s in symbols]
        + [{"ts": at[4], "kind": "entries_paused", "symbol": "", "detail": "ShockGuard cooldown 30 min"},
           {"ts": at[5], "kind": "close", "symbol": symbols[0], "detail": "shock_close: near liquidation"}])
    events["ts"] = events["ts"].astype("datetime64[ns, UTC]")
    return BacktestResult(
        start=ts[0].to_pydatetime(), end=ts[-1].to_pydatetime(), symbols=tuple(symbols),
        candles=n_rows * len(symbols), trades=trades, equity=equity_frame, events=events,
        prices=pd.concat(prices, ignore_index=True), fees_usd=float(trades["fees_usd"].sum()),
        funding_usd=float(trades["funding_usd"].sum()), liquidations=0, shock_events=len(symbols) + 1,
        config_hash="0123456789abcdef", initial_equity_usd=initial_equity_usd)

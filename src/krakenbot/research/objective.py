"""STUB (OPT-B, to be replaced by OPT-A's research/objective.py): objectives, minimal."""

from __future__ import annotations

import numpy as np

from krakenbot.backtest.metrics import daily_returns, max_drawdown, sharpe, total_return
from krakenbot.backtest.result import BacktestResult

PENALTY = -10.0


def score(result: BacktestResult, objective: str, *, min_trades: int) -> float:
    if len(result.trades) < min_trades:
        return PENALTY
    if objective == "sharpe":
        return sharpe(result.equity, result.initial_equity_usd)
    if objective == "total_return":
        return total_return(result)
    dd = max_drawdown(result.equity["equity_usd"].to_numpy(), result.initial_equity_usd)
    return total_return(result) / max(dd, 1e-9)


def period_returns(result: BacktestResult) -> np.ndarray:
    return np.asarray(daily_returns(result.equity, result.initial_equity_usd).to_numpy(dtype="float64"))

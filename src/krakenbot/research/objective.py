"""What a trial scores: one number from a finished backtest, always net of fees and funding. Pure.

Objectives (higher is better; a study maximises):

- ``sharpe``: ``krakenbot.backtest.metrics.sharpe``: daily returns of equity (each UTC day's last row),
  mean / sample std x sqrt(365), risk-free rate 0.
- ``return_over_drawdown``: ``total_return / max(max_drawdown, DRAWDOWN_FLOOR)``; the floor keeps a curve
  that never fell from scoring infinity (a 2 % return with no drawdown scores 2.0).
- ``total_return``: final equity / initial equity - 1.

Net of fees and funding because all three read the backtest's equity, which is the paper account's
(cash less every fee and funding payment, plus unrealised PnL) and whose last row is after the end-of-data
flatten. A trial with fewer than ``min_trades`` closed trades (``result.trades`` rows) is penalised, never a
winner: it scores ``PENALTY + trades / min_trades``, below any real score (real scores are clipped to
``[-SCORE_CAP, SCORE_CAP]``), and among penalised trials more trades score higher, which leads the sampler
towards parameters that trade. A non-finite score is penalised the same way.

:func:`period_returns` gives the per-period net returns the overfitting verdict (``research.overfit``)
works on: daily by default, the same days as ``sharpe``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from krakenbot.backtest.metrics import max_drawdown, sharpe, total_return
from krakenbot.backtest.result import BacktestResult

OBJECTIVES = ("sharpe", "return_over_drawdown", "total_return")
PENALTY = -1e6
SCORE_CAP = 1e5
DRAWDOWN_FLOOR = 0.01
DAY = pd.Timedelta(days=1)


def score(result: BacktestResult, objective: str, *, min_trades: int) -> float:
    """``objective`` (one of ``OBJECTIVES``) of ``result``, or the penalty when it has fewer than
    ``min_trades`` trades (module doc). Raises ValueError naming the objective if it is unknown."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: expected one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if min_trades < 0:
        raise ValueError(f"min_trades: must be >= 0, got {min_trades}")
    trades = len(result.trades)
    if trades < min_trades:
        return penalty(trades, min_trades)
    if objective == "sharpe":
        value = sharpe(result.equity, result.initial_equity_usd)
    elif objective == "total_return":
        value = total_return(result)
    else:
        drawdown = max_drawdown(result.equity["equity_usd"].to_numpy(dtype="float64"), result.initial_equity_usd)
        value = total_return(result) / max(drawdown, DRAWDOWN_FLOOR)
    if not math.isfinite(value):
        return penalty(0, 1)
    return float(min(max(value, -SCORE_CAP), SCORE_CAP))


def penalty(trades: int, min_trades: int) -> float:
    """The score of a trial with ``trades`` < ``min_trades``: in ``[PENALTY, PENALTY + 1)``, rising with trades."""
    return PENALTY + trades / max(min_trades, 1)


def is_penalised(value: float) -> bool:
    """True for a score :func:`score` gave as a penalty."""
    return value < PENALTY + 1


def period_returns_series(result: BacktestResult, freq: str = "1D") -> pd.Series:
    """Net simple returns of equity per ``freq`` period (a pandas offset: '1D', '1h'), indexed by the
    period's start (UTC): equity at each period's last row, periods without rows carrying the previous value,
    the first return measured from the initial equity. With '1D' these are the returns ``sharpe`` uses
    (``metrics.daily_returns``). Empty with no equity rows."""
    equity = result.equity
    if equity.empty:
        return pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    series = pd.Series(equity["equity_usd"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(equity["ts"]))
    values = series.resample(freq).last().ffill()
    level = np.concatenate([[result.initial_equity_usd], values.to_numpy()])
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(level[:-1] > 0, level[1:] / level[:-1] - 1.0, 0.0)  # a wiped-out account stays at 0
    return pd.Series(returns, index=values.index)


def period_returns(result: BacktestResult, freq: str = "1D") -> np.ndarray:
    """:func:`period_returns_series` as a float64 array (daily net returns by default)."""
    return np.asarray(period_returns_series(result, freq).to_numpy(dtype="float64"))


def returns_matrix(series: Sequence[pd.Series]) -> np.ndarray:
    """Trials' :func:`period_returns_series` side by side, aligned on their period starts: a
    ``T periods x N trials`` float64 matrix for ``overfit.pbo``; a period a trial lacks counts as a 0 return
    (no equity change). Raises ValueError when ``series`` is empty."""
    if not series:
        raise ValueError("returns_matrix: no trials")
    frame = pd.concat([s.rename(i) for i, s in enumerate(series)], axis=1, sort=True)
    return np.asarray(frame.fillna(0.0).to_numpy(dtype="float64"))


def periods_per_year(freq: str = "1D") -> float:
    """How many ``freq`` periods make a year of 365 days (crypto trades every day): 365 for '1D', 8760 for
    '1h'; multiply a per-period Sharpe ratio by its square root to annualise it."""
    return float(pd.Timedelta(days=365).value / pd.Timedelta(freq).value)

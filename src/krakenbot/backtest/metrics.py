"""Statistics of a :class:`BacktestResult` and the deterministic ``summary.json`` dict.

Definitions (fractions are fractions: 0.025 means 2.5 %):

- ``trades``: closed trades (rows of ``result.trades``).
- ``win_rate``: fraction of trades with ``pnl_usd > 0`` (net of fees and funding). With no trades it
  is ``None`` (JSON null): "no trades" is not "every trade lost".
- ``total_return``: final equity / initial equity - 1 (0.0 with no equity rows).
- ``max_drawdown``: the largest fall from a running peak, as a positive fraction of that peak; the
  initial equity counts as the first peak. 0.0 when equity never falls.
- ``sharpe``: equity sampled at each UTC day's last row (days without rows carry the previous value),
  daily simple returns with the first day measured from the initial equity, mean / sample std
  (ddof=1) x sqrt(365) (crypto trades every day), risk-free rate 0. 0.0 when undefined (fewer than two
  daily returns, or zero volatility).

Floats in the summary are rounded to ``SIGNIFICANT_DIGITS`` significant digits so the same input
gives byte-identical JSON whatever the summation order noise in the last bits.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from krakenbot.backtest.result import BacktestResult

SIGNIFICANT_DIGITS = 10
DAYS_PER_YEAR = 365


def round_sig(value: float | None, digits: int = SIGNIFICANT_DIGITS) -> float | None:
    """``value`` rounded to ``digits`` significant digits; None for None, NaN or inf; -0.0 becomes 0.0."""
    if value is None or not math.isfinite(value):
        return None
    rounded = float(f"{value:.{digits}g}")
    return rounded + 0.0  # -0.0 + 0.0 == 0.0


def win_rate(trades: pd.DataFrame) -> float | None:
    """Fraction of trades with ``pnl_usd > 0``; None when there are no trades."""
    if trades.empty:
        return None
    return float((trades["pnl_usd"].to_numpy(dtype="float64") > 0).mean())


def _equity_values(result: BacktestResult) -> np.ndarray:
    return np.asarray(result.equity["equity_usd"].to_numpy(dtype="float64"))


def total_return(result: BacktestResult) -> float:
    """Final equity / initial equity - 1 (fraction); 0.0 with no equity rows."""
    equity = _equity_values(result)
    if equity.size == 0:
        return 0.0
    return float(equity[-1] / result.initial_equity_usd - 1.0)


def max_drawdown(equity_usd: np.ndarray, initial_equity_usd: float) -> float:
    """Largest peak-to-trough fall as a positive fraction of the peak; the initial equity is the first peak."""
    series = np.concatenate([[initial_equity_usd], np.asarray(equity_usd, dtype="float64")])
    peaks = np.maximum.accumulate(series)
    return float(np.max(1.0 - series / peaks))


def drawdown_series(equity_usd: np.ndarray, initial_equity_usd: float) -> np.ndarray:
    """Drawdown at each row as a positive fraction of the running peak (initial equity is the first peak)."""
    equity = np.asarray(equity_usd, dtype="float64")
    peaks = np.maximum.accumulate(np.concatenate([[initial_equity_usd], equity]))[1:]
    return np.asarray(1.0 - equity / peaks)


def daily_returns(equity: pd.DataFrame, initial_equity_usd: float) -> pd.Series:
    """Simple returns of equity at each UTC day's close; the first from ``initial_equity_usd``."""
    if equity.empty:
        return pd.Series(dtype="float64")
    series = pd.Series(equity["equity_usd"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(equity["ts"]))
    daily = series.resample("1D").last().ffill()
    values = np.concatenate([[initial_equity_usd], daily.to_numpy()])
    return pd.Series(values[1:] / values[:-1] - 1.0, index=daily.index)


def sharpe(equity: pd.DataFrame, initial_equity_usd: float) -> float:
    """Annualised Sharpe ratio from daily returns (see the module doc); 0.0 when undefined."""
    returns = daily_returns(equity, initial_equity_usd).to_numpy()
    if returns.size < 2:
        return 0.0
    std = float(np.std(returns, ddof=1))
    if not math.isfinite(std) or std <= 1e-15:
        return 0.0
    return float(np.mean(returns) / std * math.sqrt(DAYS_PER_YEAR))


def _iso(ts: pd.Timestamp | Any) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_dict(result: BacktestResult) -> dict[str, Any]:
    """The ``summary.json`` content: snake_case keys, fractions as fractions, money in USD.

    Keys: start, end (ISO-8601 UTC), symbols, candles, trades, win_rate, total_return, max_drawdown,
    sharpe, fees, funding (USD, paid > 0), liquidations, shock_events, config_hash, initial_equity_usd,
    final_equity_usd, net_pnl_usd, max_exposure_usd, futures_symbols (spot pair -> contract).
    Floats rounded (see ``round_sig``).
    """
    equity = _equity_values(result)
    final = float(equity[-1]) if equity.size else result.initial_equity_usd
    exposure = result.equity["exposure_usd"].to_numpy(dtype="float64")
    return {
        "start": _iso(result.start),
        "end": _iso(result.end),
        "symbols": list(result.symbols),
        "candles": int(result.candles),
        "trades": len(result.trades),
        "win_rate": round_sig(win_rate(result.trades)),
        "total_return": round_sig(total_return(result)),
        "max_drawdown": round_sig(max_drawdown(equity, result.initial_equity_usd)),
        "sharpe": round_sig(sharpe(result.equity, result.initial_equity_usd)),
        "fees": round_sig(float(result.fees_usd)),
        "funding": round_sig(float(result.funding_usd)),
        "liquidations": int(result.liquidations),
        "shock_events": int(result.shock_events),
        "config_hash": result.config_hash,
        "initial_equity_usd": round_sig(result.initial_equity_usd),
        "final_equity_usd": round_sig(final),
        "net_pnl_usd": round_sig(final - result.initial_equity_usd),
        "max_exposure_usd": round_sig(float(exposure.max()) if exposure.size else 0.0),
        "futures_symbols": dict(sorted(result.futures_symbols.items())),
    }

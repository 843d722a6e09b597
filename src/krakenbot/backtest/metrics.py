"""Statistics of a :class:`BacktestResult` and the deterministic ``summary.json`` dict.

Definitions (fractions are fractions: 0.025 means 2.5 %):

- ``trades``: closed trades (rows of ``result.trades``).
- ``win_rate``: fraction of trades with ``pnl_usd > 0`` (net of fees and funding). With no trades it
  is ``None`` (JSON null): "no trades" is not "every trade lost".
- ``total_return``: final equity / initial equity - 1, where the final equity is the last equity row:
  the account after every close, the end-of-data flatten included (0.0 with no equity rows). The
  trades' ``pnl_usd`` sum to ``final_equity_usd - initial_equity_usd`` (``net_pnl_usd``).
- ``buy_and_hold_return``: the same initial equity split equally over the symbols at each one's first
  close, held to each one's last close (signal-timeframe closes), gross of fees and funding.
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
from krakenbot.domain.vocabulary import EventKind

DETECTION_KINDS = frozenset(kind.value for kind in EventKind if kind.is_shock_detection)
"""Event kinds (journal strings) of ShockGuard detections: ``shock_events`` counts these and nothing else."""
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
    """Final equity (after every close) / initial equity - 1 (fraction); 0.0 with no equity rows."""
    if result.equity.empty:
        return 0.0
    return float(result.final_equity_usd / result.initial_equity_usd - 1.0)


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


def buy_and_hold_curve(prices: pd.DataFrame, initial_equity_usd: float) -> pd.Series:
    """Equal-weight buy-and-hold value (USD) at each price time: ``initial_equity_usd / n`` per symbol
    bought at its first close, each valued at its latest close so far (its entry value before its first
    close). Gross of fees and funding. Empty with no prices."""
    if prices.empty:
        return pd.Series(dtype="float64")
    wide = prices.pivot_table(index="ts", columns="symbol", values="close", aggfunc="last").sort_index()
    growth = wide.ffill() / wide.bfill().iloc[0]
    return (growth.fillna(1.0) * (initial_equity_usd / wide.shape[1])).sum(axis=1)


def buy_and_hold_return(prices: pd.DataFrame) -> float | None:
    """Return of :func:`buy_and_hold_curve` at its end (fraction); None with no prices."""
    curve = buy_and_hold_curve(prices, 1.0)
    return float(curve.iloc[-1] - 1.0) if len(curve) else None


SUMMARY_KEYS = ("start", "end", "symbols", "candles", "warmup_bars", "warmup_end", "trades", "win_rate",
                "initial_equity_usd", "final_equity_usd", "net_pnl_usd", "total_return", "buy_and_hold_return",
                "max_drawdown", "sharpe", "fees", "funding", "max_exposure_usd", "liquidations",
                "insurance_deficit_usd", "shock_events", "shock_trims", "shock_closes", "config_hash",
                "futures_symbols", "mark_source", "index_source", "funding_source")
"""The keys of ``summary.json``, in the order they are written (README, "The backtest")."""


def summary_dict(result: BacktestResult) -> dict[str, Any]:
    """The ``summary.json`` content, keys in ``SUMMARY_KEYS`` order: snake_case, fractions as fractions,
    money in USD, times ISO-8601 UTC (``warmup_end`` null when unknown), counts as ints, floats rounded
    (see ``round_sig``). ``fees`` and ``funding`` are USD paid (funding received < 0). ``*_source``: which
    futures series were recorded and which assumed (null when the result does not say)."""
    equity = _equity_values(result)
    final = result.final_equity_usd
    exposure = result.equity["exposure_usd"].to_numpy(dtype="float64")
    summary = {
        "start": _iso(result.start),
        "end": _iso(result.end),
        "symbols": list(result.symbols),
        "candles": int(result.candles),
        "warmup_bars": int(result.warmup_bars),
        "warmup_end": _iso(result.warmup_end) if result.warmup_end is not None else None,
        "trades": len(result.trades),
        "win_rate": round_sig(win_rate(result.trades)),
        "initial_equity_usd": round_sig(result.initial_equity_usd),
        "final_equity_usd": round_sig(final),
        "net_pnl_usd": round_sig(final - result.initial_equity_usd),
        "total_return": round_sig(total_return(result)),
        "buy_and_hold_return": round_sig(buy_and_hold_return(result.prices)),
        "max_drawdown": round_sig(max_drawdown(equity, result.initial_equity_usd)),
        "sharpe": round_sig(sharpe(result.equity, result.initial_equity_usd)),
        "fees": round_sig(float(result.fees_usd)),
        "funding": round_sig(float(result.funding_usd)),
        "max_exposure_usd": round_sig(float(exposure.max()) if exposure.size else 0.0),
        "liquidations": int(result.liquidations),
        "insurance_deficit_usd": round_sig(float(result.insurance_deficit_usd)),
        "shock_events": int(result.shock_events),
        "shock_trims": int(result.shock_trims),
        "shock_closes": int(result.shock_closes),
        "config_hash": result.config_hash,
        "futures_symbols": dict(sorted(result.futures_symbols.items())),
        "mark_source": result.series_sources.get("mark"),
        "index_source": result.series_sources.get("index"),
        "funding_source": result.series_sources.get("funding"),
    }
    return summary

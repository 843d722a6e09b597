"""Krakenbot vs backtesting.py vs vectorbt in one process: throughput and agreement.

All three run the EMA(20)/EMA(50) always-in-the-market strategy on the same SYNTHETIC candles
(see ``bench.peers`` for what is shared and why). Agreement is checked trade by trade: count,
signed size, entry and exit price and PnL, then the final net PnL (after fees).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from bench.krakenbot_side import INITIAL_EQUITY_USD, NOTIONAL_USD, TAKER_FEE, ema_cross_config, timed_backtest
from bench.peers import PeerRun, run_backtesting_py, run_vectorbt
from bench.synthetic import describe, random_walk_market
from krakenbot.backtest.instruments import synthetic_perpetual
from krakenbot.backtest.market_data import MarketData


def peer_frame(data: MarketData, symbol: str) -> pd.DataFrame:
    """One symbol's candles as the OHLCV frame backtesting.py and vectorbt take (naive UTC minute index)."""
    col = data.column(symbol)
    index = pd.to_datetime(data.ts, unit="ns")
    return pd.DataFrame({"Open": data.open[:, col], "High": data.high[:, col], "Low": data.low[:, col],
                         "Close": data.close[:, col], "Volume": data.volume[:, col]}, index=index)


def krakenbot_run(data: MarketData) -> PeerRun:
    """Krakenbot with ``EmaCrossStrategy`` (see ``ema_cross_config`` for the sizing)."""
    cfg = ema_cross_config(list(data.symbols), notional_usd=NOTIONAL_USD, initial_equity_usd=INITIAL_EQUITY_USD,
                           taker_fee_pct=TAKER_FEE)
    backtest, result, seconds, cpu_seconds = timed_backtest(cfg, data)
    trades = result.trades
    sign = np.where(trades["side"].to_numpy() == "long", 1.0, -1.0)
    table = pd.DataFrame({"entry_price": trades["entry_price"].to_numpy(dtype=float),
                          "exit_price": trades["exit_price"].to_numpy(dtype=float),
                          "size": sign * trades["size"].to_numpy(dtype=float),
                          "pnl_usd": trades["pnl_usd"].to_numpy(dtype=float)})
    equity = backtest.paper.fetch_account().equity_usd
    return PeerRun(engine="krakenbot", seconds=seconds, cpu_seconds=cpu_seconds, trades=len(trades),
                   net_pnl_usd=equity - INITIAL_EQUITY_USD,
                   fees_usd=float(result.fees_usd), trade_table=table, wakes=backtest.wakes,
                   note=f"EmaCrossStrategy, strategy.timeframe 1m, {backtest.wakes:,} loop wakes")


def agreement(reference: PeerRun, other: PeerRun, lot: float) -> dict[str, Any]:
    """How closely ``other`` matches ``reference`` (Krakenbot): counts, per-trade differences, final PnL."""
    a, b = reference.trade_table, other.trade_table
    out: dict[str, Any] = {
        "trades": [reference.trades, other.trades],
        "trade_count_equal": reference.trades == other.trades,
        "net_pnl_usd": [round(reference.net_pnl_usd, 6), round(other.net_pnl_usd, 6)],
        "net_pnl_abs_diff_usd": abs(reference.net_pnl_usd - other.net_pnl_usd),
        "net_pnl_rel_diff": (abs(reference.net_pnl_usd - other.net_pnl_usd) / abs(reference.net_pnl_usd)
                             if reference.net_pnl_usd else None),
        "fees_abs_diff_usd": abs(reference.fees_usd - other.fees_usd),
    }
    n = min(len(a), len(b))
    if n:
        size_diff = np.abs(a["size"].to_numpy()[:n] - b["size"].to_numpy()[:n])
        out["trades_with_other_size"] = int((size_diff > 1e-9).sum())
        lot_smaller = np.abs(b["size"].to_numpy()[:n]) - np.abs(a["size"].to_numpy()[:n])
        out["trades_krakenbot_one_lot_smaller"] = int(np.isclose(lot_smaller, lot).sum())
        resized = size_diff > 1e-9
        out["pnl_diff_on_those_trades_usd"] = float(np.sum(a["pnl_usd"].to_numpy()[:n][resized]
                                                           - b["pnl_usd"].to_numpy()[:n][resized]))
        out["max_entry_price_diff"] = float(np.max(np.abs(a["entry_price"].to_numpy()[:n]
                                                          - b["entry_price"].to_numpy()[:n])))
        out["max_exit_price_diff"] = float(np.max(np.abs(a["exit_price"].to_numpy()[:n]
                                                         - b["exit_price"].to_numpy()[:n])))
        out["max_trade_pnl_diff_usd"] = float(np.max(np.abs(a["pnl_usd"].to_numpy()[:n]
                                                            - b["pnl_usd"].to_numpy()[:n])))
        differs = np.flatnonzero((size_diff > 1e-9)
                                 | (np.abs(a["entry_price"].to_numpy()[:n] - b["entry_price"].to_numpy()[:n]) > 1e-9))
        out["first_differing_trade"] = int(differs[0]) if differs.size else None
        if resized.any():
            k = int(np.argmax(resized))
            out["example"] = {"trade": k, "krakenbot_size": float(a["size"].iloc[k]),
                              "peer_size": float(b["size"].iloc[k]), "entry_price": float(a["entry_price"].iloc[k])}
    return out


def explain(agree: dict[str, Any]) -> str:
    """A sentence on where a difference comes from, from the figures themselves."""
    if not agree["trade_count_equal"]:
        return ("trade counts differ: see first_differing_trade; a different entry bar means the engines read "
                "the signal at different bars")
    if agree.get("trades_with_other_size"):
        smaller = agree.get("trades_krakenbot_one_lot_smaller", 0)
        ex = agree["example"]
        cause = ("Krakenbot holds one lot less in each: LiveTrading._handle_signal re-derives the size as "
                 "round_size(notional / mark) in float, and the quotient can land just below the exact lot "
                 "multiple, where the RiskManager's exact Decimal size (which the peers use) does not"
                 if smaller == agree["trades_with_other_size"] else "lot rounding of the same notional")
        return (f"same trade count, entry/exit bars and prices; {agree['trades_with_other_size']} trade(s) sized "
                f"differently (e.g. trade {ex['trade']}: {abs(ex['krakenbot_size']):g} vs "
                f"{abs(ex['peer_size']):g} units at {ex['entry_price']:g} USD): {cause}. Those trades account for "
                f"{agree['pnl_diff_on_those_trades_usd']:+.6f} USD of the "
                f"{agree['net_pnl_usd'][0] - agree['net_pnl_usd'][1]:+.6f} USD difference in net PnL")
    rel = agree["net_pnl_rel_diff"]
    if rel is not None and rel > 1e-9:
        return "same trades and sizes; PnL differs beyond float rounding: inspect the per-trade PnL"
    return ("identical trades (count, side, size, prices); the PnL difference is float rounding "
            "(per-fill sums in a different order, and scaled prices in backtesting.py's FractionalBacktest)")


def compare(candles: int, *, seed: int, run_peers: bool = True) -> dict[str, Any]:
    """Run the three engines on 1 SYNTHETIC symbol x ``candles`` one-minute candles; figures as a dict."""
    data = random_walk_market(1, candles, seed=seed)
    symbol = data.symbols[0]
    lot = synthetic_perpetual(symbol, float(data.close[0, 0])).lot_size
    frame = peer_frame(data, symbol)
    runs = [krakenbot_run(data)]
    if run_peers:
        runs.append(run_backtesting_py(frame, notional_usd=NOTIONAL_USD, lot=Decimal(lot), cash_usd=INITIAL_EQUITY_USD,
                                       fee=TAKER_FEE))
        runs.append(run_vectorbt(frame, notional_usd=NOTIONAL_USD, lot=Decimal(lot), cash_usd=INITIAL_EQUITY_USD,
                                 fee=TAKER_FEE))
    kb = runs[0]
    out: dict[str, Any] = {
        "data": describe(data), "candles": candles, "seed": seed,
        "sizing": (f"fixed notional {NOTIONAL_USD:,.0f} USD per entry at the signal bar's close, rounded down to "
                   f"the lot {lot} units; equity {INITIAL_EQUITY_USD:,.0f} USD; taker fee {TAKER_FEE}, no slippage, "
                   "no funding"),
        "engines": {r.engine: r.summary(candles) for r in runs},
    }
    for peer in runs[1:]:
        agree = agreement(kb, peer, float(lot))
        agree["explanation"] = explain(agree)
        out["engines"][peer.engine]["krakenbot_speed_ratio"] = round(peer.seconds / kb.seconds, 4)
        out.setdefault("agreement", {})[peer.engine] = agree
    return out

"""Krakenbot vs backtesting.py vs vectorbt vs NautilusTrader: throughput, peak memory and agreement.

Each engine runs in a fresh process of its own (``bench.engine_case``; NautilusTrader in its own
interpreter, ``bench/nautilus_peer.py``), timed on its simulation alone; the trade tables come back
as files and the agreement checks run here, untimed. All run the EMA(20)/EMA(50)
always-in-the-market strategy on the same SYNTHETIC candles (see ``bench.peers`` for what is
shared and why). Agreement is checked trade by trade: count, signed size, entry and exit price
and PnL, then the final net PnL (after fees).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.engine_case import EMA_ENGINES, TABLE_COLUMNS
from bench.krakenbot_side import (
    INITIAL_EQUITY_USD,
    NOTIONAL_USD,
    REPO,
    TAKER_FEE,
    ema_cross_config,
    timed_backtest,
)
from bench.peers import PeerRun, cross_side, units_for
from bench.synthetic import TICK_USD, describe, random_walk_market
from krakenbot.backtest.instruments import synthetic_perpetual
from krakenbot.backtest.market_data import MarketData

NAUTILUS_SCRIPT = REPO / "bench" / "nautilus_peer.py"


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
    same_prices = agree.get("max_entry_price_diff", 0.0) <= 1e-9 and agree.get("max_exit_price_diff", 0.0) <= 1e-9
    if rel is not None and rel > 1e-9 and same_prices and agree.get("max_trade_pnl_diff_usd", 1.0) <= 0.015 + 1e-9:
        return ("identical trades (count, side, size, prices); each trade's PnL differs by at most 1.5 cents: "
                "NautilusTrader keeps money at the currency's precision (USD: 2 decimals), so it rounds each fill's "
                "commission and each position's realised PnL to the cent (three roundings of up to half a cent per "
                "trade), where the others keep the exact amounts")
    if rel is not None and rel > 1e-9:
        return "same trades and sizes; PnL differs beyond float rounding: inspect the per-trade PnL"
    return ("identical trades (count, side, size, prices); the PnL difference is float rounding "
            "(per-fill sums in a different order, and scaled prices in backtesting.py's FractionalBacktest)")


def nautilus_python(explicit: str | None = None) -> tuple[str | None, str]:
    """The interpreter that runs NautilusTrader, and a note saying which (or why none).

    In order: ``explicit`` (``--nautilus-python``), the ``BENCH_NAUTILUS_PYTHON`` environment
    variable, then this interpreter. NautilusTrader 1.231 needs Python >= 3.12, Krakenbot's venv may
    be 3.11: a separate venv (``python3.12 -m venv .venv-nautilus && .venv-nautilus/bin/pip install -c
    constraints-nautilus.txt nautilus_trader==1.231.0``) is the usual way.
    """
    candidates = [c for c in (explicit, os.environ.get("BENCH_NAUTILUS_PYTHON"), sys.executable) if c]
    tried = []
    for python in candidates:
        try:
            proc = subprocess.run([python, str(NAUTILUS_SCRIPT), "--version"], capture_output=True, text=True,
                                  timeout=120, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{python}: {exc}")
            continue
        if proc.returncode == 0:
            info = json.loads(proc.stdout.strip().splitlines()[-1])
            return python, f"nautilus_trader {info['version']} on Python {info['python']} ({python})"
        tried.append(f"{python}: nautilus_trader not installed")
    return None, ("NautilusTrader skipped: not installed (" + "; ".join(tried) + "). It needs Python >= 3.12: "
                  "python3.12 -m venv .venv-nautilus && .venv-nautilus/bin/pip install -c constraints-nautilus.txt "
                  "nautilus_trader==1.231.0, then --nautilus-python .venv-nautilus/bin/python "
                  "(or BENCH_NAUTILUS_PYTHON)")


def _fresh(args: list[str], timeout_s: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False,
                          timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _load_table(path: Path) -> pd.DataFrame:
    with np.load(path) as npz:
        return pd.DataFrame({c: npz[c] for c in TABLE_COLUMNS})


def _as_run(summary: dict[str, Any], table: pd.DataFrame) -> PeerRun:
    return PeerRun(engine=summary["engine"], seconds=summary["seconds"], cpu_seconds=summary.get("cpu_seconds"),
                   trades=summary["trades"], net_pnl_usd=summary.get("net_pnl_usd_exact", summary["net_pnl_usd"]),
                   fees_usd=summary.get("fees_usd_exact", summary["fees_usd"]), trade_table=table)


def run_nautilus_fresh(python: str, candles: int, seed: int, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """NautilusTrader on the EMA case in its own interpreter (``bench/nautilus_peer.py``); summary + trade table."""
    data = random_walk_market(1, candles, seed=seed)
    symbol = data.symbols[0]
    lot = Decimal(synthetic_perpetual(symbol, float(data.close[0, 0])).lot_size)
    close = data.close[:, 0]
    side = cross_side(close)
    previous = np.concatenate([[0], side[:-1]])
    units = np.zeros(close.size)
    for t in np.flatnonzero((side != 0) & (side != previous)):
        units[t] = float(units_for(NOTIONAL_USD, close[t], lot))
    src, dst = workdir / "nautilus_in.npz", workdir / "nautilus_out.npz"
    np.savez(src, ts_ns=data.ts, open=data.open[:, 0], high=data.high[:, 0], low=data.low[:, 0], close=close,
             side=side, units=units, cash_usd=INITIAL_EQUITY_USD, fee=TAKER_FEE, tick=TICK_USD, lot=float(lot))
    del data
    proc = subprocess.run([python, str(NAUTILUS_SCRIPT), str(src), str(dst)], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"bench/nautilus_peer.py failed:\n{proc.stderr[-4000:]}")
    fig: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    table = _load_table(dst)
    run = PeerRun(engine="nautilus", seconds=fig["seconds"], cpu_seconds=fig["cpu_seconds"], trades=fig["trades"],
                  net_pnl_usd=fig["net_pnl_usd"], fees_usd=fig["fees_usd"], trade_table=table, wakes=fig["wakes"],
                  seconds_data_prep=fig["seconds_data_prep"], peak_rss_mb=fig["peak_rss_mb"],
                  note=f"nautilus_trader {fig['version']} (Python {fig['python']}): BacktestEngine with 1-minute Bar "
                       "objects, market orders filled at the signal bar's close (= next open here); timed: "
                       "BacktestEngine.run() alone; Bar building and add_data apart (seconds_data_prep)")
    summary = run.summary(candles)
    summary.update({"net_pnl_usd_exact": fig["net_pnl_usd"], "fees_usd_exact": fig["fees_usd"]})
    return {"summary": summary, "table": table}


NAUTILUS_BUDGET_S = 600.0  # NautilusTrader's run is stopped after this; it then runs at a tenth of the size
NAUTILUS_FALLBACK_DIVISOR = 10


def median_round(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """One engine's figures over its rounds: the summary of its median round by CPU seconds (the lower median
    of an even count), whole (its seconds, memory and note belong together), plus every round's wall and CPU
    seconds. The rounds must agree on the trade count and the exact PnL (the engines are deterministic: a
    difference is a bug, raised as RuntimeError naming the rounds)."""
    first = summaries[0]
    for n, other in enumerate(summaries[1:], start=2):
        for key in ("trades", "net_pnl_usd_exact"):
            if other.get(key) != first.get(key):
                raise RuntimeError(f"{first['engine']}: round {n} gave {key} {other.get(key)!r}, round 1 gave {key} "
                                   f"{first.get(key)!r}; the engine is not deterministic on this case")
    order = sorted(range(len(summaries)), key=lambda k: summaries[k].get("cpu_seconds") or summaries[k]["seconds"])
    out = dict(summaries[order[(len(order) - 1) // 2]])
    out.update({"rounds": len(summaries), "seconds_rounds": [s["seconds"] for s in summaries],
                "cpu_seconds_rounds": [s.get("cpu_seconds") for s in summaries]})
    return out


def _smaller(candles: int) -> int:
    return max(candles // NAUTILUS_FALLBACK_DIVISOR, 1_000)


def compare(candles: int, *, seed: int, run_peers: bool = True, nautilus: str | None = None,
            timeout_s: float = 3600.0, engines: tuple[str, ...] | None = None,
            nautilus_budget_s: float = NAUTILUS_BUDGET_S, rounds: int = 1) -> dict[str, Any]:
    """The engines on 1 SYNTHETIC symbol x ``candles`` one-minute candles, each in a fresh process; figures.

    Each engine's own run is timed in its own process (peak memory its own); the trade tables come
    back as files and the agreement checks run here, untimed. ``rounds``: each engine runs that many
    times, interleaved (krakenbot, backtesting.py, vectorbt, krakenbot, ...), so that a burst of load on
    the shared machine falls on every engine alike; each reports its median round (``median_round``)
    and the ratios are of those medians, with every round's seconds kept. NautilusTrader runs once.
    ``nautilus``: the interpreter for NautilusTrader (see ``nautilus_python``); skipped with a note when
    none has it. NautilusTrader's cost per trade grows with the trades made (measured here: its run is
    super-linear in trades), so its run is stopped after ``nautilus_budget_s``; the result then says so
    (``nautilus_timed_out``, with the candles/s it stayed under) and holds Krakenbot and NautilusTrader
    side by side at a tenth of the size (``nautilus_smaller``).
    """
    data = random_walk_market(1, min(candles, 10), seed=seed)
    lot = synthetic_perpetual(data.symbols[0], float(data.close[0, 0])).lot_size
    if engines is None:
        engines = EMA_ENGINES if run_peers else ("krakenbot",)
    timed_out: dict[str, Any] | None = None
    summaries: dict[str, dict[str, Any]] = {}
    runs: dict[str, PeerRun] = {}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        each: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
        for round_no in range(1, rounds + 1):
            for engine in engines:
                print(f"  {engine}, {candles:,} candles, fresh process (round {round_no} of {rounds}) ...",
                      file=sys.stderr, flush=True)
                table_path = Path(tmp) / f"{engine}-{round_no}.npz"
                each[engine].append(_fresh(["bench.engine_case", "ema", "--engine", engine, "--candles",
                                            str(candles), "--seed", str(seed), "--trades-out", str(table_path)],
                                           timeout_s))
        for engine in engines:
            summaries[engine] = median_round(each[engine])
            runs[engine] = _as_run(summaries[engine], _load_table(Path(tmp) / f"{engine}-1.npz"))
        if run_peers:
            python, note = nautilus_python(nautilus)
            notes.append(note)
            if python is not None:
                print(f"  nautilus, {candles:,} candles, fresh process ({python}; budget "
                      f"{nautilus_budget_s:,.0f} s) ...", file=sys.stderr, flush=True)
                try:
                    out = run_nautilus_fresh(python, candles, seed, Path(tmp), nautilus_budget_s)
                except subprocess.TimeoutExpired:  # the budget covers its process: start, Bars and run
                    timed_out = {"candles": candles, "budget_s": nautilus_budget_s,
                                 "candles_per_s_below": round(candles / nautilus_budget_s)}
                    notes.append(f"NautilusTrader stopped after its budget of {nautilus_budget_s:,.0f} s on "
                                 f"{candles:,} candles (so under {candles / nautilus_budget_s:,.0f} candles/s): its "
                                 "cost per trade grows with the trades made; side by side at "
                                 f"{_smaller(candles):,} candles in nautilus_smaller")
                else:
                    summaries["nautilus"] = out["summary"]
                    runs["nautilus"] = _as_run(out["summary"], out["table"])
    kb = runs["krakenbot"]
    result: dict[str, Any] = {
        "data": describe(random_walk_market(1, min(candles, 10), seed=seed)).replace(
            f"x {min(candles, 10):,} one-minute", f"x {candles:,} one-minute"),
        "candles": candles, "seed": seed, "fresh_process_per_engine": True, "rounds": rounds,
        "sizing": (f"fixed notional {NOTIONAL_USD:,.0f} USD per entry at the signal bar's close, rounded down to "
                   f"the lot {lot} units; equity {INITIAL_EQUITY_USD:,.0f} USD; taker fee {TAKER_FEE}, no slippage, "
                   "no funding"),
        "engines": summaries, "notes": notes,
    }
    for name, peer in runs.items():
        if name == "krakenbot":
            continue
        agree = agreement(kb, peer, float(lot))
        agree["explanation"] = explain(agree)
        result["engines"][name]["krakenbot_speed_ratio"] = round(peer.seconds / kb.seconds, 4)
        if peer.cpu_seconds and kb.cpu_seconds:
            result["engines"][name]["krakenbot_cpu_speed_ratio"] = round(peer.cpu_seconds / kb.cpu_seconds, 4)
        peer_rounds = result["engines"][name].get("cpu_seconds_rounds") or []
        kb_rounds = summaries["krakenbot"].get("cpu_seconds_rounds") or []
        if len(peer_rounds) == len(kb_rounds) > 1 and all(peer_rounds) and all(kb_rounds):  # round k beside round k
            result["engines"][name]["krakenbot_cpu_speed_ratio_rounds"] = [
                round(p / k, 4) for p, k in zip(peer_rounds, kb_rounds, strict=True)]
        result.setdefault("agreement", {})[name] = agree
    if timed_out is not None:
        result["nautilus_timed_out"] = timed_out
    if timed_out is not None and engines == EMA_ENGINES:  # the smaller run itself has no further fallback
        result["nautilus_smaller"] = compare(_smaller(candles), seed=seed, nautilus=nautilus, timeout_s=timeout_s,
                                             engines=("krakenbot",), nautilus_budget_s=nautilus_budget_s)
    return result

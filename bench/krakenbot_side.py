"""Krakenbot's side of the benchmarks: configs, timed runs and peak memory.

Scale cases run in a fresh process each (``python -m bench.krakenbot_side scale ...`` prints one
JSON line), so their peak memory is their own. Memory is the peak resident set size (Linux
``VmHWM``), reset after the data is built (``/proc/self/clear_refs``): ``peak_rss_mb`` is the
whole process at its peak during the backtest (interpreter, imports and the data included) and
``backtest_rss_rise_mb`` what the backtest added on top of the process as it stood before it
started. Where the reset is not allowed, the peak covers the data generation too (flagged).

Throughput is candles processed (timestamps x symbols present) over wall-clock seconds of
``Backtest(...)`` plus ``.run()``: precomputation, the replayed loop and the result tables, not
the data generation or loading.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.synthetic import describe, random_walk_market
from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.market_data import MarketData
from krakenbot.backtest.result import BacktestResult
from krakenbot.config.loader import load_config
from krakenbot.config.models import AppConfig
from krakenbot.config.paths import DEFAULT_CONFIG_PATH, DEMO_DATA_DIR

REPO = Path(__file__).resolve().parents[1]
EMA_CROSS_CLASS = "krakenbot.strategy.ema_cross:EmaCrossStrategy"
# The EMA cross's sizing and costs, shared by the side-by-side comparison and the growth case.
NOTIONAL_USD = 10_000.0
INITIAL_EQUITY_USD = 1_000_000.0
# The growth case's equity: the always-in cross pays fees on about 20,000 round trips per million candles, and
# 5M candles of them lose about 1M USD. An account near zero sits at its liquidation bound, so the engine
# (rightly) wakes at every candle: that measures a dying account, not growth. Sizes stay the fixed 10,000 USD.
GROWTH_EQUITY_USD = 100_000_000.0
TAKER_FEE = 0.0005


def quiet_logs() -> None:
    """Only errors from Krakenbot's loggers, as ``python run.py backtest`` does without --verbose."""
    logging.getLogger("krakenbot").setLevel(logging.ERROR)


# -- memory ---------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def rss_mb() -> float | None:
    """Current resident set size of this process, MB (None off Linux)."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def peak_rss_mb() -> float | None:
    """Peak resident set size of this process since start or the last ``reset_peak_rss``, MB."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- configs --------------------------------------------------------------------------------------
def scale_config(data: MarketData) -> AppConfig:
    """The shipped defaults with the default TrendStrategy on 1h signal candles over ``data``'s symbols."""
    return AppConfig.model_validate({"universe": {"symbols": list(data.symbols)},
                                     "strategy": {"timeframe": "1h"}})


def ema_cross_config(symbols: list[str], *, notional_usd: float, initial_equity_usd: float,
                     taker_fee_pct: float) -> AppConfig:
    """EmaCrossStrategy on the data's own 1m candles, sized at a fixed ``notional_usd`` per entry.

    Sizing: the RiskManager asks ``equity x risk_per_trade_pct / stop_distance_pct`` = equity x
    0.1 / 0.5 = 0.2 x equity, far above ``max_position_notional_usd``, so that cap sets every
    entry's notional; size = notional / the signal bar's close, rounded down to the contract's
    lot. The other limits are opened so they never bind (leverage 50, exposure and margin caps
    wide, loss limits 99 %), the ShockGuard is off, fills have no slippage, funding is zero:
    the peers model none of those.
    """
    return AppConfig.model_validate({
        "universe": {"symbols": symbols},
        "strategy": {"class_path": EMA_CROSS_CLASS, "timeframe": "1m",
                     "params": {"fast_span": 20, "slow_span": 50, "stop_distance_pct": 0.5}},
        "risk": {"risk_per_trade_pct": 0.1, "max_position_notional_usd": notional_usd, "max_leverage": 50,
                 "max_positions": 100, "max_total_exposure": 50, "max_margin_utilization_pct": 1.0,
                 "daily_loss_limit_pct": 0.99, "max_drawdown_pct": 0.99, "shock_guard_enabled": False},
        "fees": {"taker_fee_pct": taker_fee_pct, "maker_fee_pct": taker_fee_pct, "slippage_pct": 0.0},
        "backtest": {"initial_equity_usd": initial_equity_usd, "funding_rate_hourly_pct": 0.0},
    })


# -- timed runs -----------------------------------------------------------------------------------
def timed_backtest(cfg: AppConfig, data: MarketData) -> tuple[Backtest, BacktestResult, float, float]:
    """Build and run one backtest; returns it, its result, and the wall-clock and CPU seconds of both.

    CPU seconds (this process's, ``time.process_time``) are the figure to trust when other work
    shares the machine: the wall clock then counts the time this process waited for a core.
    """
    gc.collect()
    cpu_started = time.process_time()
    started = time.perf_counter()
    backtest = Backtest(cfg, data, progress=False)
    result = backtest.run()
    return backtest, result, time.perf_counter() - started, time.process_time() - cpu_started


def run_case(cfg: AppConfig, data: MarketData, *, label: str, data_note: str, seconds_data: float) -> dict[str, Any]:
    """One measured backtest with its throughput and peak memory (see the module docstring)."""
    gc.collect()
    reset_ok = reset_peak_rss()
    rss_start = rss_mb()
    load_before = _load_1m()
    backtest, result, seconds, cpu_seconds = timed_backtest(cfg, data)
    peak = peak_rss_mb()
    net = float(result.trades["pnl_usd"].sum()) if len(result.trades) else 0.0
    return {
        "case": label, "data": data_note, "symbols": len(data.symbols), "timestamps": len(data.ts),
        "candles": int(result.candles), "strategy": cfg.strategy.class_path,
        "signal_timeframe": cfg.strategy.timeframe, "base_timeframe": data.base_timeframe,
        "seconds_data": round(seconds_data, 3), "seconds_backtest": round(seconds, 3),
        "cpu_seconds_backtest": round(cpu_seconds, 3), "load_1m": [load_before, _load_1m()],
        "candles_per_s": round(result.candles / seconds), "wakes": backtest.wakes, "trades": len(result.trades),
        "fills": len(backtest.paper.fetch_fills()),
        "us_per_wake": round(seconds / backtest.wakes * 1e6, 1) if backtest.wakes else None,
        "ms_per_trade": round(seconds / len(result.trades) * 1e3, 3) if len(result.trades) else None,
        "net_pnl_usd": round(net, 2), "rss_mb_before_backtest": _round(rss_start), "peak_rss_mb": _round(peak),
        "backtest_rss_rise_mb": _round(peak - rss_start) if peak is not None and rss_start is not None else None,
        "peak_reset_after_data": reset_ok,
    }


def _load_1m() -> float | None:
    """The machine's one-minute load average (other work competing for the cores), None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def synthetic_case(symbols: int, candles: int, seed: int) -> dict[str, Any]:
    """Scale case: TrendStrategy (1h) over SYNTHETIC random walks of ``symbols`` x ``candles`` minutes."""
    started = time.perf_counter()
    data = random_walk_market(symbols, candles, seed=seed)
    seconds_data = time.perf_counter() - started
    return run_case(scale_config(data), data, label=f"{symbols} x {candles:,} 1m (synthetic)",
                    data_note=describe(data), seconds_data=seconds_data)


def ema_cross_case(candles: int, seed: int) -> dict[str, Any]:
    """Growth case: the always-in EMA(20)/EMA(50) cross of the comparison, 1 SYNTHETIC symbol x ``candles`` minutes."""
    started = time.perf_counter()
    data = random_walk_market(1, candles, seed=seed)
    seconds_data = time.perf_counter() - started
    cfg = ema_cross_config(list(data.symbols), notional_usd=NOTIONAL_USD, initial_equity_usd=GROWTH_EQUITY_USD,
                           taker_fee_pct=TAKER_FEE)
    return run_case(cfg, data, label=f"EMA cross, 1 x {candles:,} 1m (synthetic)", data_note=describe(data),
                    seconds_data=seconds_data)


def demo_case() -> dict[str, Any]:
    """The shipped demo: the embedded default config over the shipped demo candles (real recorded candles)."""
    cfg = load_config(DEFAULT_CONFIG_PATH)
    started = time.perf_counter()
    folder = cfg.backtest.data or DEMO_DATA_DIR
    data = load_dataset(folder, start=cfg.backtest.start, end=cfg.backtest.end)
    seconds_data = time.perf_counter() - started
    note = f"REAL recorded candles, shipped demo ({len(data.symbols)} symbols, Binance May 2021, see PROVENANCE.md)"
    return run_case(cfg, data, label="shipped demo (the embedded default config)", data_note=note,
                    seconds_data=seconds_data)


def fresh_process_case(args: list[str], *, timeout_s: float) -> dict[str, Any]:
    """Run ``python -m bench.krakenbot_side *args`` in a fresh process; its JSON line as a dict.

    The child inherits this environment (``PYTHONPATH`` included), so it measures the same sources.
    Raises ``RuntimeError`` when the child fails, ``subprocess.TimeoutExpired`` after ``timeout_s``.
    """
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bench.krakenbot_side", *args], cwd=REPO, capture_output=True,
                          text=True, check=False, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.krakenbot_side {' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["seconds_process"] = round(time.perf_counter() - started, 2)
    return out


def main(argv: list[str] | None = None) -> int:
    """Subprocess entry: run one case and print its JSON on one line."""
    parser = argparse.ArgumentParser(description="One Krakenbot benchmark case, as JSON (used by bench.run).")
    sub = parser.add_subparsers(dest="case", required=True)
    scale = sub.add_parser("scale", help="SYNTHETIC random walks, default TrendStrategy on 1h")
    scale.add_argument("--symbols", type=int, required=True)
    scale.add_argument("--candles", type=int, required=True)
    scale.add_argument("--seed", type=int, default=20240101)
    ema_case = sub.add_parser("ema", help="SYNTHETIC random walk, 1 symbol, always-in EMA(20)/EMA(50) cross on 1m")
    ema_case.add_argument("--candles", type=int, required=True)
    ema_case.add_argument("--seed", type=int, default=20240101)
    sub.add_parser("demo", help="the shipped demo data and config")
    args = parser.parse_args(argv)
    quiet_logs()
    if args.case == "scale":
        out = synthetic_case(args.symbols, args.candles, args.seed)
    elif args.case == "ema":
        out = ema_cross_case(args.candles, args.seed)
    else:
        out = demo_case()
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

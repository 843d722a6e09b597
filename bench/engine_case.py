"""One engine on one case in a fresh process, so that its peak memory is its own.

``python -m bench.engine_case ema --engine ENGINE --candles N --trades-out T.npz`` runs the
always-in EMA(20)/EMA(50) cross (``bench.peers``) with ENGINE (krakenbot, backtesting.py or
vectorbt) on the SYNTHETIC candles of ``--seed``, writes the trade table (entry_price,
exit_price, size signed, pnl_usd) to ``T.npz`` for the agreement check done by the caller, and
prints one JSON line: the engine's figures (``PeerRun.summary``) plus ``peak_rss_mb``.
NautilusTrader runs in its own interpreter (``bench/nautilus_peer.py``, see ``bench.compare``).

``python -m bench.engine_case realistic --symbols S --candles N`` runs vectorbt on the
realistic case (``bench.realistic``) and prints its JSON line.

Peak memory: Linux ``VmHWM`` reset after the data is built (``/proc/self/clear_refs``), so it is
the whole process at its peak during the engine's run (interpreter, imports and the data included).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bench.krakenbot_side import INITIAL_EQUITY_USD, NOTIONAL_USD, TAKER_FEE, peak_rss_mb, quiet_logs, reset_peak_rss
from bench.peers import PeerRun
from bench.synthetic import random_walk_market
from krakenbot.backtest.instruments import synthetic_perpetual

EMA_ENGINES = ("krakenbot", "backtesting.py", "vectorbt")
TABLE_COLUMNS = ("entry_price", "exit_price", "size", "pnl_usd")


def run_ema_engine(engine: str, candles: int, seed: int, trades_out: Path | None) -> dict[str, Any]:
    """Run ``engine`` on the EMA cross case; its summary with ``peak_rss_mb``; the trade table to ``trades_out``."""
    from bench.compare import krakenbot_run, peer_frame
    from bench.peers import run_backtesting_py, run_vectorbt

    data = random_walk_market(1, candles, seed=seed)
    symbol = data.symbols[0]
    lot = Decimal(synthetic_perpetual(symbol, float(data.close[0, 0])).lot_size)
    kwargs: dict[str, Any] = {"notional_usd": NOTIONAL_USD, "lot": lot, "cash_usd": INITIAL_EQUITY_USD,
                              "fee": TAKER_FEE}
    run: PeerRun
    if engine == "krakenbot":
        gc.collect()
        reset_ok = reset_peak_rss()
        run = krakenbot_run(data)
    elif engine == "backtesting.py":
        frame = peer_frame(data, symbol)
        del data
        gc.collect()
        reset_ok = reset_peak_rss()
        run = run_backtesting_py(frame, **kwargs)
    elif engine == "vectorbt":
        frame = peer_frame(data, symbol)
        del data
        import vectorbt  # noqa: F401  (the import's memory is the engine's, not the run's: imported before the reset)

        gc.collect()
        reset_ok = reset_peak_rss()
        run = run_vectorbt(frame, **kwargs)
    else:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(EMA_ENGINES)} (NautilusTrader: bench.compare)")
    peak = peak_rss_mb()
    out = run.summary(candles)
    out.update({"net_pnl_usd_exact": run.net_pnl_usd, "fees_usd_exact": run.fees_usd, "peak_rss_mb": peak,
                "peak_reset_after_data": reset_ok, "lot": str(lot)})
    if trades_out is not None:
        np.savez(trades_out, **{c: run.trade_table[c].to_numpy(dtype=float) for c in TABLE_COLUMNS})
    return out


def main(argv: list[str] | None = None) -> int:
    """Subprocess entry: run one engine on one case and print its JSON on one line."""
    parser = argparse.ArgumentParser(description="One engine on one benchmark case, as JSON (used by bench.run).")
    sub = parser.add_subparsers(dest="case", required=True)
    ema = sub.add_parser("ema", help="always-in EMA(20)/EMA(50) cross, 1 SYNTHETIC symbol, 1m candles")
    ema.add_argument("--engine", choices=EMA_ENGINES, required=True)
    ema.add_argument("--candles", type=int, required=True)
    ema.add_argument("--seed", type=int, default=20240101)
    ema.add_argument("--trades-out", type=Path, default=None)
    real = sub.add_parser("realistic", help="vectorbt on the default TrendStrategy's precomputed signal arrays")
    real.add_argument("--symbols", type=int, required=True)
    real.add_argument("--candles", type=int, required=True)
    real.add_argument("--seed", type=int, default=20240101)
    args = parser.parse_args(argv)
    quiet_logs()
    if args.case == "ema":
        out = run_ema_engine(args.engine, args.candles, args.seed, args.trades_out)
    else:
        from bench.realistic import vectorbt_realistic_case

        out = vectorbt_realistic_case(args.symbols, args.candles, args.seed)
    sys.stdout.write(json.dumps(out, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

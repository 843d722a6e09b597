"""Krakenbot's benchmarks in one command: ``python -m bench.run [--quick]`` (see bench/README.md).

1. Scale: throughput (candles/s) and peak memory of Krakenbot's backtest with the default
   TrendStrategy on 1h signal candles over SYNTHETIC one-minute random walks, (a) 1 symbol x
   1,000,000 candles and (b) 50 symbols x 525,600 (one year), plus the shipped demo (real
   recorded candles, the embedded default config). Each case runs in a fresh process.
2. Peers: Krakenbot, backtesting.py and vectorbt side by side in this process on 1 SYNTHETIC
   symbol x 200,000 one-minute candles with the same EMA(20)/EMA(50) always-in-the-market
   strategy, next-open fills and the same fee: throughput, Krakenbot's ratio to each, and
   agreement of trade count and final PnL.

Prints a compact table and writes ``bench/results.json``. ``--quick`` runs small sizes (a smoke
check in well under a minute or two); ``--skip-peers`` runs Krakenbot only.

``--growth`` (issue #9) runs instead the always-in EMA cross at 100k, 1M and 5M candles, each in
a fresh process (``bench.growth``: cost per wake and per trade, linearity), then the side-by-side
comparison on 1,000,000 candles; it writes ``bench/growth.json``. ``--compare-candles N`` sets the
comparison's size in any mode.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar: off, and out of the timings

import argparse
import contextlib
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.compare import compare
from bench.growth import GROWTH_BUDGET_S, GROWTH_SIZES, QUICK_GROWTH_SIZES, growth, print_growth
from bench.krakenbot_side import REPO, fresh_process_case, quiet_logs

RESULTS = REPO / "bench" / "results.json"
GROWTH_RESULTS = REPO / "bench" / "growth.json"
GROWTH_PEER_CANDLES = 1_000_000
FULL_SCALE = [(1, 1_000_000), (50, 525_600)]  # (symbols, one-minute candles each)
FULL_PEER_CANDLES = 200_000
QUICK_SCALE = [(1, 50_000), (5, 20_000)]
QUICK_PEER_CANDLES = 10_000
SLOW_CASE_SECONDS = 600  # a scale case slower than this is reported as too slow for this machine


def machine() -> dict[str, Any]:
    """CPU, memory and the versions that matter for the figures."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    versions: dict[str, str | None] = {}
    for dist in ("krakenbot", "numpy", "pandas", "backtesting", "vectorbt", "numba"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "memory_gb": mem_gb, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "versions": versions}


def scale_case(args: list[str]) -> dict[str, Any]:
    """Run ``bench.krakenbot_side`` with ``args`` in a fresh process; its JSON line as a dict."""
    return fresh_process_case(args, timeout_s=3 * SLOW_CASE_SECONDS)


def _fmt(value: Any, spec: str = ",") -> str:
    return "-" if value is None else format(value, spec)


def print_scale(rows: list[dict[str, Any]]) -> None:
    print("\nKrakenbot backtest: throughput and peak memory (each case in a fresh process)")
    print("  candles/s = candles / wall seconds of Backtest(...) + run(); data generation/loading excluded")
    print("  peak RSS = process peak resident set during the backtest (VmHWM, reset after the data is built);")
    print("  rise = peak RSS - RSS just before the backtest (what the backtest added on top of data + interpreter)")
    head = f"  {'case':<40} {'candles':>12} {'seconds':>8} {'candles/s':>11} {'wakes':>8} {'trades':>7} " \
           f"{'peak RSS MB':>11} {'rise MB':>8}"
    print(head)
    for r in rows:
        print(f"  {r['case']:<40} {r['candles']:>12,} {r['seconds_backtest']:>8.2f} {r['candles_per_s']:>11,} "
              f"{r['wakes']:>8,} {r['trades']:>7,} {_fmt(r['peak_rss_mb'], ',.0f'):>11} "
              f"{_fmt(r['backtest_rss_rise_mb'], ',.0f'):>8}")
    for r in rows:
        print(f"    {r['case']}: {r['data']}")


def print_peers(peers: dict[str, Any]) -> None:
    print(f"\nSide by side, one process: EMA(20)/EMA(50) always in the market, {peers['candles']:,} candles")
    print(f"  data: {peers['data']}")
    print(f"  sizing: {peers['sizing']}")
    print(f"  {'engine':<16} {'seconds':>8} {'CPU s':>8} {'candles/s':>11} {'KB speed x':>10} {'wakes':>9} "
          f"{'us/wake':>8} {'trades':>7} {'net PnL USD':>14} {'|dPnL| USD':>11} {'rel dPnL':>9}")
    agree = peers.get("agreement", {})
    for name, e in peers["engines"].items():
        a = agree.get(name, {})
        ratio = e.get("krakenbot_speed_ratio")
        print(f"  {name:<16} {e['seconds']:>8.3f} {_fmt(e.get('cpu_seconds'), '.3f'):>8} {e['candles_per_s']:>11,} "
              f"{_fmt(ratio, '.3f'):>10} "
              f"{_fmt(e.get('wakes'), ','):>9} {_fmt(e.get('us_per_wake'), ',.1f'):>8} "
              f"{e['trades']:>7,} {e['net_pnl_usd']:>14,.4f} {_fmt(a.get('net_pnl_abs_diff_usd'), '.4f'):>11} "
              f"{_fmt(a.get('net_pnl_rel_diff'), '.2e'):>9}")
    print("  KB speed x = Krakenbot candles/s / this engine's candles/s (> 1: Krakenbot is faster)")
    print("  wakes = times the engine ran its per-step code: Krakenbot's loop wakes, backtesting.py's bars "
          "(Strategy.next); vectorbt is vectorised (-)")
    vbt = peers["engines"].get("vectorbt", {})
    if "seconds_first_call_incl_jit" in vbt:
        print(f"  vectorbt's first call (numba compilation, 1,000 candles) took {vbt['seconds_first_call_incl_jit']} s,"
              " excluded above")
    for name, a in agree.items():
        print(f"  {name}: {a['explanation']}")


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(part.replace("_", "")) for part in text.split(",") if part.strip()))
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need positive candle counts, comma-separated, got {text!r}")
    return sizes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke check")
    parser.add_argument("--skip-peers", action="store_true", help="Krakenbot only (no backtesting.py / vectorbt)")
    parser.add_argument("--growth", action="store_true",
                        help="issue #9: the EMA cross at 100k, 1M, 5M candles (growth) and the comparison on 1M, "
                             "instead of the scale cases; writes bench/growth.json")
    parser.add_argument("--growth-sizes", type=_sizes, default=None, metavar="N,N,...",
                        help="candle counts of the growth case (default 100000,1000000,5000000)")
    parser.add_argument("--growth-budget", type=float, default=GROWTH_BUDGET_S, metavar="SECONDS",
                        help="skip a growth size estimated to take longer (default %(default)s)")
    parser.add_argument("--compare-candles", type=int, default=None, metavar="N",
                        help=f"candles of the side-by-side comparison (default {FULL_PEER_CANDLES:,}; "
                             f"with --growth {GROWTH_PEER_CANDLES:,})")
    parser.add_argument("--no-compare", action="store_true", help="skip the side-by-side comparison")
    parser.add_argument("--seed", type=int, default=20240101, help="seed of the SYNTHETIC random walks")
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON written here (default bench/results.json, with --growth bench/growth.json)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the table; write the JSON. Returns the exit code."""
    args = _parser().parse_args(argv)
    quiet_logs()
    started = time.perf_counter()
    out = args.out or (GROWTH_RESULTS if args.growth else RESULTS)
    if args.compare_candles is not None:
        peer_candles = args.compare_candles
    else:
        peer_candles = QUICK_PEER_CANDLES if args.quick else GROWTH_PEER_CANDLES if args.growth else FULL_PEER_CANDLES
    command = "python -m bench.run" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    report: dict[str, Any] = {"command": command, "mode": ("growth" if args.growth else "full")
                              + (" quick" if args.quick else ""), "machine": machine(),
                              "ts_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "notes": []}
    rows: list[dict[str, Any]] = []
    if args.growth:
        sizes = args.growth_sizes or (QUICK_GROWTH_SIZES if args.quick else GROWTH_SIZES)
        report["growth"] = growth(sizes, seed=args.seed, budget_s=args.growth_budget)
        report["notes"] += report["growth"]["notes"]
    else:
        rows = scale_rows(QUICK_SCALE if args.quick else FULL_SCALE, args.seed, report["notes"])
        report["scale"] = rows
    if args.quick:
        report["notes"].append("--quick: small sizes, a smoke check; not the figures of record")
    if not args.no_compare:
        print(f"running the side-by-side comparison ({peer_candles:,} candles) ...", file=sys.stderr, flush=True)
        report["peers"] = compare(peer_candles, seed=args.seed, run_peers=not args.skip_peers)
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    m = report["machine"]
    print(f"\nmachine: {m['cpu_count']} CPU(s) {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}, "
          f"numpy {m['numpy']}")
    if rows:
        print_scale(rows)
    if "growth" in report:
        print_growth(report["growth"])
    if "peers" in report:
        print_peers(report["peers"])
    for note in report["notes"]:
        print(f"NOTE: {note}")
    print(f"\nwritten: {out} (the whole command took {report['seconds_total']:,.0f} s)")
    return 0


def scale_rows(sizes: list[tuple[int, int]], seed: int, notes: list[str]) -> list[dict[str, Any]]:
    """The scale cases (each in a fresh process) and the shipped demo; slow cases noted in ``notes``."""
    rows = []
    for symbols, candles in sizes:
        print(f"running Krakenbot, {symbols} x {candles:,} SYNTHETIC 1m candles ...", file=sys.stderr, flush=True)
        row = scale_case(["scale", "--symbols", str(symbols), "--candles", str(candles), "--seed", str(seed)])
        if row["seconds_backtest"] > SLOW_CASE_SECONDS:
            notes.append(f"{row['case']} took {row['seconds_backtest']:.0f} s, over the "
                         f"{SLOW_CASE_SECONDS} s budget on this machine")
        rows.append(row)
    print("running Krakenbot, shipped demo ...", file=sys.stderr, flush=True)
    rows.append(scale_case(["demo"]))
    return rows


if __name__ == "__main__":
    raise SystemExit(main())

"""Krakenbot's benchmarks in one command: ``python -m bench.run [--quick]`` (see bench/README.md).

Issue #14's whole picture, each engine and each case in a fresh process (peak memory its own):

1. ``ema``: the always-in EMA(20)/EMA(50) cross on 1 SYNTHETIC symbol x 1,000,000 one-minute
   candles, Krakenbot beside backtesting.py, vectorbt and NautilusTrader (optional: skipped with
   a note when no interpreter has it); each engine's simulation timed alone, the trade and PnL
   agreement checked apart (``bench.compare``).
2. ``growth``: Krakenbot alone on the same cross at 100k, 1M and 5M candles (``bench.growth``).
3. ``symbols``: the realistic workload (default TrendStrategy on 1h signals over 1m candles) at
   1, 10 and 50 SYNTHETIC symbols x one year, with the growth exponent across them.
4. ``realistic``: 50 x one year beside vectorbt running the strategy's own precomputed signal
   arrays with the same fills and fees (``bench.realistic``).
5. ``demo``: the shipped demo (real recorded candles, the embedded default config).
6. ``fast_tick``: the live fast tick's in-process latency over 300 contracts, when
   ``bench/fast_tick.py`` exists (``python -m bench.fast_tick``).

Prints the tables and appends a dated entry (figures, machine, git commit, ``--label``) to the
history in ``bench/results.json``; earlier entries are kept. ``--quick`` runs small sizes in
seconds to check that the harness works (figures not of record; written to a temporary file
unless ``--out`` is given). ``--skip-peers`` runs Krakenbot only; ``--sections`` picks cases.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar: off, and out of the timings

import argparse
import contextlib
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from bench.compare import NAUTILUS_BUDGET_S, compare
from bench.growth import GROWTH_BUDGET_S, GROWTH_SIZES, QUICK_GROWTH_SIZES, growth, print_growth
from bench.krakenbot_side import REPO, fresh_process_case, quiet_logs

RESULTS = REPO / "bench" / "results.json"
FAST_TICK = REPO / "bench" / "fast_tick.py"
SECTIONS = ("ema", "growth", "symbols", "realistic", "demo", "fast_tick")
ONE_YEAR_MINUTES = 525_600
FULL = {"ema_candles": 1_000_000, "ema_rounds": 5, "growth": GROWTH_SIZES, "symbols": (1, 10, 50),
        "symbol_candles": ONE_YEAR_MINUTES, "fast_tick_repeat": 400}
QUICK = {"ema_candles": 5_000, "ema_rounds": 1, "growth": QUICK_GROWTH_SIZES, "symbols": (1, 2, 3),
         "symbol_candles": 20_000, "fast_tick_repeat": 20}
SLOW_CASE_SECONDS = 600  # a case slower than this is reported as too slow for this machine
HISTORY_NOTE = ("history: one entry per full run of python -m bench.run, oldest first; 'latest' is the last one. "
                "Entries before issue #14 have the older layout (scale / peers).")


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
    load = None
    with contextlib.suppress(OSError, AttributeError):
        load = [round(x, 2) for x in os.getloadavg()]
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "memory_gb": mem_gb, "platform": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "versions": versions,
            "load_average_at_start": load}


def git_commit() -> str | None:
    """The checkout's commit (with '+dirty' when it has uncommitted changes), None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def _fmt(value: Any, spec: str = ",") -> str:
    return "-" if value is None else format(value, spec)


# -- sections --------------------------------------------------------------------------------------
def symbols_section(counts: tuple[int, ...], candles: int, seed: int, notes: list[str]) -> dict[str, Any]:
    """The realistic workload at each symbol count (fresh process each) and the growth exponent across them."""
    rows = []
    for symbols in counts:
        print(f"running Krakenbot, {symbols} x {candles:,} SYNTHETIC 1m candles ...", file=sys.stderr, flush=True)
        row = fresh_process_case(["scale", "--symbols", str(symbols), "--candles", str(candles), "--seed", str(seed)],
                                 timeout_s=3 * SLOW_CASE_SECONDS)
        if row["seconds_backtest"] > SLOW_CASE_SECONDS:
            notes.append(f"{row['case']} took {row['seconds_backtest']:.0f} s, over the {SLOW_CASE_SECONDS} s budget")
        rows.append(row)
    previous = None
    for r in rows:
        r["exponent"] = None
        if previous is not None and r["candles"] != previous["candles"]:
            r["exponent"] = round(math.log(r["cpu_seconds_backtest"] / previous["cpu_seconds_backtest"])
                                  / math.log(r["candles"] / previous["candles"]), 3)
        previous = r
    return {"case": "default TrendStrategy on 1h signals over SYNTHETIC 1m candles, shipped defaults",
            "candles_per_symbol": candles, "rows": rows}


def realistic_section(symbols: int, candles: int, seed: int, krakenbot_row: dict[str, Any] | None) -> dict[str, Any]:
    """vectorbt on the strategy's precomputed signal arrays (fresh process), beside Krakenbot's row."""
    print(f"running vectorbt on the TrendStrategy's signal arrays, {symbols} x {candles:,} ...", file=sys.stderr,
          flush=True)
    proc = subprocess.run([sys.executable, "-m", "bench.engine_case", "realistic", "--symbols", str(symbols),
                           "--candles", str(candles), "--seed", str(seed)], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=3 * SLOW_CASE_SECONDS)
    if proc.returncode != 0:
        return {"skipped": True, "reason": f"vectorbt run failed: {proc.stderr.strip()[-1500:]}"}
    vbt_row = json.loads(proc.stdout.strip().splitlines()[-1])
    out: dict[str, Any] = {"vectorbt": vbt_row, "krakenbot": krakenbot_row}
    if krakenbot_row is not None:
        out["krakenbot_speed_ratio"] = round(vbt_row["seconds"] / krakenbot_row["seconds_backtest"], 4)
        out["krakenbot_cpu_speed_ratio"] = round(vbt_row["cpu_seconds"] / krakenbot_row["cpu_seconds_backtest"], 4)
        out["agreement"] = {
            "trades": [krakenbot_row["trades"], vbt_row["trades"]],
            "net_pnl_usd": [krakenbot_row["net_pnl_usd"], vbt_row["net_pnl_usd"]],
            "explanation": ("not expected to agree: vectorbt holds every symbol on its signal at a size fixed from "
                            "the starting equity; Krakenbot holds at most risk.max_positions picked by score, sizes "
                            "from current equity under exposure and margin caps, exits at stops and on stale "
                            "signals, pauses entries after shocks and pays funding (bench/realistic.py)")}
    return out


def fast_tick_section(repeat: int) -> dict[str, Any]:
    """``python -m bench.fast_tick`` in a fresh process, when it exists; its JSON."""
    if not FAST_TICK.exists():
        return {"skipped": True, "reason": "bench/fast_tick.py is not in this checkout"}
    print(f"running the fast tick ({repeat} repetitions per stage) ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        out = Path(tmp) / "fast_tick.json"
        proc = subprocess.run([sys.executable, "-m", "bench.fast_tick", "--out", str(out), "--repeat", str(repeat)],
                              cwd=REPO, capture_output=True, text=True, check=False, timeout=1800)
        if proc.returncode != 0 or not out.exists():
            return {"skipped": True, "reason": f"bench.fast_tick failed: {proc.stderr.strip()[-1500:]}"}
        result: dict[str, Any] = json.loads(out.read_text())
    return result


# -- printing ----------------------------------------------------------------------------------------
def print_symbols(section: dict[str, Any]) -> None:
    print(f"\nScale across symbols: {section['case']} (each in a fresh process)")
    print("  candles/s = candles / wall seconds of Backtest(...) + run(); exponent = log(cpu/cpu_prev) / "
          "log(candles/candles_prev), 1 = linear")
    print(f"  {'case':<34} {'candles':>12} {'seconds':>8} {'CPU s':>8} {'candles/s':>11} {'wakes':>8} {'trades':>7} "
          f"{'peak RSS MB':>11} {'rise MB':>8} {'exponent':>8}")
    for r in section["rows"]:
        print(f"  {r['case']:<34} {r['candles']:>12,} {r['seconds_backtest']:>8.2f} {r['cpu_seconds_backtest']:>8.2f} "
              f"{r['candles_per_s']:>11,} {r['wakes']:>8,} {r['trades']:>7,} {_fmt(r['peak_rss_mb'], ',.0f'):>11} "
              f"{_fmt(r['backtest_rss_rise_mb'], ',.0f'):>8} {_fmt(r.get('exponent'), '.2f'):>8}")


def print_realistic(section: dict[str, Any]) -> None:
    if section.get("skipped"):
        print(f"\nRealistic case beside vectorbt: skipped ({section['reason']})")
        return
    v, k = section["vectorbt"], section["krakenbot"]
    print(f"\nRealistic case beside vectorbt: {v['case']}, default TrendStrategy's signal arrays")
    if k is not None:
        print(f"  Krakenbot  {k['seconds_backtest']:>8.2f} s  CPU {k['cpu_seconds_backtest']:>8.2f} s  "
              f"{k['candles_per_s']:>11,} candles/s  peak RSS {_fmt(k['peak_rss_mb'], ',.0f')} MB  "
              f"trades {k['trades']:,}  net PnL {k['net_pnl_usd']:,.2f} USD")
    print(f"  vectorbt   {v['seconds']:>8.2f} s  CPU {v['cpu_seconds']:>8.2f} s  {v['candles_per_s']:>11,} candles/s  "
          f"peak RSS {_fmt(v['peak_rss_mb'], ',.0f')} MB  trades {v['trades']:,}  net PnL {v['net_pnl_usd']:,.2f} USD"
          f"  (signals {v['seconds_signals']:.2f} s, from_orders {v['seconds_simulation_only']:.2f} s)")
    if "krakenbot_speed_ratio" in section:
        print(f"  KB speed x (vectorbt seconds / Krakenbot seconds): {section['krakenbot_speed_ratio']:.3f} wall, "
              f"{section['krakenbot_cpu_speed_ratio']:.3f} CPU")
        print(f"  agreement: {section['agreement']['explanation']}")


def print_peers(peers: dict[str, Any]) -> None:
    print("\nSide by side, a fresh process per engine: EMA(20)/EMA(50) always in the market, "
          f"{peers['candles']:,} candles")
    print(f"  data: {peers['data']}")
    print(f"  sizing: {peers['sizing']}")
    print(f"  {'engine':<15} {'seconds':>8} {'CPU s':>8} {'candles/s':>11} {'KB x':>7} {'KB x CPU':>8} {'wakes':>9} "
          f"{'us/wake':>8} {'peak MB':>8} {'trades':>7} {'net PnL USD':>14} {'|dPnL| USD':>11}")
    agree = peers.get("agreement", {})
    for name, e in peers["engines"].items():
        a = agree.get(name, {})
        print(f"  {name:<15} {e['seconds']:>8.3f} {_fmt(e.get('cpu_seconds'), '.3f'):>8} {e['candles_per_s']:>11,} "
              f"{_fmt(e.get('krakenbot_speed_ratio'), '.3f'):>7} {_fmt(e.get('krakenbot_cpu_speed_ratio'), '.3f'):>8} "
              f"{_fmt(e.get('wakes'), ','):>9} {_fmt(e.get('us_per_wake'), ',.1f'):>8} "
              f"{_fmt(e.get('peak_rss_mb'), ',.0f'):>8} {e['trades']:>7,} {e['net_pnl_usd']:>14,.4f} "
              f"{_fmt(a.get('net_pnl_abs_diff_usd'), '.4f'):>11}")
    print("  KB x = this engine's seconds / Krakenbot's (> 1: Krakenbot is faster); KB x CPU: the same in CPU seconds")
    if peers.get("rounds", 1) > 1:
        print(f"  each engine but NautilusTrader: the median of {peers['rounds']} interleaved rounds; CPU s per round:")
        for name, e in peers["engines"].items():
            paired = e.get("krakenbot_cpu_speed_ratio_rounds")
            print(f"    {name:<15} {e.get('cpu_seconds_rounds')}"
                  + (f"  KB x CPU round by round {paired}" if paired else ""))
    print("  each engine's timed part is its simulation alone (see bench/README.md); peak MB: its own process")
    vbt = peers["engines"].get("vectorbt", {})
    if "seconds_simulation_only" in vbt:
        print(f"  vectorbt: from_orders alone {vbt['seconds_simulation_only']} s of its {vbt['seconds']} s; first call "
              f"(numba compilation) {vbt.get('seconds_first_call_incl_jit')} s, excluded")
    for name, a in agree.items():
        print(f"  {name}: {a['explanation']}")
    for note in peers.get("notes", []):
        print(f"  note: {note}")
    if "nautilus_smaller" in peers:
        print_peers(peers["nautilus_smaller"])


def print_fast_tick(section: dict[str, Any]) -> None:
    if section.get("skipped"):
        print(f"\nFast tick: skipped ({section['reason']})")
        return
    print(f"\nFast tick over {section.get('contracts')} contracts ({section.get('repeat')} repetitions per stage)")
    print(f"  {'stage':<16}{'median ms':>11}{'p99 ms':>10}")
    for name, fig in section.get("stages", {}).items():
        print(f"  {name:<16}{fig['median_ms']:>11.3f}{fig['p99_ms']:>10.3f}")


# -- results history ---------------------------------------------------------------------------------
def append_history(path: Path, report: dict[str, Any]) -> int:
    """Append ``report`` to the history in ``path`` (created when missing), atomically; returns the entry count.

    A file in the older single-report layout becomes the first history entry.
    """
    history: list[dict[str, Any]] = []
    if path.exists():
        old = json.loads(path.read_text())
        history = old["history"] if isinstance(old, dict) and "history" in old else [old]
    history.append(report)
    doc = {"note": HISTORY_NOTE, "latest": report, "history": history}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str) + "\n")
    tmp.replace(path)
    return len(history)


# -- command line ------------------------------------------------------------------------------------
def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted(int(part.replace("_", "")) for part in text.split(",") if part.strip()))
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"need positive counts, comma-separated, got {text!r}")
    return sizes


def _positive(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"need a whole number of at least 1, got {text!r}")
    return int(text)


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [c for c in chosen if c not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"unknown section(s) {unknown or text!r}: choose among {', '.join(SECTIONS)}")
    return chosen


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes in seconds: checks the harness runs")
    parser.add_argument("--skip-peers", action="store_true",
                        help="Krakenbot only (no backtesting.py / vectorbt / NautilusTrader needed)")
    parser.add_argument("--sections", type=_sections, default=SECTIONS, metavar="A,B,...",
                        help=f"cases to run, among {','.join(SECTIONS)} (default: all)")
    parser.add_argument("--growth", action="store_true", help="only the growth and ema sections (issue #9's run)")
    parser.add_argument("--growth-sizes", type=_sizes, default=None, metavar="N,N,...",
                        help="candle counts of the growth section (default 100000,1000000,5000000)")
    parser.add_argument("--growth-budget", type=float, default=GROWTH_BUDGET_S, metavar="SECONDS",
                        help="skip a growth size estimated to take longer (default %(default)s)")
    parser.add_argument("--compare-candles", type=int, default=None, metavar="N",
                        help="candles of the ema section (default 1,000,000)")
    parser.add_argument("--rounds", type=_positive, default=None, metavar="N",
                        help="rounds of the ema section: each engine but NautilusTrader runs N times, interleaved, "
                             f"and reports its median round (default {FULL['ema_rounds']}; "
                             f"--quick: {QUICK['ema_rounds']})")
    parser.add_argument("--symbols", type=_sizes, default=None, metavar="N,N,...",
                        help="symbol counts of the symbols section (default 1,10,50); the largest runs the realistic "
                             "section")
    parser.add_argument("--nautilus-python", default=None, metavar="PYTHON",
                        help="interpreter with nautilus_trader 1.231 (it needs Python >= 3.12); default: "
                             "$BENCH_NAUTILUS_PYTHON, else this one; skipped with a note when none has it")
    parser.add_argument("--nautilus-budget", type=float, default=NAUTILUS_BUDGET_S, metavar="SECONDS",
                        help="stop NautilusTrader's run after this and run it at a tenth of the size instead "
                             "(default %(default)s)")
    parser.add_argument("--label", default="", help="what this run measures, stored with its entry")
    parser.add_argument("--seed", type=int, default=20240101, help="seed of the SYNTHETIC random walks")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file whose history gets the entry (default bench/results.json; --quick: a "
                             "temporary file)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; print the tables; append the entry to the results history. Returns the exit code."""
    args = _parser().parse_args(argv)
    quiet_logs()
    started = time.perf_counter()
    sizes = QUICK if args.quick else FULL
    sections = ("growth", "ema") if args.growth else args.sections
    out = args.out or (Path(tempfile.gettempdir()) / "krakenbot-bench-quick.json" if args.quick else RESULTS)
    command = "python -m bench.run" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    report: dict[str, Any] = {"command": command, "mode": "quick" if args.quick else "full", "label": args.label,
                              "commit": git_commit(), "machine": machine(), "sections": list(sections),
                              "ts_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "notes": []}
    notes: list[str] = report["notes"]
    if args.quick:
        notes.append("--quick: small sizes, a check that the harness runs; not figures of record")
    notes.append("wall seconds are noisy on a shared 2-core machine: compare CPU seconds (each row has both)")
    if "ema" in sections:
        candles = args.compare_candles or sizes["ema_candles"]
        print(f"running the always-in EMA cross beside the peers ({candles:,} candles) ...", file=sys.stderr,
              flush=True)
        report["ema"] = compare(candles, seed=args.seed, run_peers=not args.skip_peers,
                                nautilus=args.nautilus_python, nautilus_budget_s=args.nautilus_budget,
                                rounds=args.rounds or sizes["ema_rounds"])
    if "growth" in sections:
        report["growth"] = growth(args.growth_sizes or sizes["growth"], seed=args.seed, budget_s=args.growth_budget)
        notes.extend(report["growth"]["notes"])
    counts = args.symbols or sizes["symbols"]
    if "symbols" in sections:
        report["symbols"] = symbols_section(counts, sizes["symbol_candles"], args.seed, notes)
    if "realistic" in sections and not args.skip_peers:
        largest = None
        if "symbols" in report:
            largest = max(report["symbols"]["rows"], key=lambda r: r["symbols"])
        report["realistic"] = realistic_section(max(counts), sizes["symbol_candles"], args.seed, largest)
    if "demo" in sections:
        print("running Krakenbot, shipped demo ...", file=sys.stderr, flush=True)
        report["demo"] = fresh_process_case(["demo"], timeout_s=3 * SLOW_CASE_SECONDS)
    if "fast_tick" in sections:
        report["fast_tick"] = fast_tick_section(sizes["fast_tick_repeat"])
    report["seconds_total"] = round(time.perf_counter() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    entries = append_history(out, report)
    m = report["machine"]
    print(f"\nmachine: {m['cpu_count']} CPU(s) {m['cpu']}, {m['memory_gb']} GB, Python {m['python']}, "
          f"numpy {m['numpy']}, load average at start {m['load_average_at_start']}")
    if "ema" in report:
        print_peers(report["ema"])
    if "growth" in report:
        print_growth(report["growth"])
    if "symbols" in report:
        print_symbols(report["symbols"])
    if "realistic" in report:
        print_realistic(report["realistic"])
    if "demo" in report:
        d = report["demo"]
        print(f"\nDemo (real candles, embedded default config): {d['candles']:,} candles in "
              f"{d['seconds_backtest']:.2f} s "
              f"({d['candles_per_s']:,} candles/s), {d['trades']} trades, peak RSS {_fmt(d['peak_rss_mb'], ',.0f')} MB")
    if "fast_tick" in report:
        print_fast_tick(report["fast_tick"])
    for note in notes:
        print(f"NOTE: {note}")
    print(f"\nwritten: {out} (entry {entries} of its history; the whole command took {report['seconds_total']:,.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

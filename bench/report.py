"""Markdown tables of one entry of ``bench/results.json``: ``python -m bench.report [--entry N] [--file F]``.

For bench/README.md: prints the entry's tables (the EMA cross beside the peers, growth, symbols,
the realistic case beside vectorbt, demo, fast tick) as Markdown. ``--entry`` counts from 1 (the
oldest); negative values count from the end (default -1, the latest).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bench.krakenbot_side import REPO

NAMES = {"krakenbot": "Krakenbot", "backtesting.py": "backtesting.py 0.6.6", "vectorbt": "vectorbt 1.2.0",
         "nautilus": "NautilusTrader 1.231.0"}


def _f(value: Any, spec: str = ",") -> str:
    return "" if value is None else format(value, spec)


def machine_line(entry: dict[str, Any]) -> str:
    m = entry["machine"]
    return (f"{entry['ts_utc']}, commit {entry.get('commit')}, `{entry['command']}`: {m['cpu_count']} CPUs "
            f"({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, numpy {m['numpy']}, load average at start "
            f"{m.get('load_average_at_start')}; {entry.get('seconds_total', 0):,.0f} s in all.")


def ema_table(ema: dict[str, Any]) -> str:
    rows = ["| engine | seconds | CPU s | candles/s | KB x | KB x (CPU) | wakes | us/wake | peak RSS MB | trades "
            "| net PnL USD | abs diff USD |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    agree = ema.get("agreement", {})
    for name, e in ema["engines"].items():
        a = agree.get(name, {})
        rows.append(f"| {NAMES.get(name, name)} | {e['seconds']:,.2f} | {_f(e.get('cpu_seconds'), ',.2f')} | "
                    f"{e['candles_per_s']:,} | {_f(e.get('krakenbot_speed_ratio'), '.3f') or '-'} | "
                    f"{_f(e.get('krakenbot_cpu_speed_ratio'), '.3f') or '-'} | {_f(e.get('wakes'))} | "
                    f"{_f(e.get('us_per_wake'), ',.1f')} | {_f(e.get('peak_rss_mb'), ',.0f')} | {e['trades']:,} | "
                    f"{e['net_pnl_usd']:,.4f} | {_f(a.get('net_pnl_abs_diff_usd'), '.4f') or '-'} |")
    return "\n".join(rows)


def growth_table(growth: dict[str, Any]) -> str:
    rows = ["| candles | trades | wakes | seconds | CPU s | candles/s | us/wake | ms/trade | peak RSS MB | "
            "CPU x / size x | exponent |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in growth["rows"]:
        if r.get("skipped"):
            rows.append(f"| {r['candles']:,} | skipped | | | | | | | | | |")
            continue
        rows.append(f"| {r['candles']:,} | {r['trades']:,} | {r['wakes']:,} | {r['seconds_backtest']:,.2f} | "
                    f"{r['cpu_seconds_backtest']:,.2f} | {r['candles_per_s']:,} | {_f(r['us_per_wake'], ',.0f')} | "
                    f"{_f(r['ms_per_trade'], '.2f')} | {_f(r['peak_rss_mb'], ',.0f')} | "
                    f"{r['cpu_x_over_size_x']:.2f} | {_f(r['exponent'], '.2f') or '-'} |")
    return "\n".join(rows)


def symbols_table(symbols: dict[str, Any]) -> str:
    rows = ["| case | candles | seconds | CPU s | candles/s | wakes | trades | peak RSS MB | rise MB | exponent |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in symbols["rows"]:
        rows.append(f"| {r['case']} | {r['candles']:,} | {r['seconds_backtest']:,.2f} | "
                    f"{r['cpu_seconds_backtest']:,.2f} | {r['candles_per_s']:,} | {r['wakes']:,} | {r['trades']:,} | "
                    f"{_f(r['peak_rss_mb'], ',.0f')} | {_f(r['backtest_rss_rise_mb'], ',.0f')} | "
                    f"{_f(r.get('exponent'), '.2f') or '-'} |")
    return "\n".join(rows)


def realistic_table(real: dict[str, Any]) -> str:
    if real.get("skipped"):
        return f"skipped: {real['reason']}"
    v, k = real["vectorbt"], real["krakenbot"]
    rows = ["| engine | seconds | CPU s | candles/s | peak RSS MB | trades | net PnL USD |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    if k is not None:
        rows.append(f"| Krakenbot (TrendStrategy, whole live loop) | {k['seconds_backtest']:,.2f} | "
                    f"{k['cpu_seconds_backtest']:,.2f} | {k['candles_per_s']:,} | {_f(k['peak_rss_mb'], ',.0f')} | "
                    f"{k['trades']:,} | {k['net_pnl_usd']:,.2f} |")
    rows.append(f"| vectorbt 1.2.0 (the strategy's signal arrays) | {v['seconds']:,.2f} | {v['cpu_seconds']:,.2f} | "
                f"{v['candles_per_s']:,} | {_f(v['peak_rss_mb'], ',.0f')} | {v['trades']:,} | "
                f"{v['net_pnl_usd']:,.2f} |")
    if "krakenbot_speed_ratio" in real:
        rows.append("")
        rows.append(f"KB x (vectorbt's seconds / Krakenbot's): {real['krakenbot_speed_ratio']:.3f} wall, "
                    f"{real['krakenbot_cpu_speed_ratio']:.3f} CPU; vectorbt's signals took {v['seconds_signals']:.2f} "
                    f"s and `from_orders` {v['seconds_simulation_only']:.2f} s.")
    return "\n".join(rows)


def fast_tick_table(ft: dict[str, Any]) -> str:
    if ft.get("skipped"):
        return f"skipped: {ft['reason']}"
    rows = ["| stage | median ms | p99 ms |", "|---|---:|---:|"]
    for name, fig in ft.get("stages", {}).items():
        rows.append(f"| {name} | {fig['median_ms']:.3f} | {fig['p99_ms']:.3f} |")
    return "\n".join(rows)


def render(entry: dict[str, Any]) -> str:
    """The entry's tables as Markdown."""
    parts = [machine_line(entry)]
    if "ema" in entry:
        parts += [f"Always-in EMA(20)/EMA(50) cross, 1 SYNTHETIC symbol x {entry['ema']['candles']:,} 1m candles, "
                  "each engine in a fresh process, timed on its simulation alone:", ema_table(entry["ema"])]
        parts += [f"- {NAMES.get(n, n)}: {a['explanation']}" for n, a in entry["ema"].get("agreement", {}).items()]
        parts += [f"- note: {n}" for n in entry["ema"].get("notes", [])]
        smaller = entry["ema"].get("nautilus_smaller")
        if smaller:
            parts += [f"The same at {smaller['candles']:,} candles, Krakenbot and NautilusTrader:", ema_table(smaller)]
            parts += [f"- {NAMES.get(n, n)}: {a['explanation']}" for n, a in smaller.get("agreement", {}).items()]
    if "growth" in entry:
        parts += ["Krakenbot alone, the same cross by data length (fresh process each):", growth_table(entry["growth"])]
    if "symbols" in entry:
        parts += ["Default TrendStrategy (1h over 1m) by number of symbols, one year each:",
                  symbols_table(entry["symbols"])]
    if "realistic" in entry:
        parts += ["The largest symbols case beside vectorbt on the strategy's own signal arrays:",
                  realistic_table(entry["realistic"])]
    if "demo" in entry:
        d = entry["demo"]
        parts.append(f"Demo (real candles, embedded default config): {d['candles']:,} candles, "
                     f"{d['seconds_backtest']:.2f} s ({d['cpu_seconds_backtest']:.2f} CPU s), {d['candles_per_s']:,} "
                     f"candles/s, {d['trades']} trades, peak RSS {_f(d['peak_rss_mb'], ',.0f')} MB.")
    if "fast_tick" in entry:
        parts += ["Fast tick over 300 contracts:", fast_tick_table(entry["fast_tick"])]
    parts += [f"- NOTE: {n}" for n in entry.get("notes", [])]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--entry", type=int, default=-1, help="1 = oldest, -1 = latest (default)")
    args = parser.parse_args(argv)
    doc = json.loads(args.file.read_text())
    history = doc.get("history", [doc])
    entry = history[args.entry - 1 if args.entry > 0 else args.entry]
    if "ema" not in entry and "symbols" not in entry:
        parser.error("that entry has the issue #9 layout (scale / peers): its tables are in bench/README.md")
    print(render(entry), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

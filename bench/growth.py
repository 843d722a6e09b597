"""Growth with data length (issue #9): the always-in EMA cross at 100k, 1M and 5M one-minute candles.

The case is the side-by-side comparison's Krakenbot run (``EmaCrossStrategy``, EMA(20)/EMA(50),
always in the market, a fixed 10,000 USD per entry) on 1 SYNTHETIC symbol; trades grow in
proportion to the candles (about one per 50). Each size runs in a fresh process
(``python -m bench.krakenbot_side ema --candles N``), so its peak memory is its own.

Reported per size: seconds (wall and CPU), candles/s, trades, wakes, microseconds per wake,
milliseconds per trade, peak RSS; and against the smallest size, ``time x`` (wall seconds over
the smallest size's) and ``CPU x`` (the same in CPU seconds) next to ``size x`` (candles over
the smallest size's): linear growth keeps their quotient near 1. ``exponent`` is the local one in
CPU seconds, log(t / t_prev) / log(n / n_prev): 1 is linear, 2 quadratic. CPU seconds are the
figure to trust when other work shares the machine (the wall clock then counts waits for a core).

A size whose estimated time exceeds the budget is skipped and noted in the output. The estimate
extrapolates from the two previous sizes with their own observed exponent (t2 x (N / n2) ** k),
or linearly from a single one.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

from bench.krakenbot_side import fresh_process_case

GROWTH_SIZES = (100_000, 1_000_000, 5_000_000)
QUICK_GROWTH_SIZES = (5_000, 10_000, 20_000)
GROWTH_BUDGET_S = 900.0  # skip a size estimated to take longer than this (seconds of backtest)


def estimate_seconds(done: list[dict[str, Any]], candles: int) -> float | None:
    """Seconds a run of ``candles`` should take, from the measured rows in ``done`` (None without any)."""
    measured = [r for r in done if not r.get("skipped")]
    if not measured:
        return None
    last = measured[-1]
    exponent = 1.0
    if len(measured) >= 2:
        exponent = max(_exponent(measured[-2], last) or 1.0, 1.0)
    return float(last["seconds_backtest"] * (candles / last["candles"]) ** exponent)


def _exponent(a: dict[str, Any], b: dict[str, Any], key: str = "seconds_backtest") -> float | None:
    if a["candles"] == b["candles"] or a[key] <= 0 or b[key] <= 0:
        return None
    return math.log(b[key] / a[key]) / math.log(b["candles"] / a["candles"])


def growth(sizes: tuple[int, ...], *, seed: int, budget_s: float = GROWTH_BUDGET_S) -> dict[str, Any]:
    """Run the EMA cross at each size in ``sizes`` (ascending), one fresh process each; figures as a dict."""
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for candles in sizes:
        estimate = estimate_seconds(rows, candles)
        if estimate is not None and estimate > budget_s:
            notes.append(f"{candles:,} candles skipped: estimated {estimate:,.0f} s from the smaller sizes, over the "
                         f"{budget_s:,.0f} s budget (--growth-budget)")
            rows.append({"candles": candles, "skipped": True, "estimated_seconds": round(estimate)})
            continue
        print(f"running the growth case, EMA cross on 1 x {candles:,} SYNTHETIC 1m candles"
              + (f" (estimated {estimate:,.0f} s)" if estimate is not None else "") + " ...",
              file=sys.stderr, flush=True)
        try:
            row = fresh_process_case(["ema", "--candles", str(candles), "--seed", str(seed)],
                                     timeout_s=max(3 * budget_s, 600.0))
        except subprocess.TimeoutExpired:
            notes.append(f"{candles:,} candles timed out after {max(3 * budget_s, 600.0):,.0f} s")
            rows.append({"candles": candles, "skipped": True, "timed_out": True})
            continue
        rows.append(row)
    _add_ratios(rows)
    return {"case": "always-in EMA(20)/EMA(50) cross, 1 SYNTHETIC symbol, 1m candles, fixed 10,000 USD per entry",
            "seed": seed, "budget_s": budget_s, "rows": rows, "notes": notes}


def _add_ratios(rows: list[dict[str, Any]]) -> None:
    measured = [r for r in rows if not r.get("skipped")]
    if not measured:
        return
    base = measured[0]
    previous = None
    for r in measured:
        r["size_x"] = round(r["candles"] / base["candles"], 3)
        r["time_x"] = round(r["seconds_backtest"] / base["seconds_backtest"], 3)
        r["time_x_over_size_x"] = round(r["time_x"] / r["size_x"], 3)
        r["cpu_x"] = round(r["cpu_seconds_backtest"] / base["cpu_seconds_backtest"], 3)
        r["cpu_x_over_size_x"] = round(r["cpu_x"] / r["size_x"], 3)
        exponent = _exponent(previous, r, "cpu_seconds_backtest") if previous is not None else None
        r["exponent"] = None if exponent is None else round(exponent, 3)
        previous = r


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_growth(g: dict[str, Any]) -> None:
    """The growth table, one row per size."""
    print(f"\nGrowth with data length: {g['case']} (each size in a fresh process)")
    print("  size x, time x (wall), CPU x: each over the smallest size; CPU x / size x near 1 is linear;")
    print("  exponent = log(cpu/cpu_prev) / log(n/n_prev): 1 linear, 2 quadratic; us/wake, ms/trade: wall clock")
    print(f"  {'candles':>10} {'seconds':>9} {'CPU s':>9} {'candles/s':>10} {'trades':>7} {'wakes':>8} "
          f"{'us/wake':>9} {'ms/trade':>9} {'peak RSS MB':>11} {'size x':>7} {'time x':>8} {'CPU x':>8} "
          f"{'CPU x/s x':>9} {'exponent':>8}")
    for r in g["rows"]:
        if r.get("skipped"):
            why = "timed out" if r.get("timed_out") else f"skipped (estimated {r['estimated_seconds']:,} s)"
            print(f"  {r['candles']:>10,} {why}")
            continue
        print(f"  {r['candles']:>10,} {r['seconds_backtest']:>9.2f} {r['cpu_seconds_backtest']:>9.2f} "
              f"{r['candles_per_s']:>10,} {r['trades']:>7,} {r['wakes']:>8,} {_fmt(r['us_per_wake'], ',.1f'):>9} "
              f"{_fmt(r['ms_per_trade'], '.3f'):>9} {_fmt(r['peak_rss_mb'], ',.0f'):>11} {r['size_x']:>7g} "
              f"{r['time_x']:>8.2f} {r['cpu_x']:>8.2f} {r['cpu_x_over_size_x']:>9.2f} {_fmt(r['exponent'], '.2f'):>8}")
    for note in g["notes"]:
        print(f"  NOTE: {note}")

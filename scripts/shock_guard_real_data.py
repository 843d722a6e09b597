"""Count ShockGuard events per day on real recorded candles: violent days against calm days.

Usage (from the repo root, venv active)::

    python scripts/shock_guard_real_data.py [--data /work/shared/data]

Marks are the 1-minute (or 5-minute for the basis case) candle *closes*: one tick per candle,
so the 1-minute move compares consecutive 1-minute closes and the range over 60 s spans two closes
(intra-minute highs and lows are not fed). Missing candles are gaps: never filled, so a baseline
across a gap is stale and ignored. Default ``RiskConfig`` thresholds throughout.

Columns: ``events`` = ``ShockDetected`` events (one per symbol and kind per shock episode, 30 min
cooldown), ``move``/``range``/``basis``/``mw`` = events by kind, ``hit_ticks`` = symbol-ticks where
a detector was at or over its threshold, ``symbols`` = distinct symbols with a hit that day.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from krakenbot.config.models import RiskConfig
from krakenbot.risk.shock_detect import reaches, scan_magnitudes
from krakenbot.risk.shock_guard import ShockGuard

KINDS = ("move", "range", "basis", "marketwide")


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def day_table(wide: pd.DataFrame, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per UTC day: events by kind, hit symbol-ticks, symbols hit. ``wide`` is ts x symbol closes."""
    guard = ShockGuard(RiskConfig())
    ts = wide.index.to_numpy(dtype="datetime64[us]")
    px = wide.to_numpy(dtype=np.float64)
    ref = None if reference is None else reference.reindex(index=wide.index, columns=wide.columns).to_numpy()
    events = guard.scan_history(ts, px, ref, [str(c) for c in wide.columns])
    mags = scan_magnitudes(guard.params, ts.astype(np.int64), px, ref)
    hits = reaches(mags, guard.params.thresholds[None, None, :]).any(axis=2)
    days = pd.Index(wide.index.date, name="day")
    table = pd.DataFrame(index=pd.Index(sorted(set(days)), name="day"))
    counts = Counter((e.ts.date(), e.kind) for e in events)
    for kind in KINDS:
        table[kind if kind != "marketwide" else "mw"] = [counts.get((d, kind), 0) for d in table.index]
    table.insert(0, "events", table.sum(axis=1))
    hit_frame = pd.DataFrame(hits, index=days, columns=wide.columns)
    table["hit_ticks"] = hit_frame.groupby(level=0).sum().sum(axis=1)
    table["symbols"] = hit_frame.groupby(level=0).any().sum(axis=1)
    table["ticks"] = pd.Series(1, index=days).groupby(level=0).size()
    return table


def long_to_wide(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    return frame.pivot_table(index="ts", columns=key, values="close", aggfunc="last").sort_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data"))
    data = parser.parse_args().data

    crash = pd.read_parquet(data / "events" / "2021-05-crash.parquet")
    crash = crash[(crash["source"] == "binance_spot_1m_2021-05_crash") & crash["series"].str.endswith("-1m")]
    wide = long_to_wide(crash, "series")
    out("== Binance spot 1-min closes, 20 USDT pairs, 12-20 May 2021 (crash: 19 May ~11:30-14:30 UTC)")
    table = day_table(wide)
    out(table.to_string())
    violent = date(2021, 5, 19)
    calm = table.drop(index=violent)
    out(f"violent day {violent}: {int(table.loc[violent, 'events'])} events, "
        f"{int(table.loc[violent, 'hit_ticks'])} hit ticks; other days: events median "
        f"{calm['events'].median():g}, max {int(calm['events'].max())}")
    crash_day = [e for e in ShockGuard(RiskConfig()).scan_history(
        wide.index.to_numpy(dtype="datetime64[us]"), wide.to_numpy(), None, list(wide.columns))
        if e.kind == "marketwide"]
    out("market-wide events: " + ", ".join(f"{e.ts:%m-%d %H:%M} ({int(e.magnitude)} symbols)" for e in crash_day))

    out()
    out("== Kraken spot XBT/USDC 1-min closes, 2023-01-01..03-31 (Kraken omits empty minutes: gaps)")
    one = pd.read_parquet(data / "kraken-2023q1" / "XBTUSDC-1m.parquet").set_index("ts").sort_index()
    table = day_table(one[["close"]].rename(columns={"close": "XBTUSDC"}))
    quiet = int((table["events"] == 0).sum())
    out(f"days {len(table)}, days without events {quiet}, total events {int(table['events'].sum())}, "
        f"days with hits {int((table['hit_ticks'] > 0).sum())}")
    out(table.loc[[d for d in table.index if d.month == 3 and 9 <= d.day <= 13]].to_string())

    out()
    out("== Basis: Kraken XBT/USDC (mark) vs XBT/USD (reference) 5-min closes, 2023 Q1 (USDC de-peg 10-13 March)")
    usd = pd.read_parquet(data / "kraken-2023q1" / "XBTUSD-5m.parquet").set_index("ts").sort_index()
    usdc = pd.read_parquet(data / "kraken-2023q1" / "XBTUSDC-5m.parquet").set_index("ts").sort_index()
    index = usdc.index.union(usd.index)
    mark = usdc[["close"]].rename(columns={"close": "XBTUSDC"}).reindex(index)
    ref = usd[["close"]].rename(columns={"close": "XBTUSDC"}).reindex(index)
    table = day_table(mark, ref)
    out(f"days {len(table)}, days with basis events {int((table['basis'] > 0).sum())}, "
        f"total events {int(table['events'].sum())}")
    out(table.loc[table["hit_ticks"] > 0].to_string())


if __name__ == "__main__":
    main()

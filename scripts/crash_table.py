"""Backtest the embedded default config on three recorded crashes, ShockGuard on and off: one Markdown table.

Usage (venv active; the code under test is whatever ``krakenbot`` is on PYTHONPATH)::

    PYTHONPATH=src python scripts/crash_table.py [--events /work/shared/data/events] [--code after]
    PYTHONPATH=/work/wt-before10/src python scripts/crash_table.py --code before \\
        --config /work/wt-before10/config/default.yaml

Each event file (long format: ts, OHLCV, source, series, kind; see the data README) is written, in a temp
dir, as a backtest data folder of ``BASE-QUOTE-TF.parquet`` files; the run uses the default config with
``universe.symbols`` set to the event's symbols and ``risk.shock_guard_enabled`` true, then false.
The data are Binance / Binance.US spot candles, not Kraken's: USDT pairs are renamed to USD (``BTC_USDT``
-> ``BTC/USD``) and traded on synthetic ``PF_`` perpetuals whose mark is the spot candle (so the basis
detector has nothing to see). Windows start
about 2.5 days before the crash so the strategy (231 bars of 15 min) is warm when it comes.

Columns: trades (closed trades), total_return and max_drawdown (fractions, from the code's own
``summary_dict``), liquidations, detections (events shock_move/range/basis/marketwide, total and by kind),
trims+closes
(shock_trim + shock_close events), summary shock_events (the code's own count: before issue #10 it
also counted trims and closes), min_equity (lowest equity row, USD; initial 10,000), run s (the
backtest alone, wall clock). A run that raises is reported as a row with the error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import run_backtest
from krakenbot.backtest.metrics import summary_dict
from krakenbot.config.loader import load_config
from krakenbot.logs import setup_logging

DETECTIONS = ("shock_move", "shock_range", "shock_basis", "shock_marketwide")
ACTIONS = ("shock_trim", "shock_close")


@dataclass(frozen=True)
class Event:
    """One crash: its file, the recorded series to use (series -> symbol) and the UTC day window."""

    name: str
    file: str
    series: dict[str, str]
    start: date
    end: date
    note: str


def _usdt(names: list[str], suffix: str) -> dict[str, str]:
    """'BTC_USDT-1m' -> 'BTC/USD' (USDT renamed USD) for each base in ``names``."""
    return {f"{n}_USDT-{suffix}": f"{n}/USD" for n in names}


EVENTS = (
    Event("2021-05-19 crash", "2021-05-crash.parquet",
          _usdt(["AAVE", "ADA", "ALGO", "ATOM", "BAT", "BCH", "BTC", "BTT", "DASH", "DOGE", "DOT", "EOS", "ETH",
                 "IOTA", "LINK", "LTC", "NEO", "XMR", "XRP", "XTZ"], "1m"),
          date(2021, 5, 16), date(2021, 5, 20),
          "Binance spot 1m, 20 USDT pairs as X/USD, 16-20 May 2021 (data end 20 May 20:40)"),
    Event("2022-05 LUNA", "2022-05-luna.parquet",
          {"LUNAUSDT-1m-2022-05": "LUNA/USD", **_usdt(["BTC", "ETH", "AVAX", "DOT", "NEAR"], "5m")},
          date(2022, 5, 6), date(2022, 5, 12),
          "Binance LUNA/USDT 1m (resampled to 5m) + BTC, ETH, AVAX, DOT, NEAR USDT 5m, all as X/USD, 6-12 May 2022 "
          "(LUNA data stop 13 May 00:39); BTC_USDT-5m holds two rows per ts in the file: the first is kept"),
    Event("2022-05 LUNA to 10 May", "2022-05-luna.parquet",
          {"LUNAUSDT-1m-2022-05": "LUNA/USD", **_usdt(["BTC", "ETH", "AVAX", "DOT", "NEAR"], "5m")},
          date(2022, 5, 6), date(2022, 5, 10),
          "as 2022-05 LUNA, ending 10 May 23:55 (LUNA at 17.46 USD; on 11-12 May it falls to 0.0003, below "
          "the 0.001 tick its synthetic contract takes from its first price)"),
    Event("2023-03 USDC de-peg", "2023-03-usdc-depeg.parquet",
          {"BTCUSD_1m_20230301_20230321": "BTC/USD", "BTCUSDC_1m_20230301_20230321": "BTC/USDC",
           "BTCUSDT_1m_20230301_20230321": "BTC/USDT"},
          date(2023, 3, 8), date(2023, 3, 13),
          "Binance.US 1m BTC against USD, USDC and USDT, quotes kept (renaming would merge them), 8-13 March 2023"),
)


def write_folder(event: Event, events_dir: Path, folder: Path) -> None:
    """The event's chosen series as ``BASE-QUOTE-TF.parquet`` files in ``folder`` (one row per ts)."""
    frame = pd.read_parquet(events_dir / event.file)
    for series, symbol in event.series.items():
        rows = frame[frame["series"] == series].sort_values("ts", kind="stable").drop_duplicates("ts", keep="first")
        if rows.empty:
            raise SystemExit(f"{event.file}: no series {series}")
        tf = "5m" if "-5m" in series else "1m"
        base, quote = symbol.split("/")
        rows[["ts", "open", "high", "low", "close", "volume"]].to_parquet(folder / f"{base}-{quote}-{tf}.parquet",
                                                                         index=False)


def config_file(template: Path, symbols: list[str], guard: bool, data: Path, where: Path) -> Path:
    """The template config with the event's symbols, the guard flag and the data folder, written to ``where``."""
    raw: dict[str, Any] = yaml.safe_load(template.read_text(encoding="utf-8"))
    raw.setdefault("universe", {})["symbols"] = symbols
    raw.setdefault("risk", {})["shock_guard_enabled"] = guard
    backtest = raw.setdefault("backtest", {})
    backtest["data"] = str(data)
    backtest["out"] = str(where / "out")
    raw.setdefault("store", {})["url"] = f"sqlite:///{where / 'store.db'}"
    path = where / f"config-{'on' if guard else 'off'}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def run_one(event: Event, events_dir: Path, template: Path, guard: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crashtab-") as tmp:
        where = Path(tmp)
        folder = where / "data"
        folder.mkdir()
        write_folder(event, events_dir, folder)
        symbols = list(event.series.values())
        cfg = load_config(config_file(template, symbols, guard, folder, where))
        data = load_dataset(folder, symbols=symbols, start=event.start, end=event.end)
        began = time.perf_counter()
        try:
            result = run_backtest(cfg, data, progress=False)
        except Exception as exc:  # a crash of the code under test is a finding: report it as the row
            return {"error": f"{type(exc).__name__}: {exc}", "base_tf": data.base_timeframe,
                    "seconds": time.perf_counter() - began}
        seconds = time.perf_counter() - began
    summary = summary_dict(result)
    kinds = Counter(str(k) for k in result.events["kind"]) if not result.events.empty else Counter()
    equity = result.equity["equity_usd"]
    return {
        "trades": summary["trades"], "total_return": summary["total_return"], "max_drawdown": summary["max_drawdown"],
        "liquidations": summary["liquidations"], "detections": sum(kinds[k] for k in DETECTIONS),
        "by_kind": "/".join(str(kinds[k]) for k in DETECTIONS),
        "trims": kinds["shock_trim"], "closes": kinds["shock_close"], "shock_events": summary["shock_events"],
        "min_equity": float(equity.min()) if len(equity) else float("nan"),
        "base_tf": data.base_timeframe, "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=Path("/work/shared/data/events"))
    parser.add_argument("--config", type=Path, default=None,
                        help="template config; default krakenbot.config.paths.DEFAULT_CONFIG_PATH")
    parser.add_argument("--code", default="after", help="label of the code under test (before/after)")
    args = parser.parse_args()
    template = args.config
    if template is None:
        from krakenbot.config.paths import DEFAULT_CONFIG_PATH  # after issue #10 item 6 only

        template = DEFAULT_CONFIG_PATH
    setup_logging("ERROR")  # as the backtest CLI: shocks and fills are in the events, not on the console
    out = sys.stdout.write
    package = Path(load_config.__code__.co_filename).parents[1]
    out(f"Config template: `{template}`; code: {args.code} (`{package}`)\n\n")
    out("| event | code | guard | base tf | trades | total_return | max_drawdown | liquidations | detections "
        "(move/range/basis/mw) | trims+closes | summary shock_events | min_equity | run s |\n")
    out("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for event in EVENTS:
        for guard in (True, False):
            r = run_one(event, args.events, template, guard)
            if "error" in r:
                out(f"| {event.name} | {args.code} | {'on' if guard else 'off'} | {r['base_tf']} "
                    f"| run failed: {r['error']} |||||||| {r['seconds']:.1f} |\n")
                continue
            out(f"| {event.name} | {args.code} | {'on' if guard else 'off'} | {r['base_tf']} | {r['trades']} "
                f"| {r['total_return']} | {r['max_drawdown']} | {r['liquidations']} "
                f"| {r['detections']} ({r['by_kind']}) | {r['trims']}+{r['closes']} "
                f"| {r['shock_events']} | {r['min_equity']:.2f} | {r['seconds']:.1f} |\n")
            sys.stdout.flush()
    out("\nData:\n")
    for event in EVENTS:
        out(f"- {event.name}: {event.note}.\n")


if __name__ == "__main__":
    main()

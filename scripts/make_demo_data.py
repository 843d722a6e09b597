"""Extract the shipped demo dataset (``src/krakenbot/defaults/demo/``) from the shared recorded crash window.

Usage (from the repo root, venv active)::

    python scripts/make_demo_data.py [--source /work/shared/data/events/2021-05-crash.parquet]
        [--out src/krakenbot/defaults/demo]

Takes the Binance spot 1-minute USDT candles of eight liquid majors that Kraken Futures also lists as
PF_ perpetuals, over the whole recorded window (2021-05-12 00:00 to 2021-05-20 ~20:40 UTC, holding the
19 May crash), and writes one Parquet (zstd) file per symbol in the repo's layout:
``src/krakenbot/defaults/demo/BTC-USD-1m.parquet`` with columns ``ts`` (UTC, ``datetime64[ns, UTC]``),
``open``, ``high``, ``low``, ``close``, ``volume``, sorted by ``ts`` with unique timestamps.

The USDT quote is relabelled USD (``BTC_USDT`` -> ``BTC/USD``): Binance USDT candles stand in for
Kraken USD prices in the demo (see ``src/krakenbot/defaults/demo/PROVENANCE.md``). Candles are copied as recorded:
nothing is filled, resampled or invented; the script fails if a series has duplicates or NaN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

SOURCE_SET = "binance_spot_1m_2021-05_crash"
BASES = ("BTC", "ETH", "ADA", "XRP", "DOGE", "DOT", "LINK", "LTC")
COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


def extract(source: Path, out: Path) -> list[tuple[str, int, str, str]]:
    """Write one file per base into ``out``; return (file name, rows, first ts, last ts) per file."""
    frame = pd.read_parquet(source)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for base in BASES:
        series = f"{base}_USDT-1m"
        rows = frame[(frame["source"] == SOURCE_SET) & (frame["series"] == series) & (frame["kind"] == "ohlcv")]
        if rows.empty:
            raise SystemExit(f"{series}: not found in {source}")
        candles = rows[COLUMNS].sort_values("ts").reset_index(drop=True)
        if candles["ts"].duplicated().any() or candles[COLUMNS[1:]].isna().any().any():
            raise SystemExit(f"{series}: duplicated timestamps or NaN in {source}; refusing to ship it")
        candles["ts"] = candles["ts"].astype("datetime64[ns, UTC]")
        candles[COLUMNS[1:]] = candles[COLUMNS[1:]].astype("float64")
        name = f"{base}-USD-1m.parquet"
        candles.to_parquet(out / name, index=False, compression="zstd", compression_level=19)
        written.append((name, len(candles), str(candles["ts"].iloc[0]), str(candles["ts"].iloc[-1])))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data/events/2021-05-crash.parquet"))
    parser.add_argument("--out", type=Path, default=Path("src/krakenbot/defaults/demo"))
    args = parser.parse_args(argv)
    for name, n_rows, first, last in extract(args.source, args.out):
        sys.stdout.write(f"{name}: {n_rows} rows, {first} .. {last}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

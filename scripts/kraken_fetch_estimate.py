"""How long a year of 1-minute Kraken candles takes to fetch with ``data download``, and its size on disk.

Computed, not guessed, from what the repo ships and what ccxt (the pinned version) does:

- trades per year: the ``trades`` column of Kraken's own XBT/USD hourly candles of Q1 2023
  (``tests/data/kraken-2023q1/XBTUSD-60m.parquet``), scaled from its 90 days to 365;
- requests: Kraken's Trades endpoint answers at most 1,000 trades per call; the OHLC endpoint's newest 720
  candles are one call; Kraken Futures' charts answer 2,000 candles per window; funding is one call;
- time: ccxt's client-side throttle (``rateLimit``: milliseconds between requests) for ``kraken`` and
  ``krakenfutures``, which ``data download`` keeps on (``exchange.client_rate_limit``); the round trip itself
  is not counted (it overlaps the wait);
- disk: a real 1-minute Kraken series (XBT/USDC of 9-12 March 2023 from the shipped archive ZIP) written
  through ``merge_into`` in the data folder's own layout; the cost per added candle, footer excluded.

Run: ``PYTHONPATH=src python scripts/kraken_fetch_estimate.py`` (prints the README's table).
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path

import ccxt
import pandas as pd

from krakenbot.data.dataset import merge_into
from krakenbot.datasets.kraken_archive import import_archive

REPO = Path(__file__).resolve().parents[1]
HOURLY = REPO / "tests" / "data" / "kraken-2023q1" / "XBTUSD-60m.parquet"
ZIP = REPO / "tests" / "data" / "kraken-archive" / "kraken-ohlcvt-2023-03-09_12.zip"
FUNDING = REPO / "tests" / "data" / "kraken-futures" / "PF_XBTUSD-funding-1h.parquet"
MINUTES_PER_YEAR = 365 * 24 * 60
TRADES_PER_PAGE, CHART_WINDOW = 1_000, 2_000


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def _marginal_bytes(frame: pd.DataFrame, name: str, timeframe: str) -> float:
    """Parquet bytes per row added: the file with all rows minus the file with half (the footer cancels)."""
    with tempfile.TemporaryDirectory() as tmp:
        half, full = Path(tmp) / "half" / name, Path(tmp) / "full" / name
        merge_into(half, frame.iloc[: len(frame) // 2], source="kraken", timeframe=timeframe)
        merge_into(full, frame, source="kraken", timeframe=timeframe)
        return (full.stat().st_size - half.stat().st_size) / (len(frame) - len(frame) // 2)


def bytes_per_candle() -> float:
    """Bytes per 1-minute candle: Kraken's XBT/USDC 1-minute candles of the shipped archive ZIP."""
    with tempfile.TemporaryDirectory() as tmp:
        import_archive([ZIP], Path(tmp), pairs=["BTC/USDC"], timeframes=["1m"], progress=False)
        frame = pd.read_parquet(Path(tmp) / "BTC-USDC-1m.parquet").drop(columns=["source"], errors="ignore")
    return _marginal_bytes(frame, "BTC-USDC-1m.parquet", "1m")


def bytes_per_funding_hour() -> float:
    """Bytes per hourly funding row: Kraken's recorded PF_XBTUSD funding (both units)."""
    frame = pd.read_parquet(FUNDING)
    frame["ts"] = frame["ts"].astype("datetime64[ns, UTC]")
    return _marginal_bytes(frame, "PF_XBTUSD-funding-1h.parquet", "1h")


def estimate() -> list[tuple[str, str, str, str]]:
    """Rows of (what, requests, time at ccxt's throttle, disk)."""
    hourly = pd.read_parquet(HOURLY)
    days = (hourly["ts"].iloc[-1] - hourly["ts"].iloc[0]).total_seconds() / 86_400 + 1 / 24
    trades_year = hourly["trades"].sum() * 365 / days
    spot_s, futures_s = ccxt.kraken().rateLimit / 1000, ccxt.krakenfutures().rateLimit / 1000
    per_candle = bytes_per_candle()
    disk = f"{MINUTES_PER_YEAR * per_candle / 1e6:.0f} MB"
    trade_pages = math.ceil(trades_year / TRADES_PER_PAGE)
    windows = math.ceil(MINUTES_PER_YEAR / CHART_WINDOW)
    return [
        (f"BTC/USD spot, rebuilt from {trades_year / 1e6:.1f} M trades (Kraken's XBT/USD of Q1 2023 x 365/90)",
         f"{trade_pages:,}", _duration(trade_pages * spot_s), disk),
        ("spot, the newest 720 candles from OHLC", "1", _duration(spot_s), "-"),
        ("one futures series (trade, mark or index) from the charts API", f"{windows:,}",
         _duration(windows * futures_s), f"{disk} (as spot)"),
        ("funding, a rolling year of hours", "1", _duration(futures_s),
         f"{8_760 * bytes_per_funding_hour() / 1e3:.0f} kB"),
    ]


def main() -> None:
    out = sys.stdout.write
    spot_s, futures_s = ccxt.kraken().rateLimit / 1000, ccxt.krakenfutures().rateLimit / 1000
    out(f"| a year of 1-minute data | requests | time (ccxt throttle: spot {spot_s:g} s, futures {futures_s:g} s "
        "per request) | disk |\n|---|---:|---:|---:|\n")
    for row in estimate():
        out("| " + " | ".join(row) + " |\n")
    out(f"\n{bytes_per_candle():.1f} bytes per 1-minute candle, {bytes_per_funding_hour():.1f} per funding hour\n")


if __name__ == "__main__":
    main()

"""Build ``tests/data/kraken-archive/kraken-ohlcvt-2023-03-09_12.zip``: a small ZIP in Kraken's OHLCVT download format.

Usage (venv active)::

    PYTHONPATH=src python scripts/make_kraken_archive_fixture.py [--source /work/shared/data/kraken-2023q1]

Kraken's archive is a ZIP of ``PAIR_MINUTES.csv`` files, no header, one candle a line: open time in Unix
seconds, open, high, low, close, volume, trades. The members are cut, unchanged, from the Kraken spot OHLCVT
slices in ``/work/shared/data/kraken-2023q1/`` (``XBTUSDC-1m``, ``XBTUSD-5m``, ``XBTUSD-60m``, ``XBTUSD-720m``:
Kraken's own export republished in a public research repository; see that folder's README), 2023-03-09 00:00
to 2023-03-12 23:59 UTC (the USDC de-peg), gaps kept. Floats are written in Python's shortest round-trip form,
so reading them back gives the recorded float64 exactly. The ZIP is deterministic (members sorted, fixed
timestamps and permissions), so rebuilding it gives the same bytes; the script checks the CSVs read back to
the source values and prints the SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "kraken-archive" / "kraken-ohlcvt-2023-03-09_12.zip"
START, END = pd.Timestamp("2023-03-09", tz="UTC"), pd.Timestamp("2023-03-13", tz="UTC")
MEMBERS = (("XBTUSDC-1m", "XBTUSDC_1.csv"), ("XBTUSD-5m", "XBTUSD_5.csv"), ("XBTUSD-60m", "XBTUSD_60.csv"),
           ("XBTUSD-720m", "XBTUSD_720.csv"))
STAMP = (2023, 3, 13, 0, 0, 0)  # the members' modification time in the ZIP: the day after the slice


def csv_text(frame: pd.DataFrame) -> str:
    """Kraken's OHLCVT lines for a slice (ts in seconds, shortest round-trip floats, trades as an integer)."""
    seconds = frame["ts"].dt.as_unit("s").astype("int64")
    lines = [f"{int(t)},{o!r},{h!r},{lo!r},{c!r},{v!r},{int(n)}" for t, o, h, lo, c, v, n in zip(
        seconds, frame["open"].astype(float), frame["high"].astype(float), frame["low"].astype(float),
        frame["close"].astype(float), frame["volume"].astype(float), frame["trades"], strict=True)]
    return "\n".join(lines) + "\n"


def build(source: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for stem, member in sorted(MEMBERS, key=lambda m: m[1]):
            frame = pd.read_parquet(source / f"{stem}.parquet")
            cut = frame[(frame["ts"] >= START) & (frame["ts"] < END)].reset_index(drop=True)
            text = csv_text(cut)
            back = pd.read_csv(io.StringIO(text), header=None)
            for col, name in enumerate(("open", "high", "low", "close", "volume", "trades"), start=1):
                assert (back[col].to_numpy() == cut[name].to_numpy()).all(), (member, name)
            info = zipfile.ZipInfo(member, date_time=STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, text.encode("ascii"), compresslevel=9)
            sys.stderr.write(f"{member}: {len(cut)} candles from {stem}.parquet\n")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/work/shared/data/kraken-2023q1"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    body = build(args.source)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(body)
    sys.stderr.write(f"{args.out}: {len(body)} bytes, sha256 {hashlib.sha256(body).hexdigest()}\n")


if __name__ == "__main__":
    main()

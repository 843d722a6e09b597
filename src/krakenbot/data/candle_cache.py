"""Candle frames: cleaning rows from an exchange and keeping them in a Parquet file per series.

A candle frame is a pandas DataFrame with columns ``ts`` (UTC open time, ``datetime64[ns, UTC]``),
``open``, ``high``, ``low``, ``close``, ``volume`` (float64), ordered by ``ts`` with no duplicates.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from krakenbot.data.candle_checks import candle_problem
from krakenbot.domain.market import Candle
from krakenbot.domain.timeconv import NS_PER_MS, duration_us, from_ms, to_us
from krakenbot.files import private_file

log = logging.getLogger(__name__)

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
RawCandle = Candle | Sequence[float]


def empty_frame() -> pd.DataFrame:
    """A candle frame with no rows and the right dtypes."""
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in COLUMNS[1:]})
    frame.insert(0, "ts", pd.Series(dtype="datetime64[ns, UTC]"))
    return frame


@dataclass(frozen=True, slots=True, kw_only=True)
class CleanResult:
    """Rows that survived cleaning, how many were dropped as bad (NaN, zero, implausible, inconsistent,
    off-grid), and why the first of them was (``reason``, None when none was dropped)."""

    frame: pd.DataFrame
    dropped_bad: int
    reason: str | None = None


def _row_of(item: RawCandle) -> tuple[datetime, float, float, float, float, float] | None:
    if isinstance(item, Candle):
        return item.ts, item.open, item.high, item.low, item.close, item.volume
    try:
        ms, o, h, low, c = (float(x) for x in item[:5])
        v = float(item[5]) if len(item) > 5 and item[5] is not None else 0.0
    except (TypeError, ValueError, IndexError):
        return None
    if not (math.isfinite(ms) and ms.is_integer()):
        return None
    try:
        return from_ms(int(ms)), o, h, low, c, v
    except OverflowError:  # a time outside datetime's years 1..9999
        return None


def clean_candles(items: Iterable[RawCandle], timeframe: timedelta) -> CleanResult:
    """Turn exchange rows (``Candle`` or CCXT ``[ms, o, h, l, c, v]``) into a clean frame.

    Bad rows (see :func:`~krakenbot.data.candle_checks.candle_problem`: NaN, zero, negative or
    implausible prices such as 1e308, high/low not bracketing open/close, negative volume; a ``ts``
    off the timeframe grid) are dropped and counted; order and duplicates are handled by
    :func:`merge_frames`.
    """
    step_us = duration_us(timeframe)
    rows = []
    dropped = 0
    first_reason: str | None = None
    for item in items:
        row = _row_of(item)
        if row is None:
            problem: str | None = "unreadable row"
        elif to_us(row[0]) % step_us != 0:
            problem = f"open time {row[0].isoformat()} is off the {timeframe} grid"
        else:
            problem = candle_problem(*row[1:])
        if problem is not None:
            dropped += 1
            first_reason = first_reason or (problem if row is None else f"{row[0].isoformat()}: {problem}")
            continue
        rows.append(row)
    if not rows:
        return CleanResult(frame=empty_frame(), dropped_bad=dropped, reason=first_reason)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]")
    return CleanResult(frame=frame.astype(dict.fromkeys(COLUMNS[1:], "float64")), dropped_bad=dropped,
                       reason=first_reason)


def merge_frames(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Concatenate, order by ``ts`` and keep one row per ``ts`` (the newer fetch wins).

    Returns the merged frame and how many duplicate rows were removed.
    """
    if new.empty:
        return old, 0
    combined = new if old.empty else pd.concat([old, new], ignore_index=True)
    before = len(combined)
    combined = combined.drop_duplicates(subset="ts", keep="last").sort_values("ts", kind="stable")
    return combined.reset_index(drop=True), before - len(combined)


def find_gaps(frame: pd.DataFrame, timeframe: timedelta) -> list[tuple[datetime, datetime, int]]:
    """Missing stretches inside a frame: ``(ts_before, ts_after, missing_count)`` per hole."""
    if len(frame) < 2:
        return []
    ts = frame["ts"]
    step = pd.Timedelta(timeframe)
    deltas = ts.diff()
    gaps = []
    for i in deltas.index[deltas > step]:
        before, after = ts.iloc[i - 1], ts.iloc[i]
        missing = int((after - before) / step) - 1
        gaps.append((before.to_pydatetime(), after.to_pydatetime(), missing))
    return gaps


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class ParquetCandleCache:
    """One Parquet file per (market kind, symbol, timeframe) under ``directory``.

    Writes are atomic (temporary file, then rename), so a crash never leaves half a file. A file
    that cannot be read, or holds bad rows, is logged and cleaned, never fatal.
    """

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)

    def path(self, kind: str, symbol: str, timeframe: str) -> Path:
        safe = _UNSAFE.sub("-", symbol.replace("/", "-")).strip("-") or "unnamed"
        return self._dir / kind / f"{safe}_{timeframe}.parquet"

    def load(self, kind: str, symbol: str, timeframe: str, step: timedelta) -> pd.DataFrame:
        path = self.path(kind, symbol, timeframe)
        if not path.exists():
            return empty_frame()
        try:
            raw = pd.read_parquet(path)
            if list(raw.columns) != list(COLUMNS):
                raise ValueError(f"columns {list(raw.columns)} are not {list(COLUMNS)}")
            ts = pd.to_datetime(raw["ts"], utc=True)
        except Exception as exc:  # a corrupt cache costs a refetch, never the process
            log.warning("%s: candle cache %s unreadable (%s); refetching", symbol, path, exc)
            return empty_frame()
        ms = ts.dt.as_unit("ns").astype("int64") // NS_PER_MS
        rows = zip(ms, raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"], strict=True)
        cleaned = clean_candles(([float(x) for x in r] for r in rows), step)
        if cleaned.dropped_bad:
            log.warning("%s: dropped %d bad candles from cache %s (first: %s)", symbol, cleaned.dropped_bad, path,
                        cleaned.reason)
        merged, _ = merge_frames(empty_frame(), cleaned.frame)
        return merged

    def save(self, kind: str, symbol: str, timeframe: str, frame: pd.DataFrame) -> None:
        path = self.path(kind, symbol, timeframe)
        tmp = path.with_suffix(".parquet.tmp")
        tmp.unlink(missing_ok=True)
        private_file(tmp)  # 0600 in 0700 directories; the rename keeps the mode
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)

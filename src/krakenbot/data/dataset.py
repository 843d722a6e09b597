"""A data folder the backtest reads: one Parquet file per series, each with a sidecar saying where its rows came from.

Layout (the backtest's own, ``backtest/data.py`` and ``backtest/futures_files.py`` read it):

- spot candles ``BASE-QUOTE-TF.parquet`` (``BTC-USD-1m.parquet`` holds the pair 'BTC/USD' at 1 minute);
- futures candles ``<CONTRACT>-<trade|mark|index>-TF.parquet`` (``PF_XBTUSD-mark-1m.parquet``; index is
  Kraken Futures' ``spot`` chart);
- hourly funding ``<CONTRACT>-funding-1h.parquet``;
- beside each, ``<file name>.sources.json``: the spans ``{start, end, rows, source}`` (consecutive rows from
  one source, ``start``/``end`` the first and last row's ts, ISO-8601 UTC).

Columns: candles ``ts`` (UTC open time, ``timestamp[ns, UTC]``), ``open``, ``high``, ``low``, ``close``,
``volume`` (float64), ``trades`` (int64, optional: Kraken's archive has it; null where a row came without);
funding ``ts`` (UTC start of the hour), ``relative_funding_rate`` (fraction of notional per hour),
``funding_rate`` (Kraken's absolute USD per contract per hour, null where unknown). Every file ends with a
``source`` column (dictionary-encoded: a few bytes per run), the row's origin: the data file is the one truth,
and the sidecar is rewritten from it by every merge, so a crash between the two writes heals on the next merge.

Writes are atomic (temporary file in the same folder, fsync, ``os.replace``; the data file, then the sidecar)
and deterministic: the same rows from the same sources give byte-identical files whatever the order and
chunking of the merges that brought them (no wall-clock time in any file). One writer per file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.data.trades import step_ns
from krakenbot.domain.errors import ConfigError
from krakenbot.domain.timeconv import from_ns, to_ns

__all__ = ["FUTURES_NAME", "SIDECAR_SUFFIX", "SPOT_NAME", "DatasetError", "SeriesKind", "SeriesSummary", "Span",
           "describe_folder", "merge_into", "read_spans", "series_path", "sidecar_path", "stored_ts", "summary_line"]

log = logging.getLogger(__name__)

SeriesKind = Literal["spot", "trade", "mark", "index", "funding"]
FUTURES_KINDS = ("trade", "mark", "index", "funding")
SPOT_NAME = re.compile(r"^(?P<base>[A-Za-z0-9]+)-(?P<quote>[A-Za-z0-9]+)-(?P<tf>[0-9]+[mhd])$")
"""A spot candle file's stem: ``BTC-USD-1m``."""
FUTURES_NAME = re.compile(r"^(?P<contract>P[FI]_[A-Za-z0-9]+)-(?P<kind>trade|mark|index|funding)-(?P<tf>[0-9]+[mhd])$")
"""A futures series file's stem: ``PF_XBTUSD-mark-1m``, ``PF_XBTUSD-trade-5m``, ``PF_XBTUSD-index-1h``,
``PF_XBTUSD-funding-1h``."""
SIDECAR_SUFFIX = ".sources.json"
DATA_SUFFIXES = (".parquet", ".csv")
UNRECORDED = "unrecorded"  # the source of rows written without one (a file from elsewhere, no sidecar)

CANDLE_FIELDS = ("open", "high", "low", "close", "volume")
FUNDING_FIELDS = ("relative_funding_rate", "funding_rate")
_FLOAT = pa.float64()
_SCHEMAS = {
    "candle": (("open", _FLOAT), ("high", _FLOAT), ("low", _FLOAT), ("close", _FLOAT), ("volume", _FLOAT),
               ("trades", pa.int64())),
    "funding": (("relative_funding_rate", _FLOAT), ("funding_rate", _FLOAT)),
}
_REQUIRED = {"candle": CANDLE_FIELDS, "funding": ("relative_funding_rate",)}
_TS_TYPE = pa.timestamp("ns", tz="UTC")
_SOURCE_TYPE = pa.dictionary(pa.int32(), pa.string())
_SHOWN = 5


class DatasetError(ConfigError, ValueError):
    """A series file, its sidecar or a frame to merge is malformed: the message names the file and the fix
    (exit code 2). Nothing was written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """Consecutive rows of one series that came from one source: first and last row's ts (UTC), row count."""

    start: datetime
    end: datetime
    rows: int
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SeriesSummary:
    """What one file of a data folder holds.

    ``name`` is the spot pair ('BTC/USD') or the contract ('PF_XBTUSD'); ``start``/``end`` the first and last
    row's ts (None when empty); ``gaps`` the holes in the timeframe grid between them, ``missing`` the
    candles (or funding hours) absent in those holes, ``longest_gap`` the largest hole (rows). Kraken omits
    spot candles in which nothing traded, so a few short gaps are normal; a long one is a hole.
    """

    path: Path
    kind: SeriesKind
    name: str
    timeframe: str
    rows: int
    start: datetime | None
    end: datetime | None
    gaps: int
    missing: int
    longest_gap: int
    spans: tuple[Span, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """Distinct sources, in the order they first appear."""
        return tuple(dict.fromkeys(s.source for s in self.spans))


# --- names ----------------------------------------------------------------------------------------


def _step_ns(timeframe: str) -> int:
    try:
        return step_ns(timeframe)
    except ValueError:
        raise DatasetError(f"unknown timeframe {timeframe!r}: use one of {', '.join(TIMEFRAME_MINUTES)}") from None


def series_path(folder: Path, *, kind: SeriesKind, name: str, timeframe: str) -> Path:
    """Where a series lives in ``folder``: spot 'BTC/USD' -> ``BTC-USD-1m.parquet``, futures 'PF_XBTUSD' ->
    ``PF_XBTUSD-mark-1m.parquet`` (``-trade-``, ``-index-``), funding -> ``PF_XBTUSD-funding-1h.parquet``.

    Raises DatasetError for an unknown kind or timeframe, a spot name that is not BASE/QUOTE, a futures name
    that is not a perpetual id (PF_/PI_), or funding at another timeframe than 1h."""
    _step_ns(timeframe)
    if kind == "spot":
        parts = name.strip().upper().replace("-", "/").split("/")
        stem = f"{'-'.join(parts)}-{timeframe}"
        if len(parts) != 2 or SPOT_NAME.match(stem) is None:
            raise DatasetError(f"spot pair {name!r}: write it BASE/QUOTE with letters and digits (e.g. BTC/USD)")
        return Path(folder) / f"{stem}.parquet"
    if kind not in FUTURES_KINDS:
        raise DatasetError(f"series kind {kind!r}: use one of spot, {', '.join(FUTURES_KINDS)}")
    if kind == "funding" and timeframe != "1h":
        raise DatasetError(f"funding of {name} at {timeframe}: funding files are hourly (timeframe 1h)")
    stem = f"{name.strip().upper()}-{kind}-{timeframe}"
    if FUTURES_NAME.match(stem) is None:
        raise DatasetError(f"futures contract {name!r}: write Kraken's perpetual id (e.g. PF_XBTUSD)")
    return Path(folder) / f"{stem}.parquet"


def sidecar_path(path: Path) -> Path:
    """``BTC-USD-1m.parquet`` -> ``BTC-USD-1m.parquet.sources.json`` (beside it)."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _identify(path: Path) -> tuple[SeriesKind, str, str] | None:
    """(kind, name, timeframe) of a data file by its name; None for any other file."""
    if path.suffix.lower() not in DATA_SUFFIXES or path.name.startswith("."):
        return None
    futures = FUTURES_NAME.match(path.stem)
    if futures is not None:
        kind: Any = futures["kind"]
        return kind, futures["contract"].upper(), futures["tf"]
    spot = SPOT_NAME.match(path.stem)
    if spot is not None and spot["tf"] in TIMEFRAME_MINUTES:
        return "spot", f"{spot['base'].upper()}/{spot['quote'].upper()}", spot["tf"]
    return None


# --- frames ---------------------------------------------------------------------------------------


def _fmt(ns: int) -> str:
    return pd.Timestamp(int(ns), tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _rows(ts: np.ndarray, bad: np.ndarray) -> str:
    rows = np.flatnonzero(bad)
    shown = ", ".join(_fmt(ts[r]) for r in rows[:_SHOWN])
    return shown + (f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else "")


def _frame_kind(where: str, columns: Sequence[str]) -> str:
    kind = "funding" if "relative_funding_rate" in columns else "candle"
    missing = [c for c in ("ts", *_REQUIRED[kind]) if c not in columns]
    if missing:
        raise DatasetError(f"{where}: missing columns {', '.join(missing)} (found: {', '.join(map(str, columns))}): "
                           f"a {kind} frame needs ts, {', '.join(_REQUIRED[kind])}")
    allowed = {"ts", "source", *(name for name, _ in _SCHEMAS[kind])}
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise DatasetError(f"{where}: unknown columns {', '.join(map(str, unknown))}: a {kind} file holds "
                           f"{', '.join(sorted(allowed - {'source'}))}; drop the others")
    return kind


def _ts_ns(where: str, raw: pd.Series) -> np.ndarray:
    if not isinstance(raw.dtype, pd.DatetimeTZDtype):
        raise DatasetError(f"{where}: ts must be timezone-aware UTC timestamps (got {raw.dtype}): "
                           "use pd.to_datetime(..., utc=True)")
    if raw.isna().any():
        raise DatasetError(f"{where}: ts is missing in {int(raw.isna().sum())} rows: drop them")
    ns: np.ndarray = raw.dt.tz_convert("UTC").dt.as_unit("ns").astype("int64").to_numpy()
    return ns


def _normalised(where: str, frame: pd.DataFrame, step_ns: int, timeframe: str) -> tuple[str, pd.DataFrame]:
    """The incoming frame checked, sorted by ts, one row per ts, ts as int64 ns."""
    kind = _frame_kind(where, list(frame.columns))
    ts = _ts_ns(where, frame["ts"])
    out = pd.DataFrame({"ts": ts})
    for name, _ in _SCHEMAS[kind]:
        if name == "trades":
            if "trades" in frame.columns:
                out["trades"] = pd.array(frame["trades"].to_numpy(), dtype="Int64")
            continue
        if name in frame.columns:
            try:
                out[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
            except (TypeError, ValueError) as exc:
                raise DatasetError(f"{where}: column {name} is not numeric ({exc}): write numbers only") from exc
    _check_values(where, kind, out, step_ns, timeframe)
    if (np.diff(ts) < 0).any():  # sorted already in the usual case: no copy
        out = out.iloc[np.argsort(ts, kind="stable")].reset_index(drop=True)
    same = np.flatnonzero(np.diff(out["ts"].to_numpy()) == 0)
    if len(same):
        dup = out.iloc[np.concatenate([same, same + 1])].drop_duplicates()
        if dup["ts"].duplicated().any():
            first = int(dup["ts"][dup["ts"].duplicated()].iloc[0])
            raise DatasetError(f"{where}: two different rows at {_fmt(first)}: keep one row per ts")
        out = out.drop_duplicates(subset="ts").reset_index(drop=True)
    return kind, out


def _check_values(where: str, kind: str, out: pd.DataFrame, step_ns: int, timeframe: str) -> None:
    ts = out["ts"].to_numpy()
    off = ts % step_ns != 0
    if off.any():
        raise DatasetError(f"{where}: ts off the {timeframe} grid at {_rows(ts, off)}: ts must be the "
                           f"{'hour' if kind == 'funding' else 'candle open time'}")
    if kind == "funding":
        bad = ~np.isfinite(out["relative_funding_rate"].to_numpy())
        if bad.any():
            raise DatasetError(f"{where}: relative_funding_rate missing or infinite at {_rows(ts, bad)}: a missed "
                               "settlement is a missing row (a gap), never a NaN or zero")
        return
    ohlc = out[["open", "high", "low", "close"]].to_numpy()
    bad = ~np.isfinite(ohlc).all(axis=1) | (ohlc <= 0).any(axis=1)
    if bad.any():
        raise DatasetError(f"{where}: missing, non-positive or infinite prices at {_rows(ts, bad)}: every price "
                           "must be a number > 0; drop those candles")
    o, h, low, c = ohlc.T
    bad = (h < np.maximum(o, c)) | (low > np.minimum(o, c))
    if bad.any():
        raise DatasetError(f"{where}: high/low do not bracket open/close at {_rows(ts, bad)}: fix or drop them")
    volume = out["volume"].to_numpy()
    bad = ~np.isfinite(volume) | (volume < 0)
    if bad.any():
        raise DatasetError(f"{where}: volume missing, negative or infinite at {_rows(ts, bad)}: volume must be >= 0")
    if "trades" in out.columns:
        trades = out["trades"]
        bad = (trades.fillna(0) < 0).to_numpy(dtype=bool)
        if bad.any():
            raise DatasetError(f"{where}: negative trade count at {_rows(ts, bad)}: trades must be >= 0")


# --- reading what is on disk ----------------------------------------------------------------------


def _read_existing(path: Path) -> tuple[str, pd.DataFrame]:
    """The file's rows (ts int64 ns, value columns, ``source`` str), sources from its column, else its sidecar."""
    try:
        table = pq.read_table(path)
    except Exception as exc:  # any reader failure: say which file, keep the reader's reason
        raise DatasetError(f"{path}: cannot be read ({type(exc).__name__}: {exc}): move it away, the merge "
                           "writes a new file") from exc
    names = table.column_names
    kind = _frame_kind(str(path), list(names))
    ts = _file_ts(path, table.column("ts"))
    # column by column, the Arrow buffers freed as pandas takes them: the peak stays near one copy
    frame = table.drop_columns(["ts"]).to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get,
                                                 self_destruct=True, split_blocks=True)
    del table
    frame.insert(0, "ts", ts)
    if "source" in names:
        frame["source"] = _categorical(frame["source"])
    else:
        frame["source"] = _categorical(pd.Series(_sources_from_sidecar(path, ts)))
    return kind, frame


def stored_ts(path: Path) -> np.ndarray:
    """The open times already in ``path`` (int64 ns UTC, as the file holds them); empty when it does not exist."""
    if not path.exists():
        return np.empty(0, dtype="int64")
    return _file_ts(path, pq.read_table(path, columns=["ts"]).column("ts"))


def _file_ts(path: Path, column: pa.ChunkedArray) -> np.ndarray:
    """A file's ts as int64 ns UTC: timestamps (naive ones read as UTC), else as the backtest reads them
    (integers are Unix epoch milliseconds, strings ISO-8601)."""
    if pa.types.is_timestamp(column.type):
        unit = pa.timestamp("ns", tz=column.type.tz)
        values: np.ndarray = column.cast(unit).cast(pa.int64()).to_numpy()
        return values
    raw = column.to_pandas()
    try:
        parsed = pd.to_datetime(raw, unit="ms", utc=True) if pd.api.types.is_integer_dtype(raw.dtype) else \
            pd.to_datetime(raw, utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DatasetError(f"{path}: column ts cannot be read as timestamps ({exc}): move the file away") from exc
    ns: np.ndarray = parsed.dt.as_unit("ns").astype("int64").to_numpy()
    return ns


def _categorical(values: pd.Series, categories: Sequence[str] | None = None) -> pd.Series:
    """Sources as a categorical with string categories (one code per row: a few bytes, not a string)."""
    cat = pd.Categorical(values.astype(str) if not isinstance(values.dtype, pd.CategoricalDtype) else values)
    cat = cat.rename_categories(str)
    if categories is not None:
        cat = cat.set_categories(list(categories))
    return pd.Series(cat, index=values.index)


def _load_sidecar(path: Path) -> list[Span] | None:
    side = sidecar_path(path)
    if not side.exists():
        return None
    try:
        body = json.loads(side.read_text(encoding="utf-8"))
        return [Span(start=_parse_time(s["start"]), end=_parse_time(s["end"]), rows=int(s["rows"]),
                     source=str(s["source"])) for s in body["spans"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable sidecar (%s); its rows are taken as %s", side, exc, UNRECORDED)
        return None


def _sources_from_sidecar(path: Path, ts: np.ndarray) -> np.ndarray:
    """Per-row sources of a file without a ``source`` column: by the sidecar's spans (ts intervals), else unrecorded."""
    sources = np.full(len(ts), UNRECORDED, dtype=object)
    for span in _load_sidecar(path) or []:
        lo, hi = to_ns(span.start), to_ns(span.end)
        sources[(ts >= lo) & (ts <= hi)] = span.source
    return sources


def _parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} has no timezone")
    return value.astimezone(UTC)


def _spans(ts: np.ndarray, sources: np.ndarray | pd.Categorical) -> list[Span]:
    if len(ts) == 0:
        return []
    keys = sources.codes if isinstance(sources, pd.Categorical) else sources
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(ts)]])
    return [Span(start=from_ns(int(ts[a])), end=from_ns(int(ts[b - 1])), rows=int(b - a), source=str(sources[a]))
            for a, b in zip(starts, ends, strict=True)]


# --- writing --------------------------------------------------------------------------------------


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles: the replace is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    """Write through ``write(tmp_path)`` into a hidden temporary file beside ``path``, fsync, then replace."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _table(kind: str, frame: pd.DataFrame) -> pa.Table:
    fields = [pa.field("ts", _TS_TYPE, nullable=False)]
    arrays: list[pa.Array] = [pa.array(frame["ts"].to_numpy().astype("datetime64[ns]"), type=pa.timestamp("ns"))
                              .cast(_TS_TYPE)]
    for name, dtype in _SCHEMAS[kind]:
        if name not in frame.columns:
            continue
        fields.append(pa.field(name, dtype))
        arrays.append(pa.array(frame[name], type=dtype, from_pandas=True))
    fields.append(pa.field("source", _SOURCE_TYPE, nullable=False))
    cat = frame["source"].cat.remove_unused_categories()
    arrays.append(pa.DictionaryArray.from_arrays(pa.array(cat.cat.codes.to_numpy().astype("int32")),
                                                 pa.array([str(c) for c in cat.cat.categories], type=pa.string())))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _sidecar_text(path: Path, timeframe: str, spans: list[Span]) -> str:
    body = {"file": path.name, "timeframe": timeframe, "rows": sum(s.rows for s in spans),
            "spans": [{"start": _fmt(to_ns(s.start)), "end": _fmt(to_ns(s.end)), "rows": s.rows, "source": s.source}
                      for s in spans]}
    return json.dumps(body, indent=2) + "\n"


def _write_sidecar(path: Path, text: str) -> None:
    side = sidecar_path(path)
    if side.exists() and side.read_text(encoding="utf-8") == text:
        return
    _atomic_write(side, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _clean_leftovers(path: Path) -> None:
    """Remove temporary files an interrupted merge of ``path`` left behind (one writer per file)."""
    for prefix in (path.name, sidecar_path(path).name):
        for leftover in path.parent.glob(f".{_glob_escape(prefix)}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


def _glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def merge_into(path: Path, frame: pd.DataFrame, *, source: str, timeframe: str) -> int:
    """Add ``frame``'s rows whose ts is not yet in ``path``; returns how many were added.

    Rows already in the file are kept as they are (never overwritten; a differing value is logged); the file
    stays sorted by ts with one row per ts, and its sidecar is rewritten from it (spans of one source that
    are consecutive rows coalesce). Creates ``path`` (and its folder) when missing. Re-running with the same
    rows adds nothing and leaves both files byte-identical. Candle frames: ts (tz-aware), open, high, low,
    close, volume (+ trades); funding frames: ts, relative_funding_rate (+ funding_rate). Raises DatasetError
    naming the file and the fix when the frame or the file is malformed (then nothing is written).
    Each call that adds rows rewrites the file: merge pages in chunks (thousands of rows), not row by row.
    """
    path = Path(path)
    if not source.strip():
        raise DatasetError(f"{path}: merge without a source: say where the rows came from (e.g. kraken-ohlc)")
    step = _step_ns(timeframe)
    kind, incoming = _normalised(f"{path} (rows from {source})", frame, step, timeframe)
    incoming["source"] = pd.Categorical.from_codes(np.zeros(len(incoming), dtype="int8"),
                                                    dtype=pd.CategoricalDtype([source]))
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(path)
    existing: pd.DataFrame | None = None
    if path.exists():
        old_kind, existing = _read_existing(path)
        if old_kind != kind:
            raise DatasetError(f"{path}: holds {old_kind} rows, the merge brings {kind} rows: write them to "
                               "their own file (series_path)")
        old_ts = existing["ts"].to_numpy()
        unsorted = np.diff(old_ts) <= 0
        if unsorted.any():
            row = int(np.flatnonzero(unsorted)[0]) + 1
            raise DatasetError(f"{path}: ts not strictly increasing at row {row} ({_fmt(old_ts[row])}): sort the file "
                               "by ts with one row per ts (or move it away), then merge again")
        off = old_ts % step != 0
        if off.any():
            raise DatasetError(f"{path}: rows off the {timeframe} grid at {_rows(old_ts, off)}: is this file at "
                               f"{timeframe}? merge into the file of its own timeframe")
        inc_ts = incoming["ts"].to_numpy()
        at = np.searchsorted(old_ts, inc_ts)  # both sorted, one row per ts
        known = old_ts[np.minimum(at, len(old_ts) - 1)] == inc_ts if len(old_ts) else np.zeros(len(inc_ts), bool)
        if known.any():
            _log_conflicts(path, existing, incoming, known, at[known], source)
        new = incoming[~known]
    else:
        new = incoming
    added = len(new)
    if existing is None and added == 0:
        return 0
    if added:
        if existing is None:
            merged = new.reset_index(drop=True)
        else:
            sources = sorted(set(existing["source"].cat.categories) | {source})
            existing["source"] = _categorical(existing["source"], sources)
            new = new.assign(source=_categorical(new["source"], sources))
            merged = pd.concat([existing, new], ignore_index=True, sort=False)
            ts = merged["ts"].to_numpy()
            if (np.diff(ts) < 0).any():  # new rows only after the file's: no reordering copy
                merged = merged.iloc[np.argsort(ts, kind="stable")].reset_index(drop=True)
        table = _table(kind, merged)
        _atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20))
    else:
        merged = existing  # type: ignore[assignment]
    spans = _spans(merged["ts"].to_numpy(), merged["source"].array)
    _write_sidecar(path, _sidecar_text(path, timeframe, spans))
    return added


def _log_conflicts(path: Path, existing: pd.DataFrame, incoming: pd.DataFrame, known: np.ndarray,
                   rows: np.ndarray, source: str) -> None:
    """Log incoming rows at ts already in the file (``known``; ``rows`` their rows in the file) whose values
    differ from the file's; a value one side lacks is no conflict."""
    differ = np.zeros(int(known.sum()), dtype=bool)
    for name in (c for c in incoming.columns if c not in ("ts", "source") and c in existing.columns):
        old = existing[name].to_numpy(dtype="float64", na_value=np.nan)[rows]
        new = incoming[name].to_numpy(dtype="float64", na_value=np.nan)[known]
        differ |= ~np.isnan(old) & ~np.isnan(new) & (old != new)
    if differ.any():
        first = int(incoming["ts"].to_numpy()[known][np.flatnonzero(differ)[0]])
        log.warning("%s: %d rows from %s differ from the file's at the same ts (first %s); kept the file's",
                    path, int(differ.sum()), source, _fmt(first))


# --- describing -----------------------------------------------------------------------------------


def read_spans(path: Path) -> list[Span]:
    """Where the rows of data file ``path`` came from, oldest first: from its ``source`` column, else its sidecar,
    else one span 'unrecorded' covering the file. Empty when the file does not exist. Raises DatasetError when
    the file cannot be read."""
    path = Path(path)
    if not path.exists():
        return []
    ts, sources = _ts_and_sources(path)
    return _spans(ts, sources)


def _ts_and_sources(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        if path.suffix.lower() == ".csv":
            raw = pd.read_csv(path)
            names = list(raw.columns)
        else:
            names = pq.read_schema(path).names
            raw = pd.read_parquet(path, columns=[c for c in ("ts", "source") if c in names])
        parsed = pd.to_datetime(raw["ts"], utc=True) if "ts" in raw.columns else None
    except Exception as exc:  # any reader failure: say which file, keep the reader's reason
        raise DatasetError(f"{path}: cannot be read ({type(exc).__name__}: {exc}): check or remove the file") from exc
    if parsed is None:
        raise DatasetError(f"{path}: has no ts column (found: {', '.join(map(str, names))}): not a series file")
    ts = np.sort(parsed.dt.as_unit("ns").astype("int64").to_numpy())
    if "source" in raw.columns:
        order = np.argsort(parsed.dt.as_unit("ns").astype("int64").to_numpy(), kind="stable")
        return ts, raw["source"].astype(str).to_numpy()[order]
    return ts, _sources_from_sidecar(path, ts)


def _summary(path: Path, kind: SeriesKind, name: str, timeframe: str) -> SeriesSummary:
    ts, sources = _ts_and_sources(path)
    step = np.diff(ts)
    holes = step[step > _step_ns(timeframe)] // _step_ns(timeframe) - 1 if len(ts) > 1 else np.array([], int)
    return SeriesSummary(path=path, kind=kind, name=name, timeframe=timeframe, rows=len(ts),
                         start=pd.Timestamp(int(ts[0]), tz="UTC").to_pydatetime() if len(ts) else None,
                         end=pd.Timestamp(int(ts[-1]), tz="UTC").to_pydatetime() if len(ts) else None,
                         gaps=len(holes), missing=int(holes.sum()), longest_gap=int(holes.max()) if len(holes) else 0,
                         spans=tuple(_spans(ts, sources)))


def describe_folder(folder: Path) -> list[SeriesSummary]:
    """One summary per series file of ``folder`` (spot first, then futures; by name, kind and timeframe).
    Other files (sidecars, READMEs) are ignored. Raises DatasetError when the folder is missing or a file is
    unreadable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a data folder: pass a folder written by `data import` or `data download`")
    found = [(path, ident) for path in sorted(folder.iterdir()) if (ident := _identify(path)) is not None]
    order = {"spot": 0, "trade": 1, "mark": 2, "index": 3, "funding": 4}
    found.sort(key=lambda item: (item[1][0] != "spot", item[1][1], order[item[1][0]],
                                 TIMEFRAME_MINUTES.get(item[1][2], 0), item[0].name))
    return [_summary(path, kind, name, tf) for path, (kind, name, tf) in found]


def _short(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _gaps(s: SeriesSummary) -> str:
    if not s.gaps:
        return "no gaps"
    longest = f", longest {s.longest_gap} missing" if s.longest_gap > 1 else ""
    return f"{s.gaps:,} gap{'s' if s.gaps > 1 else ''}{longest}"


def summary_line(folder: Path, *, limit: int = 6) -> str:
    """One line saying what ``folder`` holds, e.g. ``data/: BTC/USD spot 1m 2023-01-01 00:00..2023-03-31 23:59
    (129,581 rows, 19 gaps); PF_XBTUSD funding 1h ...`` (the first ``limit`` series, then how many more).
    Raises DatasetError as :func:`describe_folder`."""
    summaries = describe_folder(folder)
    if not summaries:
        return f"{folder}: no series files"
    parts = [f"{s.name} {s.kind} {s.timeframe} {_short(s.start)}..{_short(s.end)} ({s.rows:,} rows, "
             f"{_gaps(s)})" for s in summaries[:limit]]
    more = f"; and {len(summaries) - limit} more (`data list {folder}`)" if len(summaries) > limit else ""
    return f"{folder}: " + "; ".join(parts) + more

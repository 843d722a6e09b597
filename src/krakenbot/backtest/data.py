"""Load recorded candles from a folder into :class:`MarketData`, refusing anything malformed.

Layout: one file per symbol and timeframe, named ``BASE-QUOTE-TF.parquet`` or ``BASE-QUOTE-TF.csv``
(``BTC-USD-1m.parquet`` holds the spot pair 'BTC/USD' at 1 minute; TF in 1m, 5m, 15m, 30m, 1h, 4h, 1d).
Other files (README, PROVENANCE.md, the ``*.sources.json`` sidecars of ``data/dataset.py``, ...) are ignored,
and so are recorded futures series (``PF_XBTUSD-mark-1m.parquet``, ``PF_XBTUSD-funding-1h.parquet``:
futures_files.py reads them; ``PF_XBTUSD-trade-1m``, ``PF_XBTUSD-index-1m``: not replayed).
Columns: ``ts`` (candle open time), ``open``, ``high``, ``low``, ``close``, ``volume``; extra columns
are ignored. ``ts`` may be a timestamp (a naive one is read as UTC), an ISO-8601 string, or an integer
of Unix epoch *milliseconds*.

Every file that is used is checked in full before anything is returned; a problem raises
:class:`DataError` naming the file, the problem and how to fix it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from krakenbot.backtest.market_data import PRICE_FIELDS, MarketData, MarkView, resample_arrays, timeframe_ns
from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.data import dataset
from krakenbot.domain.errors import ConfigError
from krakenbot.domain.timeconv import to_ns

__all__ = ["CandleFile", "DataError", "MarkView", "MarketData", "load_dataset", "parse_file_name", "scan_folder"]

log = logging.getLogger(__name__)

COLUMNS = ("ts", *PRICE_FIELDS)
SUFFIXES = (".parquet", ".csv")
_NAME = re.compile(r"^(?P<base>[A-Za-z0-9]+)-(?P<quote>[A-Za-z0-9]+)-(?P<tf>[0-9]+[mhd])$")
FUTURES_NAME = dataset.FUTURES_NAME
"""A recorded futures series (``PF_XBTUSD-mark-1m``, ``PF_XBTUSD-funding-1h``: read by futures_files.py;
``PF_XBTUSD-trade-1m``, ``PF_XBTUSD-index-1m``: written by ``data download``, not replayed)."""
_SHOWN = 5  # offending rows named in a message


class DataError(ConfigError, ValueError):
    """Recorded candles are missing or malformed. Raised before anything is replayed (exit code 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CandleFile:
    """One candle file of a data folder: its path, spot pair ('BTC/USD') and timeframe ('1m')."""

    path: Path
    symbol: str
    timeframe: str


def parse_file_name(path: Path) -> tuple[str, str]:
    """('BTC/USD', '1m') from ``BTC-USD-1m.parquet``; raises DataError for any other name."""
    match = _NAME.match(path.stem)
    if match is None or match["tf"] not in TIMEFRAME_MINUTES:
        raise DataError(f"{path}: file name does not match BASE-QUOTE-TF.parquet|csv "
                        f"(e.g. BTC-USD-1m.parquet, TF one of {', '.join(TIMEFRAME_MINUTES)}): rename or remove it")
    return f"{match['base'].upper()}/{match['quote'].upper()}", match["tf"]


def scan_folder(folder: Path) -> dict[str, list[CandleFile]]:
    """The candle files of ``folder`` by spot pair (names only, nothing read). Raises DataError."""
    if not folder.exists():
        raise DataError(f"{folder}: data folder does not exist: pass --data with a folder of candle files "
                        "(e.g. src/krakenbot/defaults/demo)")
    if not folder.is_dir():
        raise DataError(f"{folder}: is not a folder: pass --data with a folder of candle files")
    by_symbol: dict[str, list[CandleFile]] = {}
    seen: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in SUFFIXES or path.name.startswith(".") or FUTURES_NAME.match(path.stem):
            continue
        symbol, timeframe = parse_file_name(path)
        if (symbol, timeframe) in seen:
            raise DataError(f"{path}: {symbol} {timeframe} is also in {seen[symbol, timeframe].name}: keep one of them")
        seen[symbol, timeframe] = path
        by_symbol.setdefault(symbol, []).append(CandleFile(path=path, symbol=symbol, timeframe=timeframe))
    if not by_symbol:
        raise DataError(f"{folder}: no candle files: expected files named BASE-QUOTE-TF.parquet or .csv "
                        "(e.g. BTC-USD-1m.parquet)")
    return by_symbol


def _read(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            names = pq.read_schema(path).names
            _check_columns(path, names)
            return pd.read_parquet(path, columns=list(COLUMNS))
        frame = pd.read_csv(path)
    except DataError:
        raise
    except Exception as exc:  # any reader failure: say which file, keep the reader's reason
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc}): check the file is "
                        f"{path.suffix.lstrip('.')}") from exc
    _check_columns(path, list(frame.columns))
    return frame[list(COLUMNS)]


def _check_columns(path: Path, names: Sequence[str]) -> None:
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise DataError(f"{path}: missing columns {', '.join(missing)} (found: {', '.join(map(str, names))}): "
                        f"the file needs {', '.join(COLUMNS)}")


def _ts_ns(path: Path, raw: pd.Series) -> np.ndarray:
    try:
        if pd.api.types.is_integer_dtype(raw.dtype):
            parsed = pd.to_datetime(raw, unit="ms", utc=True)
        else:
            parsed = pd.to_datetime(raw, utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{path}: column ts cannot be read as timestamps ({exc}): use ISO-8601 UTC times "
                        "or Unix epoch milliseconds") from exc
    if parsed.isna().any():
        rows = np.flatnonzero(parsed.isna().to_numpy())[:_SHOWN]
        raise DataError(f"{path}: ts is missing at rows {rows.tolist()}: drop those rows")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy()


def _fmt(ts_ns: int | np.integer) -> str:
    return pd.Timestamp(int(ts_ns), tz="UTC").isoformat()


def _where(ts: np.ndarray, bad: np.ndarray) -> str:
    rows = np.flatnonzero(bad)
    shown = ", ".join(f"{r} ({_fmt(ts[r])})" for r in rows[:_SHOWN])
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return f"rows/ts {shown}{more}"


def _validate(file: CandleFile, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Checked arrays of one file: ts (int64 ns) and the five float64 fields."""
    path = file.path
    if frame.empty:
        raise DataError(f"{path}: has no rows: remove the file or record candles into it")
    ts = _ts_ns(path, frame["ts"])
    arrays = {"ts": ts}
    for name in PRICE_FIELDS:
        try:
            arrays[name] = frame[name].to_numpy(dtype="float64", na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise DataError(f"{path}: column {name} is not numeric ({exc}): write numbers only") from exc
    ohlc = np.column_stack([arrays[n] for n in ("open", "high", "low", "close")])
    nan = np.isnan(ohlc).any(axis=1)
    if nan.any():
        raise DataError(f"Some OHLC values are missing (NaN) in {path} at {_where(ts, nan)}: drop or fill them")
    if np.isnan(arrays["volume"]).any():
        raise DataError(f"Some volume values are missing (NaN) in {path} at "
                        f"{_where(ts, np.isnan(arrays['volume']))}: drop or fill them")
    bad = ~np.isfinite(ohlc).all(axis=1) | (ohlc <= 0).any(axis=1)
    if bad.any():
        raise DataError(f"{path}: non-positive or infinite prices at {_where(ts, bad)}: every price must be > 0")
    if (arrays["volume"] < 0).any() or not np.isfinite(arrays["volume"]).all():
        bad = ~np.isfinite(arrays["volume"]) | (arrays["volume"] < 0)
        raise DataError(f"{path}: negative or infinite volume at {_where(ts, bad)}: volume must be >= 0")
    o, h, low, c = ohlc.T
    if (h < low).any():
        raise DataError(f"{path}: high < low at {_where(ts, h < low)}: fix or drop those candles")
    unbracketed = (h < np.maximum(o, c)) | (low > np.minimum(o, c))
    if unbracketed.any():
        raise DataError(f"{path}: high/low do not bracket open/close at {_where(ts, unbracketed)}: "
                        "fix or drop those candles")
    step = np.diff(ts)
    if (step < 0).any():
        first = int(np.flatnonzero(step < 0)[0]) + 1
        raise DataError(f"{path}: timestamps are not sorted: row {first} ({_fmt(ts[first])}) comes after "
                        f"{_fmt(ts[first - 1])}: sort the file by ts")
    if (step == 0).any():
        first = int(np.flatnonzero(step == 0)[0]) + 1
        raise DataError(f"{path}: duplicated timestamp {_fmt(ts[first])} at row {first}: keep one candle per ts")
    off_grid = ts % timeframe_ns(file.timeframe) != 0
    if off_grid.any():
        raise DataError(f"{path}: timestamps off the {file.timeframe} grid at {_where(ts, off_grid)}: "
                        "ts must be the candle's open time")
    return arrays


def _bound_ns(value: date | datetime | None, *, end: bool) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise DataError(f"{'end' if end else 'start'} {value.isoformat()} has no timezone: pass a UTC datetime")
        return to_ns(value.astimezone(UTC))
    day = datetime(value.year, value.month, value.day, tzinfo=UTC) + (timedelta(days=1) if end else timedelta())
    return to_ns(day) - (1 if end else 0)


def _window(start: date | datetime | None, end: date | datetime | None) -> str:
    first = "start of data" if start is None else start.isoformat()
    return f"{first} .. {'end of data' if end is None else end.isoformat()}"


def _pick(files: list[CandleFile], base_tf: str) -> CandleFile:
    exact = [f for f in files if f.timeframe == base_tf]
    if exact:
        return exact[0]
    finer = [f for f in files if timeframe_ns(f.timeframe) < timeframe_ns(base_tf)]
    if not finer:
        have = ", ".join(f.path.name for f in files)
        raise DataError(f"{files[0].path.parent}: {files[0].symbol} has no {base_tf} candles or finer (files: {have}): "
                        f"add a {base_tf} file or choose another timeframe")
    return min(finer, key=lambda f: timeframe_ns(f.timeframe))


def load_dataset(path: Path, *, symbols: Sequence[str] | None = None, start: date | datetime | None = None,
                 end: date | datetime | None = None, timeframe: str | None = None,
                 one_resolution: bool = False) -> MarketData:
    """Load, check and align the candles in folder ``path``.

    ``symbols``: spot pairs ('BTC/USD'); default every symbol in the folder. ``start``/``end``: UTC day
    (``end`` inclusive: the whole day) or aware datetime (inclusive instant); default the whole data.
    ``timeframe``: base resolution; default the finest available per symbol, and where symbols
    differ, the coarsest of those (finer files are resampled to it, complete bars only). A symbol with
    several files uses the one at the base timeframe, else its finest. ``one_resolution`` refuses,
    instead of resampling, chosen files at different timeframes (naming them). Raises DataError (a ConfigError
    and a ValueError) naming the file and the problem; nothing is returned half-loaded.
    """
    folder = Path(path)
    by_symbol = scan_folder(folder)
    if symbols is not None:
        wanted = [s.replace("-", "/").upper() for s in symbols]
        unknown = [s for s in wanted if s not in by_symbol]
        if unknown:
            raise DataError(f"{folder}: no files for {', '.join(unknown)} (available: {', '.join(sorted(by_symbol))}): "
                            "fix the symbols or add BASE-QUOTE-TF files")
        by_symbol = {s: by_symbol[s] for s in dict.fromkeys(wanted)}
    if timeframe is not None:
        timeframe_ns(timeframe)
        base_tf = timeframe
    else:
        finest = {s: min(fs, key=lambda f: timeframe_ns(f.timeframe)).timeframe for s, fs in by_symbol.items()}
        base_tf = max(finest.values(), key=timeframe_ns)
        coarse = sorted(s for s, tf in finest.items() if tf != base_tf)
        if coarse:
            log.warning("%s: finest data is coarser than %s for other symbols; using %s for all",
                        ", ".join(sorted(s for s, tf in finest.items() if tf == base_tf)), min(finest.values(),
                        key=timeframe_ns), base_tf)
    chosen = {s: _pick(fs, base_tf) for s, fs in by_symbol.items()}
    if one_resolution and len({f.timeframe for f in chosen.values()}) > 1:
        named = ", ".join(f"{f.path.name} ({f.timeframe})" for f in chosen.values())
        raise DataError(f"{folder}: the chosen files mix base resolutions: {named}: record every symbol at one "
                        f"timeframe (e.g. add {base_tf} files for all), or deny the odd ones in universe.deny")
    checked = {s: _validate(f, _read(f.path)) for s, f in chosen.items()}

    lo, hi = _bound_ns(start, end=False), _bound_ns(end, end=True)
    if lo is not None and hi is not None and hi < lo:
        raise DataError(f"end ({end}) is before start ({start}): swap them")
    first = min(int(a["ts"][0]) for a in checked.values())
    last = max(int(a["ts"][-1]) for a in checked.values())
    if (lo is not None and lo > last) or (hi is not None and hi < first):
        raise DataError(f"{folder}: the window {_window(start, end)} is outside the data "
                        f"({_fmt(first)} .. {_fmt(last)}): move --start/--end into it")
    columns: dict[str, dict[str, np.ndarray]] = {}
    for symbol, raw in checked.items():
        file = chosen[symbol]
        arrays = raw if file.timeframe == base_tf else _resampled(raw, file.timeframe, base_tf)
        keep = np.ones(len(arrays["ts"]), dtype=bool)
        if lo is not None:
            keep &= arrays["ts"] >= lo
        if hi is not None:
            keep &= arrays["ts"] <= hi
        if not keep.any():
            raise DataError(f"{file.path}: no candles in the window {_window(start, end)} (its data runs "
                            f"{_fmt(arrays['ts'][0])} .. {_fmt(arrays['ts'][-1])}): drop the symbol or move the window")
        columns[symbol] = {k: v[keep] for k, v in arrays.items()}
    return _align(tuple(columns), base_tf, columns)


def _resampled(arrays: dict[str, np.ndarray], timeframe: str, base_tf: str) -> dict[str, np.ndarray]:
    fields = {f: arrays[f][:, None] for f in PRICE_FIELDS}
    present = np.ones((len(arrays["ts"]), 1), dtype=bool)
    out = resample_arrays(arrays["ts"], fields, present, step_ns=timeframe_ns(base_tf),
                          base_ns=timeframe_ns(timeframe), keep_incomplete=False)
    keep = out["present"][:, 0]
    return {"ts": out["ts"][keep], **{f: out[f][keep, 0] for f in PRICE_FIELDS}}


def _align(symbols: tuple[str, ...], base_tf: str, columns: dict[str, dict[str, np.ndarray]]) -> MarketData:
    grid = np.unique(np.concatenate([c["ts"] for c in columns.values()]))
    shape = (len(grid), len(symbols))
    fields: dict[str, Any] = {f: np.full(shape, np.nan) for f in PRICE_FIELDS}
    present = np.zeros(shape, dtype=bool)
    for col, symbol in enumerate(symbols):
        rows = np.searchsorted(grid, columns[symbol]["ts"])
        present[rows, col] = True
        for f in PRICE_FIELDS:
            fields[f][rows, col] = columns[symbol][f]
    return MarketData(symbols=symbols, base_timeframe=base_tf, ts=grid.astype(np.int64), present=present,
                      complete=present.copy(), **fields)

"""Read the optional recorded futures series of a data folder and attach them to its MarketData.

Files, per contract (``perpetual_for(spot)``, e.g. 'PF_XBTUSD'), Parquet or CSV:

- ``<CONTRACT>-mark-<TF>``: mark price candles, columns ``ts`` (candle open, UTC), ``open``, ``high``,
  ``low``, ``close`` (USD; ``volume`` optional and ignored). TF at or finer than the spot candles' base
  timeframe (finer is resampled to it).
- ``<CONTRACT>-funding-1h``: columns ``ts`` (UTC start of the hour the rate applies to) and
  ``relative_funding_rate`` (Kraken's ``relativeFundingRate``: fraction of notional per hour, > 0: longs
  pay shorts). Not Kraken's absolute ``fundingRate`` (USD per contract per hour).

Every file is checked in full; a problem raises DataError naming the file and the fix. Files of
contracts the data does not trade are ignored, and so are trade and index candles (``<CONTRACT>-trade-<TF>``,
``<CONTRACT>-index-<TF>``: ``data download`` records them; the backtest's index is the spot close) and the
``*.sources.json`` sidecars.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from krakenbot.backtest.data import FUTURES_NAME, SUFFIXES, DataError, _fmt, _ts_ns, _where
from krakenbot.backtest.futures_series import HOUR_NS, MARK_FIELDS, RecordedFutures
from krakenbot.backtest.instruments import perpetual_for
from krakenbot.backtest.market_data import MarketData, resample_arrays, timeframe_ns

log = logging.getLogger(__name__)

MAX_RELATIVE_RATE = 0.01  # |fraction per hour| above this is a unit mistake (Kraken caps at 0.005)
FUNDING_COLUMNS = ("ts", "relative_funding_rate")
REPLAYED = ("mark", "funding")  # trade and index candles (``-trade-``, ``-index-``) are recorded, not replayed


def _frame(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # any reader failure: say which file, keep the reader's reason
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc}): check the file is "
                        f"{path.suffix.lstrip('.')}") from exc
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = (": the funding file needs relative_funding_rate (fraction of notional per hour), not funding_rate"
                if "relative_funding_rate" in missing else "")
        raise DataError(f"{path}: missing columns {', '.join(missing)} (found: {', '.join(map(str, frame.columns))})"
                        f"{hint}: the file needs {', '.join(columns)}")
    if frame.empty:
        raise DataError(f"{path}: has no rows: remove the file or record the series into it")
    return frame


def _numbers(path: Path, frame: pd.DataFrame, name: str, ts: np.ndarray) -> np.ndarray:
    try:
        values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: column {name} is not numeric ({exc}): write numbers only") from exc
    bad = ~np.isfinite(values)
    if bad.any():
        raise DataError(f"{path}: {name} is missing (NaN) or infinite at {_where(ts, bad)}: drop or fill those rows")
    return values


def _checked_ts(path: Path, frame: pd.DataFrame, step_ns: int, what: str) -> np.ndarray:
    ts = _ts_ns(path, frame["ts"])
    step = np.diff(ts)
    if (step <= 0).any():
        row = int(np.flatnonzero(step <= 0)[0]) + 1
        raise DataError(f"{path}: timestamps are not strictly increasing at row {row} ({_fmt(ts[row])}): sort the "
                        "file by ts and keep one row per ts")
    off = ts % step_ns != 0
    if off.any():
        raise DataError(f"{path}: timestamps off the {what} grid at {_where(ts, off)}: ts must be the {what} start")
    return ts


def read_mark(path: Path, timeframe: str) -> dict[str, np.ndarray]:
    """Checked mark candles of one file: ts (int64 ns) and open/high/low/close (float64). Raises DataError."""
    frame = _frame(path, ("ts", *MARK_FIELDS))
    ts = _checked_ts(path, frame, timeframe_ns(timeframe), f"{timeframe} candle")
    out = {"ts": ts, **{f: _numbers(path, frame, f, ts) for f in MARK_FIELDS}}
    ohlc = np.column_stack([out[f] for f in MARK_FIELDS])
    if (ohlc <= 0).any():
        bad = np.asarray((ohlc <= 0).any(axis=1))
        raise DataError(f"{path}: non-positive prices at {_where(ts, bad)}: every price must be > 0")
    o, h, low, c = ohlc.T
    bad = (h < np.maximum(o, c)) | (low > np.minimum(o, c))
    if bad.any():
        raise DataError(f"{path}: high/low do not bracket open/close at {_where(ts, bad)}: fix or drop those candles")
    return out


def read_funding(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Checked hourly funding of one file: (ts int64 ns, relative rate per hour). Raises DataError."""
    frame = _frame(path, FUNDING_COLUMNS)
    ts = _checked_ts(path, frame, HOUR_NS, "hour")
    rate = _numbers(path, frame, "relative_funding_rate", ts)
    big = np.abs(rate) > MAX_RELATIVE_RATE
    if big.any():
        raise DataError(f"{path}: relative_funding_rate above {MAX_RELATIVE_RATE} per hour at {_where(ts, big)}: "
                        "write fractions of notional per hour (1.4e-5, not 0.0014 % nor Kraken's USD funding_rate)")
    return ts, rate


def _files(folder: Path) -> dict[tuple[str, str], tuple[Path, str]]:
    found: dict[tuple[str, str], tuple[Path, str]] = {}
    for path in sorted(folder.iterdir()):
        match = FUTURES_NAME.match(path.stem)
        if match is None or path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        if match["kind"] not in REPLAYED:
            log.debug("%s: not replayed (the backtest reads mark and funding files)", path)
            continue
        key = (match["contract"].upper(), match["kind"])
        if key in found:
            raise DataError(f"{path}: {key[0]} {key[1]} is also in {found[key][0].name}: keep one of them")
        if match["kind"] == "funding" and match["tf"] != "1h":
            raise DataError(f"{path}: funding files are hourly: name it {match['contract']}-funding-1h")
        found[key] = (path, match["tf"])
    return found


def _aligned_mark(path: Path, tf: str, data: MarketData) -> dict[str, np.ndarray]:
    base_ns = timeframe_ns(data.base_timeframe)
    try:
        tf_ns = timeframe_ns(tf)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}: rename the file") from None
    if tf_ns > base_ns or base_ns % tf_ns:
        raise DataError(f"{path}: {tf} marks cannot mark {data.base_timeframe} candles: record marks at "
                        f"{data.base_timeframe} or a finer timeframe that divides it")
    raw = read_mark(path, tf)
    if tf_ns < base_ns:
        fields = {f: raw[f][:, None] for f in MARK_FIELDS} | {"volume": np.zeros((len(raw["ts"]), 1))}
        out = resample_arrays(raw["ts"], fields, np.ones((len(raw["ts"]), 1), dtype=bool), step_ns=base_ns,
                              base_ns=tf_ns, keep_incomplete=False)
        keep = out["present"][:, 0]
        raw = {"ts": out["ts"][keep], **{f: out[f][keep, 0] for f in MARK_FIELDS}}
    rows = np.searchsorted(data.ts, raw["ts"])
    on_grid = rows < len(data.ts)
    on_grid[on_grid] = data.ts[rows[on_grid]] == raw["ts"][on_grid]
    return {"rows": rows[on_grid], **{f: raw[f][on_grid] for f in MARK_FIELDS}}


def attach_recorded_futures(folder: Path, data: MarketData) -> MarketData:
    """``data`` with the folder's mark and funding files of its symbols' contracts (``futures`` None when the
    folder has none). Raises DataError on a malformed file or a mark timeframe coarser than the candles."""
    found = _files(Path(folder))
    contracts = [perpetual_for(s) for s in data.symbols]
    for contract, kind in sorted(set(found) - {(c, k) for c in contracts for k in ("mark", "funding")}):
        log.info("%s: not used: %s is not the contract of a replayed pair (%s); name files by perpetual_for(pair), "
                 "e.g. PF_XBTUSD for BTC/USD", found[contract, kind][0], contract, ", ".join(data.symbols))
    if not any((c, kind) in found for c in contracts for kind in ("mark", "funding")):
        return data
    shape = (len(data.ts), len(data.symbols))
    arrays = {f: np.full(shape, np.nan) for f in MARK_FIELDS}
    present = np.zeros(shape, dtype=bool)
    mark_files: list[str | None] = []
    funding: list[tuple[np.ndarray, np.ndarray] | None] = []
    funding_files: list[str | None] = []
    for col, contract in enumerate(contracts):
        mark = found.get((contract, "mark"))
        mark_files.append(None if mark is None else mark[0].stem)
        if mark is not None:
            aligned = _aligned_mark(mark[0], mark[1], data)
            present[aligned["rows"], col] = True
            for f in MARK_FIELDS:
                arrays[f][aligned["rows"], col] = aligned[f]
        rates = found.get((contract, "funding"))
        funding_files.append(None if rates is None else rates[0].stem)
        funding.append(None if rates is None else read_funding(rates[0]))
    futures = RecordedFutures(**arrays, present=present, mark_files=tuple(mark_files),
                              funding_ts=tuple(None if f is None else f[0] for f in funding),
                              funding_rate=tuple(None if f is None else f[1] for f in funding),
                              funding_files=tuple(funding_files))
    return MarketData(symbols=data.symbols, base_timeframe=data.base_timeframe, ts=data.ts, open=data.open,
                      high=data.high, low=data.low, close=data.close, volume=data.volume, present=data.present,
                      complete=data.complete, futures=futures)

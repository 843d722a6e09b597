"""Import Kraken's downloadable OHLCVT archive (spot candles, the whole history) into a data folder.

Kraken publishes a ZIP of ``PAIR_MINUTES.csv`` files (``XBTUSD_1.csv``: XBT/USD at 1 minute), no header, one
candle per line: open time in Unix *seconds*, open, high, low, close, volume (base currency), trades (count).
Candles in which nothing traded are absent (gaps stay gaps). Kraken's pair names are mapped to Krakenbot's
through ``parse_spot_pair`` (``XBTUSD`` and ``XXBTZUSD`` -> BTC/USD, ``XDGUSD`` -> DOGE/USD, ``LUNA2USD`` ->
LUNA2/USD, ``LUNAUSD`` -> LUNC/USD: Kraken's LUNA is Terra Classic). Intervals map to Krakenbot's timeframes
(1 -> 1m, 5, 15, 30, 60 -> 1h, 240 -> 4h, 1440 -> 1d); 720, 10080 and 21600 minutes have no Krakenbot
timeframe and are skipped with a note.

A member is streamed in chunks (a 1 GB member is never parsed at once; the checked rows are kept as compact
arrays, about 56 bytes per candle), checked in full, then merged with ``merge_into`` (source
``kraken-archive:<member file name>``, so a ZIP and its extracted CSVs write byte-identical files). A
malformed line stops that member with an error naming the file, the line and the fix; nothing of it is
written, and the other members go on.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.data.dataset import DatasetError, merge_into, series_path
from krakenbot.exchange.kraken.symbols import parse_spot_pair
from krakenbot.progress import progress_bar

__all__ = ["ArchiveError", "ArchiveMember", "ImportedFile", "archive_members", "import_archive",
           "read_archive_csv"]

COLUMNS = ("ts", "open", "high", "low", "close", "volume", "trades")
SOURCE_PREFIX = "kraken-archive:"
CHUNK_ROWS = 500_000
_MEMBER = re.compile(r"^(?P<pair>[A-Za-z0-9.]+)_(?P<minutes>[0-9]+)\.csv$", re.IGNORECASE)
_TIMEFRAME_OF = {minutes: tf for tf, minutes in TIMEFRAME_MINUTES.items()}
# pandas < 3 parses floats with a fast routine that may differ in the last bit; 3.x is exact by default
_EXACT = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
_FIX = "re-download the archive (or delete that line) and import again"


class ArchiveError(DatasetError):
    """A file given to the import is not a Kraken OHLCVT archive, or a member is malformed (names the file,
    the line and the fix). Nothing of that member was written."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveMember:
    """One ``PAIR_MINUTES.csv`` of an archive (``origin`` the ZIP or the CSV itself).

    ``symbol``/``timeframe`` are Krakenbot's ('BTC/USD', '1m'), None with ``skip`` saying why when the member
    cannot be imported (interval with no Krakenbot timeframe, pair name not recognised)."""

    origin: Path
    name: str  # the member's path inside the ZIP, or the CSV's file name
    pair_id: str
    minutes: int
    size: int  # bytes, uncompressed
    symbol: str | None
    timeframe: str | None
    skip: str | None = None

    @property
    def file_name(self) -> str:
        """``XBTUSD_1.csv``: the member's own name, whatever folder of the ZIP holds it."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def where(self) -> str:
        """``archive.zip:XBTUSD_1.csv`` or ``XBTUSD_1.csv``'s path."""
        return str(self.origin) if self.origin.name == self.name else f"{self.origin}:{self.name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportedFile:
    """What happened to one member: written to ``path`` (``rows`` read, ``added`` new), skipped (``note``),
    or ``failed`` (``note`` is the error; nothing written)."""

    member: ArchiveMember
    path: Path | None
    rows: int = 0
    added: int = 0
    note: str | None = None
    failed: bool = False


def _member(origin: Path, name: str, size: int) -> ArchiveMember | None:
    match = _MEMBER.match(name.rsplit("/", 1)[-1])
    if match is None:
        return None
    pair_id, minutes = match["pair"].upper(), int(match["minutes"])
    common: dict[str, Any] = {"origin": origin, "name": name, "pair_id": pair_id, "minutes": minutes, "size": size}
    timeframe = _TIMEFRAME_OF.get(minutes)
    if timeframe is None:
        return ArchiveMember(**common, symbol=None, timeframe=None,
                             skip=f"{minutes}-minute candles: Krakenbot has no such timeframe "
                                  f"({', '.join(TIMEFRAME_MINUTES)}); skipped")
    pair = parse_spot_pair(pair_id)
    if pair is None or pair.ambiguous is not None:
        return ArchiveMember(**common, symbol=None, timeframe=timeframe,
                             skip=f"pair {pair_id!r} not recognised as a Kraken spot pair; skipped")
    try:
        series_path(Path("."), kind="spot", name=pair.symbol, timeframe=timeframe)
    except DatasetError:
        return ArchiveMember(**common, symbol=None, timeframe=timeframe,
                             skip=f"pair {pair_id!r} reads as {pair.symbol}, which no BASE-QUOTE-TF file name can hold "
                                  "(letters and digits only); skipped")
    return ArchiveMember(**common, symbol=pair.symbol, timeframe=timeframe)


def archive_members(sources: Sequence[Path]) -> list[ArchiveMember]:
    """The ``PAIR_MINUTES.csv`` members of the given ZIPs and CSVs, in the order given (ZIP members by name).
    Other members of a ZIP (a README) are left out. Raises ArchiveError for a missing file, a CSV not named
    ``PAIR_MINUTES.csv``, or a file that is neither a ZIP nor a CSV."""
    found: list[ArchiveMember] = []
    for source in map(Path, sources):
        if not source.is_file():
            raise ArchiveError(f"{source}: no such file: pass Kraken's OHLCVT ZIP or its PAIR_MINUTES.csv files")
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                infos = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
                members = [m for i in infos if (m := _member(source, i.filename, i.file_size)) is not None]
            if not members:
                raise ArchiveError(f"{source}: no PAIR_MINUTES.csv members (e.g. XBTUSD_1.csv): is this Kraken's "
                                   "OHLCVT download?")
            found.extend(members)
            continue
        if source.suffix.lower() != ".csv":
            raise ArchiveError(f"{source}: neither a ZIP nor a .csv file: pass Kraken's OHLCVT ZIP or its CSVs")
        member = _member(source, source.name, source.stat().st_size)
        if member is None:
            raise ArchiveError(f"{source}: name is not PAIR_MINUTES.csv (e.g. XBTUSD_1.csv): Kraken's archive "
                               "names say the pair and interval; rename the file")
        found.append(member)
    return found


class _Counting(io.RawIOBase):
    """A readable stream that reports how many bytes pass (for the progress bar)."""

    def __init__(self, raw: IO[bytes], on_bytes: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_bytes = on_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            self._on_bytes(len(data))
        return len(data)


@contextmanager
def _opened(member: ArchiveMember) -> Iterator[IO[bytes]]:
    if member.origin.name == member.name and not zipfile.is_zipfile(member.origin):
        with open(member.origin, "rb") as handle:
            yield handle
        return
    with zipfile.ZipFile(member.origin) as archive, archive.open(member.name) as handle:
        yield handle


def _fail(member: ArchiveMember, line: int, problem: str) -> ArchiveError:
    return ArchiveError(f"{member.where}: line {line}: {problem}: {_FIX}")


def _checked_chunk(member: ArchiveMember, chunk: pd.DataFrame, first_line: int, step_s: int,
                   last_ts: int | None) -> dict[str, np.ndarray]:
    if chunk.shape[1] != len(COLUMNS):
        raise _fail(member, first_line, f"{chunk.shape[1]} fields, expected 7 (unix seconds, open, high, low, "
                                        "close, volume, trades)")
    chunk.columns = list(COLUMNS)
    out: dict[str, np.ndarray] = {}
    for name in COLUMNS:
        values = pd.to_numeric(chunk[name], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype="float64", na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raw = chunk[name].iloc[row]
            present = chunk.iloc[row].notna().to_numpy()
            fields = int(present.sum())
            if fields == 0:
                what = "empty line"
            elif pd.isna(raw) and not present[fields:].any():
                what = f"{fields} fields, expected 7 ({', '.join(COLUMNS)})"
            else:
                what = f"{name} is missing" if pd.isna(raw) else f"{name} {str(raw)[:30]!r} is not a number"
            raise _fail(member, first_line + row, what)
        out[name] = values.to_numpy()
    for name in ("ts", "trades"):
        whole = out[name].astype("int64")
        off = whole != out[name]
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise _fail(member, first_line + row, f"{name} {out[name][row]!r} is not a whole number")
        out[name] = whole
    for name in COLUMNS[1:6]:
        out[name] = out[name].astype("float64")
    ts = out["ts"]
    o, h, low, c, v = (out[n] for n in COLUMNS[1:6])
    checks = (
        (ts % step_s != 0, f"open time off the {member.timeframe} grid ({member.minutes}-minute candles start on "
                           "multiples of the interval)"),
        ((np.column_stack([o, h, low, c]) <= 0).any(axis=1), "a price is zero or negative"),
        ((h < np.maximum(o, c)) | (low > np.minimum(o, c)), "high/low do not bracket open/close"),
        (v < 0, "negative volume"),
        (out["trades"] < 0, "negative trade count"),
        (np.diff(ts, prepend=ts[0] - 1 if last_ts is None else last_ts) <= 0,
         "open time not after the previous line's (the file must be sorted, one line per candle)"),
    )
    for bad, problem in checks:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise _fail(member, first_line + row, f"{problem} (ts {int(ts[row])})")
    return out


def read_archive_csv(member: ArchiveMember, *, chunk_rows: int = CHUNK_ROWS,
                     on_bytes: Callable[[int], None] | None = None) -> pd.DataFrame:
    """The checked candles of one member as a candle frame (ts datetime64[ns, UTC], open..volume float64,
    trades int64), read in chunks of ``chunk_rows`` lines. Raises ArchiveError naming the line and the fix."""
    if member.timeframe is None:
        raise ArchiveError(f"{member.where}: {member.skip}")
    step_s = TIMEFRAME_MINUTES[member.timeframe] * 60
    parts: list[dict[str, np.ndarray]] = []
    line, last_ts = 1, None
    with _opened(member) as handle:
        stream = io.BufferedReader(_Counting(handle, on_bytes or (lambda n: None)), buffer_size=1 << 20)
        try:
            reader = pd.read_csv(stream, header=None, chunksize=chunk_rows,  # type: ignore[call-overload]
                                 skip_blank_lines=False, encoding="ascii", **_EXACT)
            for chunk in reader:
                part = _checked_chunk(member, chunk, line, step_s, last_ts)
                parts.append(part)
                line += len(chunk)
                last_ts = int(part["ts"][-1])
        except pd.errors.EmptyDataError:
            pass
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
            if isinstance(exc, ArchiveError):
                raise
            found = re.search(r"line (\d+)", str(exc))
            where = f"line {found[1]}" if found else f"near line {line}"
            raise ArchiveError(f"{member.where}: {where}: not a Kraken OHLCVT line ({str(exc).strip()}): "
                               f"{_FIX}") from None
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype="datetime64[ns, UTC]" if name == "ts" else
                                             "int64" if name == "trades" else "float64") for name in COLUMNS})
    joined: dict[str, Any] = {}
    for name in COLUMNS:  # one column at a time, each chunk freed as it is joined
        joined[name] = np.concatenate([p.pop(name) for p in parts])
    joined["ts"] = pd.DatetimeIndex((joined["ts"] * 1_000_000_000).view("datetime64[ns]")).tz_localize("UTC")
    return pd.DataFrame(joined, copy=False)


def _wanted_pairs(pairs: Sequence[str] | None) -> set[str] | None:
    if not pairs:
        return None
    wanted = set()
    for given in pairs:
        pair = parse_spot_pair(given)
        if pair is None or pair.ambiguous is not None:
            why = pair.ambiguous if pair is not None and pair.ambiguous else "write it BASE/QUOTE, e.g. BTC/USD"
            raise ArchiveError(f"--pair {given!r}: not a spot pair: {why}")
        wanted.add(pair.symbol)
    return wanted


def import_archive(sources: Sequence[Path], out: Path, *, pairs: Sequence[str] | None = None,
                   timeframes: Sequence[str] | None = None, progress: bool = True,
                   on_file: Callable[[ImportedFile], None] | None = None) -> list[ImportedFile]:
    """Import the members of ``sources`` (ZIPs and CSVs) into folder ``out`` as ``BASE-QUOTE-TF.parquet``.

    ``pairs`` (any spelling: BTC/USD, XBTUSD) and ``timeframes`` ('1m', '1h') select members; default all.
    Idempotent: a rerun adds nothing. One result per selected member, in order (``on_file`` is told each as it
    ends); a malformed member is a failed result and the others go on. Raises ArchiveError for an unreadable
    source or a bad filter, before anything is written."""
    wanted = _wanted_pairs(pairs)
    for tf in timeframes or ():
        if tf not in TIMEFRAME_MINUTES:
            raise ArchiveError(f"--timeframe {tf!r}: use one of {', '.join(TIMEFRAME_MINUTES)}")
    results: list[ImportedFile] = []
    for member in archive_members(sources):
        if wanted is not None and member.symbol not in wanted:
            continue
        if timeframes and member.timeframe not in timeframes:
            continue
        result = _import_one(member, out, progress=progress)
        results.append(result)
        if on_file is not None:
            on_file(result)
    return results


def _import_one(member: ArchiveMember, out: Path, *, progress: bool) -> ImportedFile:
    if member.symbol is None or member.timeframe is None:
        return ImportedFile(member=member, path=None, note=member.skip)
    path = series_path(out, kind="spot", name=member.symbol, timeframe=member.timeframe)
    try:
        with progress_bar(member.size, member.file_name, enabled=progress) as bar:
            frame = read_archive_csv(member, on_bytes=bar.advance)
        added = merge_into(path, frame, source=SOURCE_PREFIX + member.file_name, timeframe=member.timeframe)
    except DatasetError as exc:
        return ImportedFile(member=member, path=None, note=str(exc), failed=True)
    return ImportedFile(member=member, path=path, rows=len(frame), added=added)

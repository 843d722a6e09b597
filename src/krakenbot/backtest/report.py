"""Write a backtest's outputs to a folder, atomically, and print its summary.

Files: ``summary.json`` (``summary_dict``, keys in ``SUMMARY_KEYS`` order, ``indent=2`` plus a newline),
``trades.csv``, ``equity.csv``, ``events.csv``, ``prices.csv`` (closes thinned to at most
``MAX_PLOT_POINTS`` rows per symbol, kept so ``report`` can rebuild the page) and ``report.html``.
CSV format: the ``*_COLUMNS`` order, ``\\n`` line ends, timestamps ``YYYY-MM-DDTHH:MM:SSZ`` (UTC,
whole seconds), floats with 10 significant digits (``%.10g``): the same result gives the same bytes.

Atomicity: everything is written into a temporary folder beside ``out_dir`` and renamed into place;
a crash before the rename leaves the previous report (or nothing), never a half-written one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from krakenbot.backtest.metrics import summary_dict
from krakenbot.backtest.report_html import MAX_PLOT_POINTS, downsample_indices, format_value, render_html
from krakenbot.backtest.result import EQUITY_COLUMNS, EVENT_COLUMNS, PRICE_COLUMNS, TRADE_COLUMNS, BacktestResult
from krakenbot.domain.errors import ConfigError

log = logging.getLogger(__name__)

SUMMARY_FILE, TRADES_FILE, EQUITY_FILE = "summary.json", "trades.csv", "equity.csv"
EVENTS_FILE, PRICES_FILE, REPORT_FILE = "events.csv", "prices.csv", "report.html"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_TS_COLUMNS = ("ts", "ts_open", "ts_close")
_TEXT_COLUMNS = ("symbol", "side", "kind", "detail", "close_reason")


def summary_json(summary: Mapping[str, Any]) -> str:
    """The exact text of ``summary.json``: keys in the given order (``SUMMARY_KEYS``), indent 2, trailing
    newline, no NaN."""
    return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def table_csv(frame: pd.DataFrame, columns: tuple[str, ...]) -> str:
    """A table as deterministic CSV text (see the module doc for the format)."""
    out = frame.loc[:, list(columns)].copy()
    for column in _TS_COLUMNS:
        if column in out.columns:
            out[column] = pd.to_datetime(out[column], utc=True).dt.strftime(_TS_FORMAT)
    return str(out.to_csv(index=False, lineterminator="\n", float_format="%.10g"))


def downsample_prices(prices: pd.DataFrame, max_points: int = MAX_PLOT_POINTS) -> pd.DataFrame:
    """At most ``max_points`` rows per symbol, keeping each bucket's lowest and highest close; sorted by symbol, ts."""
    parts = []
    for _, rows in prices.sort_values(["symbol", "ts"], kind="stable").groupby("symbol", sort=True):
        parts.append(rows.iloc[downsample_indices(rows["close"].to_numpy(dtype="float64"), max_points)])
    if not parts:
        return prices.loc[:, list(PRICE_COLUMNS)].iloc[0:0]
    return pd.concat(parts, ignore_index=True).loc[:, list(PRICE_COLUMNS)]


def _umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what ``open()`` would give a new file (0o666 -> 0o644 under 022)."""
    current = os.umask(0)
    os.umask(current)
    return mode & ~current


def write_dir_atomically(out_dir: Path, writers: Mapping[str, Callable[[Path], str]], *,
                         marker: str = SUMMARY_FILE) -> dict[str, Path]:
    """Write each name's text (made from the temp folder, in order) beside ``out_dir``, then swap it into place.

    An existing non-empty ``out_dir`` is replaced only when it holds ``marker`` (a report of the same kind);
    otherwise ConfigError, nothing written."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir())
                                                      and not (out_dir / marker).exists())):
        raise ConfigError(f"{out_dir}: exists and is not a Krakenbot report folder (no {marker}); "
                          "choose another --out or remove it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        tmp.chmod(_umask_mode(0o777))  # mkdtemp makes it private; the report is an ordinary folder
        for name, make_text in writers.items():
            with open(tmp / name, "w", encoding="utf-8", newline="") as handle:
                handle.write(make_text(tmp))
                handle.flush()
                os.fsync(handle.fileno())
        old = out_dir.parent / f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}"
        if out_dir.exists():
            os.replace(out_dir, old)
        try:
            os.replace(tmp, out_dir)
        except BaseException:
            if old.exists():
                os.replace(old, out_dir)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {name: out_dir / name for name in writers}


def write_report(result: BacktestResult, out_dir: Path) -> dict[str, Path]:
    """Write summary.json, trades.csv, equity.csv, events.csv, prices.csv and report.html into ``out_dir``.

    Returns file name -> path. Atomic (see the module doc). Raises ConfigError if ``out_dir`` exists
    and is not a report folder (so a mistyped --out never wipes other files), OSError on I/O failure.
    """
    summary = summary_dict(result)
    prices = downsample_prices(result.prices)
    # The page is rendered from the files just written, so `report` rebuilds it byte for byte.
    writers: dict[str, Callable[[Path], str]] = {
        SUMMARY_FILE: lambda _: summary_json(summary),
        TRADES_FILE: lambda _: table_csv(result.trades, TRADE_COLUMNS),
        EQUITY_FILE: lambda _: table_csv(result.equity, EQUITY_COLUMNS),
        EVENTS_FILE: lambda _: table_csv(result.events, EVENT_COLUMNS),
        PRICES_FILE: lambda _: table_csv(prices, PRICE_COLUMNS),
        REPORT_FILE: _render_from_dir,
    }
    paths = write_dir_atomically(Path(out_dir), writers)
    log.info("Backtest report written to %s", out_dir)
    return paths


def _read_table(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise ConfigError(f"{path}: missing: rerun the backtest to write it")
    numeric = [c for c in columns if c not in _TEXT_COLUMNS]
    frame = pd.read_csv(path, keep_default_na=False, na_values={c: [""] for c in numeric})
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{path}: missing columns {', '.join(missing)}: rerun the backtest to rewrite it")
    for column in _TS_COLUMNS:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    for column in _TEXT_COLUMNS:
        if column in frame.columns:
            frame[column] = frame[column].astype(str)
    return frame


def _render_from_dir(run_dir: Path) -> str:
    summary_path = run_dir / SUMMARY_FILE
    if not summary_path.exists():
        raise ConfigError(f"{summary_path}: missing: {run_dir} is not a backtest output folder "
                          "(run `python run.py backtest --out DIR` first)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{summary_path}: not valid JSON ({exc}): rerun the backtest") from exc
    trades = _read_table(run_dir / TRADES_FILE, TRADE_COLUMNS)
    equity = _read_table(run_dir / EQUITY_FILE, EQUITY_COLUMNS)
    events = _read_table(run_dir / EVENTS_FILE, EVENT_COLUMNS)
    prices_path = run_dir / PRICES_FILE
    prices = (_read_table(prices_path, PRICE_COLUMNS) if prices_path.exists()
              else pd.DataFrame({"ts": pd.Series(dtype="datetime64[ns, UTC]"), "symbol": pd.Series(dtype=str),
                                 "close": pd.Series(dtype="float64")}))
    return render_html(summary, trades, equity, events, prices)


def build_report_from_dir(run_dir: Path) -> Path:
    """Rebuild ``report.html`` in ``run_dir`` from its summary.json and CSV files; return its path.

    ``prices.csv`` is optional (without it the price plot is empty). The page is written to a temp
    file and renamed over the old one, with the mode a new file gets (0644 under umask 022; ``mkstemp``
    alone would leave it 0600). Raises ConfigError naming a missing or malformed file.
    """
    run_dir = Path(run_dir)
    page = _render_from_dir(run_dir)
    target = run_dir / REPORT_FILE
    fd, tmp_name = tempfile.mkstemp(prefix=f".{REPORT_FILE}.", dir=run_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(page)
        os.chmod(tmp_name, _umask_mode(0o666))
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def print_summary(summary: Mapping[str, Any], *, console: Console | None = None) -> None:
    """Print the summary as a two-column table (fractions as percentages, money in USD)."""
    table = Table(title="Backtest summary", show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in summary:
        table.add_row(key, format_value(key, summary[key]))
    (console or Console()).print(table)

"""``backtest`` and ``report``: the README's main job."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NoReturn

import typer

from krakenbot.config import AppConfig
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.domain.errors import ConfigError

TS_PLACEHOLDER = "{ts}"
INTERRUPTED = 130  # the shell's code for a run stopped by SIGINT (128 + 2)


def parse_day(value: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` as a date (None stays None); a bad value exits 2 naming ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: expected a day as YYYY-MM-DD, got {value!r}", err=True)
        raise typer.Exit(2) from None


def run_backtest_command(cfg: AppConfig, *, data: Path | None, start: str | None, end: str | None,
                         out: Path | None, step: bool, verbose: bool = False, allow_missing: bool = False) -> None:
    """Load what the config trades (``backtest.selection``), print what the data folder holds (one line), run,
    write the report, print the summary.

    Exits 2 on bad input (nothing written); warnings (skipped symbols, a short warm-up) go to stderr.
    """
    from krakenbot.backtest.engine import run_backtest
    from krakenbot.backtest.metrics import summary_dict
    from krakenbot.backtest.report import print_summary, write_report
    from krakenbot.backtest.selection import select_backtest_data
    from krakenbot.logs import setup_logging

    # A backtest's shocks, closes and trims go to events.csv; the console shows errors unless --verbose.
    setup_logging(cfg.logging.level if verbose else "ERROR", file=cfg.logging.file,
                  max_bytes=cfg.logging.max_bytes, backup_count=cfg.logging.backup_count)
    folder = data or cfg.backtest.data or DEMO_DATA_DIR
    first = parse_day(start, "--start") or cfg.backtest.start
    last = parse_day(end, "--end") or cfg.backtest.end
    target = stamped(out or cfg.backtest.out, datetime.now(UTC))
    try:
        chosen = select_backtest_data(cfg, folder, start=first, end=last, allow_missing=allow_missing)
        for warning in chosen.warnings:
            typer.echo(f"warning: {warning}", err=True)
        typer.echo(f"data: {data_line(folder)}")
        result = run_backtest(cfg, chosen.data, start=chosen.start, step_every_candle=step,
                              progress=sys.stderr.isatty())
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        _interrupted(f"interrupted before the report was written: no output written ({target} untouched)", cfg)
    try:
        paths = write_report(result, target)
    except KeyboardInterrupt:
        where = (f"{target} holds either its previous report or the complete new one (the swap is atomic)"
                 if target.exists() else f"no output written ({target} not created)")
        _interrupted(f"interrupted while writing the report: {where}", cfg)
    print_summary(summary_dict(result))
    typer.echo(f"report: {paths['report.html']}")
    logging.getLogger(__name__).info("backtest written to %s", target)


def data_line(folder: Path) -> str:
    """What the data folder holds, in one line (``data list DIR`` shows it in full)."""
    from krakenbot.data.dataset import DatasetError, summary_line

    try:
        return summary_line(folder)
    except DatasetError as exc:  # the replayed files were checked already; another file may be odd
        return f"{folder}: not described ({exc})"


def stamped(out: Path, now: datetime) -> Path:
    """``out`` with ``{ts}`` replaced by ``now`` as UTC ``YYYYMMDD-HHMMSS`` (``-2``, ``-3``... if taken).

    Without the placeholder ``out`` is returned as is (a rerun replaces its report)."""
    text = str(out)
    if TS_PLACEHOLDER not in text:
        return out
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    candidate, n = Path(text.replace(TS_PLACEHOLDER, stamp)), 1
    while candidate.exists():
        n += 1
        candidate = Path(text.replace(TS_PLACEHOLDER, f"{stamp}-{n}"))
    return candidate


def _interrupted(message: str, cfg: AppConfig) -> NoReturn:
    """Ctrl-C: say what is on disk, then exit 130."""
    typer.echo("", err=True)  # end a progress line
    typer.echo(message, err=True)
    if cfg.logging.file is not None:
        typer.echo(f"log so far: {cfg.logging.file}", err=True)
    raise typer.Exit(INTERRUPTED)


def rebuild_report(run_dir: Path) -> None:
    from krakenbot.backtest.report import build_report_from_dir

    try:
        path = build_report_from_dir(run_dir)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"{run_dir}: cannot rebuild the report: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"report: {path}")

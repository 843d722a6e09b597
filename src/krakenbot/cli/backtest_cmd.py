"""``backtest`` and ``report``: the README's main job."""

from __future__ import annotations

import logging
import sys
from datetime import date
from pathlib import Path

import typer

from krakenbot.config import AppConfig
from krakenbot.domain.errors import ConfigError


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: expected a day as YYYY-MM-DD, got {value!r}", err=True)
        raise typer.Exit(2) from None


def run_backtest_command(cfg: AppConfig, *, data: Path | None, start: str | None, end: str | None,
                         out: Path | None, step: bool, verbose: bool = False, allow_missing: bool = False) -> None:
    """Load what the config trades (``backtest.selection``), run, write the report, print the summary.

    Exits 2 on bad input (nothing written); warnings (skipped symbols, a short warm-up) go to stderr.
    """
    from krakenbot.backtest.engine import run_backtest
    from krakenbot.backtest.metrics import summary_dict
    from krakenbot.backtest.report import print_summary, write_report
    from krakenbot.backtest.selection import select_backtest_data
    from krakenbot.logs import setup_logging

    # A backtest's shocks, closes and trims go to events.csv; the console shows errors unless --verbose.
    setup_logging(cfg.logging.level if verbose else "ERROR", file=cfg.logging.file)
    folder = data or cfg.backtest.data
    first = _day(start, "--start") or cfg.backtest.start
    last = _day(end, "--end") or cfg.backtest.end
    try:
        chosen = select_backtest_data(cfg, folder, start=first, end=last, allow_missing=allow_missing)
        for warning in chosen.warnings:
            typer.echo(f"warning: {warning}", err=True)
        result = run_backtest(cfg, chosen.data, start=chosen.start, step_every_candle=step,
                              progress=sys.stderr.isatty())
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    target = out or cfg.backtest.out
    paths = write_report(result, target)
    print_summary(summary_dict(result))
    typer.echo(f"report: {paths['report.html']}")
    logging.getLogger(__name__).info("backtest written to %s", target)


def rebuild_report(run_dir: Path) -> None:
    from krakenbot.backtest.report import build_report_from_dir

    try:
        path = build_report_from_dir(run_dir)
    except (ConfigError, FileNotFoundError, ValueError) as exc:
        typer.echo(f"{run_dir}: cannot rebuild the report: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"report: {path}")

"""``live`` and ``paper``: the wall-clock loop, stopped cleanly by SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from krakenbot.config import AppConfig, Secrets
from krakenbot.domain.errors import ConfigError, FatalError


def run_loop(cfg: AppConfig, *, paper: bool, max_ticks: int | None) -> None:
    from krakenbot.live.wiring import build_loop
    from krakenbot.logs import setup_logging

    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=Secrets().values())
    try:
        loop = build_loop(cfg, paper=paper)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        typer.echo(f"signal {signal.Signals(signum).name}: finishing the tick, then stopping "
                   "(positions stay protected by their exchange-side stops)", err=True)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        loop.run(stop, max_ticks=max_ticks)
    except FatalError as exc:
        typer.echo(f"halted: {exc}", err=True)
        raise typer.Exit(1) from None

"""``live`` and ``paper``: the wall-clock loop, stopped cleanly by SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING

import typer

from krakenbot.config import AppConfig, Secrets
from krakenbot.domain.errors import ConfigError, FatalError

if TYPE_CHECKING:
    from krakenbot.live.trading import LiveTrading


def run_loop(cfg: AppConfig, *, paper: bool, max_ticks: int | None) -> None:
    from krakenbot.live.wiring import open_loop
    from krakenbot.logs import setup_logging

    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=Secrets().values())
    try:
        with open_loop(cfg, paper=paper) as loop:
            _run(loop, max_ticks)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except FatalError as exc:
        typer.echo(f"halted: {exc}", err=True)
        raise typer.Exit(1) from None


def _run(loop: LiveTrading, max_ticks: int | None) -> None:
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        typer.echo(f"signal {signal.Signals(signum).name}: finishing the tick, then stopping "
                   "(positions stay protected by their exchange-side stops)", err=True)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    loop.run(stop, max_ticks=max_ticks)

"""``live`` and ``paper``: the wall-clock loop, stopped cleanly by SIGINT/SIGTERM.

Exit codes (the README's table): 0 stopped (signal or ``--max-ticks``); 1 halted by a fatal error
(store, reconciliation, credentials; a store that filled up while running halts here, after the
positions were protected from Kraken's view); 2 refused to start (a config problem, another instance
holds the store, or the store cannot be written: a full disk); 3 Kraken unreachable at start after
the retries (nothing traded).
"""

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


EXIT_HALTED, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3


def run_loop(cfg: AppConfig, *, paper: bool, max_ticks: int | None) -> None:
    from krakenbot.live.wiring import KrakenUnreachableError, open_loop
    from krakenbot.logs import setup_logging
    from krakenbot.store.lock import InstanceLockedError
    from krakenbot.store.sql import StoreNotWritableError

    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=Secrets().values(),
                  max_bytes=cfg.logging.max_bytes, backup_count=cfg.logging.backup_count)
    try:
        with open_loop(cfg, paper=paper) as loop:
            _run(loop, max_ticks)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except (InstanceLockedError, StoreNotWritableError) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except KrakenUnreachableError as exc:
        typer.echo(f"not started: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except FatalError as exc:
        typer.echo(f"halted: {exc}", err=True)
        raise typer.Exit(EXIT_HALTED) from None


def _run(loop: LiveTrading, max_ticks: int | None) -> None:
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        typer.echo(f"signal {signal.Signals(signum).name}: finishing the tick, then stopping "
                   "(positions stay protected by their exchange-side stops)", err=True)
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    loop.run(stop, max_ticks=max_ticks)

"""``live`` and ``paper``: the wall-clock loop, stopped cleanly by SIGINT/SIGTERM.

Exit codes (the README's table): 0 stopped (signal or ``--max-ticks``); 1 halted by a fatal error
(store, reconciliation, credentials; a store that filled up while running halts here, after the
positions were protected from Kraken's view); 2 refused to start (a config problem, another instance
holds the store or, live, the account, the store was created by the other mode: paper / live, the
store cannot be written: a full disk, or the local clock is off Kraken's); 3 Kraken unreachable at
start after the retries (nothing traded); 4 refused to start: Kraken holds orders or positions
carrying our instance id that the store does not know (another live process with the same
``store.instance_id``, or a new or lost store: stop the other process, or ``store adopt``).
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


EXIT_HALTED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_UNKNOWN_ORDERS = 1, 2, 3, 4


def run_loop(cfg: AppConfig, *, paper: bool, max_ticks: int | None) -> None:
    from krakenbot.live.restart import UnknownOrdersError
    from krakenbot.live.wiring import KrakenUnreachableError, open_loop, store_url
    from krakenbot.logs import setup_logging
    from krakenbot.store.engine import safe_url
    from krakenbot.store.lock import InstanceLockedError
    from krakenbot.store.sql import StoreNotWritableError

    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=Secrets().values(),
                  max_bytes=cfg.logging.max_bytes, backup_count=cfg.logging.backup_count)
    try:
        typer.echo(f"store: {safe_url(store_url(cfg, paper=paper))}")  # the store this run writes
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
    except UnknownOrdersError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_UNKNOWN_ORDERS) from None
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

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
    from krakenbot.live.wiring import KrakenUnreachableError, store_url
    from krakenbot.logs import setup_logging
    from krakenbot.store.engine import safe_url
    from krakenbot.store.lock import InstanceLockedError
    from krakenbot.store.sql import StoreNotWritableError

    secrets = Secrets().values()
    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=secrets,
                  max_bytes=cfg.logging.max_bytes, backup_count=cfg.logging.backup_count)
    try:
        typer.echo(f"store: {safe_url(store_url(cfg, paper=paper))}")  # the store this run writes
        _run_with_ops(cfg, paper=paper, max_ticks=max_ticks, secrets=secrets)
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


def _run_with_ops(cfg: AppConfig, *, paper: bool, max_ticks: int | None, secrets: list[str]) -> None:
    """The run inside ``ops_runtime``: its start, stop (with why), refusal to start and halt are alerts."""
    from krakenbot.live.wiring import open_loop
    from krakenbot.ops.runtime import ops_runtime

    mode = "paper" if paper else "live"
    with ops_runtime(cfg, mode=mode, secrets=secrets) as ops:
        started = False
        try:
            with open_loop(cfg, paper=paper, journal_wrapper=ops.wrap_journal,
                           rest_observer=ops.rest_observer) as loop:
                ops.attach(loop)
                started = True
                ops.started(f"{len(loop.futures)} contracts ({', '.join(loop.futures)}), store "
                            f"{cfg.store.instance_id}")
                why = _run(loop, max_ticks)
        except Exception as exc:  # a halt, or a refusal to start (config, lock, clock skew, unknown orders, ...)
            (ops.halted if started else ops.refused)(f"{type(exc).__name__}: {exc}")
            raise
        ops.stopped(why)


def _run(loop: LiveTrading, max_ticks: int | None) -> str:
    """Run until a signal or ``max_ticks``; returns why it stopped."""
    stop = threading.Event()
    caught: list[str] = []

    def _stop(signum: int, _frame: FrameType | None) -> None:
        caught.append(signal.Signals(signum).name)
        typer.echo(f"signal {caught[-1]}: finishing the tick, then stopping "
                   "(positions stay protected by their exchange-side stops)", err=True)
        stop.set()

    previous = signal.signal(signal.SIGINT, _stop), signal.signal(signal.SIGTERM, _stop)
    try:
        ticks = loop.run(stop, max_ticks=max_ticks)
    finally:  # the caller's handlers again (an embedding process, the tests, a study run in the same process)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    return f"signal {caught[0]} after {ticks} ticks" if caught else f"--max-ticks {ticks} reached"

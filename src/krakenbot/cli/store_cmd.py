"""``store status | adopt | repair``: the live store against the Kraken account, for an operator.

- ``status``: what reconciliation finds (nothing written). Exit 0 when ``live`` would start, 1 when it
  would refuse (differences, or orders/positions of ours the store does not know).
- ``adopt``: take orders and positions carrying ``store.instance_id`` that the store does not know
  (a new or lost store) into it: their orders adopted, their recent fills recorded, an adjustment
  fill where those do not add up to the position. Prints what it adopted; ``live`` then starts.
- ``repair --yes``: ``adopt``, and make the store's fills add up to every position Kraken holds (an
  adjustment fill per symbol that disagrees). Without ``--yes`` it prints what it would do, writes
  nothing and exits 2.

Both hold the store's instance lock (stop ``live`` first) and refuse a paper store. Exit codes: 0 done,
1 halted (the store cannot be written, or differences remain), 2 refused (config, lock, paper store,
``repair`` not confirmed), 3 Kraken unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from krakenbot.cli.config_cmd import load_or_exit
from krakenbot.domain.errors import ConfigError, FatalError, KrakenbotError

if TYPE_CHECKING:  # the heavy imports (ccxt, SQLAlchemy) wait until a store command runs
    from krakenbot.config import AppConfig
    from krakenbot.exchange.kraken.client import KrakenClient
    from krakenbot.execution.reconcile import ReconcilePlan
    from krakenbot.store.sql import SqlStore

EXIT_DIFFERS, EXIT_HALTED, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 1, 2, 3

store_app = typer.Typer(help="Compare the live store with the Kraken account; adopt or repair what differs.",
                        no_args_is_help=True, rich_markup_mode=None)

ConfigArg = Annotated[Path, typer.Option("--config", "-c", help="The live YAML config file.")]


@contextmanager
def _opened(config: Path, *, write: bool) -> Iterator[tuple[AppConfig, SqlStore, KrakenClient]]:
    """The config, the live store (locked; claimed as live when ``write``) and a keyed Kraken client;
    exits with the module's codes on errors."""
    from krakenbot.config import Secrets
    from krakenbot.exchange.kraken.client import KrakenClient
    from krakenbot.logs import setup_logging
    from krakenbot.store.lock import InstanceLockedError, acquire_instance_lock
    from krakenbot.store.sql import SqlStore

    cfg = load_or_exit(config)
    secrets = Secrets()
    setup_logging(cfg.logging.level, file=cfg.logging.file, secrets=secrets.values())  # as `live`: keys redacted
    try:
        if secrets.missing_for_live():
            raise ConfigError(f"store commands need {', '.join(secrets.missing_for_live())} in the environment")
        key, secret = secrets.kraken_futures_api_key, secrets.kraken_futures_api_secret
        client = KrakenClient(cfg.exchange, api_key=key.get_secret_value() if key else None,
                              api_secret=secret.get_secret_value() if secret else None,
                              enable_rate_limit=cfg.exchange.client_rate_limit)
        with acquire_instance_lock(cfg.store.url), SqlStore(cfg.store.url) as store:
            if write or store.mode() not in (None, "live"):
                store.claim_mode("live")  # refuses a paper store
            yield cfg, store, client
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except InstanceLockedError as exc:
        typer.echo(f"refused: {exc} (stop `live` first)", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except FatalError as exc:
        typer.echo(f"halted: {exc}", err=True)
        raise typer.Exit(EXIT_HALTED) from None
    except KrakenbotError as exc:
        typer.echo(f"not done: Kraken unreachable ({type(exc).__name__}: {exc}); nothing was written", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None


def describe(plan: ReconcilePlan) -> list[str]:
    """One line per thing the plan found or would write."""
    lines = [f"unknown position of ours: {p.symbol} {p.side.value} {p.size}" for p in plan.unknown_positions]
    lines += [f"unknown order of ours: {o.client_order_id} {o.symbol} {o.order_type.value} {o.side.value} {o.size}"
              for o in plan.unknown_orders]
    lines += [f"differs: {m.detail}" for m in plan.mismatches]
    lines += [f"adopt order {o.client_order_id}: {o.symbol} {o.order_type.value} {o.side.value} {o.size} "
              f"({o.status.value})" for o in plan.adopt_orders]
    lines += [f"record fill {f.trade_id}: {f.symbol} {f.side.value} {f.size} @ {f.price}" for f in plan.record_fills]
    lines += [f"adjust {a.symbol}: {a.contracts:+} contracts @ {a.price} ({a.why})" for a in plan.adjustments]
    lines += [f"foreign position (left alone): {p.symbol} {p.side.value} {p.size}" for p in plan.foreign_positions]
    return lines


def _run(config: Path, *, adopt: bool, repair: bool, write: bool) -> ReconcilePlan:
    from krakenbot.domain import WallClock
    from krakenbot.execution.reconcile import reconcile
    from krakenbot.live.restart import apply_plan, gather

    with _opened(config, write=write) as (cfg, store, client):
        now = WallClock().now()
        store_view, venue = gather(store, client, now=now, prefix=cfg.store.instance_id if adopt else None)
        plan = reconcile(store_view, venue, prefix=cfg.store.instance_id, adopt=adopt, repair=repair)
        typer.echo(f"store {store.url} against Kraken (instance id {cfg.store.instance_id!r}):")
        for line in describe(plan) or ["nothing to do: the store and Kraken agree"]:
            typer.echo(f"  {line}")
        if write:
            apply_plan(store, plan, store_view, now=now)  # raises ReconcileError when differences remain
        return plan


def register(store: typer.Typer = store_app) -> None:
    """Add ``status``, ``adopt`` and ``repair`` to ``store``."""

    @store.command("status")
    def status(config: ConfigArg = Path("config/live.yaml")) -> None:
        """Show what the store and Kraken disagree on; nothing is written. Exit 0: `live` would start; 1: not."""
        plan = _run(config, adopt=False, repair=False, write=False)
        if not plan.ok:
            typer.echo("live would refuse to start: `store adopt` takes over orders and positions of ours the store "
                       "does not know; `store repair --yes` also makes the store's positions those Kraken holds",
                       err=True)
            raise typer.Exit(EXIT_DIFFERS)

    @store.command("adopt")
    def adopt(config: ConfigArg = Path("config/live.yaml")) -> None:
        """Take over orders and positions carrying store.instance_id that the store does not know
        (a new or lost store). Stop any other bot using this instance id first."""
        plan = _run(config, adopt=True, repair=False, write=True)
        typer.echo(f"adopted: {len(plan.adopt_orders)} orders, {len(plan.record_fills)} fills, "
                   f"{len(plan.adjustments)} adjustments; `live` can start")

    @store.command("repair")
    def repair(config: ConfigArg = Path("config/live.yaml"),
               yes: Annotated[bool, typer.Option("--yes", help="Write the changes (default: only show them).")]
               = False) -> None:
        """Make the store's positions those Kraken holds (adopting unknown orders of ours as well)."""
        plan = _run(config, adopt=True, repair=True, write=yes)
        if not yes:
            typer.echo("not written: re-run with --yes to apply these changes", err=True)
            raise typer.Exit(EXIT_REFUSED)
        typer.echo(f"repaired: {len(plan.adjustments)} adjustments, {len(plan.adopt_orders)} orders adopted, "
                   f"{len(plan.record_fills)} fills recorded; `live` can start")


register()

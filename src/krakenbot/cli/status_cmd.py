"""``status``: a running bot's health and positions for a shell user, from its store or its status API.

- From the store (default; ``--paper`` for the paper store): the newest slow-tick record (equity, exposure)
  and its age, the positions of the newest snapshot, the orders not known to be done, the latest events.
  Read only: no lock taken, no migration, nothing written; safe while the bot runs. Healthy when the newest
  record is at most two signal candles plus ``ops.api.ready_after_seconds`` old.
- From the API (``--api URL``, token from ``KRAKENBOT_API_TOKEN``): ``/api/status``: the operator's mode,
  readiness (last good tick age), equity and drawdown, positions with their liquidation buffers.

Exit codes: 0 healthy (ready), 1 not healthy (stale records, not ready), 2 refused (config, no token, the
token refused), 3 unreachable (no store at that place, the API does not answer).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from krakenbot.config import AppConfig

EXIT_UNHEALTHY, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3
API_TIMEOUT_SECONDS = 10.0


def register(app: typer.Typer) -> None:
    """Add ``status [--config FILE] [--paper] [--api URL]`` to ``app``."""

    @app.command("status")
    def status(
        config: Annotated[Path | None, typer.Option(
            "--config", "-c", help="YAML config file (its store); default: the embedded default.")] = None,
        paper: Annotated[bool, typer.Option("--paper", help="Read the paper store instead of the live one.")] = False,
        api: Annotated[str | None, typer.Option(
            "--api", metavar="URL", help="Ask a running bot's status API instead (e.g. http://127.0.0.1:8787); "
            "the token comes from KRAKENBOT_API_TOKEN.")] = None,
    ) -> None:
        """Print a running bot's health and positions (exit 0 healthy, 1 not, 2 refused, 3 unreachable)."""
        if api is not None:
            healthy = print_api_status(api)
        else:
            from krakenbot.cli import _load

            healthy = print_store_status(_load(config), paper=paper)
        if not healthy:
            raise typer.Exit(EXIT_UNHEALTHY)


def print_store_status(cfg: AppConfig, *, paper: bool) -> bool:
    """Print what the store says; True when its newest record is fresh. Exits 3 when there is no store."""
    from krakenbot.config.models import TIMEFRAME_MINUTES
    from krakenbot.domain import WallClock
    from krakenbot.domain.errors import KrakenbotError
    from krakenbot.live.wiring import store_url
    from krakenbot.store.engine import safe_url
    from krakenbot.store.sql import SqlStore

    url = store_url(cfg, paper=paper)
    path = url.removeprefix("sqlite:///").partition("?")[0]
    if url.startswith("sqlite:///") and not Path(path).is_file():
        typer.echo(f"no store at {path}: has `{'paper' if paper else 'live'}` run with this config?", err=True)
        raise typer.Exit(EXIT_UNREACHABLE)
    try:
        with SqlStore(url, migrate_schema=False) as store:
            latest, positions = store.latest_equity(), store.latest_positions()
            orders, events = store.open_orders(), store.recent_events(5)
    except KrakenbotError as exc:
        typer.echo(f"cannot read the store {safe_url(url)}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    typer.echo(f"store: {safe_url(url)} ({'paper' if paper else 'live'})")
    limit = timedelta(minutes=2 * TIMEFRAME_MINUTES[cfg.strategy.timeframe],
                      seconds=cfg.ops.api.ready_after_seconds)
    if latest is None:
        typer.echo("health: NOT READY: no slow tick recorded yet")
        healthy = False
    else:
        ts, equity, exposure, _ = latest
        age = WallClock().now() - ts
        healthy = age <= limit
        verdict = "ok" if healthy else f"STALE: older than {_age(limit)}; is the bot running?"
        typer.echo(f"health: {verdict}: last slow tick recorded {ts:%Y-%m-%d %H:%M:%S} UTC ({_age(age)} ago)")
        typer.echo(f"equity: {equity:,.2f} USD, exposure {exposure:,.2f} USD")
    typer.echo(f"positions ({len(positions)}, as of the last slow tick):")
    for p in positions:
        liq = f", liquidation {p.liquidation_price:,.6g}" if p.liquidation_price else ""
        typer.echo(f"  {p.symbol} {p.side.value} {p.size:g} @ {p.entry_price:,.6g} (mark {p.price:,.6g}, "
                   f"notional {p.notional_usd:,.2f} USD{liq})")
    typer.echo(f"open orders ({len(orders)}):")
    for o in orders:
        price = o.stop_price or o.limit_price
        typer.echo(f"  {o.symbol} {o.order_type.value} {o.side.value} {o.size}"
                   + (f" @ {price}" if price is not None else "") + f" ({o.status.value}, {o.client_order_id})")
    typer.echo("recent events:" if events else "recent events: none")
    for e in events:
        typer.echo(f"  {e.ts:%Y-%m-%d %H:%M:%S} {e.kind} {e.symbol}: {e.detail}")
    return healthy


def print_api_status(base_url: str) -> bool:
    """Print ``/api/status`` of the bot at ``base_url``; True when it is ready. Exits 2 or 3 (see the module)."""
    from krakenbot.config import Secrets

    secret = Secrets().krakenbot_api_token
    if secret is None or not secret.get_secret_value():
        typer.echo("status --api needs KRAKENBOT_API_TOKEN in the environment (the bot's token)", err=True)
        raise typer.Exit(EXIT_REFUSED)
    url = base_url.rstrip("/") + "/api/status"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret.get_secret_value()}"})
    try:
        with urllib.request.urlopen(request, timeout=API_TIMEOUT_SECONDS) as answer:
            status: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            typer.echo(f"{url}: the token was refused (401): check KRAKENBOT_API_TOKEN", err=True)
            raise typer.Exit(EXIT_REFUSED) from None
        typer.echo(f"{url}: HTTP {exc.code}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        typer.echo(f"{url}: no answer ({getattr(exc, 'reason', exc)}); is the bot running with ops.api.enabled?",
                   err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    ready = status["readiness"]
    age = ready["age_seconds"]
    typer.echo(f"api: {base_url.rstrip('/')}")
    typer.echo(f"health: {'ready' if ready['ready'] else 'NOT READY'}: last good tick "
               + (f"{_age(timedelta(seconds=age))} ago" if age is not None else "never")
               + f" (limit {ready['limit_seconds']:g}s), {status['consecutive_failures']} failed ticks in a row")
    typer.echo(f"mode: {status['mode']}" + (f", flattened {', '.join(status['flattened'])}" if status['flattened']
                                             else ""))
    acct = status["account"]
    if acct is not None:
        typer.echo(f"equity: {acct['equity_usd']:,.2f} USD, drawdown {100 * acct['drawdown_pct']:.2f} %, available "
                   f"margin {acct['available_margin_usd']:,.2f} USD, exposure {status['exposure_usd']:,.2f} USD")
    typer.echo(f"positions ({len(status['positions'])}):")
    for p in status["positions"]:
        buffer = p["liquidation_buffer_pct"]
        typer.echo(f"  {p['symbol']} {p['side']} {p['size']:g} @ {p['entry_price']:,.6g} (mark {p['mark_price']:,.6g},"
                   f" uPnL {p['unrealized_pnl_usd']:,.2f} USD, liquidation buffer "
                   + (f"{100 * buffer:.1f} %" if buffer is not None else "unknown") + ")")
    if status["shock_paused_until"]:
        typer.echo(f"ShockGuard: entries paused until {status['shock_paused_until']}")
    return bool(ready["ready"])


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"

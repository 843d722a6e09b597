"""``symbols``: which Kraken Futures contract each spot pair would trade, or why none.

Reads the futures tickers from a saved ``/derivatives/api/v3/tickers`` body (``--tickers-file``) or
live from Kraken, and prints a table, or with ``--json`` a list of
``{"spot", "futures", "unified", "reason"}`` objects. Exit codes: 0 printed, 1 live fetch failed,
2 bad input (unreadable tickers file, bad config).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from krakenbot.config.models import AppConfig
from krakenbot.domain.errors import KrakenbotError, MarketDataError
from krakenbot.exchange.kraken.symbols import FuturesTickers, parse_futures_tickers_payload
from krakenbot.live.universe import FuturesMapping, resolve_futures


class TickersFileError(Exception):
    """The tickers file is missing, not JSON, or not a tickers payload."""


def load_tickers_file(path: Path) -> FuturesTickers:
    """Read a saved tickers body; raise ``TickersFileError`` naming the file and the problem."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TickersFileError(f"{path}: no such tickers file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TickersFileError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise TickersFileError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    try:
        return parse_futures_tickers_payload(body)
    except MarketDataError as exc:
        raise TickersFileError(f"{path}: {exc}") from None


def _live_tickers(config: AppConfig) -> FuturesTickers:
    from krakenbot.exchange.kraken.client import KrakenClient  # lazy: ccxt only when fetching live

    tickers: FuturesTickers = KrakenClient(config.exchange).get_futures_tickers_bulk()
    return tickers


def mapping_rows(pairs: list[str], tickers: FuturesTickers, config: AppConfig) -> list[FuturesMapping]:
    """One mapping per pair, in the order given (overrides from ``universe.futures_overrides``)."""
    return [resolve_futures(pair, tickers, config.universe.futures_overrides) for pair in pairs]


def _as_json(mapping: FuturesMapping) -> dict[str, Any]:
    return {"spot": mapping.spot, "futures": mapping.futures if mapping.ok else None,
            "unified": mapping.unified if mapping.ok else None, "reason": mapping.reason}


def _print_table(mappings: list[FuturesMapping], console: Console) -> None:
    table = Table(title="Spot pair -> Kraken Futures contract")
    for name in ("spot", "futures", "unified", "multiplier", "24h volume USD", "why not"):
        table.add_column(name)
    for m in mappings:
        volume = m.ticker.volume_24h_usd if m.ticker else None
        table.add_row(m.spot, (m.futures or "-") if m.ok else "-", (m.unified or "-") if m.ok else "-",
                      str(m.multiplier) if m.ok else "-", f"{volume:,.0f}" if m.ok and volume is not None else "-",
                      m.reason or "")
    console.print(table)


def symbols_command(tickers_file: Path | None, spot: list[str], as_json: bool, config: AppConfig,
                    tickers_loader: Callable[[], FuturesTickers] | None = None) -> int:
    """Print the mapping of ``spot`` (or ``config.universe.symbols``); return the exit code.

    ``tickers_loader`` replaces the live fetch (tests); ``tickers_file`` wins over both.
    In the JSON form ``futures``/``unified`` are null whenever ``reason`` says the pair is not tradable.
    """
    err = Console(stderr=True, soft_wrap=True)  # one error, one line: never wrapped
    pairs = list(spot) or list(config.universe.symbols)
    if not pairs:
        err.print("symbols: no pairs: pass --spot PAIR or set universe.symbols in the config")
        return 2
    try:
        if tickers_file is not None:
            tickers = load_tickers_file(tickers_file)
        else:
            tickers = (tickers_loader or (lambda: _live_tickers(config)))()
    except TickersFileError as exc:
        err.print(f"symbols: {exc}", markup=False)
        return 2
    except KrakenbotError as exc:
        err.print(f"symbols: could not fetch futures tickers: {type(exc).__name__}: {exc}", markup=False)
        return 1
    mappings = mapping_rows(pairs, tickers, config)
    if as_json:
        typer.echo(json.dumps([_as_json(m) for m in mappings], indent=2))
    else:
        console = Console()
        _print_table(mappings, console if console.is_terminal else Console(width=200))  # piped: no wrapping
    return 0


def register(app: typer.Typer) -> None:
    """Add ``symbols [--tickers-file FILE] [--spot PAIR ...] [--json] [--config FILE]`` to ``app``."""

    @app.command("symbols")
    def symbols(
        tickers_file: Annotated[Path | None, typer.Option(
            "--tickers-file",
            help="Saved JSON body of Kraken's /derivatives/api/v3/tickers; default: fetch live.")] = None,
        spot: Annotated[list[str] | None, typer.Option(
            "--spot", metavar="PAIR",
            help="Spot pair to map (repeatable); default: universe.symbols of the config.")] = None,
        as_json: Annotated[bool, typer.Option(
            "--json", help="Print a JSON list instead of a table.")] = False,
        config: Annotated[Path | None, typer.Option(
            "--config", "-c", help="YAML config file; default: built-in defaults.")] = None,
    ) -> None:
        """Show which Kraken Futures contract each spot pair maps to, or why none."""
        from krakenbot.cli.config_cmd import load_or_exit

        cfg = load_or_exit(config) if config is not None else AppConfig()
        code = symbols_command(tickers_file, spot or [], as_json, cfg, None)
        if code:
            raise typer.Exit(code)

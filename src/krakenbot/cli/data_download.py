"""``data download``: Kraken's history into a data folder (see ``datasets/download.py`` for what comes from where).

Exit codes: 0 every series complete, 1 a series stopped on an error (what was fetched is kept; the same
command resumes), 2 bad arguments, 3 Kraken unreachable at the start.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from krakenbot.cli.backtest_cmd import parse_day
from krakenbot.config import AppConfig
from krakenbot.datasets.download import Downloader, DownloadReport, DownloadRequest
from krakenbot.domain.errors import ExchangeError, MarketDataError
from krakenbot.progress import progress_bar

log = logging.getLogger(__name__)


def split_values(values: list[str] | None) -> tuple[str, ...]:
    """``--spot BTC/USD --spot ETH/USD`` and ``--spot BTC/USD,ETH/USD`` alike, order kept, no repeats."""
    parts = (part.strip() for value in values or () for part in value.split(","))
    return tuple(dict.fromkeys(part for part in parts if part))


def _utc_day(value: str | None, option: str) -> datetime | None:
    day = parse_day(value, option)
    return None if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)


def print_report(report: DownloadReport) -> None:
    """One line per file: rows added by source and requests made, then the failures."""
    for outcome in report.outcomes:
        added = ", ".join(f"{n:,} from {src}" for src, n in outcome.added.items() if n) or "nothing new"
        state = "FAILED" if outcome.error else "ok"
        asked = f"{outcome.requests} request{'' if outcome.requests == 1 else 's'}"
        typer.echo(f"{state:6} {outcome.path.name}: {added} ({asked})")
    for outcome in report.failed:
        typer.echo(f"error: {outcome.error}", err=True)
    if report.failed:
        typer.echo("what was fetched is kept; run the same command again to resume", err=True)


def run_download_command(cfg: AppConfig, *, spot: list[str] | None, futures: list[str] | None, series: str,
                         timeframe: str, start: str, end: str | None, out: Path) -> None:
    """Build the request, reach Kraken (the config's ``exchange`` URLs), download, print what was written."""
    from krakenbot.exchange.kraken.client import KrakenClient

    first = _utc_day(start, "--start")
    assert first is not None
    try:
        request = DownloadRequest(out=out, spot=split_values(spot), futures=split_values(futures),
                                  series=frozenset(split_values([series])), timeframe=timeframe, start=first,
                                  end=_utc_day(end, "--end"))
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if not request.spot and not request.futures:
        typer.echo("data download: name at least one --spot PAIR or --futures CONTRACT", err=True)
        raise typer.Exit(2)
    client = KrakenClient(cfg.exchange, enable_rate_limit=cfg.exchange.client_rate_limit)
    try:
        client.get_futures_tickers_bulk()  # one request: Kraken's clock (serverTime) decides what has closed
    except (ExchangeError, MarketDataError) as exc:
        typer.echo(f"data download: Kraken unreachable ({type(exc).__name__}: {exc})", err=True)
        raise typer.Exit(3) from None
    server = client.server_time()
    skew = server.skew if server is not None else timedelta(0)

    def now() -> datetime:
        return datetime.now(UTC) - skew

    # Beyond the client's own retries, a failing series is waited out 3 more times, from 60 x the retry base
    # delay (30 s by default) doubling, before it is reported.
    downloader = Downloader(client, now=now, progress=progress_bar, sleep=time.sleep, patience=3,
                            wait_seconds=60 * cfg.exchange.retry_base_delay_seconds)
    report = downloader.run(request)
    print_report(report)
    if report.failed:
        raise typer.Exit(1)


"""``data``: Kraken's history into a data folder the backtest reads, and what a folder holds.

- ``data import FILE_OR_ZIP... --out DIR [--pair P]... [--timeframe TF]...``: Kraken's OHLCVT archive (the ZIP or
  its ``PAIR_MINUTES.csv`` files) as ``BASE-QUOTE-TF.parquet`` (``datasets/kraken_archive.py``);
- ``data download ...``: Kraken's APIs (spot OHLC + trades, futures charts, funding): registered below;
- ``data list DIR [--json]``: per symbol and series, span, resolution, rows, gaps and sources.

Every write is a merge (``data/dataset.py``): re-running adds only what is missing; each file keeps a
``.sources.json`` sidecar. Exit codes: 0 done, 2 bad input (a missing or malformed file, a bad filter; a
malformed archive member is reported and nothing of it written, the other members are imported).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from krakenbot.data.dataset import DatasetError, SeriesSummary, describe_folder
from krakenbot.datasets.download import SERIES

SERIES_HELP = f"Comma-separated series to fetch, from: {', '.join(SERIES)}."

data_app = typer.Typer(help="Get Kraken's history into a data folder for backtests, and see what a folder holds.",
                       no_args_is_help=True, rich_markup_mode=None)


@data_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(
        metavar="FILE_OR_ZIP...", help="Kraken's OHLCVT ZIP(s) or PAIR_MINUTES.csv files (e.g. XBTUSD_1.csv).")],
    out: Annotated[Path, typer.Option("--out", help="Data folder to write (created if missing).")],
    pair: Annotated[list[str] | None, typer.Option(
        "--pair", metavar="PAIR",
        help="Import only this spot pair, any spelling: BTC/USD, XBTUSD (repeatable).")] = None,
    timeframe: Annotated[list[str] | None, typer.Option(
        "--timeframe", metavar="TF", help="Import only this timeframe: 1m, 5m, 15m, 30m, 1h, 4h, 1d (repeatable).")
    ] = None,
) -> None:
    """Import Kraken's downloadable OHLCVT archive (spot candles, the whole history) into a data folder."""
    from krakenbot.datasets.kraken_archive import ImportedFile, import_archive

    def report(result: ImportedFile) -> None:
        name = result.member.where
        if result.failed:
            typer.echo(f"error: {result.note}", err=True)
        elif result.path is None:
            typer.echo(f"{name}: {result.note}")
        else:
            typer.echo(f"{name} -> {result.path}: {result.rows:,} candles, {result.added:,} new")

    try:
        results = import_archive(files, out, pairs=pair, timeframes=timeframe, on_file=report)
    except DatasetError as exc:
        typer.echo(f"data import: {exc}", err=True)
        raise typer.Exit(2) from None
    written = [r for r in results if r.path is not None]
    failed = [r for r in results if r.failed]
    if not results:
        typer.echo("data import: no member matched --pair/--timeframe: nothing written", err=True)
        raise typer.Exit(2)
    typer.echo(f"{out}: {len(written)} files imported ({sum(r.added for r in written):,} new candles), "
               f"{len(results) - len(written) - len(failed)} skipped, {len(failed)} failed")
    if failed:
        raise typer.Exit(2)


@data_app.command("download")
def download_command(
    out: Annotated[Path, typer.Option("--out", help="Data folder to write (created if missing).")],
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", help="YAML config whose exchange URLs are used; default: the embedded default (Kraken).",
        show_default=False)] = None,
    spot: Annotated[list[str] | None, typer.Option(
        "--spot", metavar="PAIR", help="Spot pair (BTC/USD, LUNA2/USD, ...); repeatable or comma-separated.")] = None,
    futures: Annotated[list[str] | None, typer.Option(
        "--futures", metavar="CONTRACT", help="Futures contract (PF_XBTUSD, ...); repeatable or comma-separated.")
    ] = None,
    series: Annotated[str, typer.Option("--series", help=SERIES_HELP)] = ",".join(SERIES),
    timeframe: Annotated[str, typer.Option("--timeframe", metavar="TF", help="Candle timeframe: 1m, 5m, ... 1d.")
                         ] = "1m",
    end: Annotated[str | None, typer.Option("--end", help="Last UTC day, exclusive, YYYY-MM-DD; default: now.")
                   ] = None,
) -> None:
    """Download Kraken's history: spot candles (OHLC's newest 720, older ones rebuilt from public trades),
    futures trade/mark/index candles and hourly funding. Resumable: run it again to add only what is missing.

    Exit codes: 0 done, 1 a series stopped on an error (what was fetched is kept), 2 bad input, 3 Kraken
    unreachable."""
    from krakenbot.cli.config_cmd import load_or_exit
    from krakenbot.cli.data_download import run_download_command
    from krakenbot.config.paths import DEFAULT_CONFIG_PATH

    cfg = load_or_exit(config if config is not None else DEFAULT_CONFIG_PATH)
    run_download_command(cfg, spot=spot, futures=futures, series=series, timeframe=timeframe, start=start, end=end,
                         out=out)


def _iso(summary: SeriesSummary, field: str) -> str | None:
    value = getattr(summary, field)
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_json(summary: SeriesSummary) -> dict[str, Any]:
    """One series of ``data list --json``: times ISO-8601 UTC, gaps as counts of holes and of missing rows."""
    return {"file": summary.path.name, "name": summary.name, "series": summary.kind, "timeframe": summary.timeframe,
            "start": _iso(summary, "start"), "end": _iso(summary, "end"), "rows": summary.rows,
            "gaps": summary.gaps, "missing": summary.missing, "longest_gap": summary.longest_gap,
            "sources": [{"start": s.start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end": s.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "rows": s.rows, "source": s.source} for s in summary.spans]}


@data_app.command("list")
def list_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="A data folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """Show what a data folder holds per symbol and series: span, resolution, rows, gaps, sources."""
    try:
        summaries = describe_folder(folder)
    except DatasetError as exc:
        typer.echo(f"data list: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps([summary_json(s) for s in summaries], indent=2))
        return
    if not summaries:
        typer.echo(f"{folder}: no series files (BASE-QUOTE-TF.parquet, PF_<...>-<series>-TF.parquet)")
        return
    table = Table(title=str(folder))
    for name, justify in (("symbol", "left"), ("series", "left"), ("tf", "left"), ("start (UTC)", "left"),
                          ("end (UTC)", "left"), ("rows", "right"), ("gaps", "right"), ("missing", "right"),
                          ("longest", "right"), ("sources", "left")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for s in summaries:
        table.add_row(s.name, s.kind, s.timeframe, _day(_iso(s, "start")), _day(_iso(s, "end")), f"{s.rows:,}",
                      f"{s.gaps:,}", f"{s.missing:,}", f"{s.longest_gap:,}", ", ".join(s.sources))
    console = Console()
    (console if console.is_terminal else Console(width=220)).print(table)  # piped: no wrapping


def _day(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").removesuffix(":00Z")

"""The command line: ``python run.py COMMAND`` or ``krakenbot COMMAND``.

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, arguments, refused live start).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from krakenbot.cli.config_cmd import config_app, load_or_exit

app = typer.Typer(
    name="krakenbot",
    help="Kraken spot signals, held on Kraken Futures perpetuals. Backtest, paper and live from one loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(config_app, name="config")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")]
DEFAULT_CONFIG = Path("config/default.yaml")


def _not_built(what: str, issue: int) -> None:
    typer.echo(f"{what} is not built yet (tracked in issue #{issue}).", err=True)
    raise typer.Exit(1)


@app.command()
def backtest(
    config: ConfigOption = DEFAULT_CONFIG,
    data: Annotated[Path | None, typer.Option(help="Folder of recorded candles; default: backtest.data.")] = None,
    start: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (inclusive), YYYY-MM-DD.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder; default: backtest.out.")] = None,
) -> None:
    """Replay recorded candles through the trading loop with a simulated clock and paper fills."""
    load_or_exit(config)
    _not_built("backtest", 5)


@app.command()
def paper(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Trade on live Kraken market data with simulated fills (no keys needed)."""
    load_or_exit(config)
    _not_built("paper trading", 5)


@app.command()
def live(
    config: ConfigOption = Path("config/live.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Skip the confirmation that real money is at stake.")] = False,
) -> None:
    """Trade with real money on Kraken Futures (keys from the environment)."""
    cfg = load_or_exit(config)
    if not force:
        if not sys.stdin.isatty():
            typer.echo("live: refusing to trade real money without confirmation; no terminal to ask on. "
                       "Re-run with --force if you mean it.", err=True)
            raise typer.Exit(2)
        where = "Kraken's DEMO futures environment" if cfg.exchange.sandbox else "Kraken Futures with REAL MONEY"
        if not typer.confirm(f"Trade on {where}?", default=False):
            typer.echo("live: not confirmed; nothing traded.", err=True)
            raise typer.Exit(2)
    _not_built("live trading", 5)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A backtest output folder.")] = Path("reports/latest"),
) -> None:
    """Rebuild report.html from a backtest's CSV and JSON outputs."""
    _not_built("report", 5)


def _register_optional() -> None:
    """Commands whose modules may not exist in every build of the tree yet."""
    try:
        from krakenbot.cli import symbols_cmd
    except ImportError:  # pragma: no cover - present once the data layer lands
        return
    symbols_cmd.register(app)


_register_optional()


def main() -> None:
    """Console-script entry point."""
    app()

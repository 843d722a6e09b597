"""The command line: ``python run.py COMMAND`` or ``krakenbot COMMAND``.

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, arguments, refused live start).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from krakenbot.cli import symbols_cmd
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


@app.command()
def backtest(
    config: ConfigOption = DEFAULT_CONFIG,
    data: Annotated[Path | None, typer.Option(help="Folder of recorded candles; default: backtest.data.")] = None,
    start: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (inclusive), YYYY-MM-DD.")] = None,
    out: Annotated[Path | None, typer.Option(help="Report folder; default: backtest.out.")] = None,
    step_every_candle: Annotated[bool, typer.Option(
        "--step-every-candle", help="Wake the loop at every candle (slow reference mode).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log the loop's events to the console.")] = False,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Skip, with a warning, a configured symbol without data or a contract, "
        "or one that cannot warm up (default: refuse).")] = False,
) -> None:
    """Replay recorded candles through the trading loop with a simulated clock and paper fills."""
    from krakenbot.cli.backtest_cmd import run_backtest_command

    run_backtest_command(load_or_exit(config), data=data, start=start, end=end, out=out, step=step_every_candle,
                         verbose=verbose, allow_missing=allow_missing)


MaxTicks = Annotated[int | None, typer.Option("--max-ticks", help="Stop after this many fast ticks (rehearsals).")]


@app.command()
def paper(config: ConfigOption = DEFAULT_CONFIG, max_ticks: MaxTicks = None) -> None:
    """Trade on live Kraken market data with simulated fills (no keys needed)."""
    from krakenbot.cli.live_cmd import run_loop

    run_loop(load_or_exit(config), paper=True, max_ticks=max_ticks)


@app.command()
def live(
    config: ConfigOption = Path("config/live.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Skip the confirmation that real money is at stake.")] = False,
    max_ticks: MaxTicks = None,
) -> None:
    """Trade with real money on Kraken Futures (keys from the environment)."""
    if not config.exists() and config == Path("config/live.yaml"):
        typer.echo("live: config/live.yaml not found; copy config/live.example.yaml to config/live.yaml, edit it, "
                   "check it with `python run.py config check config/live.yaml`, or pass --config FILE", err=True)
        raise typer.Exit(2)
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
    from krakenbot.cli.live_cmd import run_loop

    run_loop(cfg, paper=False, max_ticks=max_ticks)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A backtest output folder.")] = Path("reports/latest"),
) -> None:
    """Rebuild report.html from a backtest's CSV and JSON outputs."""
    from krakenbot.cli.backtest_cmd import rebuild_report

    rebuild_report(run_dir)


symbols_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    app()

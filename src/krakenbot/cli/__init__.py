"""The command line: ``python run.py COMMAND`` or ``krakenbot COMMAND``.

Exit codes: 0 success, 1 runtime failure, 2 bad input (config, arguments, refused live start),
3 Kraken unreachable at the start of ``live``/``paper`` (see ``cli/live_cmd.py``), 4 ``live`` found
orders or positions of ours the store does not know (see ``cli/store_cmd.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from krakenbot import __version__
from krakenbot.cli import status_cmd, symbols_cmd
from krakenbot.cli.config_cmd import config_app, load_or_exit
from krakenbot.cli.data_cmd import data_app
from krakenbot.cli.store_cmd import store_app
from krakenbot.config import AppConfig
from krakenbot.config.paths import DEFAULT_CONFIG_PATH

# rich_markup_mode=None: click's plain help, which shows boolean options as flags (typer's rich
# panels print them as `--verbose <bool>`, as if they took a value).
app = typer.Typer(
    name="krakenbot",
    help="Kraken spot signals, held on Kraken Futures perpetuals. Backtest, paper and live from one loop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(config_app, name="config")
app.add_typer(store_app, name="store")
app.add_typer(data_app, name="data")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"krakenbot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print krakenbot's version and exit.")] = False,
) -> None:
    """Kraken spot signals, held on Kraken Futures perpetuals. Backtest, paper and live from one loop."""


ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML config file; default: the embedded default (krakenbot/defaults/default.yaml).",
    show_default=False)]


def _load(config: Path | None) -> AppConfig:
    return load_or_exit(config if config is not None else DEFAULT_CONFIG_PATH)


@app.command()
def backtest(
    config: ConfigOption = None,
    data: Annotated[Path | None, typer.Option(
        help="Folder of recorded candles; default: backtest.data, else the shipped demo.")] = None,
    start: Annotated[str | None, typer.Option(help="First UTC day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last UTC day (inclusive), YYYY-MM-DD.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Report folder; default: backtest.out. '{ts}' in it becomes the UTC start time "
             "(--out 'reports/{ts}' -> reports/20260105-143000), so runs do not overwrite each other.")] = None,
    step_every_candle: Annotated[bool, typer.Option(
        "--step-every-candle", help="Wake the loop at every candle (slow reference mode).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log the loop's events to the console.")] = False,
    allow_missing: Annotated[bool, typer.Option(
        "--allow-missing", help="Skip, with a warning, a configured symbol without data or a contract, "
        "or one that cannot warm up (default: refuse).")] = False,
) -> None:
    """Replay recorded candles through the trading loop with a simulated clock and paper fills.

    Ctrl-C stops it, says what was written, and exits 130."""
    from krakenbot.cli.backtest_cmd import run_backtest_command

    run_backtest_command(_load(config), data=data, start=start, end=end, out=out, step=step_every_candle,
                         verbose=verbose, allow_missing=allow_missing)


MaxTicks = Annotated[int | None, typer.Option("--max-ticks", help="Stop after this many fast ticks (rehearsals).")]


@app.command()
def paper(config: ConfigOption = None, max_ticks: MaxTicks = None) -> None:
    """Trade on live Kraken market data with simulated fills (no keys needed).

    Writes its own store (store.paper_url; default: the live SQLite file with a -paper suffix), never
    the live one; the simulated account starts flat each run."""
    from krakenbot.cli.live_cmd import run_loop

    run_loop(_load(config), paper=True, max_ticks=max_ticks)


@app.command()
def live(
    config: Annotated[Path, typer.Option("--config", "-c", help="YAML config file.")] = Path("config/live.yaml"),
    force: Annotated[bool, typer.Option(
        "--force", help="Skip the confirmation that real money is at stake.")] = False,
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


@app.command()
def optimize(
    space: Annotated[Path, typer.Option(
        help="Search space YAML: one entry per dotted config path, e.g. "
             "'strategy.params.fast_span: {low: 10, high: 30}' or 'risk.max_leverage: {choices: [2, 3, 5]}'.")],
    config: ConfigOption = None,
    data: Annotated[Path | None, typer.Option(
        help="Folder of recorded candles; default: backtest.data, else the shipped demo. With --scheduler the "
             "workers read it at the same path.")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Finished trials wanted in the study (a resumed study "
                                                    "runs only the missing ones).")] = 100,
    folds: Annotated[int, typer.Option(min=1, help="Walk-forward folds.")] = 3,
    fold_mode: Annotated[str, typer.Option(
        "--fold-mode", help="anchored (in-sample from the data's start) or rolling.")] = "anchored",
    objective: Annotated[str, typer.Option(
        help="sharpe, return_over_drawdown or total_return (net of fees and funding).")] = "sharpe",
    min_trades: Annotated[int, typer.Option("--min-trades", min=0, help="Fewer trades in a fold are penalised.")] = 5,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes of the local Dask cluster; default: the CPU count.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run on an existing Dask cluster, e.g. tcp://HOST:8786, instead of a local one.")] = None,
    storage: Annotated[str | None, typer.Option(
        help="Optuna storage URL; default: beside store.url (krakenbot-studies.db, or the PostgreSQL schema "
             "krakenbot_studies).")] = None,
    study: Annotated[str | None, typer.Option(
        help="Study name (resumed when it exists); default: <config stem>-<space stem>.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the TPE sampler.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Report folder; default: reports/study-<name>.")] = None,
) -> None:
    """Tune a config's parameters: walk-forward backtests of the real loop, Optuna TPE, trials on Dask.

    Writes report.html (with the overfitting verdict), best.yaml and trials.csv. Ctrl-C abandons the trials
    in flight; the same command resumes and runs them again."""
    from krakenbot.cli.optimize_cmd import OptimizeOptions, run_optimize_command

    if fold_mode not in ("anchored", "rolling"):
        typer.echo(f"--fold-mode: expected anchored or rolling, got {fold_mode!r}", err=True)
        raise typer.Exit(2)
    options = OptimizeOptions(config_path=config, space=space, data=data, trials=trials, folds=folds,
                              fold_mode="anchored" if fold_mode == "anchored" else "rolling", objective=objective,
                              min_trades=min_trades, workers=workers, scheduler=scheduler, storage=storage,
                              study=study, seed=seed, out=out)
    run_optimize_command(_load(config), options)


symbols_cmd.register(app)
status_cmd.register(app)


def main() -> None:
    """Console-script entry point."""
    app()

"""``optimize``: a walk-forward study of a config's parameters on Optuna, trials on Dask (``research/study.py``).

Exit codes: 0 done (report written), 2 bad input (config, search space, data, storage), 130 Ctrl-C (the
batch in flight is abandoned in the storage: the same command resumes the study and asks it again).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import typer

from krakenbot.cli.backtest_cmd import INTERRUPTED, data_line
from krakenbot.config import AppConfig
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.domain.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimizeOptions:
    """The command's options as given (None: the default named in ``run.py optimize --help``)."""

    config_path: Path | None
    space: Path
    data: Path | None = None
    trials: int = 100
    folds: int = 3
    fold_mode: Literal["anchored", "rolling"] = "anchored"
    objective: str = "sharpe"
    min_trades: int = 5
    workers: int | None = None
    scheduler: str | None = None
    storage: str | None = None
    study: str | None = None
    seed: int = 0
    out: Path | None = None


def default_study_name(options: OptimizeOptions) -> str:
    """``<config stem>-<space stem>``: rerunning the same command resumes the same study."""
    config = options.config_path.stem if options.config_path is not None else "default"
    return f"{config}-{options.space.stem}"


@contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[int, int, float | None], None]]:
    """A rich bar (trials done, best so far, ETA) on a terminal outside CI; silent otherwise."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from krakenbot.progress import should_show

    if not should_show():
        def silent(done: int, wanted: int, best: float | None) -> None:
            return None

        yield silent
        return
    progress = Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=Console(stderr=True))
    with progress:
        task = progress.add_task("trials", total=total, best="-")

        def update(done: int, wanted: int, best: float | None) -> None:
            progress.update(task, completed=done, total=wanted, best="-" if best is None else f"{best:.4g}")

        yield update


def run_optimize_command(cfg: AppConfig, options: OptimizeOptions) -> None:
    """Run (or resume) the study, write its report, print the winner and the verdict. Exits 2 on bad input."""
    import optuna

    from krakenbot.logs import setup_logging
    from krakenbot.research.report import write_study_report
    from krakenbot.research.space import SearchSpace
    from krakenbot.research.storage import study_storage_url
    from krakenbot.research.study import StudyPlan, dask_client, run_study
    from krakenbot.store.engine import safe_url

    setup_logging("WARNING", file=cfg.logging.file, max_bytes=cfg.logging.max_bytes,
                  backup_count=cfg.logging.backup_count)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    name = options.study or default_study_name(options)
    folder = options.data or cfg.backtest.data or DEMO_DATA_DIR
    target = options.out or Path("reports") / f"study-{name}"
    try:
        storage = options.storage or study_storage_url(cfg.store.url)
        plan = StudyPlan(cfg=cfg, space=SearchSpace.load(options.space, cfg=cfg), data=folder, storage=storage,
                         study_name=name, trials=options.trials, folds=options.folds, fold_mode=options.fold_mode,
                         objective=options.objective, min_trades=options.min_trades, seed=options.seed)
        typer.echo(f"data: {data_line(folder)}")
        typer.echo(f"study: {name} in {safe_url(storage)} (watch it: optuna-dashboard '{safe_url(storage)}')")
        with dask_client(workers=options.workers, scheduler=options.scheduler) as client, \
                _progress_bar(options.trials) as on_progress:
            result = run_study(plan, client, on_progress=on_progress)
        paths = write_study_report(result, target)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        typer.echo(f"{exc.filename}: not found", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("", err=True)
        typer.echo(f"interrupted: the batch in flight is abandoned in {name}; rerun the same command to resume "
                   "(it asks that batch again; no report written)", err=True)
        raise typer.Exit(INTERRUPTED) from None
    from krakenbot.research.report import verdict_line

    typer.echo(f"trials run now: {result.ran}, in the study: {len(result.trials)} ({result.seconds:.1f} s)")
    typer.echo(f"best: trial {result.best.number}, in-sample {result.objective} {result.best.value:.6g}")
    for key, value in result.best.params.items():
        typer.echo(f"  {key}: {value}")
    typer.echo(f"verdict: {verdict_line(result)}")
    typer.echo(f"report: {paths['report.html']}")
    typer.echo(f"best config: {paths['best.yaml']} (python run.py backtest --config {paths['best.yaml']})")
    sys.stdout.flush()

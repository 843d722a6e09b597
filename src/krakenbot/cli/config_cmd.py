"""``config check FILE`` and ``config reference``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from krakenbot.config import AppConfig, load_config
from krakenbot.config.reference import reference_markdown
from krakenbot.domain.errors import ConfigError
from krakenbot.strategy.loader import strategy_params_model

config_app = typer.Typer(help="Check a configuration file or print the configuration reference.",
                         no_args_is_help=True, rich_markup_mode=None)


def load_or_exit(path: Path) -> AppConfig:
    """Load ``path`` (strategy params checked by the strategy's own model) or print every problem and exit 2."""
    try:
        return load_config(path, strategy_params=strategy_params_model)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None


@config_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="YAML config file to check.")]) -> None:
    """Print OK, or every problem with its YAML path and line (exit code 2)."""
    load_or_exit(file)
    typer.echo("OK")


@config_app.command("reference")
def reference() -> None:
    """Print the configuration reference (Markdown) generated from the typed models."""
    typer.echo(reference_markdown())

"""Load the configured strategy class by dotted path, with its params validated by the class itself."""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from typing import Any

from pydantic import BaseModel, ValidationError

from krakenbot.config.loader import short_repr
from krakenbot.config.models import StrategyConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.strategy.base import Strategy


def resolve_strategy_class(class_path: str) -> type[Strategy[Any]]:
    """Import ``'package.module:ClassName'`` and check it is a ``Strategy`` subclass.

    Raises ``ConfigError`` naming ``strategy.class_path`` when the module cannot be imported,
    the class is missing, or it is not a concrete ``Strategy`` with a pydantic ``params_model``.
    """
    module_name, sep, class_name = class_path.partition(":")
    if not sep or not module_name or not class_name:
        raise ConfigError(f"strategy.class_path: '{class_path}' must look like 'package.module:ClassName'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = _did_you_mean(module_name, _sibling_modules(module_name))
        raise ConfigError(f"strategy.class_path: cannot import module '{module_name}': {exc}{hint}") from exc
    except Exception as exc:  # a user's module that fails while importing
        raise ConfigError(f"strategy.class_path: importing module '{module_name}' failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        names = [name for name, value in vars(module).items() if inspect.isclass(value) and issubclass(value, Strategy)]
        raise ConfigError(f"strategy.class_path: module '{module_name}' has no class '{class_name}'"
                          + _did_you_mean(class_name, names))
    if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
        raise ConfigError(f"strategy.class_path: '{class_path}' is not a subclass of krakenbot.strategy.base.Strategy")
    if inspect.isabstract(cls):
        raise ConfigError(f"strategy.class_path: '{class_path}' is abstract (implement warmup_bars and compute)")
    model = getattr(cls, "params_model", None)
    if not (inspect.isclass(model) and issubclass(model, BaseModel)):
        raise ConfigError(f"strategy.class_path: '{class_path}' has no pydantic params_model")
    return cls


def strategy_params_model(class_path: str) -> type[BaseModel]:
    """The params model of the strategy ``class_path`` names (for ``load_config(strategy_params=...)``)."""
    return resolve_strategy_class(class_path).params_model


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _sibling_modules(module_name: str) -> list[str]:
    """Modules beside ``module_name`` in its parent package (none when the parent cannot be imported)."""
    parent = module_name.rpartition(".")[0]
    try:
        package = importlib.import_module(parent) if parent else None
    except Exception:  # only a hint: a parent package that fails to import gives none
        return []
    paths = getattr(package, "__path__", None)
    if paths is None:
        return []
    return [f"{parent}.{info.name}" for info in pkgutil.iter_modules(paths)]


def validate_strategy_params(cls: type[Strategy[Any]], params: dict[str, Any]) -> BaseModel:
    """Validate ``params`` with ``cls.params_model``; raise ``ConfigError`` with one
    ``strategy.params.<key>: <problem>`` line per problem."""
    try:
        return cls.params_model.model_validate(params)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err["loc"])
            path = f"strategy.params.{where}" if where else "strategy.params"
            detail = "unknown parameter" if err["type"] == "extra_forbidden" else err["msg"]
            got = f" (got {short_repr(err['input'])})" if err["type"] != "missing" and where else ""
            problems.append(f"{path}: {detail}{got}")
        raise ConfigError(problems) from exc


def load_strategy(cfg: StrategyConfig) -> Strategy[Any]:
    """Build the strategy ``cfg`` names, with validated params and ``cfg.timeframe``.

    Raises ``ConfigError`` naming ``strategy.class_path`` or ``strategy.params.<key>``.
    """
    cls = resolve_strategy_class(cfg.class_path)
    params = validate_strategy_params(cls, dict(cfg.params))
    try:
        return cls(params, timeframe=cfg.timeframe)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"strategy.class_path: cannot construct '{cfg.class_path}': {exc}") from exc

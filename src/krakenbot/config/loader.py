"""Load a YAML file into ``AppConfig``, or explain every problem with its YAML path and line.

A bad file fails as a whole (``ConfigError`` with one line per problem); nothing is
half-applied. Unknown keys suggest the nearest valid key.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from krakenbot.config.models import AppConfig
from krakenbot.config.paths import anchor_paths
from krakenbot.domain.errors import ConfigError

Loc = tuple[int | str, ...]


def load_config(path: Path | str) -> AppConfig:
    """Read and validate ``path``; relative paths written in it are relative to its folder.

    Raise ``ConfigError`` listing every problem found."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a directory" if path.is_dir() else "no such file"
        raise ConfigError(f"{path}: cannot read config ({hint}); pass a YAML file such as config/live.example.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    return anchor_paths(parse_config(text, source=str(path)), path.parent)


def parse_config(text: str, *, source: str = "<config>") -> AppConfig:
    """Validate YAML ``text``; ``source`` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{where}: not valid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (risk:, strategy:, ...), "
                          f"got {type(data).__name__}")
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        problems = sorted((_describe(err, root, source) for err in exc.errors()), key=_line_key)
        raise ConfigError([text for _, text in problems]) from exc


def _line_key(problem: tuple[int, str]) -> int:
    return problem[0]


def _describe(err: ErrorDetails, root: yaml.Node | None, source: str) -> tuple[int, str]:
    loc: Loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
        fields = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        elif fields:
            message += f"; valid keys here: {', '.join(sorted(fields))}"
    elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        message = f"{bounds_text(loc, kind)}, got {value!r}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in {"value_error", "assertion_error"}:
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    else:
        message = err["msg"].replace("Input should be", "must be") + f", got {value!r}"
    line = _line_of(root, loc, key=kind == "extra_forbidden")
    where = f"  ({source}, line {line})" if line is not None else f"  ({source})"
    return (line or 0), f"{path}: {message}{where}"


def model_for(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) is not None else ():
        found = model_for(arg)
        if found is not None:
            return found
    return None


def _field_at(loc: Loc) -> tuple[type[BaseModel] | None, Any]:
    """Walk ``AppConfig`` along ``loc``; return (model holding the last key, its FieldInfo)."""
    model: type[BaseModel] | None = AppConfig
    info: Any = None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None, None
        info = model.model_fields[part]
        holder = model
        model = model_for(info.annotation)
    return holder if loc else None, info


def _fields_at(loc: Loc) -> list[str]:
    if not loc:
        return list(AppConfig.model_fields)
    _, info = _field_at(loc)
    model = model_for(info.annotation) if info is not None else None
    return list(model.model_fields) if model is not None else []


_SYMBOLS = {annotated_types.Gt: ">", annotated_types.Ge: ">=", annotated_types.Lt: "<", annotated_types.Le: "<="}


def bounds_text(loc: Loc, kind: str) -> str:
    _, info = _field_at(loc)
    parts: list[str] = []
    for meta in getattr(info, "metadata", []):
        for cls, symbol in _SYMBOLS.items():
            if isinstance(meta, cls):
                parts.append(f"{symbol} {_fmt(_bound_value(meta))}")
    if not parts:
        return {"greater_than": "too small", "greater_than_equal": "too small"}.get(kind, "too large")
    return "must be " + " and ".join(parts)


def _bound_value(meta: Any) -> Any:
    for name in ("gt", "ge", "lt", "le"):
        if hasattr(meta, name):
            return getattr(meta, name)
    return meta


def _fmt(number: Any) -> str:
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return str(int(number))
    return str(number)


def _line_of(root: yaml.Node | None, loc: Sequence[int | str], *, key: bool) -> int | None:
    """1-based line of the node at ``loc`` (of its key when ``key``); the nearest parent otherwise."""
    node = root
    line = root.start_mark.line + 1 if root is not None else None
    for i, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                return line
            key_node, node = match
            last = i == len(loc) - 1
            line = (key_node if key and last else node).start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line

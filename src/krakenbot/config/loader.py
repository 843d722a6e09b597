"""Load a YAML file into ``AppConfig``, or explain every problem with its YAML path and line.

A bad file fails as a whole (``ConfigError`` with one line per problem); nothing is
half-applied. Unknown keys suggest the nearest valid key.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from krakenbot.config.models import AppConfig, StrategyConfig
from krakenbot.config.paths import anchor_paths
from krakenbot.domain.errors import ConfigError

Loc = tuple[int | str, ...]
ParamsModelOf = Callable[[str], type[BaseModel]]


def load_config(path: Path | str, *, strategy_params: ParamsModelOf | None = None) -> AppConfig:
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
    return anchor_paths(parse_config(text, source=str(path), strategy_params=strategy_params), path.parent)


def parse_config(text: str, *, source: str = "<config>", strategy_params: ParamsModelOf | None = None) -> AppConfig:
    """Validate YAML ``text``; ``source`` names it in error messages.

    ``strategy_params`` maps ``strategy.class_path`` to the strategy's params model (raising ``ConfigError``
    naming ``strategy.class_path``); when given, ``strategy.params`` is validated by that model too."""
    data, root = read_yaml(text, source=source)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections (risk:, strategy:, ...), "
                          f"got {type(data).__name__}")
    problems: list[tuple[int, str]] = []
    cfg: AppConfig | None = None
    try:
        cfg = AppConfig.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(err, root, source) for err in exc.errors()]
    if strategy_params is not None:
        problems += _strategy_problems(data.get("strategy"), strategy_params, root, source)
    if problems or cfg is None:
        raise ConfigError([text for _, text in sorted(problems, key=_line_key)])
    return cfg


def read_yaml(text: str, *, source: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML ``text`` into (plain data, node tree); the tree gives lines to :func:`line_of`.

    Raise ``ConfigError`` naming ``source`` with the line and column of a syntax error, or when aliases
    expand the document beyond ``MAX_YAML_NODES`` nodes."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        _refuse_alias_bombs(root, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}{at}: not valid YAML: {problem}") from exc
    return data, root


def _strategy_problems(section: Any, params_model_of: ParamsModelOf, root: yaml.Node | None,
                       source: str) -> list[tuple[int, str]]:
    """Problems of ``strategy.class_path`` and ``strategy.params`` (checked by the strategy's params model)."""
    try:
        strategy = StrategyConfig.model_validate(section if isinstance(section, dict) else {})
    except ValidationError:
        return []  # already reported by AppConfig's validation
    try:
        model = params_model_of(strategy.class_path)
    except ConfigError as exc:
        line = line_of(root, ("strategy", "class_path"), key=False)
        return [(line or 0, f"{problem}{where(source, line)}") for problem in exc.problems]
    try:
        model.model_validate(strategy.params)
    except ValidationError as exc:
        return [_describe(err, root, source, model=model, prefix=("strategy", "params")) for err in exc.errors()]
    return []


MAX_YAML_NODES = 10_000  # a config file has a few hundred; aliases must not expand beyond this


def _refuse_alias_bombs(root: yaml.Node | None, source: str) -> None:
    """Raise ``ConfigError`` if aliases expand the document beyond ``MAX_YAML_NODES`` nodes or refer to themselves.

    Sizes are memoised per node, so the check is linear in the written file, not in the expansion."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise ConfigError(f"{source}, line {node.start_mark.line + 1}: a YAML alias refers to itself")
        open_nodes.add(id(node))
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(id(node))
        sizes[id(node)] = total = min(total, MAX_YAML_NODES + 1)
        if total > MAX_YAML_NODES:
            raise ConfigError(f"{source}, line {node.start_mark.line + 1}: YAML aliases expand this value to more "
                              f"than {MAX_YAML_NODES} nodes; write the values out instead of nesting aliases")
        return total

    if root is not None:
        size(root)


def _line_key(problem: tuple[int, str]) -> int:
    return problem[0]


def where(source: str, line: int | None) -> str:
    """The ``  (FILE, line N)`` suffix of a problem line (``  (FILE)`` when the line is unknown)."""
    return f"  ({source}, line {line})" if line is not None else f"  ({source})"


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr`` of ``value``, bounded in work and cut to ``limit`` characters."""
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


def _describe(err: ErrorDetails, root: yaml.Node | None, source: str, *,
              model: type[BaseModel] = AppConfig, prefix: Loc = ()) -> tuple[int, str]:
    """One line for ``err``; its ``loc`` is inside ``model``, which sits at ``prefix`` in the file."""
    loc: Loc = tuple(err["loc"])
    path = ".".join(str(p) for p in prefix + loc) or "(top level)"
    kind = err["type"]
    value = short_repr(err.get("input"))
    if kind == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
        fields = _fields_at(loc[:-1], model)
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        elif fields:
            message += f"; valid keys here: {', '.join(sorted(fields))}"
    elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        message = f"{bounds_text(loc, kind, model)}, got {value}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in {"value_error", "assertion_error"}:
        message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    else:
        message = err["msg"].replace("Input should be", "must be") + f", got {value}"
    line = line_of(root, prefix + loc, key=kind == "extra_forbidden")
    return (line or 0), f"{path}: {message}{where(source, line)}"


def model_for(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) is not None else ():
        found = model_for(arg)
        if found is not None:
            return found
    return None


def _field_at(loc: Loc, root: type[BaseModel] = AppConfig) -> tuple[type[BaseModel] | None, Any]:
    """Walk ``root`` along ``loc``; return (model holding the last key, its FieldInfo)."""
    model: type[BaseModel] | None = root
    info: Any = None
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None, None
        info = model.model_fields[part]
        holder = model
        model = model_for(info.annotation)
    return holder if loc else None, info


def _fields_at(loc: Loc, root: type[BaseModel] = AppConfig) -> list[str]:
    if not loc:
        return list(root.model_fields)
    _, info = _field_at(loc, root)
    model = model_for(info.annotation) if info is not None else None
    return list(model.model_fields) if model is not None else []


_SYMBOLS = {annotated_types.Gt: ">", annotated_types.Ge: ">=", annotated_types.Lt: "<", annotated_types.Le: "<="}


def bounds_text(loc: Loc, kind: str, root: type[BaseModel] = AppConfig) -> str:
    _, info = _field_at(loc, root)
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


def line_of(root: yaml.Node | None, loc: Sequence[int | str], *, key: bool) -> int | None:
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

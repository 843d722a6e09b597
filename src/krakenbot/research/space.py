"""The search space of ``optimize``: a YAML file of config keys and the values a trial may give them.

One entry per dotted config path, flat or nested (both name ``strategy.params.fast_span``)::

    strategy.params.fast_span: {low: 10, high: 30}           # integers: both bounds are integers
    strategy.params.min_spread_atr: {low: 0.1, high: 2.0, step: 0.1}
    risk.risk_per_trade_pct: {low: 0.002, high: 0.02, log: true}
    risk.max_leverage: {choices: [2, 3, 5]}
    auction:
      replace_score_margin: {low: 0.0, high: 1.0}

A range is ``{low, high}`` (inclusive; ``low <= high``) with an optional ``step`` (the values are ``low``,
``low + step``, ... up to ``high``, which must be on that grid) or ``log: true`` (sampled uniformly in log
space; ``low > 0``; no ``step``). Both bounds integers means integer values (``step`` an integer too); a
float bound means float values. ``choices`` is a list of distinct scalars (numbers, strings, booleans,
null). Searchable keys: ``strategy.params.*`` (checked by the strategy's own params model), ``risk.*``
(the ShockGuard keys are ``risk.shock_*`` and friends) and ``auction.*``. Fees, slippage, the data and the
loop are facts about the market and the venue, not knobs to tune, so they are refused.

Every problem is reported at once with its YAML line, in the words ``config check`` uses: an unknown key
(with the nearest valid one), a bound or choice outside the model's bounds, an integer key given float
bounds, a malformed range. ``strategy.params`` keys need the strategy, so they are checked when the space
is loaded with the config (``SearchSpace.load(path, cfg=cfg)``) or by :meth:`SearchSpace.check`. Each value
is checked alone against its field; constraints between keys (the trend strategy's ``fast_span <
slow_span``) are checked on the whole config by :meth:`SearchSpace.apply`, which raises ``ConfigError`` for
a combination the config refuses (a runner records such a trial as failed, never scores it). The Optuna
parameter of a key is named by its dotted path.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from krakenbot.config.loader import bounds_text, line_of, read_yaml, short_repr, where
from krakenbot.config.models import AppConfig, AuctionConfig, RiskConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.strategy.loader import resolve_strategy_class, strategy_params_model, validate_strategy_params

Kind = Literal["int", "float", "categorical"]
SECTIONS: dict[str, type[BaseModel]] = {"risk": RiskConfig, "auction": AuctionConfig}
"""Config sections whose every key may be searched (``strategy.params`` is checked by the strategy's model)."""
PARAMS_PREFIX = ("strategy", "params")
MAX_CORNERS = 1 << 16
SPEC_KEYS = frozenset({"low", "high", "step", "log", "choices"})
_PATHS_HINT = "searchable keys are strategy.params.<name>, risk.<name> (ShockGuard's included) and auction.<name>"


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One searched key. ``path``: dotted config path (the Optuna parameter name); ``line``: its YAML line.

    ``kind`` 'int' and 'float' use ``low``, ``high``, ``step`` (None: continuous or every integer) and
    ``log``; 'categorical' uses ``choices``."""

    path: str
    kind: Kind
    line: int | None = None
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def loc(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """The searched keys in file order; ``source`` names the file in error messages."""

    params: tuple[Param, ...]
    source: str = "<space>"
    _by_path: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_path", {p.path: p for p in self.params})
        if len(self._by_path) != len(self.params):
            raise ValueError("SearchSpace: a path appears twice")

    @classmethod
    def load(cls, path: Path, *, cfg: AppConfig | None = None) -> SearchSpace:
        """Read and check the space file ``path``. ``strategy.params`` keys are checked against the params
        model of ``cfg``'s strategy; without ``cfg`` they are checked later, by :meth:`check` (with their
        lines) or :meth:`apply`: pass the config to have every problem at load.

        Raise ``ConfigError`` listing every problem with its YAML line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the search space: {exc}") from exc
        return cls.parse(text, source=str(path), cfg=cfg)

    @classmethod
    def parse(cls, text: str, *, source: str = "<space>", cfg: AppConfig | None = None) -> SearchSpace:
        """:meth:`load` on YAML ``text``; ``source`` names it in error messages."""
        data, root = read_yaml(text, source=source)
        if not isinstance(data, dict) or not data:
            raise ConfigError(f"{source}: a search space is a mapping of config paths to ranges, e.g. "
                              "'strategy.params.fast_span: {low: 10, high: 30}'")
        problems: list[tuple[int, str]] = []
        params: list[Param] = []
        seen: dict[str, int | None] = {}
        for loc, spec in _entries(data, ()):
            dotted = ".".join(loc)
            line = line_of(root, loc, key=True)
            if dotted in seen:
                problems.append((line or 0, f"{dotted}: given twice (first at line {seen[dotted]})"
                                            f"{where(source, line)}"))
                continue
            seen[dotted] = line
            param, errors = _param(dotted, spec, line)
            problems += [(line or 0, f"{dotted}: {e}{where(source, line)}") for e in errors]
            if param is not None:
                params.append(param)
        space = cls(tuple(params), source)
        problems += space._field_problems(cfg)
        if problems:
            raise ConfigError([p for _, p in sorted(problems, key=lambda p: p[0])])
        return space

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.params)

    def check(self, cfg: AppConfig) -> None:
        """Check every key and bound against ``cfg`` (its strategy's params model); raise ``ConfigError``
        with YAML lines. :meth:`load` does this with the config it is given."""
        problems = self._field_problems(cfg)
        if problems:
            raise ConfigError([p for _, p in sorted(problems, key=lambda p: p[0])])

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an ``optuna.Trial`` (anything with its ``suggest_*`` methods) for one value per key, in file
        order; the parameter names are the dotted paths. Returns ``{path: value}``."""
        values: dict[str, Any] = {}
        for p in self.params:
            if p.kind == "categorical":
                values[p.path] = trial.suggest_categorical(p.path, list(p.choices))
                continue
            assert p.low is not None and p.high is not None  # a range always has both (``_param``)
            if p.kind == "int":
                values[p.path] = trial.suggest_int(p.path, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
            else:
                values[p.path] = trial.suggest_float(p.path, float(p.low), float(p.high),
                                                     step=None if p.step is None else float(p.step), log=p.log)
        return values

    def apply(self, cfg: AppConfig, values: Mapping[str, Any]) -> AppConfig:
        """``cfg`` with ``values`` (``{dotted path: value}``, paths of this space) set, validated as a whole
        (the config models and the strategy's params model). ``cfg`` is not changed.

        Raise ``ConfigError`` naming the path for a path not in this space, and every problem of the
        resulting config (e.g. a combination breaking a constraint between keys)."""
        unknown = [path for path in values if path not in self._by_path]
        if unknown:
            raise ConfigError([f"{path}: not in the search space {self.source} ({', '.join(self.paths)})"
                               for path in unknown])
        data = cfg.model_dump()
        for path, value in values.items():
            node = data
            *parents, leaf = self._by_path[path].loc
            for key in parents:
                node = node[key]
            node[leaf] = value
        tried = ", ".join(f"{k}={short_repr(v)}" for k, v in values.items())
        try:
            new = AppConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError([f"{'.'.join(str(x) for x in err['loc'])}: {_message(err['msg'])} (trial values: {tried})"
                               for err in exc.errors()]) from exc
        try:
            validate_strategy_params(resolve_strategy_class(new.strategy.class_path), dict(new.strategy.params))
        except ConfigError as exc:
            raise ConfigError([f"{problem} (trial values: {tried})" for problem in exc.problems]) from exc
        return new

    def strategy_corners(self, cfg: AppConfig) -> list[AppConfig]:
        """``cfg`` with every combination of the ``strategy.params`` keys' extremes (``low`` and ``high``,
        or every choice), the combinations the config refuses left out: the configs whose warm-up bounds
        every trial's (``folds.max_warmup``) when a strategy's warm-up grows or shrinks steadily with each
        param, as the trend strategy's does. Just ``[cfg]`` when no strategy param is searched.

        Raises ``ConfigError`` (the first refusal's problems) when the config refuses every combination, and
        ValueError beyond ``MAX_CORNERS`` combinations."""
        searched = [p for p in self.params if p.loc[:2] == PARAMS_PREFIX]
        options = [list(p.choices) if p.kind == "categorical" else list(dict.fromkeys((p.low, p.high)))
                   for p in searched]
        count = math.prod(len(o) for o in options)
        if count > MAX_CORNERS:
            raise ValueError(f"{self.source}: {count} combinations of strategy.params extremes (at most {MAX_CORNERS})")
        corners: list[AppConfig] = []
        refused: list[ConfigError] = []
        for combo in itertools.product(*options):
            try:
                corners.append(self.apply(cfg, {p.path: v for p, v in zip(searched, combo, strict=True)}))
            except ConfigError as exc:
                refused.append(exc)
        if not corners and refused:
            raise ConfigError([f"{self.source}: the config refuses every combination of the strategy.params "
                               "bounds, so the warm-up cannot be bounded; first refusal:", *refused[0].problems])
        return corners

    def _field_problems(self, cfg: AppConfig | None) -> list[tuple[int, str]]:
        """Each param against its field: known key, value kind, bounds (``strategy.params`` only with ``cfg``)."""
        problems: list[tuple[int, str]] = []
        params_model: type[BaseModel] | None = None
        if cfg is not None and any(p.loc[:2] == PARAMS_PREFIX for p in self.params):
            try:
                params_model = strategy_params_model(cfg.strategy.class_path)
            except ConfigError as exc:
                return [(0, f"{problem}  ({self.source}: strategy.params keys cannot be checked)")
                        for problem in exc.problems]
        for p in self.params:
            if cfg is None and len(p.loc) == 3 and p.loc[:2] == PARAMS_PREFIX:
                continue  # checked by check(cfg) or apply, once the strategy is known
            at = where(self.source, p.line)
            model, name, section = _model_of(p.loc, params_model)
            if model is None:
                problems.append((p.line or 0, f"{p.path}: cannot be searched; {_PATHS_HINT}{at}"))
                continue
            if name not in model.model_fields:
                close = difflib.get_close_matches(name, list(model.model_fields), n=1, cutoff=0.6)
                hint = (f"; did you mean '{close[0]}'?" if close
                        else f"; valid keys here: {', '.join(model.model_fields)}")
                problems.append((p.line or 0, f"{p.path}: unknown key '{name}' in {section}{hint}{at}"))
                continue
            problems += [(p.line or 0, f"{p.path}: {e}{at}") for e in _value_problems(p, model, name)]
        return problems


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _entries(data: Mapping[Any, Any], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """(YAML location, spec) of every entry; a mapping whose keys include low/high/choices is a spec."""
    found: list[tuple[tuple[str, ...], Any]] = []
    for key, value in data.items():
        loc = (*prefix, str(key))
        if isinstance(value, dict) and value and not (set(map(str, value)) & SPEC_KEYS):
            found += _entries(value, loc)
        else:
            found.append((loc, value))
    return found


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _param(path: str, spec: Any, line: int | None) -> tuple[Param | None, list[str]]:
    """The Param of one entry, or the problems of its spec (shape only; the field is checked later)."""
    example = "write {low: A, high: B} (optional step: S or log: true) or {choices: [A, B, ...]}"
    if not isinstance(spec, dict):
        return None, [f"expected a range or choices, got {short_repr(spec)}; {example}"]
    extra = sorted(str(k) for k in spec if str(k) not in SPEC_KEYS)
    if extra:
        return None, [f"unknown range key(s) {', '.join(extra)}; {example}"]
    if "choices" in spec:
        if set(spec) != {"choices"}:
            return None, [f"choices goes alone (not with {', '.join(sorted(set(spec) - {'choices'}))}); {example}"]
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            return None, [f"choices must be a non-empty list, got {short_repr(choices)}"]
        bad = [c for c in choices if not (c is None or isinstance(c, bool | int | float | str))]
        if bad:
            return None, [f"choices must be numbers, strings, booleans or null, got {short_repr(bad[0])}"]
        if any(isinstance(c, float) and not math.isfinite(c) for c in choices):
            return None, ["choices must be finite numbers"]
        keyed = [(type(c).__name__, c) for c in choices]
        if len(set(keyed)) != len(keyed):
            return None, [f"choices repeat a value: {short_repr(choices)}"]
        return Param(path=path, kind="categorical", line=line, choices=tuple(choices)), []
    missing = [k for k in ("low", "high") if k not in spec]
    if missing:
        return None, [f"missing {' and '.join(missing)}; {example}"]
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    given = [("low", low), ("high", high)] + ([("step", step)] if step is not None else [])
    problems = [f"{name} must be a finite number, got {short_repr(v)}" for name, v in given
                if not _is_number(v) or not math.isfinite(v)]
    if not isinstance(log, bool):
        problems.append(f"log must be true or false, got {short_repr(log)}")
    if problems:
        return None, problems
    kind: Kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    if low > high:
        problems.append(f"low ({low}) is above high ({high})")
    if step is not None:
        if step <= 0:
            problems.append(f"step must be > 0, got {step}")
        elif kind == "int" and not isinstance(step, int):
            problems.append(f"step of an integer range must be an integer, got {step}")
        elif log:
            problems.append("step and log: true do not go together (Optuna samples a log range continuously)")
        elif low <= high and not _on_grid(high - low, step):
            problems.append(f"high ({high}) is not low ({low}) plus a whole number of steps ({step})")
    if log and low <= 0:
        problems.append(f"log: true needs low > 0, got {low}")
    if problems:
        return None, problems
    return Param(path=path, kind=kind, line=line, low=low, high=high, step=step, log=log), []


def _on_grid(width: float, step: float) -> bool:
    steps = width / step
    return abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))


def _model_of(loc: Sequence[str], params_model: type[BaseModel] | None) -> tuple[type[BaseModel] | None, str, str]:
    """(model holding the key, the key, the section's dotted name); no model for an unsearchable path."""
    if len(loc) == 3 and tuple(loc[:2]) == PARAMS_PREFIX:
        return params_model, loc[2], "strategy.params"
    if len(loc) == 2 and loc[0] in SECTIONS:
        return SECTIONS[loc[0]], loc[1], loc[0]
    return None, loc[-1], ".".join(loc[:-1])


def _value_problems(p: Param, model: type[BaseModel], name: str) -> list[str]:
    """Each bound (or choice) validated alone against the field's type and bounds."""
    info = model.model_fields[name]
    annotation: Any = info.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(Annotated[(annotation, *info.metadata)] if info.metadata else annotation)
    numeric = {int, float}
    types = set(get_args(info.annotation)) - {type(None)} or {info.annotation}
    problems: list[str] = []
    if p.kind != "categorical":
        if not types <= numeric:
            return [f"is not a number ({_type_name(info.annotation)}); give it {{choices: [...]}}"]
        if p.kind == "float" and int in types and float not in types:
            return [f"is an integer key: write integer bounds, got low {p.low} and high {p.high}"]
        values: list[tuple[str, Any]] = [("low", p.low), ("high", p.high)]
    else:
        values = [("choice", c) for c in p.choices]
    for label, value in values:
        try:
            adapter.validate_python(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            kind = err["type"]
            if kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
                message = bounds_text((name,), kind, model)
            else:
                message = err["msg"].replace("Input should be", "must be")
            problems.append(f"{label} {short_repr(value)} is refused by the config: {message}")
    return problems


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


"""STUB (OPT-B, to be replaced by OPT-A's research/space.py): the YAML search space, minimal.

``path: {low, high[, step][, log]}`` (integers when both bounds are integers) or ``path: {choices: [...]}``.
No model bounds check here: the real module refuses unknown keys and out-of-bounds ranges with the YAML line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import yaml

from krakenbot.config.models import AppConfig


@dataclass(frozen=True, slots=True)
class SearchSpace:
    entries: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, path: Path) -> SearchSpace:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls({str(k): dict(v) for k, v in data.items()})

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for path, spec in self.entries.items():
            if "choices" in spec:
                values[path] = trial.suggest_categorical(path, list(spec["choices"]))
            elif isinstance(spec["low"], int) and isinstance(spec["high"], int):
                values[path] = trial.suggest_int(path, spec["low"], spec["high"], step=spec.get("step", 1),
                                                 log=spec.get("log", False))
            else:
                values[path] = trial.suggest_float(path, float(spec["low"]), float(spec["high"]),
                                                   step=spec.get("step"), log=spec.get("log", False))
        return values

    def apply(self, cfg: AppConfig, values: Mapping[str, Any]) -> AppConfig:
        data = cfg.model_dump(mode="python")
        for path, value in values.items():
            node = data
            *parents, leaf = path.split(".")
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return AppConfig.model_validate(data)

"""Strategy loader: a user's class by dotted path, params validated, errors naming the YAML key."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakenbot.config.models import StrategyConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.strategy.loader import load_strategy
from krakenbot.strategy.trend import TrendParams, TrendStrategy

USER_MODULE = '''
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from krakenbot.strategy.base import SignalArrays, Strategy


class AlwaysLongParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stop_pct: float = Field(0.02, gt=0, lt=1)


class AlwaysLong(Strategy[AlwaysLongParams]):
    params_model = AlwaysLongParams
    name = "always_long"

    @property
    def warmup_bars(self) -> int:
        return 1

    def compute(self, candles):
        n = len(candles)
        return SignalArrays(side=np.ones(n, dtype=np.int8), score=np.ones(n),
                            stop_distance_pct=np.full(n, self.params.stop_pct), take_profit=np.full(n, np.nan))


class NotAStrategy:
    pass
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "kb_user_strategies.py").write_text(USER_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "kb_user_strategies"


def test_load_strategy_default_config_builds_trend_strategy_with_defaults() -> None:
    strategy = load_strategy(StrategyConfig())
    assert isinstance(strategy, TrendStrategy)
    assert strategy.params == TrendParams()
    assert strategy.timeframe == "1h"


def test_load_strategy_passes_validated_params_and_timeframe() -> None:
    strategy = load_strategy(StrategyConfig(timeframe="4h", params={"fast_span": 10, "slow_span": 30}))
    assert isinstance(strategy.params, TrendParams)
    assert (strategy.params.fast_span, strategy.params.slow_span) == (10, 30)
    assert strategy.timeframe == "4h"


def test_load_strategy_user_class_by_dotted_path(user_module: str) -> None:
    strategy = load_strategy(StrategyConfig(class_path=f"{user_module}:AlwaysLong", params={"stop_pct": 0.05}))
    assert type(strategy).__name__ == "AlwaysLong"
    assert strategy.params.stop_pct == 0.05  # type: ignore[attr-defined]


@pytest.mark.parametrize(("class_path", "fragment"), [
    ("no_such_module_kb:Thing", "cannot import module 'no_such_module_kb'"),
    ("krakenbot.strategy.trend:NoSuchClass", "has no class 'NoSuchClass'"),
    ("krakenbot.config.models:RiskConfig", "not a subclass"),
    ("krakenbot.strategy.base:Strategy", "abstract"),
])
def test_load_strategy_bad_class_path_raises_config_error_naming_class_path(class_path: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(StrategyConfig(class_path=class_path))
    assert str(info.value).startswith("strategy.class_path:")
    assert fragment in str(info.value)


def test_load_strategy_user_class_not_a_strategy_is_refused(user_module: str) -> None:
    with pytest.raises(ConfigError, match=r"strategy\.class_path: .*not a subclass"):
        load_strategy(StrategyConfig(class_path=f"{user_module}:NotAStrategy"))


@pytest.mark.parametrize(("params", "path"), [
    ({"fast_spam": 10}, "strategy.params.fast_spam: unknown parameter"),
    ({"fast_span": 1}, "strategy.params.fast_span:"),
    ({"stop_atr_mult": "wide"}, "strategy.params.stop_atr_mult:"),
    ({"fast_span": 60, "slow_span": 50}, "strategy.params: "),
])
def test_load_strategy_bad_params_raise_config_error_naming_the_key(params: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(StrategyConfig(params=params))
    assert any(problem.startswith(path) for problem in info.value.problems), info.value.problems


def test_load_strategy_lists_every_bad_param() -> None:
    with pytest.raises(ConfigError) as info:
        load_strategy(StrategyConfig(params={"fast_span": 0, "atr_period": 0}))
    assert len(info.value.problems) == 2

"""The search space: YAML checked against the config models with lines; suggest and apply."""

import pickle
import textwrap

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.config import AppConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.research.folds import max_warmup, warmup_span
from krakenbot.research.space import SearchSpace

EXAMPLE = """\
strategy.params.fast_span: {low: 10, high: 30}
strategy.params.slow_span: {low: 60, high: 120, step: 20}
risk.max_leverage: {choices: [2, 3, 5]}
risk:
  risk_per_trade_pct: {low: 0.002, high: 0.02, log: true}
auction.replace_score_margin: {low: 0.0, high: 1.0}
"""


def space_of(text: str, cfg: AppConfig | None = None) -> SearchSpace:
    return SearchSpace.parse(textwrap.dedent(text), source="space.yaml", cfg=cfg or AppConfig())


def problems_of(text: str, cfg: AppConfig | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        space_of(text, cfg)
    return info.value.problems


def test_load_reads_flat_and_nested_keys_with_kinds_in_file_order(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    space = SearchSpace.load(path, cfg=AppConfig())
    assert space.paths == ("strategy.params.fast_span", "strategy.params.slow_span", "risk.max_leverage",
                           "risk.risk_per_trade_pct", "auction.replace_score_margin")
    kinds = {p.path: p.kind for p in space.params}
    assert kinds == {"strategy.params.fast_span": "int", "strategy.params.slow_span": "int",
                     "risk.max_leverage": "categorical", "risk.risk_per_trade_pct": "float",
                     "auction.replace_score_margin": "float"}
    assert [p.line for p in space.params] == [1, 2, 3, 5, 6]


def test_unknown_key_is_refused_with_its_line_and_the_nearest_key():
    (problem,) = problems_of("risk.max_leverage: {choices: [2, 3]}\nstrategy.params.slow_spn: {low: 40, high: 90}\n")
    assert problem == ("strategy.params.slow_spn: unknown key 'slow_spn' in strategy.params; did you mean "
                       "'slow_span'?  (space.yaml, line 2)")


def test_range_outside_the_model_bounds_is_refused_with_the_bounds_and_line():
    (problem,) = problems_of("risk:\n  max_positions: {low: 1, high: 2}\n  max_leverage: {low: 2, high: 60}\n")
    assert problem == ("risk.max_leverage: high 60 is refused by the config: must be >= 1 and <= 50  "
                       "(space.yaml, line 3)")


def test_choice_outside_the_model_bounds_is_refused():
    (problem,) = problems_of("auction.min_hold_minutes: {choices: [30, -5]}\n")
    assert problem.startswith("auction.min_hold_minutes: choice -5 is refused by the config: must be >= 0")
    assert problem.endswith("(space.yaml, line 1)")


def test_strategy_param_bounds_come_from_the_strategys_own_model():
    (problem,) = problems_of("strategy.params.fast_span: {low: 1, high: 30}\n")
    assert problem == ("strategy.params.fast_span: low 1 is refused by the config: must be >= 2 and <= 500  "
                       "(space.yaml, line 1)")


def test_strategy_params_are_checked_against_the_configured_strategy():
    cfg = AppConfig.model_validate({"strategy": {"class_path": "krakenbot.strategy.ema_cross:EmaCrossStrategy"}})
    with pytest.raises(ConfigError, match="unknown key 'atr_period'"):
        space_of("strategy.params.atr_period: {low: 5, high: 20}\n", cfg)


def test_without_a_config_strategy_params_are_checked_by_check_and_apply():
    text = "strategy.params.stop_distance_pct: {low: 0.01, high: 0.05}\nrisk.max_positions: {low: 1, high: 3}\n"
    space = SearchSpace.parse(text, source="space.yaml")  # any strategy's params may be named here
    ema = AppConfig.model_validate({"strategy": {"class_path": "krakenbot.strategy.ema_cross:EmaCrossStrategy"}})
    space.check(ema)
    assert space.apply(ema, {"strategy.params.stop_distance_pct": 0.02}).strategy.params == {"stop_distance_pct": 0.02}
    with pytest.raises(ConfigError) as info:
        space.check(AppConfig())  # the trend strategy has no stop_distance_pct
    assert info.value.problems == ["strategy.params.stop_distance_pct: unknown key 'stop_distance_pct' in "
                                   "strategy.params; valid keys here: fast_span, slow_span, atr_period, "
                                   "min_spread_atr, stop_atr_mult, min_stop_pct, max_stop_pct, take_profit_atr_mult, "
                                   "score_cap, allow_short  (space.yaml, line 1)"]
    with pytest.raises(ConfigError, match=r"strategy.params.stop_distance_pct: unknown parameter"):
        space.apply(AppConfig(), {"strategy.params.stop_distance_pct": 0.02})


def test_every_problem_is_reported_in_file_order():
    problems = problems_of("""\
        fees.taker_fee_pct: {low: 0.0, high: 0.001}
        risk.max_positions: {low: 1.5, high: 3.0}
        risk.shock_guard_enabled: {low: 0, high: 1}
        auction.replace_score_margin: {low: 0.0, high: 1.0, log: true}
        risk.shock_move_pct: {low: 0.01, high: 0.05, step: 0.015}
        strategy.params.fast_span: {low: 30, high: 10}
        risk.max_leverage: [2, 3]
        strategy.timeframe: {choices: [15m, 1h]}
    """)
    assert [p.split(":")[0] for p in problems] == [
        "fees.taker_fee_pct", "risk.max_positions", "risk.shock_guard_enabled", "auction.replace_score_margin",
        "risk.shock_move_pct", "strategy.params.fast_span", "risk.max_leverage", "strategy.timeframe"]
    assert all(f"line {i}" in p for i, p in enumerate(problems, start=1))
    assert "cannot be searched" in problems[0]
    assert "integer key" in problems[1]
    assert "give it {choices: [...]}" in problems[2]
    assert "log: true needs low > 0" in problems[3]
    assert "whole number of steps" in problems[4]
    assert "low (30) is above high (10)" in problems[5]
    assert "expected a range or choices" in problems[6]


def test_shockguard_keys_and_booleans_are_searchable_as_choices():
    space = space_of("risk:\n  shock_guard_enabled: {choices: [true, false]}\n"
                     "  shock_move_pct: {low: 0.01, high: 0.05}\n")
    assert space.paths == ("risk.shock_guard_enabled", "risk.shock_move_pct")


def test_a_key_given_twice_is_refused():
    (problem,) = problems_of("risk.max_leverage: {choices: [2]}\nrisk:\n  max_leverage: {low: 2, high: 4}\n")
    assert problem.startswith("risk.max_leverage: given twice (first at line 1)")


def test_yaml_syntax_error_and_empty_file_are_refused():
    with pytest.raises(ConfigError, match=r"space.yaml, line \d+, column \d+: not valid YAML"):
        space_of("risk.max_leverage: {choices: [2,\n")
    with pytest.raises(ConfigError, match="a search space is a mapping"):
        space_of("")


def test_suggest_gives_values_of_each_kind_named_by_their_paths():
    space = space_of(EXAMPLE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(20):
        values = space.suggest(study.ask())
        assert list(values) == list(space.paths)
        assert isinstance(values["strategy.params.fast_span"], int) and 10 <= values["strategy.params.fast_span"] <= 30
        assert values["strategy.params.slow_span"] in {60, 80, 100, 120}
        assert values["risk.max_leverage"] in {2, 3, 5}
        assert 0.002 <= values["risk.risk_per_trade_pct"] <= 0.02


def test_apply_returns_a_validated_config_and_leaves_the_original_alone():
    cfg = AppConfig()
    space = space_of(EXAMPLE)
    new = space.apply(cfg, {"strategy.params.fast_span": 12, "risk.max_leverage": 5,
                            "auction.replace_score_margin": 0.5})
    assert new.strategy.params == {"fast_span": 12}
    assert new.risk.max_leverage == 5.0 and new.auction.replace_score_margin == 0.5
    assert cfg.risk.max_leverage == 3.0 and cfg.strategy.params == {}
    untouched = {"strategy", "risk", "auction"}
    assert new.model_dump(exclude=untouched) == cfg.model_dump(exclude=untouched)


def test_apply_refuses_a_combination_the_config_refuses_naming_the_values():
    space = space_of(EXAMPLE)
    with pytest.raises(ConfigError, match=r"fast_span \(30\) must be less than slow_span \(20\).*trial values"):
        space_of("strategy.params.slow_span: {low: 3, high: 20}\n").apply(
            AppConfig.model_validate({"strategy": {"params": {"fast_span": 30}}}), {"strategy.params.slow_span": 20})
    with pytest.raises(ConfigError, match="not in the search space"):
        space.apply(AppConfig(), {"risk.max_positions": 2})
    with pytest.raises(ConfigError) as info:
        space_of("risk.trim_buffer_pct: {low: 0.05, high: 0.3}\n").apply(AppConfig(), {"risk.trim_buffer_pct": 0.05})
    assert info.value.problems == ["risk: trim_buffer_pct (0.05) must be greater than emergency_buffer_pct (0.1): "
                                   "trimming starts before the emergency close "
                                   "(trial values: risk.trim_buffer_pct=0.05)"]


def test_strategy_corners_bound_the_warmup_of_every_trial():
    space = space_of(EXAMPLE)
    corners = space.strategy_corners(AppConfig())
    assert len(corners) == 4  # fast_span 10 or 30 x slow_span 60 or 120
    longest = max_warmup(corners)
    assert longest == warmup_span(space.apply(AppConfig(), {"strategy.params.slow_span": 120}))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(10):
        assert warmup_span(space.apply(AppConfig(), space.suggest(study.ask()))) <= longest


@settings(max_examples=60, deadline=None)
@given(low=st.integers(2, 400), width=st.integers(0, 99), lev=st.floats(1, 50))
def test_any_range_inside_the_model_bounds_loads_and_every_suggestion_applies(low, width, lev):
    text = (f"strategy.params.atr_period: {{low: {low}, high: {low + width}}}\n"
            f"risk.max_leverage: {{low: 1.0, high: {lev!r}}}\n")
    space = space_of(text)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=low)).ask()
    cfg = space.apply(AppConfig(), space.suggest(trial))
    assert low <= cfg.strategy.params["atr_period"] <= low + width
    assert 1.0 <= cfg.risk.max_leverage <= lev


def test_a_space_travels_to_dask_workers_by_pickle():
    space = space_of(EXAMPLE)
    copy = pickle.loads(pickle.dumps(space))
    assert copy == space
    assert copy.apply(AppConfig(), {"risk.max_leverage": 2}).risk.max_leverage == 2.0


def test_strategy_corners_refused_everywhere_are_an_error_not_a_zero_warmup():
    space = space_of("strategy.params.fast_span: {low: 60, high: 90}\n"
                     "strategy.params.slow_span: {low: 20, high: 50}\n")
    with pytest.raises(ConfigError, match=r"refuses every combination of the strategy\.params bounds"):
        space.strategy_corners(AppConfig())
    assert space_of("risk.max_positions: {low: 1, high: 3}\n").strategy_corners(AppConfig()) == [AppConfig()]

"""YAML loading: every problem is reported once, with its YAML path and line; nothing half-applied."""

import textwrap
from pathlib import Path

import pytest

from krakenbot.config import load_config, parse_config
from krakenbot.config.paths import DEFAULT_CONFIG_PATH
from krakenbot.domain.errors import ConfigError


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), source="cfg.yaml")
    return info.value.problems


def test_unknown_key_suggests_nearest_valid_key():
    (problem,) = problems_of("risk:\n  shock_move_pc: 0.02\n")
    assert problem.startswith("risk.shock_move_pc: unknown key")
    assert "did you mean 'shock_move_pct'?" in problem
    assert "line 2" in problem


def test_unknown_section_suggests_nearest_section():
    (problem,) = problems_of("risks:\n  max_positions: 2\n")
    assert "did you mean 'risk'?" in problem


def test_value_out_of_range_names_bounds_and_value():
    (problem,) = problems_of("risk:\n  max_leverage: 2\n  shock_move_pct: 2.5\n")
    assert problem == "risk.shock_move_pct: must be > 0 and < 1, got 2.5  (cfg.yaml, line 3)"


def test_wrong_type_names_path_and_value():
    (problem,) = problems_of("risk:\n  max_positions: five\n")
    assert problem.startswith("risk.max_positions: must be a valid integer")
    assert "'five'" in problem


def test_all_problems_reported_in_file_order():
    problems = problems_of("""\
        strategy:
          timeframe: 2h
        risk:
          max_positions: 0
          shock_move_pct: -1
    """)
    assert [p.split(":")[0] for p in problems] == ["strategy.timeframe", "risk.max_positions", "risk.shock_move_pct"]


def test_cross_field_problem_names_section():
    (problem,) = problems_of("risk:\n  emergency_buffer_pct: 0.3\n  trim_buffer_pct: 0.2\n")
    assert problem.startswith("risk: trim_buffer_pct (0.2) must be greater than emergency_buffer_pct (0.3)")


def test_yaml_syntax_error_gives_line():
    with pytest.raises(ConfigError, match=r"cfg.yaml, line \d+, column \d+: not valid YAML"):
        parse_config("risk:\n  max_positions: [1,\n", source="cfg.yaml")


def test_top_level_must_be_mapping():
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_config("- 1\n- 2\n", source="cfg.yaml")


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope.yaml: cannot read config \(no such file\)"):
        load_config(missing)


def test_empty_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path).risk.shock_move_pct == 0.025


def test_shipped_configs_are_valid():
    for path in (DEFAULT_CONFIG_PATH, Path(__file__).resolve().parents[2] / "config" / "live.example.yaml"):
        load_config(path)

"""`config check` refuses what would break the loop: non-finite or overflowing numbers, bad strategy params or
class paths (with line and suggestion), and YAML alias bombs (fast, with a short message)."""

import time

import pytest
from typer.testing import CliRunner

from krakenbot.cli import app


def check(tmp_path, body: str):
    path = tmp_path / "cfg.yaml"
    path.write_text(body)
    return CliRunner().invoke(app, ["config", "check", str(path)])


@pytest.mark.parametrize(("body", "expected"), [
    ("auction:\n  stale_signal_minutes: 1e308\n", "auction.stale_signal_minutes: must be > 0 and <= 525600"),
    ("logging:\n  candle_source_log_minutes: .inf\n", "logging.candle_source_log_minutes: must be a finite number"),
    ("risk:\n  max_position_notional_usd: .inf\n", "risk.max_position_notional_usd: must be a finite number"),
    ("risk:\n  min_notional_usd: .nan\n", "risk.min_notional_usd: must be a finite number"),
])
def test_numbers_must_be_finite_and_bounded(tmp_path, body, expected):
    result = check(tmp_path, body)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "line 2" in result.output


def test_strategy_param_typo_is_refused_with_line_and_suggestion(tmp_path):
    result = check(tmp_path, "strategy:\n  params:\n    fast_spam: 10\n")
    assert result.exit_code == 2, result.output
    assert "strategy.params.fast_spam: unknown key 'fast_spam'; did you mean 'fast_span'?" in result.output
    assert "line 3" in result.output


def test_strategy_cross_field_check_comes_from_its_params_model(tmp_path):
    result = check(tmp_path, "strategy:\n  params:\n    fast_span: 60\n    slow_span: 30\n")
    assert result.exit_code == 2, result.output
    assert "strategy.params: fast_span (60) must be less than slow_span (30)" in result.output
    assert "line 3" in result.output


@pytest.mark.parametrize(("class_path", "expected"), [
    ("krakenbot.strategy.trend:TrendStrategie", "did you mean 'TrendStrategy'?"),
    ("krakenbot.strategy.trnd:TrendStrategy", "did you mean 'krakenbot.strategy.trend'?"),
])
def test_bad_class_path_is_refused_with_line_and_suggestion(tmp_path, class_path, expected):
    result = check(tmp_path, f"strategy:\n  timeframe: 1h\n  class_path: '{class_path}'\n")
    assert result.exit_code == 2, result.output
    assert "strategy.class_path:" in result.output
    assert expected in result.output
    assert "line 3" in result.output


def test_strategy_params_of_another_class_are_checked_against_it(tmp_path):
    body = ("strategy:\n  class_path: krakenbot.strategy.ema_cross:EmaCrossStrategy\n"
            "  params:\n    stop_distance_pct: 2\n")
    result = check(tmp_path, body)
    assert result.exit_code == 2, result.output
    assert "strategy.params.stop_distance_pct: must be > 0 and < 1, got 2" in result.output
    assert "line 4" in result.output


def test_good_strategy_section_prints_ok(tmp_path):
    body = ("strategy:\n  class_path: krakenbot.strategy.ema_cross:EmaCrossStrategy\n"
            "  params:\n    fast_span: 5\n    slow_span: 10\n")
    result = check(tmp_path, body)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK"


BOMB = "\n".join([
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]",
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]",
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]",
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]",
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]",
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]",
    "risk:",
    "  max_positions: [*g,*g,*g,*g,*g,*g,*g,*g,*g]",
]) + "\n"


def test_alias_bomb_fails_fast_with_a_clear_message(tmp_path):
    assert len(BOMB) < 500
    started = time.perf_counter()
    result = check(tmp_path, BOMB)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, elapsed
    assert result.exit_code == 2, result.output
    assert "aliases" in result.output
    assert len(result.output) < 400, result.output


def test_error_messages_truncate_long_values(tmp_path):
    result = check(tmp_path, "risk:\n  max_positions: '" + "x" * 5000 + "'\n")
    assert result.exit_code == 2
    line = next(ln for ln in result.output.splitlines() if ln.startswith("risk.max_positions"))
    got = line.split(", got ", 1)[1].split("  (", 1)[0]
    assert len(got) <= 80, line
    assert "..." in got, line


def test_self_referring_alias_is_refused(tmp_path):
    result = check(tmp_path, "risk:\n  max_positions: &a [*a]\n")
    assert result.exit_code == 2, result.output
    assert "a YAML alias refers to itself" in result.output


def test_small_aliases_still_work(tmp_path):
    assert check(tmp_path, "universe:\n  deny: &none []\n  allow: *none\n").exit_code == 0
    assert check(tmp_path, "risk:\n  <<: &r {max_positions: 4}\nloop: {}\n").exit_code == 0

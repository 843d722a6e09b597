"""The pure candle checks: one candle's own values, and a signal candle against the futures mark."""

import math

import pytest

from krakenbot.data.candle_checks import candle_problem, check_spot_vs_mark, isolated_spikes


@pytest.mark.parametrize(("values", "word"), [
    pytest.param((100, 101, 99, 1e308, 1), "close", id="close-1e308"),
    pytest.param((100, 1e308, 99, 100, 1), "high", id="high-1e308"),
    pytest.param((100, 101, 99, math.nan, 1), "close", id="close-nan"),
    pytest.param((100, math.inf, 99, 100, 1), "high", id="high-inf"),
    pytest.param((0, 101, 99, 100, 1), "open", id="open-zero"),
    pytest.param((100, 101, -99, 100, 1), "low", id="low-negative"),
    pytest.param((100, 101, 1e-13, 100, 1), "low", id="low-below-plausible"),
    pytest.param((100, 99.5, 99, 100, 1), "high", id="high-below-close"),
    pytest.param((100, 101, 100.5, 100, 1), "low", id="low-above-open"),
    pytest.param((100, 101, 99, 100, -1), "volume", id="volume-negative"),
    pytest.param((100, 101, 99, 100, math.nan), "volume", id="volume-nan"),
    pytest.param((100, 101, 99, 100, math.inf), "volume", id="volume-inf"),
])
def test_candle_problem_names_the_bad_value(values, word):
    problem = candle_problem(*values)
    assert problem is not None and problem.startswith(word)


@pytest.mark.parametrize("values", [(100, 101, 99, 100, 0), (100, 100, 100, 100, 0), (1e-12, 1e12, 1e-12, 1e12, 1e30)])
def test_candle_problem_accepts_good_candles_and_the_plausible_bounds(values):
    assert candle_problem(*values) is None


@pytest.mark.parametrize(("close", "mark", "ok"), [
    (97_000.0, 97_000.0, True),
    (97_000.0 * 1.19, 97_000.0, True),  # within 20 %
    (97_000.0 * 0.81, 97_000.0, True),
    (97_000.0 * 0.1, 97_000.0, False),  # the candle: a tenth of the price, the mark unchanged
    (97_000.0 * 10, 97_000.0, False),
    (97_000.0 * 1.21, 97_000.0, False),
])
def test_check_spot_vs_mark_at_twenty_percent(close, mark, ok):
    verdict = check_spot_vs_mark(close=close, mark=mark, max_deviation_pct=0.2)
    assert verdict.ok is ok
    assert verdict.deviation == pytest.approx(abs(close / mark - 1))
    if not ok:
        assert verdict.reason is not None and "20.0%" in verdict.reason and f"{verdict.deviation:.1%}" in verdict.reason


def test_check_spot_vs_mark_divides_the_mark_by_the_contract_multiplier():
    assert check_spot_vs_mark(close=0.0013, mark=1300.0, max_deviation_pct=0.2, multiplier=1_000_000).ok
    assert not check_spot_vs_mark(close=0.0013, mark=1300.0, max_deviation_pct=0.2).ok


@pytest.mark.parametrize(("close", "mark"), [(math.nan, 100.0), (100.0, math.nan), (0.0, 100.0), (100.0, 0.0),
                                             (math.inf, 100.0), (100.0, -1.0)])
def test_check_spot_vs_mark_never_passes_what_it_cannot_compare(close, mark):
    verdict = check_spot_vs_mark(close=close, mark=mark, max_deviation_pct=1.0)
    assert not verdict.ok and verdict.deviation == math.inf


def test_isolated_spikes_are_prints_far_from_both_neighbours_that_agree_with_each_other():
    assert isolated_spikes([100, 101, 10, 102, 103], 0.2) == [2]  # a tenth between two agreeing closes
    assert isolated_spikes([100, 1000, 100], 0.2) == [1]  # and ten times
    assert isolated_spikes([100, 70, 65, 60], 0.2) == []  # a crash is a trend, not a spike: neighbours differ
    assert isolated_spikes([100, 10], 0.2) == []  # the ends have one neighbour: the mark judges the newest
    assert isolated_spikes([], 0.2) == [] and isolated_spikes([100, 119, 100], 0.2) == []

"""The overfitting verdict: noise winners among many trials are flagged, a planted real edge survives."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.research.overfit import (
    DSR_MIN,
    PBO_MAX,
    assess,
    deflated_sharpe,
    expected_max_sharpe,
    pbo,
    pbo_detail,
    probabilistic_sharpe,
    sharpe_ratio,
    sharpe_ratios,
    verdict,
)

DAYS = 730  # two years of daily returns
FEE = 0.0005  # per unit of position change, fraction of notional


def random_signal_study(seed: int, trials: int = 200) -> np.ndarray:
    """Daily net returns of ``trials`` strategies that go long, short or flat at random each day."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.02, DAYS)
    position = rng.choice([-1.0, 0.0, 1.0], size=(DAYS, trials))
    turnover = np.abs(np.diff(position, axis=0, prepend=0.0))
    return position * market[:, None] - FEE * turnover


def forecast_study(seed: int, *, informative: bool, trials: int = 100, noise: tuple[float, float] = (3.0, 9.0),
                   correlation: float = 0.8) -> np.ndarray:
    """A parameterised strategy: long or short on the sign of a forecast of today's return, the parameter
    setting how noisy the forecast is (``noise`` x the market's volatility, across the trials); the trials'
    forecast errors are ``correlation``-correlated (neighbouring parameters see the same data). With
    ``informative`` the forecast holds the true return (a real edge, strongest for the least noisy
    parameter); without, it is noise alone."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.02, DAYS)
    common, own = rng.normal(size=(DAYS, 1)), rng.normal(size=(DAYS, trials))
    error = math.sqrt(correlation) * common + math.sqrt(1 - correlation) * own
    forecast = (market[:, None] if informative else 0.0) + 0.02 * np.linspace(*noise, trials) * error
    position = np.sign(forecast)
    turnover = np.abs(np.diff(position, axis=0, prepend=0.0))
    return position * market[:, None] - FEE * turnover


@pytest.mark.parametrize("seed", range(10))
def test_the_winner_of_many_random_signal_strategies_is_flagged(seed):
    matrix = random_signal_study(seed)
    best = float(sharpe_ratios(matrix).max() * math.sqrt(365))
    assert best > 1.0  # the luckiest of 200 looks tradeable: an annualised Sharpe above 1 from pure noise
    result = assess(matrix)
    assert result.label == "likely overfit"
    assert result.dsr < DSR_MIN
    assert result.text.startswith("Likely overfit: the winner's deflated Sharpe ratio is")
    assert "200 trials" in result.text


@pytest.mark.parametrize("seed", range(10))
def test_the_winner_of_a_tuned_strategy_without_edge_is_flagged(seed):
    assert assess(forecast_study(seed, informative=False)).label == "likely overfit"


@pytest.mark.parametrize("seed", range(10))
def test_a_planted_real_edge_survives(seed):
    matrix = forecast_study(seed, informative=True, noise=(2.5, 7.5))
    result = assess(matrix)
    assert result.label == "survives", result.text
    assert result.dsr >= DSR_MIN and result.pbo < PBO_MAX
    assert result.text.startswith("Survives: the winner's deflated Sharpe ratio is")


def test_noise_is_flagged_at_least_95_percent_of_the_time():
    flagged = [assess(random_signal_study(seed, trials=50)).label == "likely overfit" for seed in range(100, 160)]
    assert sum(flagged) >= 0.95 * len(flagged)


def test_pbo_of_pure_noise_is_about_one_half_and_of_one_dominant_trial_about_zero():
    noise = [pbo(random_signal_study(seed, trials=40)) for seed in range(8)]
    assert 0.35 < float(np.mean(noise)) < 0.65
    matrix = random_signal_study(1, trials=40)
    matrix[:, 7] += 0.004  # a trial that earns 0.4 % a day more than noise, in every block
    assert pbo(matrix) < 0.05


def test_expected_max_sharpe_matches_the_mean_maximum_of_normal_draws():
    draws = np.random.default_rng(0).normal(size=(20_000, 100)).max(axis=1).mean()
    assert expected_max_sharpe(100, 1.0) == pytest.approx(draws, rel=0.02)
    assert expected_max_sharpe(100, 0.04) == pytest.approx(0.2 * expected_max_sharpe(100, 1.0))
    assert expected_max_sharpe(1, 0.5) == 0.0


def test_deflated_sharpe_with_one_trial_is_the_probabilistic_sharpe_ratio():
    returns = np.random.default_rng(4).normal(0.001, 0.01, 500)
    assert deflated_sharpe(returns, 1, 0.3) == probabilistic_sharpe(returns, 0.0)
    sr = sharpe_ratio(returns)
    assert probabilistic_sharpe(returns, 0.0) == pytest.approx(
        float(0.5 * (1 + math.erf(sr * math.sqrt(499) / math.sqrt(1 + sr**2 / 2) / math.sqrt(2)))), abs=0.02)


def test_degenerate_returns_show_nothing():
    assert deflated_sharpe(np.zeros(100), 10, 0.01) == 0.0
    assert deflated_sharpe(np.array([0.01]), 10, 0.01) == 0.0
    assert sharpe_ratio(np.full(10, 0.01)) == 0.0


def test_pbo_uses_fewer_blocks_on_short_records_and_none_below_four_periods():
    matrix = np.random.default_rng(2).normal(size=(13, 5))
    detail = pbo_detail(matrix, n_splits=16)
    assert (detail.n_splits, detail.periods_used, detail.logits.size) == (6, 12, 20)  # C(6, 3) = 20
    assert math.isnan(pbo(matrix[:3]))
    assert pbo_detail(np.random.default_rng(2).normal(size=(40, 5)), n_splits=16).n_splits == 16


@pytest.mark.parametrize(("matrix", "n_splits", "match"), [
    (np.zeros((40, 1)), 16, "at least 2 trials"),
    (np.zeros((40, 3)), 7, "even number"),
    (np.zeros(40), 16, "T periods x N trials"),
    (np.full((40, 3), np.nan), 16, "NaN or infinite"),
])
def test_pbo_refuses_bad_input_naming_it(matrix, n_splits, match):
    with pytest.raises(ValueError, match=match):
        pbo(matrix, n_splits)


def test_verdict_thresholds_and_unmeasured_figures():
    assert verdict(0.96, 0.1).label == "survives"
    assert verdict(DSR_MIN, 0.49).label == "survives"
    assert verdict(0.94, 0.1).label == "likely overfit"
    assert verdict(0.99, PBO_MAX).label == "likely overfit"
    unmeasured = verdict(0.99, math.nan)
    assert unmeasured.label == "likely overfit"
    assert "could not be measured" in unmeasured.text
    both = verdict(0.3, 0.7, n_trials=50)
    assert "0.30" in both.text and "0.70" in both.text and "50 trials" in both.text


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), periods=st.integers(4, 120), trials=st.integers(2, 12),
       splits=st.sampled_from([2, 4, 8, 16]), scale=st.integers(-6, 6))
def test_pbo_is_a_probability_unchanged_by_scaling_or_reordering_trials(seed, periods, trials, splits, scale):
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, 0.01, (periods, trials))
    value = pbo(matrix, splits)
    assert 0.0 <= value <= 1.0
    factors = 2.0 ** rng.integers(-scale if scale < 0 else 0, abs(scale) + 1, trials)  # exact in binary
    assert pbo(matrix * factors, splits) == value
    order = rng.permutation(trials)
    assert pbo(matrix[:, order], splits) == value


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mean=st.floats(-0.01, 0.01), n=st.integers(2, 1000),
       variance=st.floats(0.0, 0.05))
def test_deflated_sharpe_is_a_probability_falling_with_the_number_of_trials(seed, mean, n, variance):
    returns = np.random.default_rng(seed).standard_t(5, 300) * 0.01 + mean
    values = [deflated_sharpe(returns, k, variance) for k in (1, n, 2 * n)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values[0] >= values[1] >= values[2]
    assert deflated_sharpe(returns, n, variance) >= deflated_sharpe(returns, n, variance * 2 + 1e-6)

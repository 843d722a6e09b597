"""Trial objectives: read the net equity of the backtest; too few trades is a penalty, never a winner."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.backtest import make_backtest_result
from krakenbot.backtest.metrics import daily_returns, max_drawdown, sharpe, total_return
from krakenbot.research.objective import (
    DRAWDOWN_FLOOR,
    OBJECTIVES,
    PENALTY,
    is_penalised,
    period_returns,
    period_returns_series,
    periods_per_year,
    returns_matrix,
    score,
)


def test_objectives_are_the_backtests_own_net_figures():
    result = make_backtest_result(seed=7)
    equity = result.equity["equity_usd"].to_numpy()
    assert score(result, "sharpe", min_trades=1) == pytest.approx(sharpe(result.equity, result.initial_equity_usd))
    assert score(result, "total_return", min_trades=1) == pytest.approx(total_return(result))
    assert score(result, "return_over_drawdown", min_trades=1) == pytest.approx(
        total_return(result) / max_drawdown(equity, result.initial_equity_usd))


def test_total_return_is_net_of_the_fees_and_funding_the_trades_paid():
    # trades net of fees and funding sum to the equity change: the score is that net change
    pnls = [120.0, -45.5, 300.25]
    equity = [10_000.0, 10_120.0, 10_074.5, 10_374.75]
    result = make_backtest_result(equity_usd=equity, trade_pnls_usd=pnls)
    assert result.fees_usd > 0 and result.funding_usd > 0
    assert score(result, "total_return", min_trades=3) == pytest.approx(sum(pnls) / 10_000.0)


def test_too_few_trades_scores_below_any_real_score_and_more_trades_score_higher():
    losing = make_backtest_result(equity_usd=[10_000.0, 5_000.0, 100.0], trade_pnls_usd=[-4_000.0] * 5)
    idle_one = make_backtest_result(equity_usd=[10_000.0, 12_000.0], trade_pnls_usd=[2_000.0])
    idle_two = make_backtest_result(equity_usd=[10_000.0, 12_000.0], trade_pnls_usd=[1_000.0, 1_000.0])
    for objective in OBJECTIVES:
        real = score(losing, objective, min_trades=5)
        one, two = score(idle_one, objective, min_trades=5), score(idle_two, objective, min_trades=5)
        assert not is_penalised(real) and is_penalised(one) and is_penalised(two)
        assert PENALTY <= one < two < real
    assert not is_penalised(score(idle_one, "total_return", min_trades=0))


def test_a_curve_that_never_falls_is_divided_by_the_drawdown_floor():
    result = make_backtest_result(equity_usd=[10_000.0, 10_100.0, 10_200.0], trade_pnls_usd=[200.0])
    assert score(result, "return_over_drawdown", min_trades=1) == pytest.approx(0.02 / DRAWDOWN_FLOOR)


def test_unknown_objective_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="objective: expected one of sharpe, return_over_drawdown, total_return"):
        score(make_backtest_result(), "sortino", min_trades=0)


def test_daily_period_returns_are_the_ones_sharpe_uses():
    result = make_backtest_result(minutes=5 * 1440, step_minutes=15, seed=3)
    expected = daily_returns(result.equity, result.initial_equity_usd).to_numpy()
    np.testing.assert_allclose(period_returns(result), expected)
    assert len(period_returns(result)) == 5
    hourly = period_returns(result, "1h")
    assert len(hourly) == 5 * 24
    assert math.prod(1 + hourly) == pytest.approx(result.final_equity_usd / result.initial_equity_usd)


def test_returns_matrix_aligns_trials_on_their_periods():
    a = make_backtest_result(minutes=4 * 1440, step_minutes=60, seed=1)
    b = make_backtest_result(minutes=4 * 1440, step_minutes=60, seed=2)
    matrix = returns_matrix([period_returns_series(a), period_returns_series(b)])
    assert matrix.shape == (4, 2)
    np.testing.assert_allclose(matrix[:, 1], period_returns(b))
    short = period_returns_series(a).iloc[1:]
    padded = returns_matrix([period_returns_series(b), short])
    assert padded.shape == (4, 2) and padded[0, 1] == 0.0
    with pytest.raises(ValueError, match="no trials"):
        returns_matrix([])


def test_periods_per_year():
    assert periods_per_year("1D") == 365
    assert periods_per_year("1h") == 8760


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=40), trades=st.integers(0, 6),
       min_trades=st.integers(1, 6), objective=st.sampled_from(OBJECTIVES))
def test_a_penalised_trial_never_outscores_one_with_enough_trades(steps, trades, min_trades, objective):
    equity = list(10_000.0 * np.cumprod(1.0 + np.asarray(steps)))
    real = score(make_backtest_result(equity_usd=equity, trade_pnls_usd=[1.0] * min_trades), objective,
                 min_trades=min_trades)
    idle = score(make_backtest_result(equity_usd=equity, trade_pnls_usd=[1.0] * trades), objective,
                 min_trades=min_trades)
    assert math.isfinite(real) and not is_penalised(real)
    assert (idle < real) if trades < min_trades else (idle == real)

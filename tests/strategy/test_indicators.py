"""Finite-memory indicators: correct values, and a window gives the whole history's values bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.strategy.indicators import (
    EMA_TAIL_WEIGHT,
    WINDOW_SUM_BLOCK,
    atr,
    ema,
    ema_window,
    sma,
    true_range,
    weighted_window_sum,
)

DATA = Path(__file__).parents[1] / "data" / "kraken-2023q1" / "XBTUSD-60m.parquet"


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return pd.read_parquet(DATA)


def test_ema_window_is_smallest_length_whose_dropped_tail_weighs_at_most_the_tail_weight() -> None:
    for span in (2, 5, 20, 50, 200):
        n = ema_window(span)
        alpha = 2 / (span + 1)
        assert (1 - alpha) ** n <= EMA_TAIL_WEIGHT < (1 - alpha) ** (n - 1)
    assert ema_window(1) == 1


def test_ema_window_rejects_bad_span_or_tail_weight() -> None:
    with pytest.raises(ValueError, match="span"):
        ema_window(0)
    with pytest.raises(ValueError, match="tail_weight"):
        ema_window(10, 1.5)


def test_ema_of_constant_series_is_the_constant_after_warm_up_and_nan_before() -> None:
    out = ema(np.full(300, 42.0), 20)
    window = ema_window(20)
    assert np.isnan(out[: window - 1]).all()
    np.testing.assert_allclose(out[window - 1:], 42.0, rtol=1e-12)


def test_ema_tracks_recursive_ema_within_the_tail_weight_on_real_closes(btc: pd.DataFrame) -> None:
    close = btc["close"].to_numpy()
    ours = ema(close, 50)
    recursive = btc["close"].ewm(span=50, adjust=False).mean().to_numpy()
    start = 3 * ema_window(50)  # the recursive one's own seed has faded by then
    price_range = close.max() - close.min()
    assert np.nanmax(np.abs(ours[start:] - recursive[start:])) < 2 * EMA_TAIL_WEIGHT * price_range


def test_sma_matches_pandas_rolling_mean(btc: pd.DataFrame) -> None:
    close = btc["close"].to_numpy()
    np.testing.assert_allclose(sma(close, 14), btc["close"].rolling(14).mean().to_numpy(), rtol=1e-12, equal_nan=True)


def test_true_range_uses_previous_close_for_gaps_and_is_nan_on_first_bar() -> None:
    high = np.array([10.0, 11.0, 20.0])
    low = np.array([9.0, 10.5, 19.0])
    close = np.array([9.5, 10.8, 19.5])
    tr = true_range(high, low, close)
    assert np.isnan(tr[0])
    assert tr[1] == pytest.approx(1.5)  # |11 - 9.5| beats 11 - 10.5
    assert tr[2] == pytest.approx(9.2)  # gap up: 20 - 10.8


def test_atr_is_mean_true_range_over_period() -> None:
    high = np.array([10.0, 11.0, 12.0, 13.0])
    low = np.array([9.0, 10.0, 11.0, 12.0])
    close = np.array([9.5, 10.5, 11.5, 12.5])
    out = atr(high, low, close, 2)
    assert np.isnan(out[:2]).all()
    assert out[2] == pytest.approx(1.5)  # TRs 1.5, 1.5
    assert out[3] == pytest.approx(1.5)


def test_weighted_window_sum_is_nan_inside_a_window_holding_nan() -> None:
    values = np.array([1.0, np.nan, 3.0, 4.0, 5.0])
    out = weighted_window_sum(values, np.array([0.5, 0.5]))
    assert np.isnan(out[:3]).all()
    assert out[3] == 3.5 and out[4] == 4.5


def _lag_by_lag(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The plain formula: one whole-array pass per lag, ``acc = acc + w[k] * x[t - k]``."""
    window, out = len(weights), np.full(len(values), np.nan)
    acc = weights[0] * values[window - 1:]
    for k in range(1, window):
        acc = acc + weights[k] * values[window - 1 - k: len(values) - k]
    out[window - 1:] = acc
    return out


@pytest.mark.parametrize("n", [231, 232, WINDOW_SUM_BLOCK + 230, WINDOW_SUM_BLOCK + 231, 2 * WINDOW_SUM_BLOCK + 777])
def test_weighted_window_sum_equals_the_lag_by_lag_formula_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    values = 100.0 + np.cumsum(rng.standard_normal(n))
    values[rng.integers(0, n, size=3)] = np.nan  # each spreads NaN over the windows holding it
    weights = rng.random(231)
    out = weighted_window_sum(values, weights)
    assert out.tobytes() == _lag_by_lag(values, weights).tobytes()
    assert np.isnan(out[:230]).all()


@settings(max_examples=40, deadline=None)
@given(end=st.integers(min_value=300, max_value=2160), extra=st.integers(min_value=0, max_value=50))
def test_indicators_on_a_recent_window_equal_whole_history_bit_for_bit(end: int, extra: int) -> None:
    frame = pd.read_parquet(DATA)
    high, low, close = (frame[c].to_numpy() for c in ("high", "low", "close"))
    window = ema_window(50) + extra
    start = end - window
    np.testing.assert_array_equal(ema(close[start:end], 50)[-1], ema(close, 50)[end - 1])
    np.testing.assert_array_equal(sma(close[start:end], 14)[-1], sma(close, 14)[end - 1])
    np.testing.assert_array_equal(atr(high[start:end], low[start:end], close[start:end], 14)[-1],
                                  atr(high, low, close, 14)[end - 1])

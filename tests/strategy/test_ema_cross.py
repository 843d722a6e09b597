"""EmaCrossStrategy: always in the market after warm-up, side = sign of the EMA spread, windows equal history."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from krakenbot.config.models import StrategyConfig
from krakenbot.domain import Side
from krakenbot.strategy.base import CandleArrays, ts_to_datetime
from krakenbot.strategy.ema_cross import EmaCrossParams, EmaCrossStrategy
from krakenbot.strategy.indicators import ema
from krakenbot.strategy.loader import load_strategy


def candles_from_closes(closes: np.ndarray, *, symbol: str = "SYN/USD") -> CandleArrays:
    """One-minute candles with open = previous close and a 0.1 % range around open/close."""
    opens = np.concatenate([[closes[0]], closes[:-1]])
    ts = np.datetime64("2024-01-01T00:00", "ns") + np.arange(closes.size) * np.timedelta64(1, "m")
    return CandleArrays(symbol=symbol, ts=ts, open=opens, high=np.maximum(opens, closes) * 1.001,
                        low=np.minimum(opens, closes) * 0.999, close=closes, volume=np.ones(closes.size))


def random_walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))


def test_ema_cross_warmup_bars_is_slow_ema_window_for_defaults() -> None:
    assert EmaCrossStrategy().warmup_bars == 231  # ema_window(50)


def test_ema_cross_before_warmup_has_no_side_and_after_is_always_long_or_short() -> None:
    strategy = EmaCrossStrategy()
    out = strategy.compute(candles_from_closes(random_walk(2000, seed=1)))
    first = strategy.warmup_bars - 1
    assert np.all(out.side[:first] == 0) and np.all(np.isnan(out.score[:first]))
    assert np.all(np.isin(out.side[first:], [-1, 1]))
    np.testing.assert_array_equal(out.score[first:], 1.0)
    np.testing.assert_array_equal(out.stop_distance_pct[first:], 0.5)
    assert np.all(np.isnan(out.take_profit))


def test_ema_cross_side_is_sign_of_fast_minus_slow_ema_and_flips_at_each_cross() -> None:
    closes = random_walk(3000, seed=7)
    out = EmaCrossStrategy().compute(candles_from_closes(closes))
    fast, slow = ema(closes, 20), ema(closes, 50)
    valid = np.isfinite(slow)
    np.testing.assert_array_equal(out.side[valid], np.where(fast[valid] > slow[valid], 1, -1))
    flips = np.flatnonzero(np.diff(out.side[valid]) != 0) + 1
    assert flips.size > 5  # a random walk crosses many times: the test sees real flips
    spread = (fast - slow)[valid]
    assert np.all(np.sign(spread[flips]) != np.sign(spread[flips - 1]))


def test_ema_cross_turns_long_when_a_downtrend_reverses_into_an_uptrend() -> None:
    closes = np.concatenate([np.linspace(200.0, 100.0, 400), np.linspace(100.0, 200.0, 400)])
    out = EmaCrossStrategy().compute(candles_from_closes(closes))
    assert out.side[390] == -1 and out.side[-1] == 1
    first_long = int(np.argmax(out.side == 1))
    assert 400 < first_long < 800  # the fast EMA crosses the slow one some bars after the bottom
    assert np.all(out.side[first_long:] == 1)


@settings(max_examples=30, deadline=None)
@given(end=st.integers(min_value=231, max_value=1500), extra=st.integers(min_value=0, max_value=200))
def test_ema_cross_compute_on_recent_window_equals_whole_history_at_last_bar(end: int, extra: int) -> None:
    candles = candles_from_closes(random_walk(1500, seed=3))
    strategy = EmaCrossStrategy()
    whole = strategy.compute(candles)
    window = candles.slice(max(0, end - strategy.warmup_bars - extra), end)
    part = strategy.compute(window)
    assert part.side[-1] == whole.side[end - 1]
    np.testing.assert_array_equal(part.score[-1], whole.score[end - 1])
    np.testing.assert_array_equal(part.stop_distance_pct[-1], whole.stop_distance_pct[end - 1])
    np.testing.assert_array_equal(part.take_profit[-1], whole.take_profit[end - 1])
    np.testing.assert_array_equal(ema(window.close, 20)[-1], ema(candles.close, 20)[end - 1])


def test_ema_cross_live_signals_equal_signal_at_of_whole_history() -> None:
    candles = candles_from_closes(random_walk(800, seed=5))
    strategy = EmaCrossStrategy(timeframe="1m")
    whole = strategy.compute(candles)
    for index in range(strategy.warmup_bars - 1, len(candles)):
        now = ts_to_datetime(candles.ts[index]) + timedelta(minutes=1)
        (live,) = strategy.signals({"SYN/USD": candles}, now)
        assert live == strategy.signal_at(candles, whole, index)
        assert live.side is (Side.LONG if whole.side[index] > 0 else Side.SHORT)


def test_ema_cross_params_reject_fast_not_below_slow_and_unknown_keys() -> None:
    with pytest.raises(ValidationError, match="fast_span"):
        EmaCrossParams(fast_span=50, slow_span=50)
    with pytest.raises(ValidationError, match="extra"):
        EmaCrossParams.model_validate({"fast_span": 10, "atr_period": 14})
    with pytest.raises(ValidationError):
        EmaCrossParams(stop_distance_pct=1.0)


def test_ema_cross_loads_by_class_path_with_params() -> None:
    cfg = StrategyConfig(class_path="krakenbot.strategy.ema_cross:EmaCrossStrategy", timeframe="1m",
                         params={"fast_span": 5, "slow_span": 12})
    strategy = load_strategy(cfg)
    assert isinstance(strategy, EmaCrossStrategy)
    assert strategy.params == EmaCrossParams(fast_span=5, slow_span=12)
    assert strategy.timeframe == "1m"

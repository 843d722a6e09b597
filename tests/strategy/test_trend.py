"""TrendStrategy: the live window gives the backtest's values; sides, stops and scores as documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.domain import Side
from krakenbot.strategy.base import CandleArrays, SignalArrays, ts_to_datetime
from krakenbot.strategy.trend import TrendParams, TrendStrategy

DATA = Path(__file__).parents[1] / "data" / "kraken-2023q1" / "XBTUSD-60m.parquet"


@pytest.fixture(scope="module")
def btc() -> CandleArrays:
    return CandleArrays.from_frame("BTC/USD", pd.read_parquet(DATA))


def synthetic(closes: np.ndarray, *, symbol: str = "SYN/USD", spread_pct: float = 0.004) -> CandleArrays:
    """Hourly candles around ``closes`` (open = previous close, high/low +/- spread_pct)."""
    opens = np.concatenate([[closes[0]], closes[:-1]])
    ts = np.datetime64("2024-01-01T00:00", "ns") + np.arange(closes.size) * np.timedelta64(1, "h")
    return CandleArrays(symbol=symbol, ts=ts, open=opens, high=np.maximum(opens, closes) * (1 + spread_pct),
                        low=np.minimum(opens, closes) * (1 - spread_pct), close=closes, volume=np.ones(closes.size))


def assert_same_bar(a: SignalArrays, i: int, b: SignalArrays, j: int) -> None:
    assert a.side[i] == b.side[j]
    for name in ("score", "stop_distance_pct", "take_profit"):
        np.testing.assert_array_equal(getattr(a, name)[i], getattr(b, name)[j], err_msg=name)


def test_trend_warmup_bars_is_slow_ema_window_for_defaults() -> None:
    assert TrendStrategy().warmup_bars == 231  # ema_window(50): (1 - 2/51) ** 231 <= 1e-4


@settings(max_examples=30, deadline=None)
@given(end=st.integers(min_value=231, max_value=2160), extra=st.integers(min_value=0, max_value=300))
def test_trend_compute_on_recent_window_equals_whole_history_at_last_bar(end: int, extra: int) -> None:
    candles = CandleArrays.from_frame("BTC/USD", pd.read_parquet(DATA))
    strategy = TrendStrategy(TrendParams(take_profit_atr_mult=4.0))
    whole = strategy.compute(candles)
    window = candles.slice(max(0, end - strategy.warmup_bars - extra), end)
    assert_same_bar(strategy.compute(window), len(window) - 1, whole, end - 1)


def test_trend_window_one_bar_shorter_than_warmup_has_no_value(btc: CandleArrays) -> None:
    strategy = TrendStrategy()
    short = strategy.compute(btc.slice(1000, 1000 + strategy.warmup_bars - 1))
    assert short.side[-1] == 0 and np.isnan(short.score[-1])


def test_trend_live_signals_equal_backtest_signal_at_for_every_hour_of_march(btc: CandleArrays) -> None:
    strategy = TrendStrategy()
    whole = strategy.compute(btc)
    now = datetime(2023, 3, 1, tzinfo=UTC)
    checked = 0
    while now < datetime(2023, 3, 31, tzinfo=UTC):
        index = strategy.last_closed_index(btc, now)
        expected = strategy.signal_at(btc, whole, index)
        live = strategy.signals({"BTC/USD": btc}, now)
        assert live == ([expected] if expected is not None else [])
        checked += expected is not None
        now += timedelta(hours=1)
    assert checked > 300  # most March hours carry a trend signal


def test_trend_signals_ignore_the_candle_still_forming(btc: CandleArrays) -> None:
    strategy = TrendStrategy()
    now = datetime(2023, 3, 10, 12, 30, tzinfo=UTC)  # the 12:00 candle is still forming
    index = strategy.last_closed_index(btc, now)
    assert ts_to_datetime(btc.ts[index]) == datetime(2023, 3, 10, 11, tzinfo=UTC)
    forming = btc.slice(0, index + 2)
    bump = np.r_[np.ones(index + 1), 3.0]  # the forming candle spikes to 3x: must not matter
    mangled = CandleArrays(symbol="BTC/USD", ts=forming.ts, open=forming.open, high=forming.high * bump,
                           low=forming.low, close=forming.close * bump, volume=forming.volume)
    [signal] = strategy.signals({"BTC/USD": mangled}, now)
    assert signal.ts == datetime(2023, 3, 10, 12, tzinfo=UTC)  # close time of the 11:00 candle
    assert signal.ref_price == btc.close[index]


def test_trend_is_short_during_svb_selloff_and_long_in_january_rally(btc: CandleArrays) -> None:
    strategy = TrendStrategy()
    [selloff] = strategy.signals({"BTC/USD": btc}, datetime(2023, 3, 10, 12, tzinfo=UTC))
    assert selloff.side is Side.SHORT and selloff.ref_price < 20_000
    assert selloff.stop_price > selloff.ref_price
    [rally] = strategy.signals({"BTC/USD": btc}, datetime(2023, 1, 15, 12, tzinfo=UTC))
    assert rally.side is Side.LONG and rally.stop_price < rally.ref_price


def test_trend_uptrend_is_long_with_stop_at_atr_multiple_and_score_in_atrs() -> None:
    closes = 100 * np.exp(np.linspace(0, 0.4, 400))
    candles = synthetic(closes)
    strategy = TrendStrategy(TrendParams(stop_atr_mult=2.0))
    out = strategy.compute(candles)
    extras = out.extras
    assert out.side[-1] == 1
    assert out.stop_distance_pct[-1] == pytest.approx(2.0 * extras["atr"][-1] / closes[-1])
    assert out.score[-1] == pytest.approx((extras["ema_fast"][-1] - extras["ema_slow"][-1]) / extras["atr"][-1])


def test_trend_downtrend_is_short_unless_shorts_are_disabled() -> None:
    candles = synthetic(100 * np.exp(np.linspace(0, -0.4, 400)))
    assert TrendStrategy().compute(candles).side[-1] == -1
    assert TrendStrategy(TrendParams(allow_short=False)).compute(candles).side[-1] == 0


def test_trend_flat_market_gives_no_signal() -> None:
    rng = np.random.default_rng(7)
    closes = 100 * (1 + 0.002 * rng.standard_normal(400))
    out = TrendStrategy(TrendParams(min_spread_atr=1.0)).compute(synthetic(closes))
    assert (out.side[-50:] == 0).all()


def test_trend_stop_distance_is_clipped_to_min_and_max() -> None:
    candles = synthetic(100 * np.exp(np.linspace(0, 0.4, 400)), spread_pct=0.0001)
    tight = TrendStrategy(TrendParams(min_stop_pct=0.05, max_stop_pct=0.2)).compute(candles)
    assert tight.stop_distance_pct[-1] == 0.05
    wide = TrendStrategy(TrendParams(stop_atr_mult=20, min_stop_pct=0.001, max_stop_pct=0.01)).compute(synthetic(
        100 * np.exp(np.linspace(0, 0.4, 400)), spread_pct=0.02))
    assert wide.stop_distance_pct[-1] == 0.01


def test_trend_take_profit_is_atr_multiple_on_the_profit_side() -> None:
    candles = synthetic(100 * np.exp(np.linspace(0, 0.4, 400)))
    out = TrendStrategy(TrendParams(take_profit_atr_mult=5)).compute(candles)
    assert out.take_profit[-1] == pytest.approx(candles.close[-1] + 5 * out.extras["atr"][-1])
    assert np.isnan(TrendStrategy().compute(candles).take_profit).all()


def test_trend_score_and_stop_do_not_depend_on_price_units(btc: CandleArrays) -> None:
    """Scores are comparable across symbols: a coin priced 1000x lower scores the same trend the same."""
    scaled = CandleArrays(symbol="MINI/USD", ts=btc.ts, open=btc.open / 1000, high=btc.high / 1000,
                          low=btc.low / 1000, close=btc.close / 1000, volume=btc.volume)
    strategy = TrendStrategy()
    a, b = strategy.compute(btc), strategy.compute(scaled)
    np.testing.assert_allclose(a.score, b.score, rtol=1e-9, atol=1e-9, equal_nan=True)  # spread cancels near 0
    np.testing.assert_allclose(a.stop_distance_pct, b.stop_distance_pct, rtol=1e-9, equal_nan=True)
    assert (a.side != b.side).sum() <= 2  # only bars sitting exactly on a threshold may flip


def test_trend_params_reject_fast_span_not_below_slow_span() -> None:
    with pytest.raises(ValueError, match="fast_span"):
        TrendParams(fast_span=50, slow_span=50)


def test_trend_signals_skip_symbols_without_enough_history(btc: CandleArrays) -> None:
    strategy = TrendStrategy()
    young = btc.slice(0, 100)
    now = ts_to_datetime(young.ts[-1]) + timedelta(hours=1)
    assert strategy.signals({"BTC/USD": young}, now) == []

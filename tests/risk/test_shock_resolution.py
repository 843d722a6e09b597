"""ShockGuard at any base resolution: consecutive candles for the move detector, candle highs and
lows for the range detector, and the whole-history scan equal to feeding candle by candle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from krakenbot.config.models import RiskConfig
from krakenbot.risk.shock_guard import ShockDetected, ShockGuard

T0 = datetime(2025, 10, 10, 20, 0, tzinfo=UTC)
CFG = RiskConfig()  # move 2.5 %, range 4 %


def feed(guard: ShockGuard, step_s: int, candles: list[tuple[float, float, float, float]]) -> list[ShockDetected]:
    """Feed (open, high, low, close) candles of one symbol, one tick per candle close."""
    events: list[ShockDetected] = []
    for i, (_, high, low, close) in enumerate(candles):
        ts = T0 + timedelta(seconds=step_s * (i + 1))
        events += guard.update_mark_arrays(ts, np.array([close]), high=np.array([high]), low=np.array([low]))
    return events


def guard_at(base_seconds: float) -> ShockGuard:
    return ShockGuard(CFG, ["PF_XBTUSD"], stale_after_seconds=30.0, base_seconds=base_seconds,
                      history_seconds=max(120.0, base_seconds + 30.0))


def flat(n: int, price: float = 100.0) -> list[tuple[float, float, float, float]]:
    return [(price, price * 1.001, price * 0.999, price)] * n


def test_five_minute_crash_fires_move_on_consecutive_candles():
    candles = [*flat(3), (100.0, 100.1, 93.9, 94.0)]  # one 5-minute candle falls 6 %
    events = feed(guard_at(300), 300, candles)
    move = [e for e in events if e.kind == "move"]
    assert len(move) == 1
    assert move[0].magnitude == pytest.approx(0.06)
    assert move[0].ts == T0 + timedelta(minutes=20)


def test_five_minute_crash_was_invisible_with_a_one_minute_lookback():
    """The old behaviour, kept for live marks: a 300 s gap has no baseline in [now-90 s, now-60 s]."""
    candles = [(100.0, 100.0, 100.0, 100.0)] * 3 + [(100.0, 100.0, 94.0, 94.0)]
    events = [e for e in feed(guard_at(60), 300, candles) if e.kind == "move"]
    assert events == []


def test_one_minute_wick_fires_range_not_move():
    candles = [*flat(3), (100.0, 104.0, 99.9, 100.0)]  # high 4 % above open, close at open
    events = feed(guard_at(60), 60, candles)
    assert [e.kind for e in events] == ["range"]
    assert events[0].magnitude == pytest.approx(104.0 / 99.9 - 1)


def test_one_minute_wick_is_invisible_on_closes_only():
    guard = guard_at(60)
    closes = [100.0, 100.0, 100.0, 100.0]
    events = [e for i, c in enumerate(closes)
              for e in guard.update_mark_arrays(T0 + timedelta(minutes=i + 1), np.array([c]))]
    assert events == []


def test_five_minute_wick_fires_range_on_the_candle_own_high_and_low():
    candles = [*flat(3), (100.0, 104.0, 100.0, 100.0)]
    events = feed(guard_at(300), 300, candles)
    assert [e.kind for e in events] == ["range"]
    assert events[0].magnitude == pytest.approx(0.04)  # (high - low) / low


def test_five_minute_range_below_threshold_is_quiet():
    candles = [*flat(3), (100.0, 103.9, 100.0, 101.0)]
    assert feed(guard_at(300), 300, candles) == []


def test_bad_high_or_low_is_ignored_not_a_shock():
    guard = guard_at(60)
    events = []
    for i, (high, low) in enumerate([(100.0, 100.0), (np.nan, 0.0), (np.inf, -1.0), (100.1, 99.9)]):
        events += guard.update_mark_arrays(T0 + timedelta(minutes=i + 1), np.array([100.0]),
                                           high=np.array([high]), low=np.array([low]))
    assert events == []


def test_base_seconds_must_fit_the_history():
    with pytest.raises(ValueError, match="history_seconds"):
        ShockGuard(CFG, ["A"], stale_after_seconds=30.0, base_seconds=300.0, history_seconds=120.0)
    with pytest.raises(ValueError, match="base_seconds"):
        ShockGuard(CFG, ["A"], base_seconds=0.0)


RETURNS = [0.0, 0.001, -0.002, 0.01, -0.03, 0.05]
WICKS = [0.0, 0.0, 0.01, 0.045, np.nan]


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_scan_history_with_candles_equals_feeding_candle_by_candle(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from([60, 300, 900]), label="base seconds")
    n_t = data.draw(st.integers(1, 30), label="candles")
    n_s = data.draw(st.integers(1, 3), label="symbols")
    gaps = data.draw(st.lists(st.sampled_from([1, 1, 1, 2]), min_size=n_t, max_size=n_t), label="gaps")
    rets = data.draw(arrays(np.float64, (n_t, n_s), elements=st.sampled_from(RETURNS)), label="returns")
    up = data.draw(arrays(np.float64, (n_t, n_s), elements=st.sampled_from(WICKS)), label="up")
    down = data.draw(arrays(np.float64, (n_t, n_s), elements=st.sampled_from(WICKS)), label="down")
    close = 100.0 * np.cumprod(1.0 + rets, axis=0)
    high, low = close * (1 + up), close * (1 - down)
    missing = data.draw(arrays(np.bool_, (n_t, n_s), elements=st.sampled_from([False, False, False, True])))
    close[missing] = np.nan
    cfg = RiskConfig(shock_cooldown_minutes=data.draw(st.sampled_from([0, 5, 30])),
                     shock_marketwide_count=data.draw(st.integers(1, 3)))
    symbols = [f"S{i}" for i in range(n_s)]
    times = [T0 + timedelta(seconds=base * int(g)) for g in np.cumsum(gaps)]

    def make() -> ShockGuard:
        return ShockGuard(cfg, symbols, stale_after_seconds=30.0, base_seconds=base,
                          history_seconds=max(120.0, base + 30.0))

    live = make()
    fed: list[ShockDetected] = []
    for t, ts in enumerate(times):
        fed += live.update_mark_arrays(ts, close[t], high=high[t], low=low[t])
    ts_arr = np.array([np.datetime64(ts.replace(tzinfo=None), "us") for ts in times])
    assert make().scan_history(ts_arr, close, None, symbols, high=high, low=low) == fed

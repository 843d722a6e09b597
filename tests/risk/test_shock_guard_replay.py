"""The backtest's replay path (precomputed magnitudes gated by ``apply_magnitudes``) gives the same
events and the same pauses as feeding every tick through ``update_mark_prices``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.config.models import RiskConfig
from krakenbot.domain.timeconv import to_us
from krakenbot.risk.shock_detect import reaches, scan_magnitudes
from krakenbot.risk.shock_guard import ShockGuard

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SYMBOLS = ("A", "B", "C", "D")
CFG = RiskConfig(shock_marketwide_count=2, shock_cooldown_minutes=5)


def series(seed: int, n: int) -> np.ndarray:
    """Random walks with occasional jumps and gaps (NaN), one minute apart."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.006, (n, len(SYMBOLS)))
    jumps = rng.random((n, len(SYMBOLS))) < 0.03
    steps[jumps] += rng.choice([-0.05, 0.05], size=int(jumps.sum()))
    prices = 100 * np.exp(np.cumsum(steps, axis=0))
    prices[rng.random(prices.shape) < 0.05] = np.nan
    return prices


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 120))
def test_replayed_hits_give_the_same_events_and_pauses_as_every_tick(seed: int, n: int) -> None:
    marks = series(seed, n)
    times = [T0 + timedelta(minutes=i) for i in range(n)]
    live = ShockGuard(CFG, SYMBOLS)
    replay = ShockGuard(CFG, SYMBOLS)
    ts_us = np.array([to_us(t) for t in times], dtype=np.int64)
    mags = scan_magnitudes(replay.params, ts_us, marks, None)
    hit_rows = set(np.flatnonzero(reaches(mags, replay.params.thresholds[None, None, :]).any(axis=(1, 2))).tolist())
    for i, now in enumerate(times):
        row = {s: float(v) for s, v in zip(SYMBOLS, marks[i], strict=True) if np.isfinite(v)}
        expected = live.update_mark_prices(now, row)
        replay.observe_marks(now, row)
        got = replay.apply_magnitudes(now, mags[i]) if i in hit_rows else []
        assert got == expected, (i, got, expected)
        assert replay.paused_symbols(now) == live.paused_symbols(now)
        assert replay.paused_symbols(now + timedelta(seconds=30)) == live.paused_symbols(now + timedelta(seconds=30))

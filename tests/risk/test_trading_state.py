"""Trading state: daily loss and drawdown switch to reduce-only; equity marks roll with the UTC day."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenbot.config.models import RiskConfig
from krakenbot.domain.timeconv import from_ns, to_ns
from krakenbot.risk.trading_state import EquityMarks, TradingState, assess_trading_state

CFG = RiskConfig(daily_loss_limit_pct=0.05, max_drawdown_pct=0.2)
NOW = datetime(2023, 3, 10, 15, tzinfo=UTC)


def state(day_start: float, peak: float, equity: float) -> TradingState:
    return assess_trading_state(day_start_equity_usd=day_start, peak_equity_usd=peak, equity_usd=equity, cfg=CFG).state


_EQUITY = st.one_of(st.floats(min_value=-1e7, max_value=1e7), st.sampled_from([0.0, 9_500.0, 8_000.0, 10_000.0]),
                    st.just(math.inf), st.just(math.nan))


@given(day_start=st.floats(min_value=1, max_value=1e7), peak=st.floats(min_value=1, max_value=1e7), equity=_EQUITY)
def test_marks_allows_entries_is_the_assessments_answer(day_start: float, peak: float, equity: float) -> None:
    marks = EquityMarks(day=NOW.date(), day_start_equity_usd=day_start, peak_equity_usd=peak)
    assert marks.allows_entries(equity, CFG) is marks.assess(equity, CFG).state.allows_entries


@pytest.mark.parametrize("equity", [9_500.0, 9_501.0, 8_000.0, 8_001.0, 0.0, -1.0, math.inf, math.nan])
def test_marks_allows_entries_at_and_around_the_limits(equity: float) -> None:
    marks = EquityMarks(day=NOW.date(), day_start_equity_usd=10_000, peak_equity_usd=10_000)
    assert marks.allows_entries(equity, CFG) is marks.assess(equity, CFG).state.allows_entries
    assert marks.allows_entries(equity, CFG) is (equity == 9_501.0)


def test_assess_daily_loss_at_the_limit_is_reducing_and_just_below_is_active() -> None:
    assert state(10_000, 10_000, 9_500) is TradingState.REDUCING
    assert state(10_000, 10_000, 9_501) is TradingState.ACTIVE


def test_assess_drawdown_at_the_limit_is_reducing_and_just_below_is_active() -> None:
    assert state(8_000, 10_000, 8_000) is TradingState.REDUCING
    assert state(8_001, 10_000, 8_001) is TradingState.ACTIVE


def test_assess_reason_names_both_limits_when_both_are_hit() -> None:
    result = assess_trading_state(day_start_equity_usd=10_000, peak_equity_usd=12_000, equity_usd=9_000, cfg=CFG)
    assert result.state is TradingState.REDUCING
    assert "daily loss" in result.reason and "drawdown" in result.reason
    assert result.daily_loss_pct == pytest.approx(0.1) and result.drawdown_pct == pytest.approx(0.25)


@pytest.mark.parametrize("equity", [0.0, -1.0, float("nan")])
def test_assess_unusable_equity_halts(equity: float) -> None:
    assert state(10_000, 10_000, equity) is TradingState.HALTED
    assert not TradingState.HALTED.allows_entries and not TradingState.REDUCING.allows_entries


def test_equity_marks_keep_day_start_within_the_day_and_track_the_peak() -> None:
    marks = EquityMarks.start(10_000, NOW)
    marks = marks.update(10_500, NOW + timedelta(hours=1)).update(9_800, NOW + timedelta(hours=2))
    assert (marks.day_start_equity_usd, marks.peak_equity_usd) == (10_000, 10_500)


def test_equity_marks_new_utc_day_starts_at_first_equity_seen() -> None:
    marks = EquityMarks.start(10_000, NOW).update(9_000, NOW + timedelta(hours=10))  # 01:00 next day
    assert marks.day == NOW.date() + timedelta(days=1)
    assert marks.day_start_equity_usd == 9_000 and marks.peak_equity_usd == 10_000
    assert marks.assess(9_000, CFG).state is TradingState.ACTIVE  # drawdown 10 %, today flat


def test_equity_marks_ignore_unusable_equity() -> None:
    marks = EquityMarks.start(10_000, NOW)
    assert marks.update(float("nan"), NOW) is marks
    with pytest.raises(ValueError):
        EquityMarks.start(0.0, NOW)


@pytest.mark.parametrize("seed", range(5))
def test_marks_along_an_equity_path_equal_update_at_each_point(seed):
    """``EquityMarks.along`` (a backtest's idle bars, as arrays) leaves the marks ``update`` leaves, bit for bit:
    across UTC days, with unusable equities (NaN, 0, negative, inf) skipped, and on a path within the same day."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 3, 1, 20, tzinfo=UTC)
    ts_ns = to_ns(start) + np.cumsum(rng.integers(1, 4 * 3600, 400)) * 10**9
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 400)))
    equity[rng.integers(0, 400, 20)] = rng.choice([np.nan, 0.0, -5.0, np.inf], 20)
    for cut in (0, 3, 400):
        marks = EquityMarks.start(10_000.0, start)
        expected = marks
        for t, e in zip(ts_ns[:cut], equity[:cut], strict=True):
            expected = expected.update(float(e), from_ns(int(t)))
        assert marks.along(ts_ns[:cut], equity[:cut]) == expected


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("step_s", [60, 4 * 3600])  # within one UTC day, and across days
def test_marks_along_a_usable_path_equal_update_at_each_point(seed, step_s):
    """Every equity usable (``along``'s path without masks): the same marks as ``update`` at each point."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 3, 1, 20, tzinfo=UTC)
    ts_ns = to_ns(start) + np.cumsum(rng.integers(1, step_s, 60)) * 10**9
    equity = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    for marks in (EquityMarks.start(10_000.0, start), EquityMarks.start(10_000.0, start - timedelta(days=2))):
        for cut in (1, 2, 60):
            expected = marks
            for t, e in zip(ts_ns[:cut], equity[:cut], strict=True):
                expected = expected.update(float(e), from_ns(int(t)))
            assert marks.along(ts_ns[:cut], equity[:cut]) == expected

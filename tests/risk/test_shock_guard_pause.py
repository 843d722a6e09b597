"""ShockGuard.paused_until: when the last pause in force ends (a driver sleeps until then), always in step
with ``active``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.config.models import RiskConfig
from krakenbot.risk.shock_guard import MARKETWIDE_SYMBOL, ShockGuard

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def move_shock(guard: ShockGuard, symbol: str, sec: float) -> None:
    """A 1-minute move of 3 % on ``symbol`` hitting at ``sec`` (its baseline a minute before)."""
    guard.update_mark_prices(at(sec - 60), {symbol: 100.0})
    assert [e.kind for e in guard.update_mark_prices(at(sec), {symbol: 103.0})] == ["move"]
    assert guard.is_entry_paused(symbol, at(sec))


def basis_shock(guard: ShockGuard, symbol: str, sec: float) -> None:
    guard.update_mark_prices(at(sec), {symbol: 103.0}, {symbol: 100.0})


def test_no_pause_before_any_shock() -> None:
    guard = ShockGuard(RiskConfig(), ["A", "B"])
    guard.update_mark_prices(T0, {"A": 100.0, "B": 50.0})
    assert guard.paused_until(at(1)) is None and not guard.active(at(1))


def test_a_disabled_guard_never_pauses_whatever_it_is_fed() -> None:
    guard = ShockGuard(RiskConfig(shock_guard_enabled=False))
    guard.update_mark_prices(at(0), {"A": 100.0})
    guard.update_mark_prices(at(60), {"A": 50.0}, {"A": 100.0})
    assert guard.paused_until(at(60)) is None and not guard.active(at(60))


def test_a_move_shock_pauses_until_its_hit_plus_the_cooldown() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=30))
    move_shock(guard, "A", 60)
    end = at(60) + timedelta(minutes=30)
    for now in (at(60), at(61), end - US):
        assert guard.paused_until(now) == end
    assert guard.paused_until(end) is None and not guard.active(end)


def test_a_later_hit_on_another_symbol_extends_the_end() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=10))
    move_shock(guard, "A", 60)
    move_shock(guard, "B", 300)
    assert guard.paused_until(at(301)) == at(300) + timedelta(minutes=10)
    assert guard.paused_symbols(at(60) + timedelta(minutes=10)) == frozenset({"B"})  # A's own pause is over


def test_a_marketwide_shock_pauses_every_symbol_until_its_end() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=10, shock_marketwide_count=2,
                                  shock_marketwide_window_sec=60))
    basis_shock(guard, "A", 0)
    basis_shock(guard, "B", 10)  # the second symbol within the window: market-wide at 10 s
    end = at(10) + timedelta(minutes=10)
    assert MARKETWIDE_SYMBOL in guard.paused_symbols(end - US)
    assert guard.paused_until(at(11)) == end
    assert guard.paused_until(end) is None


def test_the_end_is_the_last_pause_in_force_even_after_the_marketwide_one_is_over() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=10, shock_marketwide_count=2,
                                  shock_marketwide_window_sec=60))
    basis_shock(guard, "A", 0)
    basis_shock(guard, "B", 10)
    basis_shock(guard, "C", 200)  # alone in its window: its own pause only
    c_end = at(200) + timedelta(minutes=10)
    assert guard.paused_until(at(20)) == c_end
    after_marketwide = at(10) + timedelta(minutes=10)
    assert guard.paused_symbols(after_marketwide) == frozenset({"C"})
    assert guard.paused_until(after_marketwide) == c_end
    assert guard.paused_until(c_end) is None


# -- any history: the end is the latest hit plus the cooldown, and agrees with active ------------------------
SYMBOLS = ("A", "B", "C")


@settings(max_examples=300, deadline=None)
@given(cooldown=st.sampled_from([0, 0.5, 1, 10, 30]), count=st.integers(1, 3), window=st.sampled_from([5, 60]),
       ticks=st.lists(st.tuples(st.integers(0, 900), st.lists(st.booleans(), min_size=3, max_size=3)),
                      min_size=1, max_size=12),
       queries=st.lists(st.integers(-60, 6_000), min_size=1, max_size=8))
def test_paused_until_is_the_latest_hit_plus_cooldown_and_set_iff_active(
        cooldown: float, count: int, window: int, ticks: list[tuple[int, list[bool]]], queries: list[int]) -> None:
    cfg = RiskConfig(shock_cooldown_minutes=cooldown, shock_marketwide_count=count,
                     shock_marketwide_window_sec=window)
    guard = ShockGuard(cfg, SYMBOLS)
    now, last_hit = T0, None
    for gap, hit in ticks:
        now += timedelta(seconds=gap)
        mags = np.zeros((len(SYMBOLS), 3))
        mags[:, 0] = np.where(hit, 1.0, 0.0)  # a 100 % move where ``hit``, none elsewhere
        guard.apply_magnitudes(now, mags)
        if any(hit):
            last_hit = now
    cool = timedelta(minutes=cooldown)
    for offset in queries:
        t = now + timedelta(seconds=offset)
        until = guard.paused_until(t)
        expected = last_hit + cool if last_hit is not None and last_hit + cool > t else None
        assert until == expected
        assert (until is not None) == guard.active(t)
        if until is not None:
            assert guard.active(until - US) and not guard.active(until)

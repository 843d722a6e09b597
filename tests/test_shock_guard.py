"""ShockGuard: detectors at their thresholds, market-wide count/window, cooldown, CLOSE vs TRIM,
bad data, bounded history, logging, and the whole-history scan equal to tick-by-tick feeding.

Runs by path: ``python -m pytest tests/test_shock_guard.py``.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from krakenbot.config.models import RiskConfig
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.signals import Side
from krakenbot.domain.trading import AccountState, Position
from krakenbot.risk.shock_exposure import ShockActionKind, liquidation_buffer_pct, trim_fraction
from krakenbot.risk.shock_guard import ShockDetected, ShockGuard

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def feed(guard: ShockGuard, ticks: list[tuple[float, dict[str, float]]],
         reference: dict[float, dict[str, float]] | None = None) -> list[ShockDetected]:
    events: list[ShockDetected] = []
    for sec, marks in ticks:
        events += guard.update_mark_prices(at(sec), marks, (reference or {}).get(sec))
    return events


def kinds(events: list[ShockDetected]) -> list[tuple[str, str]]:
    return [(e.kind, e.symbol) for e in events]


def account(equity: float, maintenance: float = 0.0) -> AccountState:
    return AccountState(equity_usd=equity, available_margin_usd=equity, initial_margin_usd=2 * maintenance,
                        maintenance_margin_usd=maintenance, ts=T0)


def position(symbol: str = "A", *, side: Side = Side.LONG, size: float = 1.0, mark: float = 100.0,
             liquidation: float | None = None) -> Position:
    return Position(symbol=symbol, side=side, size=size, entry_price=100.0, ts_opened=T0 - timedelta(hours=1),
                    mark_price=mark, liquidation_price=liquidation)


# -- detectors at their thresholds ---------------------------------------------------------------

@pytest.mark.parametrize("new_mark", [102.5, 97.5])
def test_move_detector_fires_at_threshold_both_directions(new_mark: float) -> None:
    guard = ShockGuard(RiskConfig())
    events = feed(guard, [(0, {"A": 100.0}), (60, {"A": new_mark})])
    assert kinds(events) == [("move", "A")]
    assert events[0].magnitude == pytest.approx(0.025) and events[0].threshold == 0.025 and events[0].ts == at(60)


@pytest.mark.parametrize("new_mark", [102.49, 97.51])
def test_move_detector_silent_just_below_threshold(new_mark: float) -> None:
    guard = ShockGuard(RiskConfig())
    assert feed(guard, [(0, {"A": 100.0}), (60, {"A": new_mark})]) == []


def test_move_baseline_is_the_latest_mark_at_least_60s_old() -> None:
    guard = ShockGuard(RiskConfig())
    # at 65 s the baseline is the mark at 5 s (101), not at 0 s (100): 103.525 / 101 - 1 = 2.5 %
    events = feed(guard, [(0, {"A": 100.0}), (5, {"A": 101.0}), (65, {"A": 103.525})])
    assert kinds(events) == [("move", "A")]
    assert events[0].magnitude == pytest.approx(0.025)


def test_range_detector_fires_at_threshold_within_60s() -> None:
    guard = ShockGuard(RiskConfig())
    events = feed(guard, [(0, {"A": 100.0}), (20, {"A": 104.0}), (40, {"A": 100.0})])
    assert kinds(events) == [("range", "A")]
    assert events[0].ts == at(20) and events[0].magnitude == pytest.approx(0.04)


def test_range_detector_silent_just_below_threshold() -> None:
    guard = ShockGuard(RiskConfig())
    assert feed(guard, [(0, {"A": 100.0}), (20, {"A": 103.99}), (40, {"A": 100.0})]) == []


def test_range_window_excludes_marks_older_than_60s() -> None:
    guard = ShockGuard(RiskConfig(shock_move_pct=0.5))
    # the low of 100 at 0 s is out of the window at 61 s: range is 104 / 102 - 1 < 4 %
    events = feed(guard, [(0, {"A": 100.0}), (30, {"A": 102.0}), (61, {"A": 104.0})])
    assert events == []


@pytest.mark.parametrize(("mark", "ref"), [(101.5, 100.0), (98.5, 100.0)])
def test_basis_detector_fires_at_threshold(mark: float, ref: float) -> None:
    guard = ShockGuard(RiskConfig())
    events = guard.update_mark_prices(T0, {"A": mark}, {"A": ref})
    assert kinds(events) == [("basis", "A")]
    assert events[0].magnitude == pytest.approx(0.015)


@pytest.mark.parametrize(("mark", "ref"), [(101.49, 100.0), (98.51, 100.0)])
def test_basis_detector_silent_just_below_threshold(mark: float, ref: float) -> None:
    guard = ShockGuard(RiskConfig())
    assert guard.update_mark_prices(T0, {"A": mark}, {"A": ref}) == []


# -- market-wide ---------------------------------------------------------------------------------

def basis_shock(guard: ShockGuard, sec: float, symbol: str) -> list[ShockDetected]:
    return guard.update_mark_prices(at(sec), {symbol: 103.0}, {symbol: 100.0})


def test_marketwide_fires_when_count_symbols_shock_within_window_inclusive() -> None:
    guard = ShockGuard(RiskConfig(shock_marketwide_count=3, shock_marketwide_window_sec=60))
    assert kinds(basis_shock(guard, 0, "A") + basis_shock(guard, 30, "B")) == [("basis", "A"), ("basis", "B")]
    events = basis_shock(guard, 60, "C")
    assert kinds(events) == [("basis", "C"), ("marketwide", "*")]
    assert events[1].magnitude == 3 and events[1].threshold == 3
    assert "*" in guard.paused_symbols(at(61))
    assert guard.is_entry_paused("UNSHOCKED", at(61))


def test_marketwide_silent_with_one_symbol_fewer_than_count() -> None:
    guard = ShockGuard(RiskConfig(shock_marketwide_count=3, shock_marketwide_window_sec=60))
    events = basis_shock(guard, 0, "A") + basis_shock(guard, 30, "B") + basis_shock(guard, 45, "A")
    assert ("marketwide", "*") not in kinds(events)
    assert not guard.is_entry_paused("UNSHOCKED", at(50))


def test_marketwide_silent_when_shocks_fall_outside_window() -> None:
    guard = ShockGuard(RiskConfig(shock_marketwide_count=3, shock_marketwide_window_sec=60))
    events = basis_shock(guard, 0, "A") + basis_shock(guard, 30, "B") + basis_shock(guard, 61, "C")
    assert ("marketwide", "*") not in kinds(events)


# -- cooldown ------------------------------------------------------------------------------------

def test_cooldown_pauses_until_cooldown_after_shock_then_expires() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=30))
    basis_shock(guard, 0, "A")
    assert guard.paused_symbols(at(30 * 60 - 1)) == frozenset({"A"})
    assert guard.is_entry_paused("A", at(30 * 60 - 1)) and guard.active(at(30 * 60 - 1))
    assert not guard.is_entry_paused("B", at(30 * 60 - 1))
    assert not guard.is_entry_paused("A", at(30 * 60 + 1)) and not guard.active(at(30 * 60 + 1))


def test_cooldown_new_shock_extends_pause_from_last_shock() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=30))
    basis_shock(guard, 0, "A")
    basis_shock(guard, 600, "A")
    assert guard.is_entry_paused("A", at(600 + 30 * 60 - 1))
    assert not guard.is_entry_paused("A", at(600 + 30 * 60 + 1))


def test_marketwide_pause_expires_after_cooldown_from_last_marketwide_hit() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=10, shock_marketwide_count=2))
    basis_shock(guard, 0, "A")
    basis_shock(guard, 10, "B")
    assert guard.is_entry_paused("Z", at(10 + 600 - 1))
    assert not guard.is_entry_paused("Z", at(10 + 600 + 1))


def test_ongoing_shock_gives_one_event_per_cooldown_then_rearms() -> None:
    guard = ShockGuard(RiskConfig(shock_cooldown_minutes=1))
    events = [e for sec in (0, 10, 20, 30) for e in basis_shock(guard, sec, "A")]
    assert len(events) == 1  # hits at 10-30 s extend the pause silently
    assert kinds(basis_shock(guard, 89, "A")) == []  # 59 s after the last hit: still paused
    assert kinds(basis_shock(guard, 149, "A")) == [("basis", "A")]  # 60 s after the last hit: new episode


# -- CLOSE vs TRIM -------------------------------------------------------------------------------

def shocked_guard(symbol: str = "A") -> ShockGuard:
    guard = ShockGuard(RiskConfig())
    guard.update_mark_prices(T0, {symbol: 100.0, "B": 50.0}, {symbol: 97.0})
    assert guard.is_entry_paused(symbol, T0)
    return guard


@pytest.mark.parametrize(("side", "liq", "expected"), [
    (Side.LONG, 93.0, ShockActionKind.CLOSE), (Side.LONG, 90.0, ShockActionKind.TRIM),
    (Side.LONG, 85.0, ShockActionKind.TRIM), (Side.LONG, 80.0, None),
    (Side.SHORT, 107.0, ShockActionKind.CLOSE), (Side.SHORT, 115.0, ShockActionKind.TRIM),
    (Side.SHORT, 120.0, None),
])
def test_evaluate_closes_below_emergency_trims_below_trim_buffer(
        side: Side, liq: float, expected: ShockActionKind | None) -> None:
    plan = shocked_guard().evaluate([position(side=side, liquidation=liq)], account(10_000), T0)
    assert [a.action for a in plan.actions] == ([expected] if expected else [])
    if expected is ShockActionKind.CLOSE:
        assert plan.actions[0].reduce_size == 1.0 and plan.actions[0].reason == "shock_close"
    if expected:
        assert plan.actions[0].buffer_source == "exchange"


def test_evaluate_leaves_unshocked_symbols_alone_without_marketwide() -> None:
    plan = shocked_guard("A").evaluate([position("B", mark=50.0, liquidation=49.0)], account(10_000), T0)
    assert plan.active and plan.actions == ()


def test_evaluate_acts_on_every_position_during_marketwide_pause() -> None:
    guard = ShockGuard(RiskConfig(shock_marketwide_count=2))
    guard.update_mark_prices(T0, {"A": 100.0, "B": 100.0, "C": 50.0}, {"A": 97.0, "B": 97.0})
    assert "*" in guard.paused_symbols(T0)
    plan = guard.evaluate([position("C", mark=50.0, liquidation=48.0)], account(10_000), T0)
    assert [(a.symbol, a.action) for a in plan.actions] == [("C", ShockActionKind.CLOSE)]


def test_update_mark_arrays_matches_mapping_feed_and_checks_shape() -> None:
    by_map, by_array = ShockGuard(RiskConfig(), ["A", "B"]), ShockGuard(RiskConfig(), ["A", "B"])
    ticks = [(0, [100.0, 10.0]), (60, [100.0, 9.7])]
    fed = [e for sec, px in ticks for e in by_map.update_mark_prices(at(sec), dict(zip("AB", px, strict=True)))]
    arr = [e for sec, px in ticks for e in by_array.update_mark_arrays(at(sec), np.array(px))]
    assert fed == arr and kinds(arr) == [("move", "B")]
    with pytest.raises(ValueError, match="shape"):
        by_array.update_mark_arrays(at(61), np.array([1.0]))


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_trim_size_restores_trim_buffer_on_cross_margin_estimate(side: Side, rate: float) -> None:
    equity, size, mark = 1_700.0, 100.0, 100.0
    maintenance = rate * size * mark
    plan = shocked_guard().evaluate([position(side=side, size=size, mark=mark)], account(equity, maintenance), T0,
                                    maintenance_margin_rate=rate)
    (action,) = plan.actions
    assert action.action is ShockActionKind.TRIM and action.buffer_source == "estimated"
    assert 0.10 <= action.buffer_pct < 0.18 and action.target_buffer_pct == 0.18
    left = size - action.reduce_size
    after, _ = liquidation_buffer_pct(side=side, mark=mark, notional_usd=left * mark, equity_usd=equity,
                                      maintenance_margin_usd=rate * left * mark, maintenance_rate=rate)
    assert after == pytest.approx(0.18, rel=1e-12)
    # a smaller cut would not restore it: the trim is just enough
    less = left + 0.01 * size
    short_of, _ = liquidation_buffer_pct(side=side, mark=mark, notional_usd=less * mark, equity_usd=equity,
                                         maintenance_margin_usd=rate * less * mark, maintenance_rate=rate)
    assert short_of < 0.18


def test_estimated_buffer_below_emergency_closes() -> None:
    plan = shocked_guard().evaluate([position(size=100.0)], account(1_000.0, 100.0), T0,
                                    maintenance_margin_rate={"A": 0.01})
    (action,) = plan.actions
    assert action.action is ShockActionKind.CLOSE and action.buffer_pct == pytest.approx(900 / 9_900)


def test_trim_fraction_without_maintenance_is_one_minus_ratio() -> None:
    assert trim_fraction(side=Side.LONG, buffer_pct=0.12, target_buffer_pct=0.18, maintenance_rate=0.0) == \
        pytest.approx(1 - 0.12 / 0.18)


def test_evaluate_is_pure_and_actions_carry_a_tick_key() -> None:
    guard = shocked_guard()
    args = ([position(liquidation=93.0)], account(10_000), T0)
    first, second = guard.evaluate(*args), guard.evaluate(*args)
    assert first == second and first.actions[0].key == f"A:close:{T0.isoformat()}"


def test_evaluate_reports_position_without_good_mark_as_unassessed() -> None:
    guard = ShockGuard(RiskConfig())
    guard.update_mark_prices(T0, {"A": 100.0}, {"A": 90.0})
    stale = at(120)  # the guard's mark is older than stale_after_seconds and the position carries none
    no_mark = Position(symbol="A", side=Side.LONG, size=1.0, entry_price=100.0, ts_opened=T0)
    plan = guard.evaluate([no_mark], account(10_000), stale)
    assert plan.active and plan.unassessed == ("A",) and plan.actions == ()


# -- bad data and staleness ----------------------------------------------------------------------

def test_stale_baseline_is_ignored_not_compared() -> None:
    guard = ShockGuard(RiskConfig(), stale_after_seconds=30)
    assert feed(guard, [(0, {"A": 100.0}), (91, {"A": 110.0})]) == []  # baseline 91 s old: stale


def test_baseline_at_tolerance_edge_is_used() -> None:
    guard = ShockGuard(RiskConfig(), stale_after_seconds=30)
    assert kinds(feed(guard, [(0, {"A": 100.0}), (90, {"A": 110.0})])) == [("move", "A")]


def test_genuine_shock_after_a_gap_is_detected_from_fresh_baseline() -> None:
    guard = ShockGuard(RiskConfig())
    events = feed(guard, [(0, {"A": 100.0}), (600, {"A": 120.0}), (660, {"A": 123.0})])
    assert kinds(events) == [("move", "A")] and events[0].ts == at(660)


@pytest.mark.parametrize("bad", [math.nan, 0.0, -5.0, math.inf])
def test_bad_price_never_shocks_and_does_not_hide_a_later_shock(bad: float) -> None:
    guard = ShockGuard(RiskConfig())
    events = feed(guard, [(0, {"A": 100.0}), (30, {"A": 100.0}), (60, {"A": bad}), (90, {"A": 103.0})],
                  reference={60: {"A": 100.0}, 90: {"A": bad}})
    # 90 s: the bad mark at 60 s is skipped; the good one at 30 s is the baseline (3 % move)
    assert kinds(events) == [("move", "A")] and events[0].ts == at(90)


def test_bad_baseline_is_skipped_for_an_earlier_good_one() -> None:
    guard = ShockGuard(RiskConfig())
    events = feed(guard, [(0, {"A": 100.0}), (10, {"A": math.nan}), (70, {"A": 97.0})])
    assert kinds(events) == [("move", "A")]


def test_missing_symbol_in_a_tick_is_neither_shocked_nor_forgotten() -> None:
    guard = ShockGuard(RiskConfig(), ["A", "B"])
    events = feed(guard, [(0, {"A": 100.0, "B": 10.0}), (60, {"B": 10.0}), (61, {"A": 103.0, "B": 10.0})])
    assert kinds(events) == [("move", "A")] and guard.symbols == ("A", "B")


def test_tick_earlier_than_previous_raises_market_data_error() -> None:
    guard = ShockGuard(RiskConfig())
    guard.update_mark_prices(at(10), {"A": 100.0})
    with pytest.raises(MarketDataError):
        guard.update_mark_prices(at(5), {"A": 100.0})


def test_history_is_bounded_and_detection_survives_ring_wrap() -> None:
    guard = ShockGuard(RiskConfig(), history_seconds=120, min_tick_seconds=1.0)
    for i in range(2_000):
        guard.update_mark_prices(at(i * 5), {"A": 100.0, "B": 50.0})
    assert guard.stored_ticks == guard.capacity == 121
    events = guard.update_mark_prices(at(2_000 * 5), {"A": 97.4, "B": 50.0})
    assert kinds(events) == [("move", "A")]


def test_ticks_faster_than_min_tick_are_evaluated_but_not_stored() -> None:
    guard = ShockGuard(RiskConfig(), min_tick_seconds=5.0)
    events = feed(guard, [(0, {"A": 100.0}), (1, {"A": 104.0}), (2, {"A": 100.0})])
    assert kinds(events) == [("range", "A")] and guard.stored_ticks == 1


def test_history_shorter_than_lookback_plus_tolerance_is_refused() -> None:
    with pytest.raises(ValueError, match="history_seconds"):
        ShockGuard(RiskConfig(), stale_after_seconds=30, history_seconds=80)


def test_disabled_guard_detects_pauses_and_plans_nothing() -> None:
    guard = ShockGuard(RiskConfig(shock_guard_enabled=False))
    events = feed(guard, [(0, {"A": 100.0}), (60, {"A": 50.0})], reference={60: {"A": 100.0}})
    assert events == [] and guard.paused_symbols(at(61)) == frozenset() and not guard.active(at(61))
    plan = guard.evaluate([position(liquidation=99.0)], account(10_000), at(61))
    assert plan.actions == () and not plan.active
    ts = np.array(["2024-01-01T00:00", "2024-01-01T00:01"], dtype="datetime64[us]")
    assert guard.scan_history(ts, np.array([[100.0], [50.0]]), None, ["A"]) == []


def test_shock_mode_activated_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    guard = ShockGuard(RiskConfig())
    with caplog.at_level(logging.WARNING, logger="krakenbot.risk.shock_guard"):
        for sec in (0, 5, 10):
            basis_shock(guard, sec, "A")
    lines = [r.getMessage() for r in caplog.records if "SHOCK_MODE ACTIVATED" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith("SHOCK_MODE ACTIVATED kind=basis symbol=A magnitude=0.03 threshold=0.015 ")
    assert f"cooldown_until={at(30 * 60).isoformat()}" in lines[0]


# -- whole-history scan == tick by tick ----------------------------------------------------------

STEPS = [0.0, 0.5, 1.0, 5.0, 10.0, 29.5, 30.0, 59.0, 60.0, 61.0, 90.0, 91.0, 120.0, 600.0]
RETURNS = [0.0, 0.001, -0.002, 0.01, -0.01, 0.02, 0.025, -0.025, 0.03, -0.05, 0.1]
BAD = [math.nan, 0.0, -1.0, math.inf]


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_scan_history_equals_tick_by_tick_feeding(data: st.DataObject) -> None:
    n_t = data.draw(st.integers(1, 40), label="ticks")
    n_s = data.draw(st.integers(1, 4), label="symbols")
    steps = data.draw(st.lists(st.sampled_from(STEPS), min_size=n_t, max_size=n_t), label="steps")
    rets = data.draw(arrays(np.float64, (n_t, n_s), elements=st.sampled_from(RETURNS)), label="returns")
    marks = 100.0 * np.cumprod(1.0 + rets, axis=0)
    bad_at = data.draw(arrays(np.int8, (n_t, n_s), elements=st.integers(-6, len(BAD) - 1)), label="bad")
    for code, value in enumerate(BAD):
        marks[bad_at == code] = value
    reference = None
    if data.draw(st.booleans(), label="with reference"):
        basis_values = st.sampled_from([0.0, 0.005, -0.015, 0.02, math.nan])
        basis = data.draw(arrays(np.float64, (n_t, n_s), elements=basis_values), label="basis")
        reference = 100.0 * np.cumprod(1.0 + rets, axis=0) * (1.0 + basis)
    cfg = RiskConfig(shock_cooldown_minutes=data.draw(st.sampled_from([0, 0.5, 1, 30])),
                     shock_marketwide_count=data.draw(st.integers(1, 3)),
                     shock_marketwide_window_sec=data.draw(st.sampled_from([5, 60, 120])))
    stale = data.draw(st.sampled_from([0.0, 10.0, 30.0]))
    min_tick = data.draw(st.sampled_from([1.0, 5.0]))
    symbols = [f"S{i}" for i in range(n_s)]
    times = [T0 + timedelta(seconds=float(s)) for s in np.cumsum(steps)]

    live = ShockGuard(cfg, symbols, stale_after_seconds=stale, min_tick_seconds=min_tick)
    fed: list[ShockDetected] = []
    for t, ts in enumerate(times):
        tick = {s: float(marks[t, i]) for i, s in enumerate(symbols)}
        ref = None if reference is None else {s: float(reference[t, i]) for i, s in enumerate(symbols)}
        fed += live.update_mark_prices(ts, tick, ref)

    scanner = ShockGuard(cfg, stale_after_seconds=stale, min_tick_seconds=min_tick)
    ts_arr = np.array([np.datetime64(ts.replace(tzinfo=None), "us") for ts in times])
    assert scanner.scan_history(ts_arr, marks, reference, symbols) == fed

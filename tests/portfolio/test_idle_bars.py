"""IdleBars: the next busy bar equals a bar-by-bar scan of the rule in its docstring, on any history."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.portfolio.idle_bars import IdleBars, _from_each_hit, _index_dtype, _next_hit

MIN = 60_000_000_000  # one minute in ns


def reference_next_busy(sides: np.ndarray, times: np.ndarray, stale_ns: int, first: int, held: Mapping[int, int],
                        newest_ns: Mapping[int, int], entries_from: int = 0, scores: np.ndarray | None = None,
                        max_positions: int | None = None, margin: float = 0.0) -> int:
    """The rule read one bar at a time: bar k >= ``first`` is busy when a column carries a signal other
    than the side held there (unheld: 0; an unheld column's signal only from ``entries_from`` on and, with
    ``scores`` and ``max_positions`` held, only when its score beats by more than ``margin`` the weakest
    holding's newest same-side score up to k), or a held column with a known newest signal time has gone
    more than ``stale_ns`` without a signal on its side (counting same-side signals from ``first`` on)."""
    bars, columns = sides.shape
    newest = dict(newest_ns)  # held column -> newest same-side signal time seen so far
    for k in range(first, bars):
        for col in range(columns):
            side = int(sides[k, col])
            held_side = held.get(col, 0)
            if side != 0 and held_side == 0 and k >= entries_from:
                if scores is None or max_positions is None or len(held) < max_positions:
                    return k
                own = [next((float(scores[j, c]) for j in range(k, -1, -1) if sides[j, c] == s), -np.inf)
                       for c, s in held.items()]
                if float(scores[k, col]) > min(own) + margin:
                    return k
            elif side != 0 and side != held_side and held_side != 0:
                return k
            if held_side != 0 and col in newest:
                if side == held_side:
                    newest[col] = max(newest[col], int(times[k]))
                if int(times[k]) - newest[col] > stale_ns:
                    return k
    return int(bars)


# sides, times_ns, stale_ns, first, held, newest_ns
History = tuple[np.ndarray, np.ndarray, int, int, dict[int, int], dict[int, int]]


@st.composite
def histories(draw: st.DrawFn) -> History:
    bars = draw(st.integers(min_value=0, max_value=40))
    columns = draw(st.integers(min_value=1, max_value=4))
    cells = draw(st.lists(st.sampled_from([-1, 0, 0, 1]), min_size=bars * columns, max_size=bars * columns))
    sides = np.array(cells, dtype=np.int8).reshape(bars, columns)
    start = draw(st.integers(min_value=-1_000, max_value=1_000))
    steps = draw(st.lists(st.integers(min_value=1, max_value=30), min_size=bars, max_size=bars))
    times = start + np.cumsum(np.array(steps, dtype=np.int64))
    stale_ns = draw(st.integers(min_value=0, max_value=200))
    first = draw(st.integers(min_value=0, max_value=bars + 2))
    before = int(times[first - 1]) if 0 < first <= bars else (int(times[-1]) if bars and first > bars else start)
    held: dict[int, int] = {}
    newest: dict[int, int] = {}
    for col in range(columns):
        side = draw(st.sampled_from([0, 1, -1]))
        if side:
            held[col] = side
            if draw(st.booleans()):
                newest[col] = draw(st.integers(min_value=before - 300, max_value=before))
    return sides, times, stale_ns, first, held, newest


@settings(max_examples=600, deadline=None)
@given(histories())
def test_next_busy_equals_a_bar_by_bar_scan_of_the_rule(history: History) -> None:
    sides, times, stale_ns, first, held, newest = history
    idle = IdleBars(sides, times, stale_ns)
    assert idle.next_busy(first, held, newest) == reference_next_busy(sides, times, stale_ns, first, held, newest)


@settings(max_examples=600, deadline=None)
@given(histories(), st.integers(min_value=0, max_value=45))
def test_next_busy_with_entries_refused_until_a_bar_equals_the_scan(history: History, entries_from: int) -> None:
    sides, times, stale_ns, first, held, newest = history
    idle = IdleBars(sides, times, stale_ns)
    assert (idle.next_busy(first, held, newest, entries_from=entries_from)
            == reference_next_busy(sides, times, stale_ns, first, held, newest, entries_from))


@settings(max_examples=600, deadline=None)
@given(histories(), st.integers(min_value=0, max_value=45), st.integers(min_value=1, max_value=4),
       st.sampled_from([0.0, 0.1, 0.25]), st.data())
def test_next_busy_with_full_slots_wakes_only_where_a_signal_may_outrank_as_the_scan(
        history: History, entries_from: int, max_positions: int, margin: float, data: st.DataObject) -> None:
    sides, times, stale_ns, first, held, newest = history
    cells = data.draw(st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.45, 0.5, 0.9]), min_size=sides.size,
                               max_size=sides.size))
    scores = np.where(sides != 0, np.array(cells, dtype=np.float64).reshape(sides.shape), np.nan)
    idle = IdleBars(sides, times, stale_ns, scores=scores, max_positions=max_positions, replace_margin=margin)
    assert (idle.next_busy(first, held, newest, entries_from=entries_from)
            == reference_next_busy(sides, times, stale_ns, first, held, newest, entries_from, scores, max_positions,
                                   margin))


def test_with_every_slot_taken_only_a_signal_that_outranks_the_weakest_holding_wakes() -> None:
    sides = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 1], [1, 0, -1]], dtype=np.int8)
    scores = np.array([[0.5, 0.6, np.nan], [0.4, np.nan, 0.45], [np.nan, np.nan, 0.7], [0.5, np.nan, 0.9]])
    idle = IdleBars(sides, minutes(4), stale_ns=60 * MIN, scores=scores, max_positions=2, replace_margin=0.1)
    held = {0: 1, 1: 1}
    # the weakest holding is column 0 (0.5, then 0.4 at bar 1): 0.45 does not beat 0.4 + 0.1; 0.7 at bar 2 does
    assert idle.next_busy(1, held, {0: MIN, 1: MIN}) == 2
    assert idle.next_busy(1, {0: 1}, {0: MIN}) == 1  # a free slot: any signal may open


def test_while_entries_are_refused_only_held_contracts_wake() -> None:
    sides = np.array([[1, 0], [1, 1], [-1, 0], [1, 0]], dtype=np.int8)
    idle = IdleBars(sides, minutes(4), stale_ns=60 * MIN)
    assert idle.next_busy(0, {}, {}, entries_from=3) == 3  # column 0's signals open nothing before bar 3
    assert idle.next_busy(0, {}, {}, entries_from=idle.bars) == idle.bars  # never: nothing is busy
    assert idle.next_busy(0, {0: 1}, {0: 0}, entries_from=idle.bars) == 2  # the held long still reverses


@settings(max_examples=200, deadline=None)
@given(histories())
def test_next_busy_answers_the_same_question_again_identically_and_never_before_first(history: History) -> None:
    sides, times, stale_ns, first, held, newest = history
    idle = IdleBars(sides, times, stale_ns)
    busy = idle.next_busy(first, held, newest)
    assert busy == idle.next_busy(first, held, newest)  # precomputed state is not consumed by a question
    assert min(first, idle.bars) <= busy <= idle.bars


# -- readable cases -------------------------------------------------------------------------------------------
def minutes(n: int) -> np.ndarray:
    """Close times of ``n`` one-minute bars (ns)."""
    return np.arange(1, n + 1, dtype=np.int64) * MIN


def column(*cells: int) -> np.ndarray:
    return np.array(cells, dtype=np.int8).reshape(-1, 1)


def test_a_reversal_on_a_held_contract_wakes_at_its_bar() -> None:
    idle = IdleBars(column(1, 1, 0, -1, 1), minutes(5), stale_ns=60 * MIN)
    assert idle.next_busy(0, {0: 1}, {0: 0}) == 3
    assert idle.next_busy(0, {0: -1}, {}) == 0  # held short: the first long is a reversal


def test_same_side_signals_on_a_held_contract_keep_every_bar_idle() -> None:
    idle = IdleBars(column(1, 0, 1, 1, 0, 1), minutes(6), stale_ns=60 * MIN)
    assert idle.next_busy(0, {0: 1}, {0: 0}) == 6
    assert idle.next_busy(2, {0: 1}, {0: 2 * MIN}) == 6


def test_staleness_wakes_exactly_at_the_first_bar_past_the_limit() -> None:
    idle = IdleBars(column(0, 0, 0, 0, 0, 0), minutes(6), stale_ns=3 * MIN)
    # newest signal at minute 1: minute 4 is exactly 3 minutes old (kept), minute 5 is past the limit
    assert idle.next_busy(1, {0: 1}, {0: 1 * MIN}) == 4  # bar 4 closes at minute 5
    assert idle.next_busy(0, {0: 1}, {}) == 6  # no newest signal known: kept, scored by its entry


def test_a_same_side_signal_restarts_the_staleness_clock() -> None:
    idle = IdleBars(column(0, 1, 0, 0, 0, 0, 0), minutes(7), stale_ns=3 * MIN)
    # newest at minute 0 would be stale at minute 4 (bar 3), but bar 1 (minute 2) refreshes it: stale at minute 6
    assert idle.next_busy(0, {0: 1}, {0: 0}) == 5


def test_the_first_signal_on_an_unheld_contract_wakes_whatever_its_side() -> None:
    sides = np.array([[1, 0], [1, 0], [1, -1], [1, 0]], dtype=np.int8)
    idle = IdleBars(sides, minutes(4), stale_ns=60 * MIN)
    assert idle.next_busy(0, {0: 1}, {0: 0}) == 2
    assert idle.next_busy(0, {}, {}) == 0  # column 0 unheld: its long at bar 0 is a candidate
    assert idle.next_busy(3, {0: 1}, {0: 3 * MIN}) == 4


@pytest.mark.parametrize("first", [4, 5, 100])
def test_first_at_or_past_the_end_returns_bars(first: int) -> None:
    idle = IdleBars(column(1, -1, 1, -1), minutes(4), stale_ns=0)
    assert idle.next_busy(first, {}, {}) == 4


def test_an_empty_history_has_no_busy_bar() -> None:
    idle = IdleBars(np.zeros((0, 3), dtype=np.int8), np.zeros(0, dtype=np.int64), stale_ns=MIN)
    assert idle.next_busy(0, {0: 1}, {0: -10 * MIN}) == 0 == idle.bars


@pytest.mark.parametrize("sides", [np.zeros(4, dtype=np.int8), np.zeros((3, 2), dtype=np.int8),
                                   np.zeros((4, 2, 1), dtype=np.int8)])
def test_sides_not_one_row_per_time_raise_value_error(sides: np.ndarray) -> None:
    with pytest.raises(ValueError, match="bars x contracts"):
        IdleBars(sides, minutes(4), stale_ns=MIN)


@pytest.mark.parametrize("density", [0.0, 0.001, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("n", [0, 1, 17, 1000])
def test_next_hit_is_the_first_hit_at_or_after_each_index_sparse_or_dense(density: float, n: int) -> None:
    mask = np.random.default_rng(n).random(n) < density
    expected = [next((j for j in range(k, n) if mask[j]), n) for k in range(n)]
    got = _next_hit(np.flatnonzero(mask), n)
    assert got.dtype == np.int32 and got.tolist() == expected


@pytest.mark.parametrize("density", [0.001, 0.05, 0.5, 1.0])
@pytest.mark.parametrize("n", [1, 17, 1000])
def test_from_each_hit_carries_the_newest_hit_value_from_the_first_hit_on(density: float, n: int) -> None:
    mask = np.random.default_rng(n).random(n) < density
    mask[-1] = True  # at least one hit
    hits = np.flatnonzero(mask)
    values = np.arange(len(hits), dtype=np.float64) * 1.5
    expected = [values[np.flatnonzero(hits <= k)[-1]] for k in range(int(hits[0]), n)]
    assert _from_each_hit(hits, values, n).tolist() == expected


def test_bar_indexes_are_int32_up_to_its_largest_value_and_int64_beyond() -> None:
    # ``n`` itself is stored (the "no hit" answer), so the last int32 count is 2**31 - 1
    assert _index_dtype(0) is np.int32 and _index_dtype(2**31 - 1) is np.int32
    assert _index_dtype(2**31) is np.int64

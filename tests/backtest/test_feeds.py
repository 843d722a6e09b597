"""The replay feeds' search of the newest closed candle or bar (``latest_at_or_before``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.backtest.feeds import latest_at_or_before

_QUERIES = st.lists(st.integers(min_value=-100, max_value=10_000), max_size=40)


def _answers_as_searchsorted(values: np.ndarray, queries: list[int]) -> None:
    search = latest_at_or_before(values)
    for x in [*queries, int(values[0]) if len(values) else 0, int(values[-1]) if len(values) else 0]:
        assert search(x) == int(values.searchsorted(x, side="right")) - 1, x


@given(first=st.integers(min_value=-50, max_value=50), step=st.integers(min_value=1, max_value=90),
       count=st.integers(min_value=0, max_value=120), queries=_QUERIES)
@settings(max_examples=300, deadline=None)
def test_latest_at_or_before_on_an_even_grid_answers_as_searchsorted(first: int, step: int, count: int,
                                                                     queries: list[int]) -> None:
    _answers_as_searchsorted(first + step * np.arange(count, dtype=np.int64), queries)


@given(steps=st.lists(st.integers(min_value=1, max_value=90), max_size=120), queries=_QUERIES)
@settings(max_examples=300, deadline=None)
def test_latest_at_or_before_on_any_increasing_times_answers_as_searchsorted(steps: list[int],
                                                                             queries: list[int]) -> None:
    _answers_as_searchsorted(np.cumsum(np.array(steps, dtype=np.int64)), queries)


def test_latest_at_or_before_on_a_grid_with_a_gap_searches() -> None:
    values = np.array([0, 60, 120, 240, 300], dtype=np.int64)  # the 180 candle is missing
    search = latest_at_or_before(values)
    assert [search(x) for x in (-1, 0, 119, 120, 239, 240, 10_000)] == [-1, 0, 1, 2, 2, 3, 4]

"""RangeBounds: the bounds of a row range contain its values, and are its blocks' extremes."""

from __future__ import annotations

import numpy as np
import pytest

from krakenbot.backtest.range_bounds import BLOCK_ROWS, RangeBounds


def _values(rows: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = 100.0 + rng.standard_normal((rows, 3)).cumsum(axis=0)
    values[rng.random((rows, 3)) < 0.2] = np.nan  # missing candles
    values[: 3 * BLOCK_ROWS, 2] = np.nan  # a column with whole blocks of nothing
    return values


@pytest.mark.parametrize("rows", [1, BLOCK_ROWS - 1, BLOCK_ROWS, 5 * BLOCK_ROWS + 7, 40 * BLOCK_ROWS])
def test_range_bounds_are_the_extremes_of_the_blocks_holding_the_rows(rows: int) -> None:
    values = _values(rows, seed=rows)
    table = RangeBounds(values)
    rng = np.random.default_rng(1)
    for _ in range(300):
        r0 = int(rng.integers(0, rows))
        r1 = int(rng.integers(r0 + 1, rows + 1))
        for col in range(values.shape[1]):
            blocks = values[r0 // BLOCK_ROWS * BLOCK_ROWS: -(-r1 // BLOCK_ROWS) * BLOCK_ROWS, col]
            blocks = blocks[~np.isnan(blocks)]
            expected = (float(blocks.min()), float(blocks.max())) if blocks.size else (np.inf, -np.inf)
            assert table.bounds(r0, r1, col) == expected
            rows_seen = values[r0:r1, col]
            rows_seen = rows_seen[~np.isnan(rows_seen)]
            if rows_seen.size:  # the range's own values lie within its bounds
                low, high = expected
                assert low <= rows_seen.min() and rows_seen.max() <= high


def test_range_bounds_refuse_an_empty_table() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        RangeBounds(np.empty((0, 2)))

"""Bounds on a column's values over a range of rows, read in constant time.

The backtest's stop and liquidation wakes ask, for each stretch between two wakes, whether any fresh low
(or high) of a contract could reach a level; a numpy reduction over the stretch costs about as much as
three Python function calls whatever its length. ``RangeBounds`` answers from a table built once instead:
the smallest and largest value of every aligned block of ``BLOCK_ROWS`` rows, and of every run of 2**k
blocks (a sparse table), so a range's blocks are covered by two runs, read with ``.item``.

Convention: the bounds are those of the blocks holding the rows, so they contain the rows' own extremes and
may be wider; NaN is no value (a block without one bounds nothing: +inf, -inf). A caller uses them to rule
a level out, never to find where it is reached.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 64  # rows per block: the table holds 2 x log2(rows / 64) floats per 64 rows and column


class RangeBounds:
    """Bounds of the values of each column of ``values`` (rows x columns, float64; NaN: none) over row ranges."""

    def __init__(self, values: np.ndarray) -> None:
        if values.ndim != 2 or len(values) == 0:
            raise ValueError(f"values must be (rows x columns) with at least one row, got shape {values.shape}")
        with np.errstate(invalid="ignore"):  # fmin / fmax skip NaN: NaN only where a whole block has no value
            low = np.fmin.reduceat(values, np.arange(0, len(values), BLOCK_ROWS), axis=0)
            high = np.fmax.reduceat(values, np.arange(0, len(values), BLOCK_ROWS), axis=0)
        low[np.isnan(low)], high[np.isnan(high)] = np.inf, -np.inf
        # level k: row b bounds the blocks [b, b + 2**k)
        self._low, self._high = [low], [high]
        blocks, width = len(low), 1
        while 2 * width <= blocks:
            low, high = np.minimum(low[:-width], low[width:]), np.maximum(high[:-width], high[width:])
            self._low.append(low)
            self._high.append(high)
            width *= 2

    def bounds(self, r0: int, r1: int, col: int) -> tuple[float, float]:
        """(lo, hi) with every value of rows [``r0``, ``r1``) of column ``col`` in [lo, hi] (``r0 < r1``, within the
        rows): the extremes of the blocks holding those rows; (+inf, -inf) when none of them holds a value."""
        first, last = r0 // BLOCK_ROWS, (r1 - 1) // BLOCK_ROWS
        level = (last - first + 1).bit_length() - 1  # two runs of 2**level blocks cover first..last
        other = last - (1 << level) + 1
        low, high = self._low[level], self._high[level]
        a, b, c, d = low.item(first, col), low.item(other, col), high.item(first, col), high.item(other, col)
        return (a if a < b else b), (c if c > d else d)  # no NaN here; builtin min / max cost ten times as much

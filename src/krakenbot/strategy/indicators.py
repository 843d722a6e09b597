"""Vectorised indicators with *finite memory*, so a window gives the same last value as the whole history.

Every indicator here is a fixed-length weighted sum over the last ``window`` bars, computed
as ``window`` vectorised passes over the array (one per lag, in the same order for every
output element). The value at bar ``t`` therefore depends only on bars ``t - window + 1 .. t``
and is **bit-for-bit identical** whether it is computed over the whole history (backtest) or
over any recent slice at least ``window`` bars long (live loop). Bars before the first full
window are NaN. A recursive EMA would instead remember its seed forever, and a cumulative-sum
rolling mean would carry the rounding of every earlier bar: neither could promise that.

Warm-up rule: an indicator of ``window`` bars needs ``window`` bars (``atr`` one more, for the
previous close) before its first value; a strategy's ``warmup_bars`` is the largest of those.

Bars are taken in sequence: Kraken omits candles in which nothing traded, so "one bar" is one
*recorded* candle, not one timeframe of wall time.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

EMA_TAIL_WEIGHT = 1e-4
"""The weight an EMA's truncated tail would have carried: ``ema`` drops bars beyond that point."""

WINDOW_SUM_BLOCK = 32_768
"""Bars ``weighted_window_sum`` takes at once through every lag (256 KB per float64 array: a few fit in L2)."""


def ema_window(span: int, tail_weight: float = EMA_TAIL_WEIGHT) -> int:
    """Bars an EMA of ``span`` keeps: the smallest ``n`` with ``(1 - alpha)**n <= tail_weight``.

    ``alpha = 2 / (span + 1)``. For ``span=20`` that is 93 bars, for ``span=50`` 231. Raises
    ``ValueError`` for ``span < 1`` or a ``tail_weight`` outside (0, 1).
    """
    if span < 1:
        raise ValueError(f"EMA span must be >= 1, got {span}")
    if not 0 < tail_weight < 1:
        raise ValueError(f"tail_weight must be in (0, 1), got {tail_weight}")
    if span == 1:
        return 1
    alpha = 2.0 / (span + 1)
    return max(1, math.ceil(math.log(tail_weight) / math.log(1.0 - alpha)))


def weighted_window_sum(values: FloatArray, weights: FloatArray) -> FloatArray:
    """``out[t] = sum_k weights[k] * values[t - k]`` for ``k < len(weights)``; NaN before a full window.

    The sum is taken lag by lag in a fixed order (``((w[0] x[t] + w[1] x[t-1]) + w[2] x[t-2]) + ...``),
    so ``out[t]`` is identical for any input slice that contains bars ``t - len(weights) + 1 .. t``. A NaN
    inside the window makes the output NaN.
    """
    x = np.asarray(values, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if x.ndim != 1 or w.ndim != 1 or w.size == 0:
        raise ValueError("weighted_window_sum needs 1-D values and a non-empty 1-D weights array")
    n, window = x.size, w.size
    out = np.full(n, np.nan, dtype=np.float64)
    if n < window:
        return out
    lags = [np.asarray(weight) for weight in w]  # 0-d arrays: no Python float converted at each of the calls below
    product = np.empty(min(WINDOW_SUM_BLOCK, n - window + 1), dtype=np.float64)
    # Block by block, every lag over a block before the next block: the block's sums and products stay in
    # cache across the lags (one pass per lag over the whole array would stream it from memory each time).
    # Each element still gets the same operations in the same order, so the values are the same.
    for start in range(window - 1, n, WINDOW_SUM_BLOCK):
        stop = min(start + WINDOW_SUM_BLOCK, n)
        acc, tmp = out[start:stop], product[: stop - start]
        np.multiply(x[start:stop], lags[0], out=acc)
        for k in range(1, window):
            np.multiply(x[start - k: stop - k], lags[k], out=tmp)
            np.add(acc, tmp, out=acc)
    return out


def sma(values: FloatArray, window: int) -> FloatArray:
    """Simple moving average over ``window`` bars (exact over any slice of at least ``window`` bars)."""
    if window < 1:
        raise ValueError(f"SMA window must be >= 1, got {window}")
    return weighted_window_sum(values, np.full(window, 1.0 / window))


def ema(values: FloatArray, span: int, tail_weight: float = EMA_TAIL_WEIGHT) -> FloatArray:
    """EMA of ``span`` with finite memory: weights ``alpha*(1-alpha)**k`` for the last ``ema_window(span)`` bars.

    The weights are renormalised to sum to 1, so a constant series has itself as its EMA. The
    difference to a recursive EMA seeded long ago is below ``tail_weight`` of the price range
    in the dropped tail.
    """
    window = ema_window(span, tail_weight)
    alpha = 2.0 / (span + 1)
    weights = alpha * (1.0 - alpha) ** np.arange(window, dtype=np.float64)
    weights = weights / weights.sum()
    return weighted_window_sum(values, weights)


def true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range per bar: max(high - low, |high - prev close|, |low - prev close|); NaN on bar 0."""
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    out = np.full(h.size, np.nan, dtype=np.float64)
    if h.size < 2:
        return out
    prev = c[:-1]
    out[1:] = np.maximum(h[1:] - lo[1:], np.maximum(np.abs(h[1:] - prev), np.abs(lo[1:] - prev)))
    return out


def atr(high: FloatArray, low: FloatArray, close: FloatArray, period: int) -> FloatArray:
    """Average true range: SMA of ``true_range`` over ``period`` bars (needs ``period + 1`` bars), price units."""
    return sma(true_range(high, low, close), period)

"""An example user strategy: the EMA cross, always in the market.

Per closed bar of each symbol, after warm-up:

* long when ``EMA(close, fast_span) > EMA(close, slow_span)``, short otherwise (a tie is short);
* a constant score of 1.0 (every symbol bids the same; the auction breaks ties by symbol);
* a constant stop distance ``stop_distance_pct`` (default 0.5, i.e. 50 % of the close: far
  enough that the protective stop never fires on ordinary data, so the strategy is a pure cross);
* no take-profit.

It is the textbook "EMA(20)/EMA(50) crossover" that other backtesters ship as their first
example, written against Krakenbot's ``Strategy`` interface; ``bench/`` runs it side by side
with backtesting.py and vectorbt. Name it in YAML as::

    strategy:
      class_path: krakenbot.strategy.ema_cross:EmaCrossStrategy
      params: {fast_span: 20, slow_span: 50}

The EMAs are the finite-memory ones of ``krakenbot.strategy.indicators`` (weights beyond
``ema_window(span)`` bars dropped), so ``compute`` on any window of at least ``warmup_bars``
bars gives its last bar exactly the value the whole history gives it.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy
from krakenbot.strategy.indicators import EMA_TAIL_WEIGHT, FloatArray, ema, ema_window


class EmaCrossParams(BaseModel):
    """Parameters of ``EmaCrossStrategy`` (``strategy.params`` in YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    fast_span: int = Field(20, ge=1, le=500, description="Span of the fast EMA of closes, bars.")
    slow_span: int = Field(
        50, ge=2, le=2000, description="Span of the slow EMA of closes, bars; must exceed fast_span.")
    stop_distance_pct: float = Field(
        0.5, gt=0, lt=1,
        description="Protective stop distance, fraction of the close (0.5 = 50 %: out of the way, a pure cross).")

    @model_validator(mode="after")
    def _ordered(self) -> EmaCrossParams:
        if self.fast_span >= self.slow_span:
            raise ValueError(f"fast_span ({self.fast_span}) must be less than slow_span ({self.slow_span})")
        return self


class EmaCrossStrategy(Strategy[EmaCrossParams]):
    """Long while the fast EMA is above the slow one, short otherwise; score 1.0, stop ``stop_distance_pct``."""

    params_model = EmaCrossParams
    name = "ema_cross"

    @property
    def warmup_bars(self) -> int:
        """The slow EMA's window, ``ema_window(slow_span)`` (231 bars for the default span of 50)."""
        p = self.params
        return max(ema_window(p.slow_span, EMA_TAIL_WEIGHT), ema_window(p.fast_span, EMA_TAIL_WEIGHT))

    def compute(self, candles: CandleArrays) -> SignalArrays:
        """Per-bar side (+1 / -1; 0 during warm-up), score 1.0 and the constant stop (NaN during warm-up); no
        take-profit (NaN: one value seen at every bar, read-only). The EMAs decide the side and are not kept: their
        arrays become the score and the stop, so a long history touches no fresh memory for those."""
        p = self.params
        fast = ema(candles.close, p.fast_span)
        slow = ema(candles.close, p.slow_span)
        valid = np.isfinite(fast)
        valid &= np.isfinite(slow)
        side = np.where(fast > slow, np.int8(1), np.int8(-1))  # int8 throughout: no int64 temporaries
        side *= valid  # 0 during warm-up
        return SignalArrays(side=side, score=_fill_where(fast, valid, 1.0),
                            stop_distance_pct=_fill_where(slow, valid, p.stop_distance_pct),
                            take_profit=np.broadcast_to(np.float64(np.nan), candles.close.shape))


def _fill_where(buffer: FloatArray, valid: np.ndarray, value: float) -> FloatArray:
    """``buffer`` overwritten with ``value`` where ``valid`` and NaN elsewhere (``np.where(valid, value, nan)``'s
    values), returned: an array no longer needed is reused rather than a new one allocated."""
    buffer.fill(np.nan)
    np.copyto(buffer, value, where=valid)
    return buffer

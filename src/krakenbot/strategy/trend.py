"""The default strategy: EMA trend following with ATR-scaled stops, scored per unit of risk.

Per closed bar of each symbol:

* trend: ``spread = EMA(close, fast_span) - EMA(close, slow_span)``;
* volatility: ``ATR(atr_period)`` (simple average of true range), in price units;
* long when ``spread >= min_spread_atr * ATR`` and the close is above the slow EMA; short the
  mirror image (when ``allow_short``); otherwise no signal;
* stop distance ``stop_atr_mult * ATR / close``, clipped to ``[min_stop_pct, max_stop_pct]``;
* score ``|spread| / ATR`` (the trend's strength in units of the volatility that sets the
  stop, i.e. conviction per unit of risk), capped at ``score_cap``; comparable across symbols
  because it has no unit;
* optional take-profit ``close +/- take_profit_atr_mult * ATR``.

The signal is a *state*, repeated on every bar while the trend holds: the auction keeps a
position while its symbol keeps signalling the same side, closes it when the side reverses,
and closes it as stale once the signal stops. The README's strategy section states its caveats.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy
from krakenbot.strategy.indicators import EMA_TAIL_WEIGHT, atr, ema, ema_window


class TrendParams(BaseModel):
    """Parameters of ``TrendStrategy`` (``strategy.params`` in YAML)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    fast_span: int = Field(20, ge=2, le=500, description="Span of the fast EMA of closes, bars.")
    slow_span: int = Field(
        50, ge=3, le=2000, description="Span of the slow EMA of closes, bars; must exceed fast_span.")
    atr_period: int = Field(14, ge=2, le=500, description="Bars averaged in the ATR (simple mean of true range).")
    min_spread_atr: float = Field(
        0.5, ge=0, le=20, description="Smallest |fast EMA - slow EMA| that counts as a trend, in ATRs.")
    stop_atr_mult: float = Field(3.0, gt=0, le=20, description="Protective stop distance, in ATRs from the close.")
    min_stop_pct: float = Field(
        0.004, gt=0, lt=0.5, description="Floor of the stop distance, fraction of price (0.004 = 0.4 %).")
    max_stop_pct: float = Field(
        0.25, gt=0, lt=1, description="Ceiling of the stop distance, fraction of price; wider would mean a tiny size.")
    take_profit_atr_mult: float | None = Field(
        None, gt=0, le=100, description="Take-profit distance in ATRs from the close; null for none (ride the trend).")
    score_cap: float = Field(
        10.0, gt=0, le=1000, description="Scores above this are capped (quiet markets inflate |spread|/ATR).")
    allow_short: bool = Field(True, description="Emit short signals in down-trends.")

    @model_validator(mode="after")
    def _ordered(self) -> TrendParams:
        if self.fast_span >= self.slow_span:
            raise ValueError(f"fast_span ({self.fast_span}) must be less than slow_span ({self.slow_span})")
        if self.min_stop_pct >= self.max_stop_pct:
            raise ValueError(f"min_stop_pct ({self.min_stop_pct}) must be less than max_stop_pct ({self.max_stop_pct})")
        return self


class TrendStrategy(Strategy[TrendParams]):
    """EMA fast/slow trend following with stops at ``stop_atr_mult`` x ATR; score = |spread| / ATR."""

    params_model = TrendParams
    name = "trend"

    @property
    def warmup_bars(self) -> int:
        """The slow EMA's window (``ema_window(slow_span)``) or ATR's ``atr_period + 1``, whichever is longer."""
        p = self.params
        return max(ema_window(p.slow_span, EMA_TAIL_WEIGHT), ema_window(p.fast_span, EMA_TAIL_WEIGHT),
                   p.atr_period + 1)

    def compute(self, candles: CandleArrays) -> SignalArrays:
        """Per-bar side, score, stop distance and take-profit over all of ``candles``."""
        p = self.params
        close = candles.close
        fast = ema(close, p.fast_span)
        slow = ema(close, p.slow_span)
        vol = atr(candles.high, candles.low, close, p.atr_period)
        spread = fast - slow
        valid = np.isfinite(spread) & np.isfinite(vol) & (vol > 0)
        safe_vol = np.where(valid, vol, 1.0)
        strength = np.where(valid, spread / safe_vol, np.nan)

        long_ = valid & (strength >= p.min_spread_atr) & (close > slow)
        short = valid & (strength <= -p.min_spread_atr) & (close < slow) & p.allow_short
        side = np.zeros(close.size, dtype=np.int8)
        side[long_] = 1
        side[short] = -1

        score = np.minimum(np.abs(strength), p.score_cap)
        stop = np.clip(p.stop_atr_mult * safe_vol / close, p.min_stop_pct, p.max_stop_pct)
        stop = np.where(valid, stop, np.nan)
        take_profit = np.full(close.size, np.nan)
        if p.take_profit_atr_mult is not None:
            take_profit = np.where(side != 0, close + side * p.take_profit_atr_mult * safe_vol, np.nan)
            take_profit = np.where(take_profit > 0, take_profit, np.nan)
        return SignalArrays(side=side, score=score, stop_distance_pct=stop, take_profit=take_profit,
                            extras={"ema_fast": fast, "ema_slow": slow, "atr": vol})

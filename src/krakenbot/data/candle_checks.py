"""Is this candle fit to trade on? Pure checks: values in, a reason (or a verdict) out.

- :func:`candle_problem`: one candle's own values (finite, positive, plausible, high/low bracketing
  open/close, volume finite and >= 0). The cache and the ``CandleManager`` drop a candle that fails.
- :func:`check_spot_vs_mark`: a signal candle's close against the futures mark of the same market.
  A spot candle far from the mark (a bad print, a decimal slip) is quarantined by the signal feed:
  the strategy never sees it and the symbol gives no signal until a candle within the bound arrives.
- :func:`isolated_spikes`: the history a start fetches (which the mark cannot judge): a close far from
  both of its neighbours, which agree with each other, is a bad print and dropped as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from krakenbot.data.ticker_checks import MAX_PLAUSIBLE_PRICE, MIN_PLAUSIBLE_PRICE


def candle_problem(o: float, h: float, low: float, c: float, v: float) -> str | None:
    """Why a candle's values are unusable, or None when they are fine.

    Prices (USD or quote units) must be finite and within [``MIN_PLAUSIBLE_PRICE``,
    ``MAX_PLAUSIBLE_PRICE``]; ``h >= max(o, c, low)`` and ``low <= min(o, c)``; the volume
    (base units) finite and >= 0. Never raises.
    """
    for name, price in (("open", o), ("high", h), ("low", low), ("close", c)):
        if not (math.isfinite(price) and price > 0):
            return f"{name} {price!r} is not a finite positive price"
        if not MIN_PLAUSIBLE_PRICE <= price <= MAX_PLAUSIBLE_PRICE:
            return f"{name} {price!r} is outside the plausible {MIN_PLAUSIBLE_PRICE:g}..{MAX_PLAUSIBLE_PRICE:g}"
    if h < max(o, c, low):
        return f"high {h!r} is below max(open, close, low) {max(o, c, low)!r}"
    if low > min(o, c):
        return f"low {low!r} is above min(open, close) {min(o, c)!r}"
    if not (math.isfinite(v) and v >= 0):
        return f"volume {v!r} is not finite and >= 0"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotMarkVerdict:
    """A candle close against the futures mark. ``deviation`` is ``|close / reference - 1|`` (a fraction,
    0.2 = 20 %; inf when it cannot be computed); ``ok`` when it is within ``max_deviation``; ``reason``
    says what is wrong when not."""

    close: float
    reference: float
    deviation: float
    max_deviation: float
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


def check_spot_vs_mark(*, close: float, mark: float, max_deviation_pct: float, multiplier: int = 1) -> SpotMarkVerdict:
    """Compare a candle ``close`` (spot units) with the futures ``mark`` (USD per contract, ``multiplier``
    spot units per contract). Beyond ``max_deviation_pct`` (a fraction) the candle is implausible.
    A close or mark that is not a finite positive number is never within the bound. Never raises."""
    reference = mark / multiplier if multiplier > 0 and math.isfinite(mark) else math.nan

    def verdict(deviation: float, reason: str | None) -> SpotMarkVerdict:
        return SpotMarkVerdict(close=close, reference=reference, deviation=deviation,
                               max_deviation=max_deviation_pct, reason=reason)

    if not (math.isfinite(reference) and reference > 0):
        return verdict(math.inf, f"futures mark {mark!r} is not a finite positive price")
    if not (math.isfinite(close) and close > 0):
        return verdict(math.inf, f"candle close {close!r} is not a finite positive price")
    deviation = abs(close / reference - 1.0)
    if not deviation <= max_deviation_pct:
        return verdict(deviation, f"candle close {close:.10g} is {deviation:.1%} from the futures mark "
                                  f"{reference:.10g} (threshold {max_deviation_pct:.1%})")
    return verdict(deviation, None)


def isolated_spikes(closes: Sequence[float], max_deviation_pct: float) -> list[int]:
    """Indices of the closes that are isolated bad prints: more than ``max_deviation_pct`` (a fraction)
    from both neighbours while the neighbours are within it of each other. The first and the last close
    have one neighbour only and are never reported (the newest is judged against the futures mark).
    A real crash or rally moves the neighbours too, so it is not a spike. Never raises."""
    def apart(a: float, b: float) -> bool:
        return not (a > 0 and b > 0) or abs(a / b - 1) > max_deviation_pct

    return [i for i in range(1, len(closes) - 1)
            if apart(closes[i], closes[i - 1]) and apart(closes[i], closes[i + 1])
            and not apart(closes[i + 1], closes[i - 1])]

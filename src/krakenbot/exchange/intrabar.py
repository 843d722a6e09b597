"""Intrabar execution: THE one place stating how the paper exchange fills between two prices.

Conventions (``PaperExchange.update_candles`` for backtests, ``update_market`` for ticks):

1. Path. Within a base candle a symbol's mark moves open -> the nearer of high/low -> the other
   -> close, in straight lines. Tie (open exactly as far from both): the extreme adverse to the
   symbol's position first (the low for a long or no position, the high for a short), so a stop
   is reached before a take-profit limit. Symbols walk one after the other in sorted order; the
   others hold their previous marks meanwhile (``_carried`` closes for a backtest).
2. Gaps. The jump from the previous mark to a candle's open, and every live tick, is a gap: no
   price in between traded. A level the gap passes is reached at the open (the tick's mark).
3. Order of checks at each point: liquidation first, then resting orders. Along a segment
   every level is handled in the order the mark reaches it; at an equal level liquidation
   comes first (the conservative choice).
4. Stops trigger when the mark reaches the stop and fill at the stop price, or at the open
   when the candle gaps through it, moved against us by ``slippage_pct``, as taker.
5. Resting limits fill at their limit once the mark reaches it, as maker (also on a gap).
6. Liquidation (Kraken's rule, cross margin over the whole account): when equity falls below
   maintenance margin at the mark, every position is closed at that mark (the level where the
   path breached it; the open on a gap), with the taker fee; counted in ``liquidations``; every
   resting order is cancelled.
7. Floor: equity never goes below zero. A deficit left when no position remains is the
   insurance fund's: it is added to ``PaperExchange.insurance_fund_usd`` and cash is set to 0.
8. Funding (hourly) is charged after the candle's walk, at the closes (``update_candles``), or
   before the checks at the new marks (``update_market``, as live).
"""

from __future__ import annotations

import math

OHLC = tuple[float, float, float, float]


def candle_path(candle: OHLC, position_sign: int) -> tuple[float, float, float, float] | None:
    """The mark path through one candle (convention 1): (open, first extreme, other extreme, close).

    ``position_sign`` is +1 long, -1 short, 0 none (the tie goes to the adverse extreme). A candle
    whose close is not a good price (finite, > 0) gives None; one with only a good close is that
    close alone (a gap); high and low are widened to hold the open and close.
    """
    o, h, lo, c = candle
    if not 0.0 < c < math.inf:  # a good price: finite and > 0 (NaN fails every comparison)
        return None
    if not (0.0 < o < math.inf and 0.0 < h < math.inf and 0.0 < lo < math.inf):
        return (c, c, c, c)
    h, lo = max(h, o, c), min(lo, o, c)
    up, down = h - o, o - lo
    high_first = up < down or (up == down and position_sign < 0)
    return (o, h, lo, c) if high_first else (o, lo, h, c)


def reached(level: float, start: float, end: float, *, below: bool) -> bool:
    """True when a segment ``start -> end`` reaches ``level`` from above (``below``) or below,
    not counting ``start`` itself (a level already passed there was handled at ``start``)."""
    if below:
        return end <= level < start
    return start < level <= end

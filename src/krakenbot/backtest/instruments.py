"""Perpetual contracts for backtests on spot data: names and synthetic contract specs.

Recorded spot candles carry no contract specs, so each symbol gets a linear ``PF_`` perpetual
with Kraken's shape: 1 unit per contract, max leverage 50 (the flex schedule's top tier),
a tick of about five significant digits of the first price and a lot of about 10 USD
(XBT: tick 1, lot 0.0001 at 30,000 USD, as Kraken lists it). Stated in the report's provenance.
"""

from __future__ import annotations

import math
from decimal import Decimal

from krakenbot.domain import Instrument, InstrumentKind

_KRAKEN_BASES = {"BTC": "XBT"}


def perpetual_for(spot: str) -> str:
    """Kraken Futures' linear perpetual for a spot pair: 'BTC/USD' -> 'PF_XBTUSD'."""
    base, _, quote = spot.partition("/")
    return f"PF_{_KRAKEN_BASES.get(base, base)}{quote or 'USD'}"


def synthetic_perpetual(spot: str, reference_price: float, *, max_leverage: float = 50.0) -> Instrument:
    """A ``PF_`` instrument sized for ``reference_price`` (USD). Raises ``ValueError`` on a bad price."""
    if not (math.isfinite(reference_price) and reference_price > 0):
        raise ValueError(f"{spot}: reference price must be > 0, got {reference_price!r}")
    magnitude = math.floor(math.log10(reference_price))
    tick = Decimal(1).scaleb(magnitude - 4)
    lot = Decimal(1).scaleb(min(math.floor(math.log10(10 / reference_price)), 0))
    base, _, quote = spot.partition("/")
    return Instrument(symbol=perpetual_for(spot), kind=InstrumentKind.FUTURES, base=base, quote=quote or "USD",
                      tick_size=tick, lot_size=lot, min_size=lot, max_leverage=max_leverage,
                      unified_symbol=f"{base}/{quote or 'USD'}:{quote or 'USD'}")

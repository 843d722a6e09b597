"""Market data value types: candles, tickers and pages of public trades."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import fast_init


def is_good_price(value: float | None) -> bool:
    """True for a finite, strictly positive price; False for None, NaN, inf, zero or negative."""
    return value is not None and math.isfinite(value) and value > 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One OHLCV candle; ``ts`` is the UTC open time, ``volume`` in base units."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0

    def __post_init__(self) -> None:
        ensure_utc(self.ts, field="Candle.ts")
        for name in ("open", "high", "low", "close"):
            if not is_good_price(getattr(self, name)):
                raise ValueError(f"Candle at {self.ts.isoformat()}: {name} must be a finite price > 0, "
                                 f"got {getattr(self, name)!r}")
        if self.high < max(self.open, self.close, self.low) or self.low > min(self.open, self.close):
            raise ValueError(f"Candle at {self.ts.isoformat()}: high/low do not bracket open/close "
                             f"(o={self.open} h={self.high} l={self.low} c={self.close})")
        if not math.isfinite(self.volume) or self.volume < 0:
            raise ValueError(f"Candle at {self.ts.isoformat()}: volume must be >= 0, got {self.volume!r}")


@fast_init  # the fast tick builds a few hundred a second; a backtest one per symbol and wake
@dataclass(frozen=True, slots=True, kw_only=True)
class Ticker:
    """A snapshot of one contract or pair. Prices in quote currency; any may be missing (None).

    ``funding_rate`` is Kraken Futures' absolute rate: USD per contract per hour (divide by the
    mark for the relative hourly rate); ``volume_24h`` in contracts or
    base units; ``ts`` is the exchange's timestamp of the snapshot (Kraken: last trade time).
    """

    symbol: str
    ts: datetime
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    mark: float | None = None
    index: float | None = None
    funding_rate: float | None = None
    open_interest: float | None = None
    volume_24h: float | None = None
    volume_24h_usd: float | None = None
    suspended: bool = False
    unified_symbol: str | None = None
    post_only: bool = False  # Kraken's ``postOnly``: only post-only limit orders are accepted (new listings)

    def __post_init__(self) -> None:
        if self.ts.tzinfo is not UTC:  # the UTC singleton needs no check (the fast tick builds ~300 a second)
            ensure_utc(self.ts, field=f"Ticker({self.symbol}).ts")

    @property
    def has_good_mark(self) -> bool:
        return is_good_price(self.mark)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstrumentStatus:
    """Kraken Futures' ``instruments/status`` for one contract: extreme volatility (Kraken raises initial
    margin by ``initial_margin_multiplier`` then), price dislocation (orders that would widen it are
    refused). ``entry_problem`` says why entries should pause, or None."""

    symbol: str
    extreme_volatility: bool = False
    dislocation: bool = False
    initial_margin_multiplier: float = 1.0

    @property
    def entry_problem(self) -> str | None:
        if self.extreme_volatility or self.initial_margin_multiplier > 1:
            return (f"extreme volatility (initial margin x{self.initial_margin_multiplier:g})"
                    if self.extreme_volatility else f"initial margin x{self.initial_margin_multiplier:g}")
        if self.dislocation:
            return "price dislocation"
        return None


SPOT_OHLC_REACH = 720
"""Kraken spot's OHLC endpoint answers only the newest 720 candles of a timeframe (the one still forming
included), whatever ``since`` says; older candles exist only as public trades or in Kraken's archive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TradePage:
    """One page of Kraken spot's public trades (``/0/public/Trades``, at most 1,000 trades).

    ``rows`` are ``(time_ns, price, volume)``: trade time as int nanoseconds since the epoch (UTC), price in
    quote units, volume in base units; oldest first. ``last`` is Kraken's cursor (nanoseconds): pass it as
    ``since`` for the next page (Kraken answers the trades after it). An empty page keeps the cursor it was
    asked with.
    """

    rows: tuple[tuple[int, float, float], ...]
    last: int

    def __post_init__(self) -> None:
        if any(b[0] < a[0] for a, b in zip(self.rows, self.rows[1:], strict=False)):
            raise ValueError("TradePage.rows must be oldest first")


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRecord:
    """One hourly funding rate of a Kraken Futures perpetual (``historicalfundingrates``).

    ``ts`` is the UTC start of the hour the rate applies to; ``relative`` Kraken's ``relativeFundingRate``,
    the fraction of position notional per hour (> 0: longs pay shorts); ``absolute`` Kraken's ``fundingRate``,
    USD per contract per hour (about ``relative`` x index price), None when Kraken did not give it.
    """

    ts: datetime
    relative: float
    absolute: float | None = None

    def __post_init__(self) -> None:
        ensure_utc(self.ts, field="FundingRecord.ts")
        if not math.isfinite(self.relative):
            raise ValueError(f"FundingRecord at {self.ts.isoformat()}: relative rate must be finite, "
                             f"got {self.relative!r}")

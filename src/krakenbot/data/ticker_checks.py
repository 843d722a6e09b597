"""Is this ticker fit to trade on? Bad market data pauses entries; it never reaches sizing.

Pure functions: a ticker, the previous good mark and ``now`` in; a verdict out. The loop drops a
ticker that fails (its symbol is then stale: entries pause, positions keep their exchange stops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from krakenbot.domain import Ticker, is_good_price

# A mark this far from the previous good mark is believed only when the index agrees with it.
UNCONFIRMED_JUMP_PCT = 0.5
INDEX_CONFIRMS_PCT = 0.1
# No Kraken contract trades outside these (USD per contract); beyond them a price is a bad print, and
# Decimal rounding to the tick (a quotient of 1e308 / 0.5) could not even be computed.
MIN_PLAUSIBLE_PRICE = 1e-12
MAX_PLAUSIBLE_PRICE = 1e12


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerVerdict:
    """``mark`` is the usable mark (None when the ticker is refused); ``reason`` says why not."""

    symbol: str
    mark: float | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.mark is not None


def check_ticker(ticker: Ticker | None, *, symbol: str, now: datetime, max_age: timedelta,
                 previous_mark: float | None = None) -> TickerVerdict:
    """Refuse a missing, suspended, stale, non-positive or NaN mark, a mark outside
    [``MIN_PLAUSIBLE_PRICE``, ``MAX_PLAUSIBLE_PRICE``], a crossed book (bid > ask),
    a timestamp from the future, and a mark that jumped ``UNCONFIRMED_JUMP_PCT`` or more from the
    previous good mark without the index within ``INDEX_CONFIRMS_PCT`` of it."""

    def refuse(reason: str) -> TickerVerdict:
        return TickerVerdict(symbol=symbol, mark=None, reason=reason)

    if ticker is None:
        return refuse("no ticker")
    if ticker.suspended:
        return refuse("market suspended")
    if not is_good_price(ticker.mark):
        return refuse(f"mark {ticker.mark!r} is missing, zero, negative or NaN")
    assert ticker.mark is not None
    if not MIN_PLAUSIBLE_PRICE <= ticker.mark <= MAX_PLAUSIBLE_PRICE:
        return refuse(f"mark {ticker.mark!r} is outside the plausible {MIN_PLAUSIBLE_PRICE:g}..{MAX_PLAUSIBLE_PRICE:g}")
    age = now - ticker.ts
    if age > max_age:
        return refuse(f"ticker is {age.total_seconds():.0f}s old (max {max_age.total_seconds():.0f}s)")
    if age < -max_age:
        return refuse(f"ticker timestamp {ticker.ts.isoformat()} is in the future")
    if is_good_price(ticker.bid) and is_good_price(ticker.ask) and ticker.bid > ticker.ask:  # type: ignore[operator]
        return refuse(f"crossed book: bid {ticker.bid} > ask {ticker.ask}")
    if previous_mark is not None and math.isfinite(previous_mark) and previous_mark > 0:
        jump = abs(ticker.mark / previous_mark - 1.0)
        if jump >= UNCONFIRMED_JUMP_PCT:
            index = ticker.index
            confirmed = is_good_price(index) and abs(index / ticker.mark - 1.0) <= INDEX_CONFIRMS_PCT  # type: ignore[operator]
            if not confirmed:
                return refuse(f"mark {ticker.mark} is {jump:.0%} from the previous {previous_mark} and the index "
                              f"({index}) does not confirm it")
    return TickerVerdict(symbol=symbol, mark=ticker.mark)

"""Is this ticker fit to trade on? Bad market data pauses entries; it never reaches sizing.

Pure functions: a ticker, the previous good mark and ``now`` in; a verdict out. The loop drops a
ticker that fails (its symbol is then stale: entries pause, positions keep their exchange stops).
A first mark (no previous good mark, e.g. after a start) is believed only when the index confirms
it or, without an index, when the next tick's mark agrees with it (the verdict's ``candidate``).
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
_INF = math.inf


@dataclass(frozen=True, slots=True, kw_only=True)
class TickerVerdict:
    """``mark`` is the usable mark (None when the ticker is refused); ``reason`` says why not;
    ``candidate``: a first mark nothing confirmed yet, to pass back as ``unconfirmed_mark`` next tick."""

    symbol: str
    mark: float | None
    reason: str | None = None
    candidate: float | None = None

    @property
    def ok(self) -> bool:
        return self.mark is not None


def check_ticker(ticker: Ticker | None, *, symbol: str, now: datetime, max_age: timedelta,
                 previous_mark: float | None = None, unconfirmed_mark: float | None = None) -> TickerVerdict:
    """Refuse a missing, suspended, stale, non-positive or NaN mark, a mark outside
    [``MIN_PLAUSIBLE_PRICE``, ``MAX_PLAUSIBLE_PRICE``], a crossed book (bid > ask),
    a timestamp from the future, and a mark that jumped ``UNCONFIRMED_JUMP_PCT`` or more from the
    previous good mark without the index within ``INDEX_CONFIRMS_PCT`` of it. Without a previous
    good mark, the index must be within ``INDEX_CONFIRMS_PCT`` of the mark, or, with no index, the
    previous tick's ``unconfirmed_mark`` must be."""
    # The common case first, at the fast tick's rate (every contract, every tick): a plausible mark (the range
    # test fails for NaN), a fresh time, a book not crossed, a good previous mark it stays near.
    # Anything else takes the full checks below, which give the same verdict for this case.
    if ticker is not None and not ticker.suspended:
        mark = ticker.mark
        if (mark is not None and MIN_PLAUSIBLE_PRICE <= mark <= MAX_PLAUSIBLE_PRICE
                and (ticker.bid is None or ticker.ask is None or not ticker.bid > ticker.ask)
                and previous_mark is not None and MIN_PLAUSIBLE_PRICE <= previous_mark < _INF
                and abs(mark / previous_mark - 1.0) < UNCONFIRMED_JUMP_PCT
                and -max_age <= now - ticker.ts <= max_age):
            return TickerVerdict(symbol=symbol, mark=mark)
    return _check_in_full(ticker, symbol=symbol, now=now, max_age=max_age, previous_mark=previous_mark,
                          unconfirmed_mark=unconfirmed_mark)


def _check_in_full(ticker: Ticker | None, *, symbol: str, now: datetime, max_age: timedelta,
                   previous_mark: float | None, unconfirmed_mark: float | None) -> TickerVerdict:
    """Every check of :func:`check_ticker`, one after the other (its verdict for any ticker)."""

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
    if not _good(previous_mark):
        return _first_mark(ticker, symbol=symbol, mark=ticker.mark, unconfirmed_mark=unconfirmed_mark)
    if previous_mark is not None:
        jump = abs(ticker.mark / previous_mark - 1.0)
        if jump >= UNCONFIRMED_JUMP_PCT:
            index = ticker.index
            confirmed = is_good_price(index) and abs(index / ticker.mark - 1.0) <= INDEX_CONFIRMS_PCT  # type: ignore[operator]
            if not confirmed:
                return refuse(f"mark {ticker.mark} is {jump:.0%} from the previous {previous_mark} and the index "
                              f"({index}) does not confirm it")
    return TickerVerdict(symbol=symbol, mark=ticker.mark)


def _good(price: float | None) -> bool:
    return price is not None and math.isfinite(price) and price > 0


def _near(a: float, b: float) -> bool:
    return abs(a / b - 1.0) <= INDEX_CONFIRMS_PCT


def _first_mark(ticker: Ticker, *, symbol: str, mark: float, unconfirmed_mark: float | None) -> TickerVerdict:
    """A mark with no previous good mark to compare with: the index, or a second consistent tick, confirms it."""
    index = ticker.index
    if is_good_price(index):
        assert index is not None
        if _near(index, mark):
            return TickerVerdict(symbol=symbol, mark=mark)
        return TickerVerdict(symbol=symbol, mark=None,
                             reason=f"first mark {mark} is more than {INDEX_CONFIRMS_PCT:.0%} from the index {index}")
    if unconfirmed_mark is not None and _good(unconfirmed_mark) and _near(mark, unconfirmed_mark):
        return TickerVerdict(symbol=symbol, mark=mark)
    return TickerVerdict(symbol=symbol, mark=None, candidate=mark,
                         reason=f"first mark {mark} has no index and no previous mark to confirm it; "
                                f"waiting for a second consistent tick")

"""Funding of the loopback Kraken's perpetual positions: accrued as unrealised funding, settled hourly.

Kraken (support.kraken.com, "Linear Multi-Collateral Perpetual Contract Specifications"): funding
credits and debits accumulate as unrealised profit/loss and settle at the end of each hour, or when
the net position changes. The rate is the ticker's ``fundingRate``: absolute, USD per contract per
hour (``FuturesContract.funding_rate_rel x mark`` here); a positive rate makes longs pay shorts.

Simplifications, stated: the rate and the mark are read at each update (the fake calls ``advance``
before every private request, mark move and exchange-side close), so a position accrues at the rate
of the end of each interval; unsettled funding counts in equity and available margin as Kraken shows
them in ``accounts``, but the fake's own margin check on new orders uses the settled balance only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from krakenbot.testing.fake_kraken_orders import FuturesBook

_HOUR = timedelta(hours=1)


def _next_hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0) + _HOUR


@dataclass(slots=True)
class FundingLedger:
    """Unrealised funding per position (USD; positive = received) and what was settled into the balance."""

    accrued: dict[str, Decimal] = field(default_factory=dict)
    settled_usd: Decimal = Decimal(0)  # total settled into the account balance so far
    settlements: int = 0  # hourly settlements (and position-change settlements) that moved money
    last: datetime | None = None
    sizes: dict[str, Decimal] = field(default_factory=dict)  # position sizes at ``last``

    def advance(self, book: FuturesBook, now: datetime) -> None:
        """Accrue funding from the last update to ``now``, settling at every full hour crossed and for
        each position whose size changed since the last update."""
        if self.last is None or now <= self.last:
            self.last = self.last or now
            self._settle_changed(book)
            return
        t = self.last
        while t < now:
            stop = min(now, _next_hour(t))
            hours = Decimal(repr((stop - t).total_seconds())) / Decimal(3600)
            for symbol, size in self.sizes.items():
                contract = book.contracts.get(symbol)
                if contract is None or size == 0:
                    continue
                rate_usd = Decimal(repr(contract.funding_rate_rel)) * Decimal(repr(contract.mark))
                self.accrued[symbol] = self.accrued.get(symbol, Decimal(0)) - size * rate_usd * hours
            if stop == _next_hour(t):
                self._settle(book, list(self.accrued))
            t = stop
        self.last = now
        self._settle_changed(book)

    def _settle_changed(self, book: FuturesBook) -> None:
        current = {s: p.size for s, p in book.positions.items() if p.size != 0}
        changed = [s for s in set(current) | set(self.sizes) if current.get(s) != self.sizes.get(s)]
        self._settle(book, changed)
        self.sizes = current

    def _settle(self, book: FuturesBook, symbols: list[str]) -> None:
        amount = sum((self.accrued.pop(s, Decimal(0)) for s in symbols), Decimal(0))
        if amount != 0:
            book.balance_usd += amount
            self.settled_usd += amount
            self.settlements += 1

    def unrealized_usd(self, symbol: str | None = None) -> Decimal:
        if symbol is not None:
            return self.accrued.get(symbol, Decimal(0))
        return sum(self.accrued.values(), Decimal(0))

    def apply_to_accounts(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add the unsettled funding to the flex account's figures, as Kraken reports them."""
        flex = body["accounts"]["flex"]
        funding = float(self.unrealized_usd())
        flex["unrealizedFunding"] = funding
        for key in ("totalUnrealized", "totalUnrealizedAsMargin", "portfolioValue", "availableMargin",
                    "marginEquity"):
            flex[key] = flex[key] + funding
        flex["currencies"]["USD"]["available"] += funding
        return body

    def apply_to_positions(self, body: dict[str, Any]) -> dict[str, Any]:
        """Fill each ``openPositions`` row's ``unrealizedFunding``."""
        for row in body["openPositions"]:
            row["unrealizedFunding"] = float(self.unrealized_usd(row["symbol"]))
        return body

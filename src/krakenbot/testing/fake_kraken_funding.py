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

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from krakenbot.testing.fake_kraken_market import FuturesContract, iso_ms
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


FUNDING_HISTORY_REACH = timedelta(days=365)  # Kraken keeps a rolling year of hourly rates


@dataclass(slots=True)
class FundingHistory:
    """Kraken Futures' ``/derivatives/api/v3/historicalfundingrates?symbol=`` (what ccxt 4.5.90's
    ``krakenfutures.fetch_funding_rate_history`` calls), served from recorded data.

    A contract's series is the one registered with ``record`` (``(ts, relative, absolute)`` rows; ``absolute``
    None leaves ``fundingRate`` out), else the file ``{SYMBOL}-funding-1h.parquet`` (columns ``ts,
    relative_funding_rate, funding_rate``, Krakenbot's own layout) in the data folder or its ``futures/``,
    else a synthetic hourly series at the contract's ``funding_rate_rel`` (absolute = relative x mark).
    A missing hour in a recording stays missing (Kraken has missed settlements). Answered: the hours not after
    now and not older than ``reach`` (Kraken's rolling year; None: everything recorded), oldest first.
    """

    data_dir: Path | None = None
    reach: timedelta | None = FUNDING_HISTORY_REACH
    _series: dict[str, list[tuple[datetime, float, float | None]]] = field(default_factory=dict)

    def record(self, symbol: str, rows: list[tuple[datetime, float, float | None]]) -> None:
        self._series[symbol] = sorted(rows, key=lambda row: row[0])

    def _load(self, symbol: str) -> list[tuple[datetime, float, float | None]] | None:
        if symbol in self._series:
            return self._series[symbol]
        if self.data_dir is None:
            return None
        for folder in (self.data_dir, self.data_dir / "futures"):
            path = folder / f"{symbol}-funding-1h.parquet"
            if path.exists():
                import pandas as pd  # only recorded files need pandas

                frame = pd.read_parquet(path)
                ts = pd.to_datetime(frame["ts"], utc=True)
                absolute = frame["funding_rate"] if "funding_rate" in frame else [math.nan] * len(frame)
                rows = [(t.to_pydatetime(), float(r), None if not math.isfinite(float(a)) else float(a))
                        for t, r, a in zip(ts, frame["relative_funding_rate"], absolute, strict=True)]
                self.record(symbol, rows)
                return self._series[symbol]
        return None

    def body(self, symbol: str, contract: FuturesContract | None, now: datetime) -> dict[str, Any]:
        rows = self._load(symbol)
        oldest = now - self.reach if self.reach is not None else None
        if rows is None:
            rows = []
            if contract is not None:
                start = now.replace(minute=0, second=0, microsecond=0) - (self.reach or FUNDING_HISTORY_REACH)
                rel = contract.funding_rate_rel
                rows = [(start + _HOUR * i, rel, rel * contract.mark)
                        for i in range(int((self.reach or FUNDING_HISTORY_REACH) / _HOUR) + 1)]
        rates: list[dict[str, Any]] = []
        for ts, relative, absolute in rows:
            if ts > now or (oldest is not None and ts < oldest):
                continue
            entry: dict[str, Any] = {"timestamp": iso_ms(ts)}
            if absolute is not None:
                entry["fundingRate"] = absolute
            entry["relativeFundingRate"] = relative
            rates.append(entry)
        return {"rates": rates, "result": "success", "serverTime": iso_ms(now)}

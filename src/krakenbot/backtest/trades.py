"""Round trips from fills: one trade per position from flat to flat, with fees, funding and why it closed."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import pandas as pd

from krakenbot.backtest.result import TRADE_COLUMNS, empty_trades, utc_column
from krakenbot.domain import Fill, Instrument, OrderSide
from krakenbot.domain.vocabulary import OrderReason

_BUY = OrderSide.BUY  # a module constant: an enum member read costs a class attribute lookup per fill


@dataclass(slots=True)
class _Open:
    side: str
    ts_open: datetime
    contract_size: float  # base units per contract, as a float
    size: float = 0.0  # signed contracts now held
    peak: float = 0.0  # largest |size| reached
    cost: float = 0.0  # USD paid for contracts bought minus received for those sold
    entry_value: float = 0.0
    entry_size: float = 0.0
    exit_value: float = 0.0
    exit_size: float = 0.0
    fees: float = 0.0
    reason: str = ""  # the latest reducing fill's (the one that closes the trade, once it is flat)


class _FundingIndex:
    """Funding paid on a symbol in (start, end], in O(log payments + payments in the window): the
    payments of each symbol in time order, summed in that order (as a plain filter would)."""

    def __init__(self, funding: Sequence[tuple[datetime, str, float]]) -> None:
        self._ts: dict[str, list[datetime]] = {}
        self._amounts: dict[str, list[float]] = {}
        for ts, symbol, amount in sorted(funding, key=lambda row: row[0]):  # stable: same-time rows keep order
            self._ts.setdefault(symbol, []).append(ts)
            self._amounts.setdefault(symbol, []).append(amount)

    def __call__(self, symbol: str, start: datetime, end: datetime) -> float:
        times = self._ts.get(symbol, [])
        lo, hi = bisect_right(times, start), bisect_right(times, end)
        return sum(self._amounts[symbol][lo:hi]) if hi > lo else 0.0


def build_trades(fills: Sequence[Fill], reasons: Mapping[str, str], instruments: Mapping[str, Instrument],
                 funding: Sequence[tuple[datetime, str, float]],
                 stamps_us: Mapping[datetime, int] | None = None) -> pd.DataFrame:
    """TRADE_COLUMNS rows from ``fills`` (oldest first). ``reasons``: client order id -> intent reason (a fill
    of no known order closes with ``liquidation`` or ``external``); ``funding``: (ts, symbol, USD paid)
    payments, charged to the trade open at that time; ``stamps_us``: known conversions of fill times to
    epoch microseconds (``utc_column``'s ``known``)."""
    rows: list[tuple[object, ...]] = []  # TRADE_COLUMNS in order
    book: dict[str, _Open] = {}
    paid_between = _FundingIndex(funding) if funding else None  # None: no funding paid, nothing to look up
    contract_sizes: dict[str, float] = {}  # float(contract_size) once per symbol, not once per trade
    for fill in fills:
        symbol = fill.symbol
        size = float(fill.size)  # > 0 (``Fill`` checks it): |qty|
        qty = size if fill.side is _BUY else -size
        price = float(fill.price)
        trade = book.get(symbol)
        if trade is None:
            cs = contract_sizes.get(symbol)
            if cs is None:
                cs = contract_sizes[symbol] = float(instruments[symbol].contract_size)
            trade = book[symbol] = _Open(side="long" if qty > 0 else "short", ts_open=fill.ts, contract_size=cs)
        held = trade.size
        if held == 0 or (held > 0) == (qty > 0):  # opening (or adding)
            trade.entry_value += size * price
            trade.entry_size += size
        else:
            trade.exit_value += size * price
            trade.exit_size += size
            cid = fill.client_order_id
            trade.reason = reasons[cid] if cid in reasons else OrderReason.of_unasked_fill(cid)
        trade.size = held + qty
        magnitude = abs(trade.size)
        trade.peak = max(trade.peak, magnitude)
        trade.cost += qty * price * trade.contract_size
        trade.fees += float(fill.fee_usd)
        if magnitude < 1e-12:
            paid = 0.0 if paid_between is None else paid_between(symbol, trade.ts_open, fill.ts)  # USD: a float column
            entry, base_size = trade.entry_value / trade.entry_size, trade.peak * trade.contract_size
            rows.append((symbol, trade.side, trade.ts_open, fill.ts, entry, trade.exit_value / trade.exit_size,
                         base_size, base_size * entry, -trade.cost - trade.fees - paid, trade.fees, paid, trade.reason))
            del book[symbol]
    if not rows:
        return empty_trades()
    # by columns, the times as integers: pandas parsing datetime objects row by row is the slow part (one
    # comprehension per column: ``zip(*rows)`` would make an iterator per row, tens of thousands for the GC to count)
    columns: dict[str, object] = {col: [row[k] for row in rows] for k, col in enumerate(TRADE_COLUMNS)}
    for col in ("ts_open", "ts_close"):
        columns[col] = utc_column(cast(list[datetime], columns[col]), stamps_us)
    return pd.DataFrame(columns, columns=list(TRADE_COLUMNS))

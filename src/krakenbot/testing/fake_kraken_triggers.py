"""Triggered stops on the loopback Kraken: an immediate-or-cancel order with a price band, against the
book's liquidity, so that in a gap part of a stop can go unfilled.

What Kraken does (and where it says so):
- a stop without ``limitPrice`` becomes, once triggered, an immediate-or-cancel order: the
  ``orderTrigger`` of Kraken's sendorder answer reports ``type: ioc`` for a stop-market (ccxt
  ``krakenfutures.py``, comment in ``create_order``'s answer; the pinned ccxt 4.5.90);
- Kraken's market order is "an immediate-or-cancel order with 1% price protection" (sendorder
  ``orderType`` ``mkt``, https://docs.kraken.com/api-reference/order-management/send-order).
  The band of a *triggered stop* is not documented: the loopback uses the same 1 % from the mark at
  the trigger by default, settable per server (``FakeKraken.set_stop_band``);
- what finds no counterpart within the band is cancelled, and the stop is closed with what it filled.

The loopback's book has one price per contract (the mark) and a depth of ``liquidity`` contracts
(``FakeKraken.set_liquidity``: what one taker order fills; unlimited by default, so a stop fills in
full as before). A triggered stop-market fills at the mark, at most that depth, and only when the mark
is within its band (always, in the loopback: the band is measured from the mark); the rest is
cancelled. A stop with a ``limitPrice`` (stop-limit) keeps the old behaviour: it fills in full.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from krakenbot.testing.fake_kraken_orders import FuturesBook, SimOrder

DEFAULT_STOP_BAND_PCT = Decimal("0.01")  # 0.01 = 1 %: Kraken's documented protection of a market order


def band_limit(side: str, reference: Decimal, band_pct: Decimal) -> Decimal:
    """The IoC limit a triggered stop gets: ``band_pct`` (0.01 = 1 %) through ``reference`` (USD)."""
    return reference * (1 - band_pct) if side == "sell" else reference * (1 + band_pct)


def fire_trigger(book: FuturesBook, order: SimOrder, qty: Decimal, mark: Decimal,
                 now: datetime) -> list[dict[str, Any]]:
    """Execute the triggered ``order`` for up to ``qty`` contracts at ``mark``; return Kraken's order events.

    A stop-market is an IoC within the band: it fills what the book holds (``book.liquidity``), the
    rest is cancelled (a CANCEL event, the order closed with its partial fill)."""
    if order.limit_price is not None:  # a stop-limit: unchanged, fills like a limit at the mark
        return [book._execute(order, qty, mark, maker=False, now=now)]
    limit = band_limit(order.side, mark, book.stop_band_pct)
    within = (order.side == "sell" and mark >= limit) or (order.side == "buy" and mark <= limit)
    fill = min(qty, book.liquidity.get(order.symbol, qty)) if within else Decimal(0)
    events: list[dict[str, Any]] = []
    if fill > 0:
        events.append(book._execute(order, fill, mark, maker=False, now=now))
    if fill < qty:  # nothing more within the band: Kraken cancels the rest of the IoC
        order.status, order.closed_at, order.last_update = "cancelled", now, now
        events.append({"type": "CANCEL", "uid": order.order_id, "order": order.order_dict(),
                       "reason": "ioc_cancelled"})
    return events

"""Protection first when the store cannot record what the exchange did (a full disk, a read-only store).

The store is then no guide: the position is read from the exchange, and when our resting reduce-only
stops on its closing side do not cover it, a stop for the rest is placed at once. Its intent cannot be
stored either, so it is logged at ERROR with its client order id instead; it carries our prefix, so
the restart's reconciliation finds it among the open orders and adopts it (never sends it again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from krakenbot.domain import Clock, Instrument, OrderIntent, OrderSide, OrderType
from krakenbot.domain.errors import DuplicateOrderError, OutcomeUnknownError
from krakenbot.domain.vocabulary import OrderReason
from krakenbot.exchange.base import Exchange

log = logging.getLogger(__name__)

FALLBACK_STOP_PCT = 0.05  # stop distance from entry for a position whose signal's stop is unknown (0.05 = 5 %)


def ensure_stop(exchange: Exchange, instrument: Instrument, *, is_ours: Callable[[str], bool],
                next_id: Callable[[], str], clock: Clock,
                stop_price: Decimal | None = None, stop_pct: float = FALLBACK_STOP_PCT) -> str:
    """Make sure the position the exchange reports on ``instrument`` has our reduce-only stop(s) covering
    its size; place one for the uncovered rest when not. ``stop_price`` (USD) when the wanted stop is
    known, else ``stop_pct`` (0.05 = 5 %) from the exchange's entry price. ``is_ours(cid)`` tells our
    client order ids; ``next_id()`` makes one. Returns one line saying how the position stands.
    Raises the exchange's errors (``KrakenbotError``) when it cannot read or place."""
    symbol = instrument.symbol
    position = next((p for p in exchange.fetch_positions() if p.symbol == symbol), None)
    if position is None:
        return f"Kraken holds no position on {symbol}"
    closing = OrderSide.to_close(position.side)
    want = instrument.round_size(position.size)
    held = [o for o in exchange.fetch_open_orders()
            if o.symbol == symbol and o.order_type is OrderType.STOP and not o.is_done and o.side is closing
            and is_ours(o.client_order_id)]
    covered = sum((o.remaining for o in held), Decimal(0))
    where = f"{symbol} {position.side.value} {want}"
    if covered >= want:
        return f"{where} is protected by stop {', '.join(o.client_order_id for o in held)}"
    if stop_price is None:
        stop_price = instrument.round_price(position.entry_price * (1 - position.side.sign * stop_pct),
                                            "up" if closing is OrderSide.SELL else "down")
    intent = OrderIntent(client_order_id=next_id(), symbol=symbol, side=closing, size=want - covered,
                         order_type=OrderType.STOP, reduce_only=True, reason=OrderReason.STOP,
                         ts_created=clock.now(), stop_price=stop_price)
    cid = intent.client_order_id
    log.error("%s: placing protective stop %s (%s %s, stop %s) from Kraken's position %s; its intent is NOT "
              "stored (the store cannot write): the restart adopts it from Kraken", symbol, cid,
              closing.value, intent.size, stop_price, where)
    try:
        order = exchange.create_order(intent)
    except (OutcomeUnknownError, DuplicateOrderError):
        found = exchange.fetch_order_by_client_id(cid, symbol)
        if found is None:
            log.error("%s: protective stop %s sent, its outcome unknown", symbol, cid)
            return f"{where}: protective stop {cid} sent, its outcome unknown: check the position on Kraken"
        order = found
    log.error("%s: protective stop %s is %s on Kraken (not stored)", symbol, cid, order.status.value)
    return f"{where} is protected by stop {cid}, placed from Kraken's position (not stored; adopted at restart)"

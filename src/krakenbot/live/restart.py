"""Before any new order: reconcile the store with the exchange, and apply what that finds.

Gathers the two views (``execution.reconcile``), looks up our orders in doubt by client id,
and applies the plan to the store: adopted orders, intents never sent, missing fills, closes
done on the exchange, foreign positions. A mismatch nobody can explain raises ``FatalError``:
the bot refuses to trade, with a message that says what differs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from krakenbot.domain import Order, OrderStatus
from krakenbot.domain.errors import FatalError
from krakenbot.domain.journal import JournalEvent
from krakenbot.domain.vocabulary import EventKind
from krakenbot.exchange.base import Exchange
from krakenbot.execution.reconcile import ReconcilePlan, StoreView, VenueView, in_doubt, reconcile
from krakenbot.store.sql import SqlStore

log = logging.getLogger(__name__)

FILLS_LOOKBACK = timedelta(days=7)  # how far back the exchange's fills are read, before our last known one


class ReconcileError(FatalError):
    """The store and the exchange disagree in a way reconciliation cannot explain."""


def reconcile_at_start(store: SqlStore, exchange: Exchange, *, prefix: str, now: datetime) -> ReconcilePlan:
    """Reconcile and apply; return the plan. Raises ``ReconcileError`` on a mismatch (nothing is
    traded then; what could be recorded safely, such as fills, is recorded first)."""
    store_view = StoreView(intents={i.client_order_id: i for i in store.intents()},
                           orders={o.client_order_id: o for o in store.orders()}, fills=store.fills())
    doubtful = in_doubt(store_view)
    since = min([f.ts for f in store_view.fills[-1:]] + [store_view.intents[c].ts_created for c in doubtful],
                default=now)
    lookups: dict[str, Order | None] = {
        cid: exchange.fetch_order_by_client_id(cid, store_view.intents[cid].symbol) for cid in doubtful}
    venue = VenueView(open_orders=exchange.fetch_open_orders(), fills=exchange.fetch_fills(since - FILLS_LOOKBACK),
                      positions=exchange.fetch_positions(), lookups=lookups)
    plan = reconcile(store_view, venue, prefix=prefix)
    for fill in plan.record_fills:
        store.record_fill(fill)
    for order in plan.adopt_orders:
        if order.client_order_id in store_view.intents:
            store.record_order(order)
        else:
            store.adopt_order(order, reason="adopted at restart")
    # Our fills whose order the store never saw (a stop placed without a stored intent while the disk was full,
    # triggered since): adopt the order as the exchange reports it.
    known = set(store_view.intents) | {o.client_order_id for o in plan.adopt_orders}
    for fill in plan.record_fills:
        if fill.client_order_id.startswith(f"{prefix}-") and fill.client_order_id not in known:
            known.add(fill.client_order_id)
            found = exchange.fetch_order_by_client_id(fill.client_order_id, fill.symbol)
            if found is not None:
                store.adopt_order(found, reason="adopted at restart (filled without a stored intent)")
    # On a mismatch the exchange's view is incomplete (an order of ours not yet visible to lookups can
    # be what explains it): intents it did not show stay in doubt, looked up again at the next start.
    for intent in plan.never_sent if plan.ok else ():
        store.record_order(Order.from_intent(intent, status=OrderStatus.REJECTED, ts=now))
    for symbol in plan.closed_positions:
        store.record_event(JournalEvent(ts=now, kind=EventKind.CLOSED_ON_EXCHANGE, symbol=symbol,
                                        detail="position closed while we were away (stop, liquidation or manual)"))
    for position in plan.foreign_positions:
        store.record_event(JournalEvent(ts=now, kind=EventKind.FOREIGN_POSITION, symbol=position.symbol,
                                        detail=f"{position.side.value} {position.size}: not ours; left alone"))
        log.warning("%s: foreign position (%s %s) found: left alone, the symbol is not traded",
                    position.symbol, position.side.value, position.size)
    log.info("%s", plan.summary())
    if not plan.ok:
        details = "; ".join(m.detail for m in plan.mismatches)
        store.record_event(JournalEvent(ts=now, kind=EventKind.RECONCILE_MISMATCH, symbol="", detail=details))
        raise ReconcileError(f"refusing to trade: the store and Kraken disagree: {details}. Check the account "
                             "on Kraken, close or explain the difference, then start again")
    return plan

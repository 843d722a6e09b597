"""Before any new order: reconcile the store with the exchange, and apply what that finds.

Gathers the two views (``execution.reconcile``), looks up our orders in doubt by client id,
and applies the plan to the store: adopted orders, intents never sent, missing fills, closes
done on the exchange, foreign positions. A mismatch nobody can explain raises ``ReconcileError``;
orders or positions carrying our instance id that the store does not know raise
``UnknownOrdersError`` (another live process on the account, or a new or lost store): the bot
refuses to trade, with a message that says what was found and what to do. ``store adopt`` and
``store repair`` (``cli/store_cmd.py``) apply the same plan with ``adopt`` / ``repair``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from krakenbot.domain import Fill, Order, OrderSide, OrderStatus, OrderType
from krakenbot.domain.errors import FatalError
from krakenbot.domain.journal import JournalEvent
from krakenbot.domain.vocabulary import EventKind
from krakenbot.exchange.base import Exchange
from krakenbot.execution.reconcile import Adjustment, ReconcilePlan, StoreView, VenueView, in_doubt, reconcile
from krakenbot.store.sql import SqlStore

log = logging.getLogger(__name__)

FILLS_LOOKBACK = timedelta(days=7)  # how far back the exchange's fills are read, before our last known one
ADJUSTMENT_CLIENT_ID = "store-adjustment"  # the client id of the fills `store adopt` / `store repair` write


class ReconcileError(FatalError):
    """The store and the exchange disagree in a way reconciliation cannot explain."""


class UnknownOrdersError(ReconcileError):
    """Kraken holds orders or positions with our instance id that the store does not know (exit code 4)."""


def gather(store: SqlStore, exchange: Exchange, *, now: datetime, prefix: str | None = None
           ) -> tuple[StoreView, VenueView]:
    """The store's view and the exchange's (open orders, recent fills, positions, in-doubt lookups).
    With ``prefix`` (to adopt): the orders of our fills on positions the store does not know are looked
    up too, so that adopting them stores their orders as well as their fills."""
    store_view = StoreView(intents={i.client_order_id: i for i in store.intents()},
                           orders={o.client_order_id: o for o in store.orders()}, fills=store.fills())
    doubtful = in_doubt(store_view)
    since = min([f.ts for f in store_view.fills[-1:]] + [store_view.intents[c].ts_created for c in doubtful],
                default=now)
    lookups: dict[str, Order | None] = {
        cid: exchange.fetch_order_by_client_id(cid, store_view.intents[cid].symbol,
                                               since=store_view.intents[cid].ts_created) for cid in doubtful}
    venue = VenueView(open_orders=exchange.fetch_open_orders(), fills=exchange.fetch_fills(since - FILLS_LOOKBACK),
                      positions=exchange.fetch_positions(), lookups=lookups)
    if prefix is not None:
        for fill in reconcile(store_view, venue, prefix=prefix).unknown_fills:
            if fill.client_order_id not in lookups:
                lookups[fill.client_order_id] = exchange.fetch_order_by_client_id(fill.client_order_id, fill.symbol,
                                                                                  since=fill.ts)
        venue = replace(venue, lookups=lookups)
    return store_view, venue


def reconcile_at_start(store: SqlStore, exchange: Exchange, *, prefix: str, now: datetime,
                       adopt: bool = False, repair: bool = False) -> ReconcilePlan:
    """Reconcile and apply; return the plan. Raises ``UnknownOrdersError`` when orders or positions of ours
    are unknown to the store (unless ``adopt``), ``ReconcileError`` on a mismatch (unless ``repair``);
    nothing is traded then, and only what is safe (fills on known symbols) is recorded first."""
    store_view, venue = gather(store, exchange, now=now, prefix=prefix if adopt else None)
    plan = reconcile(store_view, venue, prefix=prefix, adopt=adopt, repair=repair)
    apply_plan(store, plan, store_view, now=now, filled_orders=_orders_behind_fills(plan, store_view, exchange, prefix))
    return plan


def _orders_behind_fills(plan: ReconcilePlan, store_view: StoreView, exchange: Exchange, prefix: str) -> list[Order]:
    """The orders of our fills to record that the store never saw (a stop placed without a stored intent while
    the disk was full, triggered since), as the exchange reports them."""
    known = set(store_view.intents) | {o.client_order_id for o in plan.adopt_orders}
    found: dict[str, Order] = {}
    for fill in plan.record_fills:
        cid = fill.client_order_id
        if cid.startswith(f"{prefix}-") and cid not in known and cid not in found:
            order = exchange.fetch_order_by_client_id(cid, fill.symbol, since=fill.ts)
            if order is not None:
                found[cid] = order
    return list(found.values())


def apply_plan(store: SqlStore, plan: ReconcilePlan, store_view: StoreView, *, now: datetime,
               filled_orders: Sequence[Order] = ()) -> None:
    """Write ``plan`` into the store (see ``reconcile_at_start``), with ``filled_orders`` (orders of recorded
    fills the store never saw) adopted; raises as it does."""
    for fill in plan.record_fills:
        store.record_fill(fill)
    for order in plan.adopt_orders:
        if order.client_order_id in store_view.intents:
            store.record_order(order)
        else:
            store.adopt_order(_priced(order, plan.record_fills), reason="adopted by `store adopt`")
            store.record_event(JournalEvent(ts=now, kind=EventKind.ADOPTED, symbol=order.symbol,
                                            detail=f"order {order.client_order_id} {order.order_type.value} "
                                                   f"{order.side.value} {order.size}"))
    for adjustment in plan.adjustments:
        store.record_fill(adjustment_fill(adjustment, now))
        kind = EventKind.ADOPTED if adjustment.why == "adopted" else EventKind.STORE_REPAIRED
        store.record_event(JournalEvent(ts=now, kind=kind, symbol=adjustment.symbol,
                                        detail=f"{adjustment.why}: {adjustment.contracts:+} contracts recorded"))
    for order in filled_orders:
        store.adopt_order(order, reason="adopted at restart (filled without a stored intent)")
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
    if plan.unknown:
        found = plan.unknown_detail()
        store.record_event(JournalEvent(ts=now, kind=EventKind.UNKNOWN_OURS, symbol="", detail=found))
        raise UnknownOrdersError(unknown_message(found, store.url))
    if not plan.ok:
        details = "; ".join(m.detail for m in plan.mismatches)
        store.record_event(JournalEvent(ts=now, kind=EventKind.RECONCILE_MISMATCH, symbol="", detail=details))
        raise ReconcileError(f"refusing to trade: the store and Kraken disagree: {details}. Check the account "
                             "on Kraken, close or explain the difference, then start again; `python run.py store "
                             "status` shows the differences, `python run.py store repair` makes the store's "
                             "positions those Kraken holds")


def _priced(order: Order, fills: Sequence[Fill]) -> Order:
    """``order`` with the average price of its ``fills`` as its limit and average fill price, when a lookup
    reported a done limit/IOC order without them (an intent needs its limit price)."""
    if order.limit_price is not None or order.order_type not in (OrderType.LIMIT, OrderType.IOC):
        return order
    own = [f for f in fills if f.client_order_id == order.client_order_id]
    size = sum((f.size for f in own), Decimal(0))
    if not size:
        return order
    average = sum((f.size * f.price for f in own), Decimal(0)) / size
    return replace(order, limit_price=average, avg_fill_price=order.avg_fill_price or average)


def unknown_message(found: str, url: str) -> str:
    """The refusal's instructions: what was found, the two likely causes, what to do."""
    return (f"refusing to trade: Kraken holds orders or positions carrying this bot's instance id that the store "
            f"{url} does not know: {found}. Either another live process trades this account with the same "
            "store.instance_id (stop it, and give every bot on an account its own instance_id), or this store is "
            "new or was lost (take them over with `python run.py store adopt --config YOUR_CONFIG`, then start "
            "again)")


def adjustment_fill(adjustment: Adjustment, now: datetime) -> Fill:
    """The fill that records ``adjustment`` (a trade the exchange never made: no fee, ``store-adjustment``)."""
    side = OrderSide.BUY if adjustment.contracts > 0 else OrderSide.SELL
    return Fill(trade_id=f"adjust-{adjustment.symbol}-{now:%Y%m%dT%H%M%S%f}", client_order_id=ADJUSTMENT_CLIENT_ID,
                symbol=adjustment.symbol, side=side, size=abs(adjustment.contracts), price=adjustment.price,
                fee_usd=Decimal(0), ts=now)

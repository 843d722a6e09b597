"""Kraken Futures' order and trigger history (``/api/history/v2/orders``, ``/api/history/v2/triggers``).

``orders/status`` forgets a closed order about 5 s after it closed; the history keeps every event of it.
``order_from_history`` folds the events of one client order id into its last known state (pure, no I/O);
``HistoryBudget`` spends the history endpoints' own rate-limit pool (100 tokens per 10 minutes at Kraken,
a separate pool from the derivatives API's 500 per 10 s) sparingly.

Event shapes as Kraken sends them (ccxt's recorded fixtures, ``fetchClosedOrders``/``fetchCanceledOrders``):
``{"uid", "timestamp": "ms", "event": {"OrderPlaced": {"order": {...}, "reason"}}}``, the order carrying
``uid, tradeable, direction (Buy|Sell), quantity (still open), filled, limitPrice, orderType (Limit, IoC, Post,
Market, ...), clientId, reduceOnly, timestamp, lastUpdateTimestamp`` and, for triggers, ``triggerOptions``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from krakenbot.domain import Order, OrderSide, OrderStatus, OrderType
from krakenbot.exchange.kraken.parse import kraken_id, ts_from_ms

HISTORY_WINDOW = timedelta(minutes=10)  # Kraken refills the history pool of 100 tokens every 10 minutes
HISTORY_TOKENS = 40  # what lookups may spend of it per window: the rest stays for the operator's own tools
STATUS_WINDOW = timedelta(seconds=5)  # orders/status keeps a closed order this long

# event name -> the status it leaves the order in (None: from its fills)
_ORDER_EVENTS: dict[str, OrderStatus | None] = {
    "OrderPlaced": None, "OrderUpdated": None, "OrderCancelled": OrderStatus.CANCELLED,
    "OrderRejected": OrderStatus.REJECTED, "OrderEditRejected": None,
    "OrderTriggerPlaced": OrderStatus.OPEN, "OrderTriggerUpdated": OrderStatus.OPEN,
    "OrderTriggerCancelled": OrderStatus.CANCELLED, "OrderTriggerActivated": None}
_TYPES = {"limit": OrderType.LIMIT, "post": OrderType.LIMIT, "ioc": OrderType.IOC, "market": OrderType.MARKET}


class HistoryBudget:
    """At most ``tokens`` history requests per ``window`` (one token each); ``take`` says whether one may go."""

    def __init__(self, tokens: int = HISTORY_TOKENS, window: timedelta = HISTORY_WINDOW) -> None:
        self._tokens, self._window = tokens, window
        self._spent: deque[datetime] = deque()

    def take(self, now: datetime) -> bool:
        while self._spent and now - self._spent[0] >= self._window:
            self._spent.popleft()
        if len(self._spent) >= self._tokens:
            return False
        self._spent.append(now)
        return True

    @property
    def spent(self) -> int:
        return len(self._spent)


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _event(element: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(event name, its order) of one history element; None for events without an order."""
    event = element.get("event")
    if not isinstance(event, Mapping) or len(event) != 1:
        return None
    [(name, body)] = event.items()
    if name not in _ORDER_EVENTS or not isinstance(body, Mapping):
        return None
    order = body.get("order") or body.get("newOrder") or body.get("newOrderTrigger") or body.get("oldOrder")
    return (name, order) if isinstance(order, Mapping) else None


def order_from_history(elements: Iterable[Any], client_order_id: str, *, now: datetime) -> Order | None:
    """The last known state of the order sent with ``client_order_id``, from Kraken's history elements
    (orders or triggers, any sort order); None when none of them is that order's.

    Placed (or updated) and no longer in ``orders/status``: its ``filled`` decides (all: FILLED, some:
    PARTIALLY_FILLED, none: OPEN); cancelled: CANCELLED with what it filled; refused: REJECTED. A trigger that
    fired (``OrderTriggerActivated``) became an order whose fills carry the client id: without them it is
    CANCELLED with nothing filled (its IoC found nothing within Kraken's price band)."""
    mine: list[tuple[int, int, str, Mapping[str, Any]]] = []
    for position, element in enumerate(elements):
        if not isinstance(element, Mapping):
            continue
        found = _event(element)
        if found is None or str(found[1].get("clientId") or "") != client_order_id:
            continue
        try:
            ts = int(str(element.get("timestamp") or found[1].get("lastUpdateTimestamp") or 0))
        except ValueError:
            ts = 0
        mine.append((ts, position, found[0], found[1]))
    if not mine:
        return None
    mine.sort(key=lambda m: (m[0], m[1]))
    _, _, name, order = mine[-1]
    first = mine[0][3]
    filled = max((_dec(o.get("filled")) or Decimal(0) for *_, o in mine), default=Decimal(0))
    open_qty = _dec(order.get("quantity")) or Decimal(0)
    size = max(filled + open_qty, _dec(first.get("quantity")) or Decimal(0), filled)
    trigger = isinstance(order.get("triggerOptions"), Mapping)
    status = _ORDER_EVENTS[name]
    if name == "OrderTriggerActivated":
        status = OrderStatus.CANCELLED
    elif status is None:
        status = OrderStatus.OPEN if filled == 0 else (
            OrderStatus.FILLED if open_qty == 0 or filled >= size else OrderStatus.PARTIALLY_FILLED)
    options = order.get("triggerOptions") if trigger else None
    kind = OrderType.STOP if trigger else _TYPES.get(str(order.get("orderType") or "").lower(), OrderType.LIMIT)
    side = str(order.get("direction") or "").lower()
    if side not in ("buy", "sell") or size <= 0:
        return None
    ts_updated = ts_from_ms(mine[-1][0] or None, default=now) or now
    return Order(client_order_id=client_order_id, symbol=kraken_id(str(order.get("tradeable") or "")),
                 side=OrderSide(side), size=size, order_type=kind, reduce_only=bool(order.get("reduceOnly")),
                 status=status, ts_updated=ts_updated, exchange_order_id=str(order.get("uid") or "") or None,
                 filled_size=min(filled, size), limit_price=_dec(order.get("limitPrice")),
                 stop_price=_dec(options.get("triggerPrice")) if isinstance(options, Mapping) else None)

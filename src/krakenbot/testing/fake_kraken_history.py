"""Kraken Futures' account history for the loopback server: ``/api/history/v2/orders`` and ``/triggers``.

Unlike ``orders/status`` (closed orders for 5 s) the history keeps every event. The events are derived
from the book's orders and fills when asked, in Kraken's shapes (ccxt's recorded fixtures of
``fetchClosedOrders``/``fetchCanceledOrders``):

- an order: ``OrderPlaced`` when received, ``OrderUpdated`` (``partial_fill``/``full_fill``) per fill,
  ``OrderCancelled`` when cancelled (an IOC's unfilled rest, a cancel, the dead man's switch);
- a stop: ``OrderTriggerPlaced``, then ``OrderTriggerCancelled`` or ``OrderTriggerActivated`` (its first
  fill), the order it became appearing in the orders history under the same client id.

A refused ``sendorder`` leaves no trace (nothing was placed). Orders hidden from lookups (``hide_next_order``)
are hidden here too. Query: ``since``/``before`` (ms), ``sort`` (``desc`` by default), ``tradeable``,
``count`` (at most 1,000 per answer) and ``continuation_token`` (from the previous answer's
``continuationToken``). Endpoint names for rate-limit costs: ``history/orders``, ``history/triggers``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from krakenbot.testing.fake_kraken_market import iso_ms
from krakenbot.testing.fake_kraken_orders import FuturesBook, SimOrder

HISTORY_PREFIX = "/api/history/"
HISTORY_ENDPOINTS = ("orders", "triggers")
ACCOUNT_UID = "406142dd-7c5c-4a8b-acbc-5f16eca30009"
MAX_COUNT = 1000
_TYPES = {"lmt": "Limit", "post": "Post", "ioc": "IoC", "mkt": "Market"}


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _num(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def _order(o: SimOrder, *, remaining: Decimal, filled: Decimal, updated: datetime, order_type: str) -> dict[str, Any]:
    return {"uid": o.order_id, "accountUid": ACCOUNT_UID, "tradeable": o.symbol,
            "direction": "Buy" if o.side == "buy" else "Sell", "quantity": _num(remaining), "filled": _num(filled),
            "timestamp": str(_ms(o.received)), "limitPrice": "" if o.limit_price is None else _num(o.limit_price),
            "orderType": order_type, "clientId": o.cli_ord_id or "", "reduceOnly": o.reduce_only,
            "lastUpdateTimestamp": str(_ms(updated)), "spotData": None}


def _trigger(o: SimOrder, updated: datetime) -> dict[str, Any]:
    return {"uid": o.order_id, "accountId": "198024", "accountUid": ACCOUNT_UID, "tradeable": o.symbol,
            "direction": "Buy" if o.side == "buy" else "Sell", "quantity": _num(o.quantity),
            "timestamp": str(_ms(o.received)), "limitPrice": "" if o.limit_price is None else _num(o.limit_price),
            "orderType": "IoC" if o.limit_price is None else "Limit", "clientId": o.cli_ord_id or "",
            "reduceOnly": o.reduce_only, "lastUpdateTimestamp": str(_ms(updated)),
            "triggerOptions": {"triggerPrice": _num(o.stop_price or Decimal(0)),
                               "triggerSignal": {"mark": "MarkPrice", "spot": "SpotPrice"}.get(o.trigger_signal,
                                                                                              "LastPrice"),
                               "triggerSide": "Below" if o.side == "sell" else "Above"}}


def _element(o: SimOrder, n: int, ts: datetime, name: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{o.order_id}/{n}/{name}"))
    return _ms(ts), {"uid": uid, "timestamp": str(_ms(ts)), "event": {name: body}}


def _order_events(book: FuturesBook, o: SimOrder) -> list[tuple[int, dict[str, Any]]]:
    fills = [f for f in book.fills if f.order is o]
    if o.is_trigger:
        if not fills:
            return []
        start, kind = fills[0].ts, "IoC" if o.limit_price is None else "Limit"  # what the trigger became
    else:
        start, kind = o.received, _TYPES.get(o.order_type, "Limit")
    out = [_element(o, 0, start, "OrderPlaced", {
        "order": _order(o, remaining=o.quantity, filled=Decimal(0), updated=start, order_type=kind),
        "reason": "new_user_order", "reducedQuantity": "", "algoId": ""})]
    filled = Decimal(0)
    for n, fill in enumerate(fills, start=1):
        old = _order(o, remaining=o.quantity - filled, filled=filled, updated=fill.ts, order_type=kind)
        filled += fill.size
        new = _order(o, remaining=max(Decimal(0), o.quantity - filled), filled=filled, updated=fill.ts,
                     order_type=kind)
        out.append(_element(o, n, fill.ts, "OrderUpdated", {
            "oldOrder": old, "newOrder": new, "reason": "full_fill" if filled >= o.quantity else "partial_fill",
            "reducedQuantity": "0", "algoId": ""}))
    if o.status == "cancelled" and o.closed_at is not None:
        out.append(_element(o, len(fills) + 1, o.closed_at, "OrderCancelled", {
            "order": _order(o, remaining=o.quantity - filled, filled=filled, updated=o.closed_at, order_type=kind),
            "reason": "ioc_order_failed_because_of_no_liquidity" if o.order_type == "ioc" else "cancelled_by_user"}))
    return out


def _trigger_events(book: FuturesBook, o: SimOrder) -> list[tuple[int, dict[str, Any]]]:
    if not o.is_trigger:
        return []
    out = [_element(o, 0, o.received, "OrderTriggerPlaced", {"order": _trigger(o, o.received),
                                                             "reason": "new_user_order", "algoId": ""})]
    first = next((f for f in book.fills if f.order is o), None)
    if first is not None:
        out.append(_element(o, 1, first.ts, "OrderTriggerActivated", {"order": _trigger(o, first.ts)}))
    elif o.status == "cancelled" and o.closed_at is not None:
        out.append(_element(o, 1, o.closed_at, "OrderTriggerCancelled", {
            "order": _trigger(o, o.closed_at), "reason": "cancelled_by_user", "algoId": ""}))
    return out


def history_answer(book: FuturesBook, endpoint: str, p: Mapping[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
    """Answer ``/api/history/{v2|v3}/{orders|triggers}`` (``endpoint`` without the prefix)."""
    version, _, name = endpoint.partition("/")
    if version not in ("v2", "v3") or name not in HISTORY_ENDPOINTS:
        return 404, {"result": "error", "error": "notFound", "serverTime": iso_ms(now)}
    try:
        since = int(p["since"]) if p.get("since") else None
        before = int(p["before"]) if p.get("before") else None
        count = min(MAX_COUNT, max(1, int(p.get("count") or MAX_COUNT)))
        offset = int(base64.b64decode(p["continuation_token"]).decode()) if p.get("continuation_token") else 0
    except (ValueError, binascii.Error):
        return 400, {"result": "error", "error": "invalidArgument", "serverTime": iso_ms(now)}
    tradeable = (p.get("tradeable") or "").upper()
    events = _trigger_events if name == "triggers" else _order_events
    rows = [row for o in book.orders.values() if book.visible(o.cli_ord_id)
            and (not tradeable or o.symbol == tradeable) for row in events(book, o)]
    rows = [r for r in rows if (since is None or r[0] >= since) and (before is None or r[0] < before)]
    rows.sort(key=lambda r: r[0], reverse=p.get("sort", "desc") != "asc")
    page = [element for _, element in rows[offset:offset + count]]
    body: dict[str, Any] = {"accountUid": ACCOUNT_UID, "len": len(page), "serverTime": iso_ms(now), "elements": page}
    if offset + count < len(rows):
        body["continuationToken"] = base64.b64encode(str(offset + count).encode()).decode()
    return 200, body

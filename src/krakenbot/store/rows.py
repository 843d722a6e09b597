"""Domain values to table rows and back. Exact figures stay ``Decimal``; float figures round-trip exactly.

Enums are bound as their values (``.value``, or ``str()`` of a ``StrEnum`` such as ``OrderReason``): a
driver may dump a bare ``Enum`` by its name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from krakenbot.domain import AccountState, Fill, Order, OrderIntent, OrderSide, OrderStatus, OrderType, Position, Side
from krakenbot.domain.journal import JournalEvent
from krakenbot.logs import redact
from krakenbot.store.schema import float_to_decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderEvent:
    """One stored change of an order's state (``from_status`` is None for the intent itself)."""

    client_order_id: str
    ts: datetime
    from_status: OrderStatus | None
    to_status: OrderStatus
    filled_size: Decimal
    avg_fill_price: Decimal | None = None
    exchange_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionPlanRecord:
    """A stored auction plan: when, a one-line summary and the JSON details."""

    ts: datetime
    summary: str
    details: dict[str, Any]


def intent_row(intent: OrderIntent, tick: int | None) -> dict[str, Any]:
    return {"client_order_id": intent.client_order_id, "symbol": intent.symbol, "side": intent.side.value,
            "size": intent.size, "order_type": intent.order_type.value, "reduce_only": intent.reduce_only,
            "reason": str(intent.reason), "limit_price": intent.limit_price, "stop_price": intent.stop_price,
            "ts_created": intent.ts_created, "tick": tick}


def intent_from(row: Mapping[Any, Any]) -> OrderIntent:
    return OrderIntent(client_order_id=row["client_order_id"], symbol=row["symbol"], side=OrderSide(row["side"]),
                       size=row["size"], order_type=OrderType(row["order_type"]), reduce_only=bool(row["reduce_only"]),
                       reason=row["reason"], ts_created=row["ts_created"], limit_price=row["limit_price"],
                       stop_price=row["stop_price"])


def intended_order(intent: OrderIntent) -> Order:
    """The order an intent stands for before anything is sent (status INTENDED)."""
    return Order.from_intent(intent, status=OrderStatus.INTENDED, ts=intent.ts_created)


def intent_for_adopted(order: Order, reason: str) -> OrderIntent:
    """An intent standing for an order of ours found on the exchange with no stored intent."""
    return OrderIntent(client_order_id=order.client_order_id, symbol=order.symbol, side=order.side, size=order.size,
                       order_type=order.order_type, reduce_only=order.reduce_only, reason=reason,
                       ts_created=order.ts_updated, limit_price=order.limit_price, stop_price=order.stop_price)


def order_row(order: Order) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "exchange_order_id": order.exchange_order_id,
            "symbol": order.symbol, "side": order.side.value, "size": order.size,
            "order_type": order.order_type.value, "reduce_only": order.reduce_only, "status": order.status.value,
            "filled_size": order.filled_size, "avg_fill_price": order.avg_fill_price,
            "limit_price": order.limit_price, "stop_price": order.stop_price, "ts_updated": order.ts_updated}


def order_from(row: Mapping[Any, Any]) -> Order:
    return Order(client_order_id=row["client_order_id"], symbol=row["symbol"], side=OrderSide(row["side"]),
                 size=row["size"], order_type=OrderType(row["order_type"]), reduce_only=bool(row["reduce_only"]),
                 status=OrderStatus(row["status"]), ts_updated=row["ts_updated"],
                 exchange_order_id=row["exchange_order_id"], filled_size=row["filled_size"],
                 avg_fill_price=row["avg_fill_price"], limit_price=row["limit_price"], stop_price=row["stop_price"])


def order_event_row(order: Order, previous: OrderStatus | None) -> dict[str, Any]:
    return {"client_order_id": order.client_order_id, "ts": order.ts_updated,
            "from_status": previous.value if previous is not None else None, "to_status": order.status.value,
            "exchange_order_id": order.exchange_order_id, "filled_size": order.filled_size,
            "avg_fill_price": order.avg_fill_price}


def order_event_from(row: Mapping[Any, Any]) -> OrderEvent:
    return OrderEvent(client_order_id=row["client_order_id"], ts=row["ts"],
                      from_status=OrderStatus(row["from_status"]) if row["from_status"] is not None else None,
                      to_status=OrderStatus(row["to_status"]), filled_size=row["filled_size"],
                      avg_fill_price=row["avg_fill_price"], exchange_order_id=row["exchange_order_id"])


def fill_row(fill: Fill) -> dict[str, Any]:
    return {"trade_id": fill.trade_id, "client_order_id": fill.client_order_id,
            "exchange_order_id": fill.exchange_order_id, "symbol": fill.symbol, "side": fill.side.value,
            "size": fill.size, "price": fill.price, "fee_usd": fill.fee_usd, "ts": fill.ts, "is_maker": fill.is_maker}


def fill_from(row: Mapping[Any, Any]) -> Fill:
    return Fill(trade_id=row["trade_id"], client_order_id=row["client_order_id"], symbol=row["symbol"],
                side=OrderSide(row["side"]), size=row["size"], price=row["price"], fee_usd=row["fee_usd"],
                ts=row["ts"], exchange_order_id=row["exchange_order_id"], is_maker=bool(row["is_maker"]))


def _opt_decimal(value: float | None) -> Decimal | None:
    return None if value is None else float_to_decimal(value)


def _opt_float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def position_row(snapshot_id: int, position: Position) -> dict[str, Any]:
    return {"snapshot_id": snapshot_id, "symbol": position.symbol, "side": position.side.value,
            "size": float_to_decimal(position.size), "entry_price": float_to_decimal(position.entry_price),
            "mark_price": _opt_decimal(position.mark_price),
            "liquidation_price": _opt_decimal(position.liquidation_price),
            "leverage": _opt_decimal(position.leverage), "contract_size": float_to_decimal(position.contract_size),
            "score": _opt_decimal(position.score), "ts_opened": position.ts_opened}


def position_from(row: Mapping[Any, Any]) -> Position:
    return Position(symbol=row["symbol"], side=Side(row["side"]), size=float(row["size"]),
                    entry_price=float(row["entry_price"]), ts_opened=row["ts_opened"],
                    mark_price=_opt_float(row["mark_price"]), liquidation_price=_opt_float(row["liquidation_price"]),
                    leverage=_opt_float(row["leverage"]), contract_size=float(row["contract_size"]),
                    score=_opt_float(row["score"]))


def redacted(value: Any) -> Any:
    """``value`` (plain JSON types) with every string passed through ``krakenbot.logs.redact``: exchange
    messages echo request headers, and the store must not keep the credentials the log hides."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redacted(k): redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def event_row(event: JournalEvent) -> dict[str, Any]:
    return {"ts": event.ts, "kind": str(event.kind), "symbol": event.symbol, "detail": redact(event.detail)}


def event_from(row: Mapping[Any, Any]) -> JournalEvent:
    return JournalEvent(ts=row["ts"], kind=row["kind"], symbol=row["symbol"], detail=row["detail"])


def equity_row(ts: datetime, equity_usd: float, exposure_usd: float, initial_margin_usd: float,
               account: AccountState | None = None) -> dict[str, Any]:
    return {"ts": ts, "equity_usd": float_to_decimal(equity_usd), "exposure_usd": float_to_decimal(exposure_usd),
            "initial_margin_usd": float_to_decimal(initial_margin_usd),
            "maintenance_margin_usd": float_to_decimal(account.maintenance_margin_usd) if account else None,
            "available_margin_usd": float_to_decimal(account.available_margin_usd) if account else None}

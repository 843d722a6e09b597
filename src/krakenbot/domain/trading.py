"""Positions, orders, fills and the account: the state that money lives in."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.errors import InvalidTransitionError
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.instrument import DECIMAL_ZERO
from krakenbot.domain.signals import Side


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @staticmethod
    def to_open(side: Side) -> OrderSide:
        """The order side that opens (or adds to) a position on ``side`` (``OPENING_SIDE``)."""
        return OPENING_SIDE[side]

    @staticmethod
    def to_close(side: Side) -> OrderSide:
        """The order side that reduces a position on ``side`` (``CLOSING_SIDE``)."""
        return CLOSING_SIDE[side]


# Which order side opens and which reduces a position on each side, as tables: on Python 3.11 every
# ``OrderSide.BUY`` (any class attribute of an Enum) goes through ``EnumType.__getattr__``'s hook and costs
# about a small function call, and the order path asks this several times per order.
OPENING_SIDE: MappingProxyType[Side, OrderSide] = MappingProxyType({Side.LONG: OrderSide.BUY,
                                                                    Side.SHORT: OrderSide.SELL})
CLOSING_SIDE: MappingProxyType[Side, OrderSide] = MappingProxyType({Side.LONG: OrderSide.SELL,
                                                                    Side.SHORT: OrderSide.BUY})


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    IOC = "ioc"
    STOP = "stop"


class OrderStatus(StrEnum):
    INTENDED = "intended"  # stored, not yet sent
    SUBMITTED = "submitted"  # sent, no answer yet (outcome unknown until looked up)
    OPEN = "open"  # acknowledged, resting
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"


# The one table of legal order-state moves. A cancelled (or expired) order may still turn
# out filled: Kraken can match it in the same instant the cancel lands. A REJECTED order may
# too: an order whose answer was lost and that lookups could not find before the give-up is
# recorded REJECTED (never placed); its fill, found later, corrects it.
ORDER_TRANSITIONS: MappingProxyType[OrderStatus, frozenset[OrderStatus]] = MappingProxyType({
    OrderStatus.INTENDED: frozenset({OrderStatus.SUBMITTED, OrderStatus.REJECTED}),
    OrderStatus.SUBMITTED: frozenset({OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                      OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}),
    OrderStatus.OPEN: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED,
                                 OrderStatus.EXPIRED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED,
                                             OrderStatus.CANCELLED, OrderStatus.EXPIRED}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}),
    OrderStatus.EXPIRED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.REJECTED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED}),
})


_DONE_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


_LIMITED = frozenset({OrderType.LIMIT, OrderType.IOC})
_STOPS = frozenset({OrderType.STOP})  # a set, like ``_LIMITED``: no Enum class attribute read per intent


def _is_positive_decimal(value: object) -> bool:
    return type(value) is Decimal and value.is_finite() and value > DECIMAL_ZERO


def _positive_decimal(owner: str, name: str, value: Decimal) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError(f"{owner}.{name} must be a positive Decimal, got {value!r}")


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """What we mean to send, written to the store *before* it is sent.

    ``size`` is in contracts, already rounded to the instrument's lot; prices are already
    rounded to its tick. ``reason`` says why: an ``OrderReason`` for what the executor sends, a free note
    for an order found on the exchange and adopted at restart.
    """

    client_order_id: str
    symbol: str
    side: OrderSide
    size: Decimal
    order_type: OrderType
    reduce_only: bool
    reason: str
    ts_created: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        if (self.client_order_id and self.ts_created.tzinfo is UTC and _is_positive_decimal(self.size)
                and (self.limit_price is None or _is_positive_decimal(self.limit_price))
                and (self.stop_price is None or _is_positive_decimal(self.stop_price))
                and (self.limit_price is not None or self.order_type not in _LIMITED)
                and (self.stop_price is not None or self.order_type not in _STOPS)):
            return  # every check below passes: no message built for a good intent
        if not self.client_order_id:
            raise ValueError("OrderIntent.client_order_id must not be empty")
        owner = f"OrderIntent({self.client_order_id})"
        ensure_utc(self.ts_created, field=f"{owner}.ts_created")
        _positive_decimal(owner, "size", self.size)
        if self.order_type in (OrderType.LIMIT, OrderType.IOC) and self.limit_price is None:
            raise ValueError(f"{owner}: a {self.order_type} order needs a limit_price")
        if self.order_type is OrderType.STOP and self.stop_price is None:
            raise ValueError(f"{owner}: a stop order needs a stop_price")
        if self.limit_price is not None:
            _positive_decimal(owner, "limit_price", self.limit_price)
        if self.stop_price is not None:
            _positive_decimal(owner, "stop_price", self.stop_price)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Order:
    """An order as the exchange knows it. Replaced, never mutated: use ``transition``."""

    client_order_id: str
    symbol: str
    side: OrderSide
    size: Decimal
    order_type: OrderType
    reduce_only: bool
    status: OrderStatus
    ts_updated: datetime
    exchange_order_id: str | None = None
    filled_size: Decimal = Decimal(0)
    avg_fill_price: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        if self.ts_updated.tzinfo is not UTC:  # the common case first: no field name built for a good value
            ensure_utc(self.ts_updated, field=f"Order({self.client_order_id}).ts_updated")
        if self.filled_size < DECIMAL_ZERO or self.filled_size > self.size:
            raise ValueError(f"Order({self.client_order_id}).filled_size {self.filled_size} "
                             f"must be within [0, size={self.size}]")

    @classmethod
    def from_intent(cls, intent: OrderIntent, *, status: OrderStatus, ts: datetime) -> Order:
        """The order ``intent`` stands for, in ``status`` at ``ts`` (nothing filled)."""
        return cls(client_order_id=intent.client_order_id, symbol=intent.symbol, side=intent.side, size=intent.size,
                   order_type=intent.order_type, reduce_only=intent.reduce_only, status=status, ts_updated=ts,
                   limit_price=intent.limit_price, stop_price=intent.stop_price)

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size

    @property
    def is_done(self) -> bool:
        """No further change is expected (a cancelled order may still surprise; see the table)."""
        return self.status in _DONE_STATUSES

    def transition(self, status: OrderStatus, *, ts: datetime, **changes: object) -> Order:
        """Return this order moved to ``status``; raise ``InvalidTransitionError`` if illegal."""
        if status is not self.status and status not in ORDER_TRANSITIONS[self.status]:
            raise InvalidTransitionError(
                f"order {self.client_order_id}: {self.status} -> {status} is not a legal transition")
        if changes.keys() - _FILL_FIELDS:  # ``replace``, without its per-call field scan
            values = {name: getattr(self, name) for name in _ORDER_FIELDS}
            values.update(changes, status=status, ts_updated=ts)
            return type(self)(**values)
        # the common moves (a status, its time, perhaps a fill): the fields spelled out, no dict of them built (nor
        # ``type.__call__``'s: ``domain.frozen``)
        cls = type(self)
        moved = new(cls)
        cls.__init__(moved, client_order_id=self.client_order_id, symbol=self.symbol, side=self.side, size=self.size,
                     order_type=self.order_type, reduce_only=self.reduce_only, status=status, ts_updated=ts,
                     exchange_order_id=self.exchange_order_id,
                     filled_size=changes.get("filled_size", self.filled_size),  # type: ignore[arg-type]
                     avg_fill_price=changes.get("avg_fill_price", self.avg_fill_price),  # type: ignore[arg-type]
                     limit_price=self.limit_price, stop_price=self.stop_price)
        return moved


_ORDER_FIELDS = tuple(f.name for f in fields(Order) if f.init)
_FILL_FIELDS = frozenset({"filled_size", "avg_fill_price"})


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Fill:
    """One execution. ``trade_id`` is the exchange's and is unique; ``fee_usd`` is what we paid."""

    trade_id: str
    client_order_id: str
    symbol: str
    side: OrderSide
    size: Decimal
    price: Decimal
    fee_usd: Decimal
    ts: datetime
    exchange_order_id: str | None = None
    is_maker: bool = False

    def __post_init__(self) -> None:
        if (self.trade_id and self.ts.tzinfo is UTC and _is_positive_decimal(self.size)
                and _is_positive_decimal(self.price)):
            return  # every check below passes: no message built for a good fill
        owner = f"Fill({self.trade_id})"
        if not self.trade_id:
            raise ValueError("Fill.trade_id must not be empty")
        ensure_utc(self.ts, field=f"{owner}.ts")
        _positive_decimal(owner, "size", self.size)
        _positive_decimal(owner, "price", self.price)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """An open futures position, as policies see it (float64; exact figures live in fills).

    ``size`` is in contracts (always > 0; direction is ``side``); ``entry_price`` and
    ``mark_price`` in USD; ``liquidation_price`` when the exchange reports one.
    """

    symbol: str
    side: Side
    size: float
    entry_price: float
    ts_opened: datetime
    mark_price: float | None = None
    liquidation_price: float | None = None
    leverage: float | None = None
    contract_size: float = 1.0
    score: float | None = None  # the score of the signal it was opened on, for the auction
    # funding accrued since the last settlement, USD, positive = received (Kraken settles it hourly)
    unrealized_funding_usd: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        if self.ts_opened.tzinfo is not UTC:  # the common case first: no field name built for a good value
            ensure_utc(self.ts_opened, field=f"Position({self.symbol}).ts_opened")
        if not math.isfinite(self.size) or self.size <= 0.0:  # float to float: no int converted
            raise ValueError(f"Position({self.symbol}).size must be > 0 contracts, got {self.size!r}")
        if not math.isfinite(self.entry_price) or self.entry_price <= 0.0:
            raise ValueError(f"Position({self.symbol}).entry_price must be > 0, got {self.entry_price!r}")

    @property
    def price(self) -> float:
        """Mark when known, else entry."""
        return self.mark_price if self.mark_price is not None and self.mark_price > 0 else self.entry_price

    @property
    def notional_usd(self) -> float:
        return self.size * self.contract_size * self.price


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AccountState:
    """The futures account's margin picture, all in USD.

    ``equity_usd`` is margin equity (collateral value plus unrealised PnL);
    ``available_margin_usd`` what new positions may use; ``initial_margin_usd`` and
    ``maintenance_margin_usd`` what open positions hold. Liquidation happens when equity
    falls below maintenance margin.
    """

    equity_usd: float
    available_margin_usd: float
    initial_margin_usd: float
    maintenance_margin_usd: float
    ts: datetime
    # unsettled funding of all positions, USD (positive = received); already inside ``equity_usd``
    unrealized_funding_usd: float = field(default=0.0, compare=False)

    def __post_init__(self) -> None:
        if self.ts.tzinfo is not UTC:  # ``ensure_utc``'s common case inline (one account per fill or mark move)
            ensure_utc(self.ts, field="AccountState.ts")
        isfinite = math.isfinite
        if not (isfinite(self.equity_usd) and isfinite(self.available_margin_usd)
                and isfinite(self.initial_margin_usd) and isfinite(self.maintenance_margin_usd)):
            for name in ("equity_usd", "available_margin_usd", "initial_margin_usd", "maintenance_margin_usd"):
                if not isfinite(getattr(self, name)):
                    raise ValueError(f"AccountState.{name} must be finite, got {getattr(self, name)!r}")
        if self.initial_margin_usd < 0.0 or self.maintenance_margin_usd < 0.0:  # float to float: no int converted
            raise ValueError("AccountState margins must be >= 0")

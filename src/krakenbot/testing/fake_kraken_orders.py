"""Order, position and flex-account simulation of the loopback Kraken Futures server.

Fill assumptions (deliberately simple, stated so nobody mistakes them for Kraken's engine):
- market orders fill in full at the mark price (taker fee);
- IOC limits fill in full at the mark when marketable (buy limit >= mark, sell limit <= mark),
  otherwise Kraken's ``iocWouldNotExecute`` answer and nothing is placed;
- plain limits that are marketable fill at the mark (taker); others rest and fill at their limit
  (maker) when a later mark crosses them;
- stop orders (``stp``) trigger when the signal price (the mark) crosses the stop, then fill as an
  IoC within a price band against the book's liquidity, the rest cancelled (``fake_kraken_triggers``),
  or like a limit when a ``limitPrice`` was given;
- reduce-only orders are cut to the open position and refused (``wouldNotReducePosition``)
  when nothing is left to reduce;
- a new order whose initial margin exceeds the available margin is refused
  (``insufficientAvailableFunds``); a reused ``cliOrdId`` is refused (``clientOrderIdAlreadyExist``).

Fault behaviours (set by tests through ``FakeKraken``): ``liquidity`` caps what one taker order
fills per symbol (an IOC's rest is cancelled: a partial fill); ``cancel_races_fill`` makes the next
cancels of resting stops find them just triggered and filled; ``hidden`` client ids are invisible
to ``orders/status``, ``openorders`` and ``fills`` for a number of reads; ``close_position`` is a
close done on the exchange, not through us (a fill without our client id, of one of Kraken's fill
types: ``liquidation``, a ``taker`` close by the operator, an ``assignor`` transfer, ...).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from krakenbot.testing.fake_kraken_instruments import post_only_refusal
from krakenbot.testing.fake_kraken_market import FuturesContract, iso_ms
from krakenbot.testing.fake_kraken_triggers import DEFAULT_STOP_BAND_PCT, fire_trigger

TAKER_FEE = Decimal("0.0005")
# Kraken's ``fillType`` values (docs.kraken.com, Futures REST "Get your fills").
FILL_TYPES = ("maker", "taker", "takerAfterEdit", "liquidation", "assignee", "assignor", "unwindBankrupt",
              "unwindCounterparty")
MAKER_FEE = Decimal("0.0002")


def _dec(value: float | str | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(value) if isinstance(value, float) else value)


def _num(value: Decimal) -> float:
    return float(value)


@dataclass(slots=True)
class SimOrder:
    order_id: str
    cli_ord_id: str | None
    symbol: str
    side: str  # buy | sell
    order_type: str  # lmt | post | ioc | mkt | stp | take_profit
    quantity: Decimal
    reduce_only: bool
    received: datetime
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trigger_signal: str = "last"
    filled: Decimal = Decimal(0)
    status: str = "untouched"  # untouched | partiallyFilled | filled | cancelled
    last_update: datetime | None = None
    closed_at: datetime | None = None

    @property
    def is_trigger(self) -> bool:
        return self.order_type in ("stp", "take_profit")

    def order_dict(self, *, filled: Decimal | None = None) -> dict[str, Any]:
        """The ``order`` object of Kraken's sendorder/cancelorder events."""
        return {"orderId": self.order_id, "cliOrdId": self.cli_ord_id, "type": self.order_type,
                "symbol": self.symbol, "side": self.side, "quantity": _num(self.quantity),
                "filled": _num(self.filled if filled is None else filled),
                "limitPrice": None if self.limit_price is None else _num(self.limit_price),
                "stopPrice": None if self.stop_price is None else _num(self.stop_price),
                "reduceOnly": self.reduce_only, "timestamp": iso_ms(self.received),
                "lastUpdateTimestamp": iso_ms(self.last_update or self.received)}

    def trigger_dict(self) -> dict[str, Any]:
        """The ``orderTrigger`` object Kraken sends when a stop order is placed."""
        return {"uid": self.order_id, "clientId": self.cli_ord_id,
                "type": "lmt" if self.limit_price is not None else "ioc", "symbol": self.symbol,
                "side": self.side, "quantity": _num(self.quantity),
                "limitPrice": None if self.limit_price is None else _num(self.limit_price),
                "triggerPrice": _num(self.stop_price or Decimal(0)),
                "triggerSide": "trigger_below" if self.side == "sell" else "trigger_above",
                "triggerSignal": f"{self.trigger_signal}_price", "reduceOnly": self.reduce_only,
                "timestamp": iso_ms(self.received), "lastUpdateTimestamp": iso_ms(self.last_update or self.received)}


@dataclass(slots=True)
class SimPosition:
    size: Decimal  # signed, contracts
    entry: Decimal
    fill_time: datetime


@dataclass(slots=True)
class SimFill:
    fill_id: str
    order: SimOrder
    size: Decimal
    price: Decimal
    ts: datetime
    maker: bool
    kind: str | None = None  # Kraken's fillType when not a plain maker/taker fill of ours (FILL_TYPES)


@dataclass(slots=True)
class FuturesBook:
    """Orders, fills, positions and the flex account of one simulated Kraken Futures account."""

    contracts: dict[str, FuturesContract]
    balance_usd: Decimal = Decimal(10_000)
    closed_order_retention_seconds: float | None = 5.0  # Kraken's orders/status keeps closed ones 5 s
    orders: dict[str, SimOrder] = field(default_factory=dict)
    by_cli: dict[str, str] = field(default_factory=dict)
    positions: dict[str, SimPosition] = field(default_factory=dict)
    fills: list[SimFill] = field(default_factory=list)
    dead_man_deadline: datetime | None = None  # cancelallordersafter: every open order dies then
    liquidity: dict[str, Decimal] = field(default_factory=dict)  # symbol -> max contracts one taker order fills
    stop_band_pct: Decimal = DEFAULT_STOP_BAND_PCT  # a triggered stop's IoC band (fake_kraken_triggers)
    cancel_races_fill: int = 0  # the next N cancels of a resting stop find it triggered and filled first
    hide_next_orders: int = 0  # the next N accepted orders get hidden for ``hide_reads`` reads
    hide_reads: int = 0
    hidden: dict[str, int] = field(default_factory=dict)  # cliOrdId -> reads it stays invisible
    hide_fills: bool = True  # False: a hidden order's fills still show in ``fills`` (only lookups lag)
    fills_shown: set[str] = field(default_factory=set)  # hidden cliOrdIds whose fills are visible

    # ---- fault behaviours --------------------------------------------------------------------
    def visible(self, cli_ord_id: str | None) -> bool:
        """False while ``cli_ord_id`` is hidden from lookups (see ``tick_hidden``)."""
        return cli_ord_id is None or self.hidden.get(cli_ord_id, 0) <= 0

    def tick_hidden(self) -> None:
        """One read of orders/status, openorders or fills: hidden orders come one read closer to view."""
        for cli in list(self.hidden):
            self.hidden[cli] -= 1
            if self.hidden[cli] < 0:
                del self.hidden[cli]

    def close_position(self, symbol: str, now: datetime, *, kind: str = "liquidation",
                       size: Decimal | None = None) -> SimFill | None:
        """Close ``size`` contracts (all when None) of ``symbol``'s position on the exchange, not through
        us, filled as Kraken's fillType ``kind`` (``liquidation``; ``taker`` for the operator's own close
        on Kraken's site, also accepted as ``manual``; ``assignor``, ``unwindCounterparty``, ...). Our resting
        orders are left as they are."""
        kind = "taker" if kind == "manual" else kind  # the operator's own close on Kraken's site: a taker fill
        if kind not in FILL_TYPES:
            raise ValueError(f"fill type {kind!r} is not one of Kraken's: {', '.join(FILL_TYPES)}")
        pos = self.positions.get(symbol)
        if pos is None or pos.size == 0:
            return None
        contract = self.contracts[symbol]
        side = "sell" if pos.size > 0 else "buy"
        qty = min(abs(pos.size), size) if size is not None else abs(pos.size)
        order = SimOrder(order_id=str(uuid.uuid4()), cli_ord_id=None, symbol=symbol, side=side, order_type="mkt",
                         quantity=qty, reduce_only=True, received=now, last_update=now)
        self.orders[order.order_id] = order
        self._execute(order, qty, _dec(contract.mark), maker=False, now=now)
        fill = self.fills[-1]
        fill.kind = kind
        return fill

    # ---- order entry -------------------------------------------------------------------------
    def send_order(self, params: dict[str, str], now: datetime) -> dict[str, Any]:
        """Handle ``sendorder``; return the ``sendStatus`` object (Kraken answers HTTP 200)."""
        received = iso_ms(now)
        contract = self.contracts.get(params.get("symbol", "").upper())
        if contract is None:
            return {"status": "invalidArgument", "receivedTime": received, "orderEvents": []}

        def refuse(status: str) -> dict[str, Any]:
            return {"status": status, "receivedTime": received, "orderEvents": []}

        cli = params.get("cliOrdId") or None
        if cli is not None and len(cli) > 100:
            return refuse("clientOrderIdTooBig")  # Kraken's name (ccxt 4.5.90 says clientOrderIdTooLong)
        if cli is not None and cli in self.by_cli:
            return refuse("clientOrderIdAlreadyExist")
        if contract.suspended:
            return refuse("marketSuspended")
        order_type, side = params.get("orderType", ""), params.get("side", "")
        if order_type not in ("lmt", "post", "ioc", "mkt", "stp", "take_profit"):
            return refuse("invalidOrderType")
        if side not in ("buy", "sell"):
            return refuse("invalidSide")
        if (post_only := post_only_refusal(contract, order_type, bool(params.get("stopPrice")))) is not None:
            return refuse(post_only)
        try:
            size = _dec(params.get("size", ""))
            limit = _dec(params["limitPrice"]) if params.get("limitPrice") else None
            stop = _dec(params["stopPrice"]) if params.get("stopPrice") else None
        except ArithmeticError:
            return refuse("invalidArgument")
        if size <= 0 or size % contract.lot_size != 0:
            return refuse("invalidSize")
        tick = _dec(contract.tick_size)
        for price in (limit, stop):
            if price is not None and (price <= 0 or price % tick != 0):
                return refuse("invalidPrice")
        if order_type in ("lmt", "post", "ioc") and limit is None:
            return refuse("invalidPrice")
        if order_type in ("stp", "take_profit") and stop is None:
            return refuse("invalidPrice")
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        order = SimOrder(order_id=str(uuid.uuid4()), cli_ord_id=cli, symbol=contract.symbol, side=side,
                         order_type=order_type, quantity=size, reduce_only=reduce_only, received=now,
                         limit_price=limit, stop_price=stop,
                         trigger_signal=params.get("triggerSignal", "last"), last_update=now)
        base = {"order_id": order.order_id, "status": "placed", "receivedTime": received}
        if reduce_only:
            allowed = self._reducible(contract.symbol, side)
            if allowed <= 0:
                return refuse("wouldNotReducePosition")
            order.quantity = min(size, allowed)
        elif self._needs_margin(contract, side, size) > self.available_margin():
            return refuse("insufficientAvailableFunds")
        mark = _dec(contract.mark)
        if order.is_trigger:
            self._remember(order)
            events = [{"type": "PLACE", "orderTrigger": order.trigger_dict()}]
            return base | {"orderEvents": events + self._check_triggers(contract, now)}
        marketable = (order_type == "mkt" or (limit is not None and (
            (side == "buy" and limit >= mark) or (side == "sell" and limit <= mark))))
        if order_type == "ioc" and not marketable:
            return refuse("iocWouldNotExecute")
        if order_type == "post" and marketable:
            return refuse("postWouldExecute")
        self._remember(order)
        if marketable:
            qty = min(order.quantity, self.liquidity.get(contract.symbol, order.quantity))
            events = [self._execute(order, qty, mark, maker=False, now=now)]
            if qty < order.quantity and order_type == "ioc":  # the rest found nothing: cancelled
                order.status, order.closed_at = "cancelled", now
                events.append({"type": "CANCEL", "uid": order.order_id, "order": order.order_dict(),
                               "reason": "ioc_cancelled"})
            return base | {"orderEvents": events}
        return base | {"orderEvents": [{"type": "PLACE", "order": order.order_dict(), "reducedQuantity": None}]}

    def cancel_order(self, params: dict[str, str], now: datetime) -> dict[str, Any]:
        """Handle ``cancelorder`` by ``order_id`` or ``cliOrdId``; return ``cancelStatus``."""
        order_id = params.get("order_id") or self.by_cli.get(params.get("cliOrdId", ""), "")
        order = self.orders.get(order_id)
        received = iso_ms(now)
        if order is None:
            return {"status": "notFound", "receivedTime": received}
        if self.cancel_races_fill > 0 and order.is_trigger and order.closed_at is None:
            self.cancel_races_fill -= 1  # the mark touched the stop just before our cancel arrived
            qty = min(order.quantity, self._reducible(order.symbol, order.side)) if order.reduce_only else \
                order.quantity
            if qty > 0:
                self._execute(order, qty, _dec(self.contracts[order.symbol].mark), maker=False, now=now)
        if order.status == "filled":
            return {"status": "filled", "order_id": order_id, "receivedTime": received}
        if order.status == "cancelled":
            return {"status": "notFound", "order_id": order_id, "receivedTime": received}
        order.status, order.last_update, order.closed_at = "cancelled", now, now
        return {"status": "cancelled", "order_id": order_id, "receivedTime": received,
                "orderEvents": [{"uid": order_id, "order": order.order_dict(), "type": "CANCEL"}]}

    def cancel_all(self, now: datetime) -> list[str]:
        """Cancel every open order (``cancelallorders``, or the dead man's switch firing)."""
        gone = []
        for order_id, order in self.orders.items():
            if order.status not in ("filled", "cancelled"):
                order.status, order.last_update, order.closed_at = "cancelled", now, now
                gone.append(order_id)
        return gone

    def arm_dead_man(self, timeout_s: int, now: datetime) -> dict[str, Any]:
        """``cancelallordersafter``: cancel everything ``timeout_s`` from now unless re-armed; 0 disarms."""
        self.dead_man_deadline = now + timedelta(seconds=timeout_s) if timeout_s > 0 else None
        trigger = iso_ms(self.dead_man_deadline) if self.dead_man_deadline else "0"
        return {"currentTime": iso_ms(now), "triggerTime": trigger}

    def check_dead_man(self, now: datetime) -> None:
        """The switch fires once its deadline passed: every open order is cancelled at the deadline and the
        timer stays off until ``cancelallordersafter`` arms it again."""
        deadline = self.dead_man_deadline
        if deadline is not None and now >= deadline:
            self.dead_man_deadline = None
            self.cancel_all(deadline)

    def set_mark(self, symbol: str, mark: float, now: datetime) -> None:
        """Move a contract's mark; fill crossed resting limits and fire crossed stops."""
        contract = self.contracts[symbol]
        contract.mark = mark
        self._check_triggers(contract, now)
        price = _dec(mark)
        for order in list(self.orders.values()):
            if (order.symbol != symbol or order.is_trigger or order.closed_at is not None
                    or order.limit_price is None):
                continue
            crossed = (order.side == "buy" and price <= order.limit_price) or (
                order.side == "sell" and price >= order.limit_price)
            if crossed:
                self._execute(order, order.quantity - order.filled, order.limit_price, maker=True, now=now)

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _remember(self, order: SimOrder) -> None:
        self.orders[order.order_id] = order
        if order.cli_ord_id is not None:
            self.by_cli[order.cli_ord_id] = order.order_id
            if self.hide_next_orders > 0:
                self.hide_next_orders -= 1
                self.hidden[order.cli_ord_id] = self.hide_reads
                if not self.hide_fills:
                    self.fills_shown.add(order.cli_ord_id)

    def _reducible(self, symbol: str, side: str) -> Decimal:
        pos = self.positions.get(symbol)
        if pos is None:
            return Decimal(0)
        if (pos.size > 0 and side == "sell") or (pos.size < 0 and side == "buy"):
            return abs(pos.size)
        return Decimal(0)

    def _needs_margin(self, contract: FuturesContract, side: str, size: Decimal) -> Decimal:
        pos = self.positions.get(contract.symbol)
        current = pos.size if pos else Decimal(0)
        signed = size if side == "buy" else -size
        added = max(Decimal(0), abs(current + signed) - abs(current))
        notional = added * _dec(contract.mark)
        im, _ = contract.margin_rates(float(abs(current + signed) * _dec(contract.mark)))
        return notional * _dec(im)

    def _check_triggers(self, contract: FuturesContract, now: datetime) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        mark = _dec(contract.mark)
        for order in list(self.orders.values()):
            if order.symbol != contract.symbol or not order.is_trigger or order.closed_at is not None:
                continue
            assert order.stop_price is not None
            fired = (order.side == "sell" and mark <= order.stop_price) or (
                order.side == "buy" and mark >= order.stop_price)
            if order.order_type == "take_profit":
                fired = (order.side == "sell" and mark >= order.stop_price) or (
                    order.side == "buy" and mark <= order.stop_price)
            if not fired:
                continue
            qty = order.quantity
            if order.reduce_only:
                qty = min(qty, self._reducible(order.symbol, order.side))
            if qty <= 0:
                order.status, order.closed_at, order.last_update = "cancelled", now, now
                continue
            events.extend(fire_trigger(self, order, qty, mark, now))  # an IoC within a band: may fill partly
        return events

    def _execute(self, order: SimOrder, qty: Decimal, price: Decimal, *, maker: bool,
                 now: datetime) -> dict[str, Any]:
        prior = order.order_dict()
        fill = SimFill(fill_id=str(uuid.uuid4()), order=order, size=qty, price=price, ts=now, maker=maker)
        self.fills.append(fill)
        self.balance_usd -= qty * price * (MAKER_FEE if maker else TAKER_FEE)
        signed = qty if order.side == "buy" else -qty
        pos = self.positions.get(order.symbol)
        if pos is None or pos.size == 0:
            self.positions[order.symbol] = SimPosition(size=signed, entry=price, fill_time=now)
        elif (pos.size > 0) == (signed > 0):
            total = pos.size + signed
            pos.entry = (pos.entry * abs(pos.size) + price * qty) / abs(total)
            pos.size, pos.fill_time = total, now
        else:
            closed = min(abs(pos.size), qty)
            direction = 1 if pos.size > 0 else -1
            self.balance_usd += direction * closed * (price - pos.entry)
            remainder = pos.size + signed
            if remainder == 0:
                del self.positions[order.symbol]
            elif (remainder > 0) == (pos.size > 0):
                pos.size, pos.fill_time = remainder, now
            else:
                self.positions[order.symbol] = SimPosition(size=remainder, entry=price, fill_time=now)
        order.filled += qty
        order.last_update = now
        order.status = "filled" if order.filled >= order.quantity or order.order_type in ("ioc", "mkt") or \
            order.is_trigger else "partiallyFilled"
        if order.status == "filled":
            order.closed_at = now
        return {"type": "EXECUTION", "executionId": fill.fill_id, "price": _num(price), "amount": _num(qty),
                "orderPriorEdit": None, "orderPriorExecution": prior, "takerReducedQuantity": None}

    # ---- account views ---------------------------------------------------------------------
    def _marks(self) -> list[tuple[FuturesContract, SimPosition]]:
        return [(self.contracts[s], p) for s, p in self.positions.items()]

    def unrealized_usd(self) -> Decimal:
        return sum((p.size * (_dec(c.mark) - p.entry) for c, p in self._marks()), Decimal(0))

    def margins_usd(self) -> tuple[Decimal, Decimal]:
        """(initial, maintenance) margin of the open positions at mark, USD."""
        im_total, mm_total = Decimal(0), Decimal(0)
        for contract, pos in self._marks():
            notional = abs(pos.size) * _dec(contract.mark)
            im, mm = contract.margin_rates(float(notional))
            im_total += notional * _dec(im)
            mm_total += notional * _dec(mm)
        return im_total, mm_total

    def available_margin(self) -> Decimal:
        im, _ = self.margins_usd()
        return self.balance_usd + self.unrealized_usd() - im

    def accounts_body(self, now: datetime) -> dict[str, Any]:
        """``/accounts``: a cash account and the flex (multi-collateral) account."""
        im, mm = self.margins_usd()
        unrealized = self.unrealized_usd()
        equity = self.balance_usd + unrealized
        usd = _num(self.balance_usd)
        flex = {"currencies": {"USD": {"quantity": usd, "value": usd, "collateral": usd,
                                       "available": _num(self.available_margin())}},
                "initialMargin": _num(im), "initialMarginWithOrders": _num(im), "maintenanceMargin": _num(mm),
                "balanceValue": usd, "portfolioValue": _num(equity), "collateralValue": usd,
                "pnl": _num(unrealized), "unrealizedFunding": 0.0, "totalUnrealized": _num(unrealized),
                "totalUnrealizedAsMargin": _num(unrealized), "availableMargin": _num(equity - im),
                "marginEquity": _num(equity), "type": "multiCollateralMarginAccount"}
        cash = {"balances": {"usd": 0.0, "xbt": 0.0, "eth": 0.0, "usdt": 0.0}, "type": "cashAccount"}
        return {"result": "success", "accounts": {"cash": cash, "flex": flex}, "serverTime": iso_ms(now)}

    def positions_body(self, now: datetime) -> dict[str, Any]:
        rows = [{"side": "long" if p.size > 0 else "short", "symbol": s, "price": _num(p.entry),
                 "fillTime": iso_ms(p.fill_time), "size": _num(abs(p.size)), "unrealizedFunding": 0.0,
                 "pnlCurrency": "USD"} for s, p in self.positions.items()]
        return {"result": "success", "openPositions": rows, "serverTime": iso_ms(now)}

    def open_orders_body(self, now: datetime) -> dict[str, Any]:
        rows = []
        for o in self.orders.values():
            if o.closed_at is not None or not self.visible(o.cli_ord_id):
                continue
            row: dict[str, Any] = {
                "order_id": o.order_id, "symbol": o.symbol, "side": o.side,
                "orderType": {"stp": "stop", "take_profit": "take_profit", "post": "lmt"}.get(o.order_type,
                                                                                              o.order_type),
                "unfilledSize": _num(o.quantity - o.filled), "receivedTime": iso_ms(o.received),
                "status": o.status, "filledSize": _num(o.filled), "reduceOnly": o.reduce_only,
                "lastUpdateTime": iso_ms(o.last_update or o.received)}
            if o.cli_ord_id is not None:
                row["cliOrdId"] = o.cli_ord_id
            if o.limit_price is not None:
                row["limitPrice"] = _num(o.limit_price)
            if o.stop_price is not None:
                row["stopPrice"] = _num(o.stop_price)
                row["triggerSignal"] = o.trigger_signal
            rows.append(row)
        return {"result": "success", "openOrders": rows, "serverTime": iso_ms(now)}

    def orders_status_body(self, order_ids: list[str], cli_ids: list[str], now: datetime) -> dict[str, Any]:
        """``/orders/status``: open orders, and closed ones within the retention window."""
        wanted = [self.orders[i] for i in order_ids if i in self.orders]
        wanted += [self.orders[self.by_cli[c]] for c in cli_ids if c in self.by_cli]
        keep = self.closed_order_retention_seconds
        rows = []
        for o in wanted:
            if not self.visible(o.cli_ord_id):
                continue
            if o.closed_at is not None and keep is not None and now - o.closed_at > timedelta(seconds=keep):
                continue
            status = {"untouched": "TRIGGER_PLACED" if o.is_trigger else "ENTERED_BOOK",
                      "partiallyFilled": "PARTIALLY_FILLED", "filled": "FULLY_EXECUTED",
                      "cancelled": "CANCELLED"}[o.status]
            inner: dict[str, Any] = {
                "type": "TRIGGER_ORDER" if o.is_trigger else "ORDER", "orderId": o.order_id,
                "cliOrdId": o.cli_ord_id, "symbol": o.symbol, "side": o.side, "quantity": _num(o.quantity),
                "filled": _num(o.filled), "limitPrice": None if o.limit_price is None else _num(o.limit_price),
                "reduceOnly": o.reduce_only, "timestamp": iso_ms(o.received),
                "lastUpdateTimestamp": iso_ms(o.last_update or o.received)}
            if o.stop_price is not None:
                inner["priceTriggerOptions"] = {
                    "triggerPrice": _num(o.stop_price),
                    "triggerSide": "TRIGGER_BELOW" if o.side == "sell" else "TRIGGER_ABOVE",
                    "triggerSignal": f"{o.trigger_signal.upper()}_PRICE"}
            rows.append({"order": inner, "status": status, "updateReason": None, "error": None})
        return {"result": "success", "serverTime": iso_ms(now), "orders": rows}

    def fills_body(self, last_fill_time: datetime | None, now: datetime) -> dict[str, Any]:
        """``/fills``: the 100 most recent fills before ``lastFillTime`` (newest first)."""
        rows = [f for f in self.fills if (last_fill_time is None or f.ts < last_fill_time)
                and (self.visible(f.order.cli_ord_id) or f.order.cli_ord_id in self.fills_shown)]
        rows.sort(key=lambda f: f.ts, reverse=True)
        out = []
        for f in rows[:100]:
            entry: dict[str, Any] = {"fill_id": f.fill_id, "symbol": f.order.symbol, "side": f.order.side,
                                     "order_id": f.order.order_id, "size": _num(f.size), "price": _num(f.price),
                                     "fillTime": iso_ms(f.ts),
                                     "fillType": f.kind or ("maker" if f.maker else "taker")}
            if f.order.cli_ord_id is not None:
                entry["cliOrdId"] = f.order.cli_ord_id
            out.append(entry)
        return {"result": "success", "fills": out, "serverTime": iso_ms(now)}

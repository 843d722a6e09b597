"""Order intents, orders and fills, and a paper exchange that records what the loop sends it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from builders.clock import T0
from krakenbot.config.models import FeesConfig
from krakenbot.domain import (
    AccountState,
    Clock,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
)
from krakenbot.domain.errors import OrderRejectedError
from krakenbot.exchange.paper import PaperExchange
from krakenbot.store.journal import MemoryJournal


def intent(client_order_id: str, side: OrderSide, size: str, *, limit: str | None = None, stop: str | None = None,
           reduce_only: bool = False, order_type: OrderType | None = None, symbol: str = "PF_XBTUSD") -> OrderIntent:
    """An order intent for ``size`` contracts; IOC when a ``limit`` (USD) is given, else the given ``order_type``."""
    kind = order_type or (OrderType.IOC if limit is not None else OrderType.MARKET)
    return OrderIntent(client_order_id=client_order_id, symbol=symbol, side=side, size=Decimal(size),
                       order_type=kind, reduce_only=reduce_only, reason="test", ts_created=T0,
                       limit_price=Decimal(limit) if limit else None, stop_price=Decimal(stop) if stop else None)


def order_of(intent: OrderIntent, status: OrderStatus, *, filled: str = "0", avg_price: str | None = None,
             exchange_order_id: str | None = "X-1", ts: datetime = T0) -> Order:
    """The order ``intent`` became, in ``status`` with ``filled`` contracts filled at ``avg_price`` USD."""
    return Order(client_order_id=intent.client_order_id, symbol=intent.symbol, side=intent.side, size=intent.size,
                 order_type=intent.order_type, reduce_only=intent.reduce_only, status=status, ts_updated=ts,
                 exchange_order_id=exchange_order_id, filled_size=Decimal(filled),
                 avg_fill_price=Decimal(avg_price) if avg_price is not None else None,
                 limit_price=intent.limit_price, stop_price=intent.stop_price)


def make_fill(trade_id: str, *, client_order_id: str = "kb-1", size: str = "0.1", price: str = "20000",
              fee: str = "0.5", side: OrderSide = OrderSide.BUY, symbol: str = "PF_XBTUSD", ts: datetime = T0,
              is_maker: bool = False) -> Fill:
    """A fill of ``size`` contracts at ``price`` USD paying ``fee`` USD."""
    return Fill(trade_id=trade_id, client_order_id=client_order_id, symbol=symbol, side=side, size=Decimal(size),
                price=Decimal(price), fee_usd=Decimal(fee), ts=ts, exchange_order_id="X-1", is_maker=is_maker)


class RecordingPaperExchange(PaperExchange):
    """A ``PaperExchange`` that records the loop's calls in order (``calls``: ("create_order", client id) /
    ("fetch_account", "")), notes for each order whether ``journal`` already held its intent when it
    was sent (``journaled_before_send``), refuses orders ``reject`` names a reason for, and fills only
    ``entry_fill_fraction`` (lot-rounded) of IOC entries when set, the rest cancelled (a partial fill)."""

    def __init__(self, *, instruments: Mapping[str, Instrument], clock: Clock, journal: MemoryJournal,
                 initial_equity_usd: float = 10_000.0, fees: FeesConfig | None = None) -> None:
        super().__init__(instruments=instruments, fees=fees or FeesConfig(), clock=clock,
                         initial_equity_usd=initial_equity_usd)
        self.journal = journal
        self.calls: list[tuple[str, str]] = []
        self.sent: list[OrderIntent] = []
        self.journaled_before_send: list[bool] = []
        self.reject: Callable[[OrderIntent], str | None] = lambda _intent: None
        self.entry_fill_fraction: Decimal | None = None
        self._inside = 0  # calls the paper exchange makes on itself are not the loop's

    def fetch_account(self) -> AccountState:
        if not self._inside:
            self.calls.append(("fetch_account", ""))
        return super().fetch_account()

    def update_market(self, marks: Mapping[str, float],
                      funding_rates: Mapping[str, float] | None = None) -> list[Fill]:
        self._inside += 1
        try:
            return super().update_market(marks, funding_rates)
        finally:
            self._inside -= 1

    def create_order(self, intent: OrderIntent) -> Order:
        self.calls.append(("create_order", intent.client_order_id))
        self.sent.append(intent)
        self.journaled_before_send.append(intent in self.journal.intents)
        why = self.reject(intent)
        if why:
            raise OrderRejectedError(f"{intent.symbol}: {why}")
        self._inside += 1
        try:
            fraction = self.entry_fill_fraction
            if fraction is None or intent.reduce_only or intent.order_type is not OrderType.IOC:
                return super().create_order(intent)
            part = self._instruments[intent.symbol].round_size(intent.size * fraction)
            order = super().create_order(replace(intent, size=part))
            return replace(order, size=intent.size, status=OrderStatus.CANCELLED)  # the rest found no match
        finally:
            self._inside -= 1

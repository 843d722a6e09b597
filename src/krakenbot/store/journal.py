"""The journal: where every decision, intent, order, fill and shock is written, in order.

``Journal`` is the port; ``MemoryJournal`` keeps everything in lists (backtests, tests).
The SQLAlchemy store (SQLite by default, PostgreSQL by URL) implements the same port.
An intent is recorded *before* its order is sent: after a crash the journal says what
may be on the exchange, and the client order id finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from krakenbot.domain import AccountState, Fill, Order, OrderIntent, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEvent:
    """Something an operator wants in the timeline: a shock, a pause, a close or trim and why.

    ``kind`` is an ``EventKind`` value (read back from the store as the plain string)."""

    ts: datetime
    kind: str
    symbol: str
    detail: str


class Journal(Protocol):
    """Append-only record of what the loop decided and what the exchange did."""

    def record_intent(self, intent: OrderIntent) -> None:
        """Persist ``intent`` durably; raises on failure, and then the order must not be sent."""
        ...

    def record_order(self, order: Order) -> None: ...

    def record_fill(self, fill: Fill) -> bool:
        """Record ``fill`` once; False when its trade id was already recorded."""
        ...

    def record_event(self, event: JournalEvent) -> None: ...

    def record_equity(self, account: AccountState, exposure_usd: float) -> None: ...

    def record_positions(self, ts: datetime, positions: Iterable[Position]) -> None:
        """A snapshot of every open position at ``ts`` (empty: flat)."""
        ...

    def record_plan(self, ts: datetime, summary: str, details: dict[str, Any]) -> None:
        """An auction plan: one line for people, JSON-able details for tools."""
        ...


class MemoryJournal:
    """A ``Journal`` in memory. Fills are unique by trade id."""

    def __init__(self) -> None:
        self.intents: list[OrderIntent] = []
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self.events: list[JournalEvent] = []
        self.equity: list[tuple[datetime, float, float, float]] = []
        self.positions: list[tuple[datetime, tuple[Position, ...]]] = []
        self.plans: list[tuple[datetime, str, dict[str, Any]]] = []
        self._trade_ids: set[str] = set()

    def record_intent(self, intent: OrderIntent) -> None:
        self.intents.append(intent)

    def record_order(self, order: Order) -> None:
        self.orders[order.client_order_id] = order

    def record_fill(self, fill: Fill) -> bool:
        if fill.trade_id in self._trade_ids:
            return False
        self._trade_ids.add(fill.trade_id)
        self.fills.append(fill)
        return True

    def record_event(self, event: JournalEvent) -> None:
        self.events.append(event)

    def record_equity(self, account: AccountState, exposure_usd: float) -> None:
        self.equity.append((account.ts, account.equity_usd, exposure_usd, account.initial_margin_usd))

    def record_positions(self, ts: datetime, positions: Iterable[Position]) -> None:
        self.positions.append((ts, tuple(positions)))

    def record_plan(self, ts: datetime, summary: str, details: dict[str, Any]) -> None:
        self.plans.append((ts, summary, details))

    def extend_equity(self, rows: list[tuple[datetime, float, float, float]]) -> None:
        """Many (ts, equity, exposure, initial margin) rows at once, oldest first (backtests)."""
        self.equity.extend(rows)

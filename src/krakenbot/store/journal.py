"""``MemoryJournal``: the ``Journal`` port (``krakenbot.domain.journal``) in lists, for backtests and tests.

The SQLAlchemy store (``store.sql.SqlStore``: SQLite by default, PostgreSQL by URL) implements the same port.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from krakenbot.domain import AccountState, Fill, Order, OrderIntent, Position
from krakenbot.domain.journal import JournalEvent


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

"""The journal port: where every decision, intent, order, fill and shock is written, in order.

``Journal`` is a protocol, so the loop and the executor depend on it without knowing the store:
``krakenbot.store`` implements it (``MemoryJournal`` in memory, ``SqlStore`` on SQLite or
PostgreSQL). An intent is recorded *before* its order is sent: after a crash the journal says
what may be on the exchange, and the client order id finds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from krakenbot.domain.frozen import fast_init
from krakenbot.domain.trading import AccountState, Fill, Order, OrderIntent, Position


@fast_init
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

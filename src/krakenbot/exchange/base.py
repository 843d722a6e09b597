"""The one port every venue implements: Kraken Futures through CCXT, or the paper exchange.

Venue differences are capability flags, never ``if venue == ...`` in the loop. Both
implementations pass the same contract tests (``tests/exchange/test_exchange_contract.py``).
Sizes are contracts (``Decimal``, already lot-rounded by the caller through ``Instrument``);
prices are USD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from krakenbot.domain import AccountState, Fill, Order, OrderIntent, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class ExchangeCapabilities:
    """What a venue can do natively, and how it reports what it did (never which venue it is).

    ``polls_fills``: fills happen on the venue without an order call of ours (stop triggers,
    liquidations, manual trades) and must be polled with ``fetch_fills``; False for a venue that
    reports them from its market updates (the paper exchange). ``dead_man_switch``: the venue
    cancels our orders when ``arm_dead_man_switch`` is not renewed in time.
    """

    polls_fills: bool
    stop_orders_by_mark: bool = True
    reduce_only: bool = True
    client_order_ids: bool = True
    dead_man_switch: bool = False


class Exchange(Protocol):
    """Private, order-side operations of a futures venue. Errors come from ``krakenbot.domain.errors``."""

    capabilities: ExchangeCapabilities

    def fetch_account(self) -> AccountState:
        """Margin picture of the account. Raises ``TransientError`` on a failed read."""
        ...

    def fetch_positions(self) -> list[Position]:
        """Every open position."""
        ...

    def fetch_open_orders(self) -> list[Order]:
        """Every resting order (stops included)."""
        ...

    def create_order(self, intent: OrderIntent) -> Order:
        """Send ``intent``. Never retried inside: a lost answer raises ``OutcomeUnknownError``.

        Raises ``DuplicateOrderError`` when the client order id exists, ``OrderRejectedError``
        (or ``InsufficientMarginError``) when the venue refuses.
        """
        ...

    def cancel_order(self, client_order_id: str, symbol: str) -> Order:
        """Cancel a resting order once (never retried inside) and return it as cancelled.

        A venue whose cancel answer carries no full order (ccxt's is partial; Kraken's
        ``cancelorder`` echoes the order in its event, else ``orders/status`` still holds it)
        reads it back after the cancel. Raises ``OrderNotFoundError`` if it is gone (filled,
        already cancelled or never known), ``TransientError`` when no answer came (look the order
        up before trying again), ``ExchangeError`` when the cancel was confirmed but the order
        could not be read back.
        """
        ...

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str, *,
                                 since: datetime | None = None) -> Order | None:
        """Look an order up by our id; None when the venue does not know it (yet).

        Kraken keeps closed orders for only 5 s: after that one that filled is rebuilt from its fills
        (read back to ``since``, when the order was sent; the latest page when None) and, with ``since``,
        one that did not from the venue's order history (``fetch_order_history``).
        """
        ...

    def fetch_order_history(self, client_order_id: str, symbol: str, *, since: datetime) -> Order | None:
        """The order sent with our id at or after ``since`` as the venue's order history last shows it
        (CANCELLED with nothing filled when it was placed then cancelled); None when it has no trace of it
        (never sent). Raises ``TransientError`` (``RateLimitError`` when the history's own budget is spent)."""
        ...

    def fetch_fills(self, since: datetime | None = None) -> Sequence[Fill]:
        """Our executions since ``since`` (all known when None), oldest first."""
        ...

    def arm_dead_man_switch(self, timeout_seconds: int) -> None:
        """Have the venue cancel ALL our orders ``timeout_seconds`` from now unless armed again (0 disarms).

        Sent once, never retried. A venue without the capability (``capabilities.dead_man_switch``
        False) does nothing. Raises ``ExchangeError`` (``TransientError`` when no answer came).
        """
        ...

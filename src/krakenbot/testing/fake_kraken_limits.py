"""Kraken Futures' request budgets for the loopback server: token buckets with Kraken's costs.

Kraken (docs.kraken.com/api/docs/guides/futures-rate-limits): ``/derivatives`` private endpoints
share a pool of 500 cost units that refills continuously at 500 per 10 s; ``/history`` endpoints
have their own pool of 100 tokens refilling at 100 per 10 minutes. Public endpoints cost nothing.
An exhausted pool answers ``{"result": "error", "error": "apiLimitExceeded"}`` and the request
does nothing. The buckets refill on the clock the fake is given (simulated in tests).

The cost tables are keyed by endpoint as routed by the fake (``sendorder``, ``orders/status``;
history endpoints by their path after ``/api/history/v3/``: ``orders``, ``triggers``,
``executions``, ``account-log``); add an endpoint here when the fake learns it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# /derivatives/api/v3/<endpoint> -> cost units (Kraken's table; fills with lastFillTime: see ``cost``).
DERIVATIVES_COSTS: dict[str, int] = {
    "sendorder": 10, "editorder": 10, "cancelorder": 10, "accounts": 2, "openpositions": 2, "fills": 2,
    "cancelallorders": 25, "cancelallordersafter": 25, "withdrawaltospotwallet": 100, "openorders": 2,
    "orders/status": 1, "unwindqueue": 200, "leveragepreferences": 2, "pnlpreferences": 2, "transfer": 10,
    "transfer/subaccount": 10, "self-trade-strategy": 2,
}
FILLS_WITH_LAST_FILL_TIME = 25
BATCHORDER_BASE = 9  # + one per instruction in the batch

# /api/history/v3/<endpoint> -> tokens (account-log: see ``cost``, by its ``count``).
HISTORY_COSTS: dict[str, int] = {"orders": 1, "triggers": 1, "executions": 1, "accountlogcsv": 6}
_ACCOUNT_LOG_COSTS = ((25, 1), (50, 2), (1000, 3), (5000, 6))  # (count up to, tokens); above: 10


def cost(budget: str, endpoint: str, params: Mapping[str, str], *, batch_size: int = 0) -> int:
    """Kraken's cost of one request to ``endpoint`` in ``budget`` (``derivatives`` | ``history``);
    0 for an endpoint with no listed cost (public ones)."""
    if budget == "history":
        if endpoint == "account-log":
            count = int(params.get("count") or 500)
            return next((tokens for limit, tokens in _ACCOUNT_LOG_COSTS if count <= limit), 10)
        return HISTORY_COSTS.get(endpoint, 0)
    if endpoint == "fills" and params.get("lastFillTime"):
        return FILLS_WITH_LAST_FILL_TIME
    if endpoint == "batchorder":
        return BATCHORDER_BASE + batch_size
    return DERIVATIVES_COSTS.get(endpoint, 0)


@dataclass(slots=True)
class TokenBucket:
    """A pool of ``capacity`` units refilling at ``capacity`` per ``window_seconds``, continuously."""

    capacity: float
    window_seconds: float
    level: float = -1.0  # -1: full at the first request
    ts: datetime | None = None
    refused: int = 0  # requests answered apiLimitExceeded
    spent: float = 0.0  # units spent by answered requests

    def take(self, units: float, now: datetime) -> bool:
        """Spend ``units`` at ``now`` if the pool holds them (True); else refuse, spending nothing."""
        if self.level < 0 or self.ts is None:
            self.level, self.ts = self.capacity, now
        elapsed = max(0.0, (now - self.ts).total_seconds())
        self.level = min(self.capacity, self.level + elapsed * self.capacity / self.window_seconds)
        self.ts = max(self.ts, now)
        if units > self.level:
            self.refused += 1
            return False
        self.level -= units
        self.spent += units
        return True


@dataclass(slots=True)
class RateLimits:
    """The two budgets of one API key. ``enabled`` False charges nothing (the old lenient fake)."""

    enabled: bool = True
    derivatives: TokenBucket = field(default_factory=lambda: TokenBucket(capacity=500, window_seconds=10))
    history: TokenBucket = field(default_factory=lambda: TokenBucket(capacity=100, window_seconds=600))

    def charge(self, budget: str, endpoint: str, params: Mapping[str, str], now: datetime) -> bool:
        """Charge one request; False when its budget cannot pay (answer ``apiLimitExceeded``)."""
        units = cost(budget, endpoint, params)
        if not self.enabled or units == 0:
            return True
        bucket = self.history if budget == "history" else self.derivatives
        return bucket.take(units, now)

    def drain(self, budget: str, now: datetime) -> None:
        """Empty a budget at ``now`` (a burst by another program on the same key, in tests)."""
        bucket = self.history if budget == "history" else self.derivatives
        bucket.take(0, now)
        bucket.level = 0.0


@dataclass(slots=True)
class SpotPublicLimits:
    """Kraken spot's public rate limit, off until ``FakeKraken.limit_spot_public`` turns it on.

    Kraken (support.kraken.com/articles/206548367, "Public (REST Market Data)"): limited by IP address *and pair*
    for ``Trades`` and ``OHLC``, by IP only for the other public endpoints; one call a second stays within it,
    faster may be refused for a few seconds with ``EGeneral:Too many requests`` (HTTP 200). The burst Kraken
    allows is not documented: ``burst`` calls are assumed, refilling at ``per_second``.
    """

    burst: int = 5
    per_second: float = 1.0
    buckets: dict[tuple[str, ...], TokenBucket] = field(default_factory=dict)
    refused: int = 0

    def charge(self, endpoint: str, pair: str | None, now: datetime) -> bool:
        """Charge one call (False: answer ``EGeneral:Too many requests``)."""
        key = (endpoint, pair or "") if endpoint in ("Trades", "OHLC") else ("ip",)
        bucket = self.buckets.setdefault(key, TokenBucket(capacity=self.burst,
                                                          window_seconds=self.burst / self.per_second))
        if bucket.take(1, now):
            return True
        self.refused += 1
        return False

"""The values of the auction: closes, opens, keeps and rejections, and the sizing port it needs.

The portfolio layer does not import ``krakenbot.risk`` (sibling policies stay independent, see
the import-linter layers); the auction reaches the RiskManager through the ``TradeValidator``
protocol below, which ``RiskManager`` satisfies as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import fast_init
from krakenbot.domain.instrument import Instrument
from krakenbot.domain.signals import CandidateSignal, Signal
from krakenbot.domain.trading import AccountState, Position


class SizingDecision(Protocol):
    """What the auction reads from a risk decision (``krakenbot.risk.risk_manager.TradeDecision``)."""

    @property
    def approved(self) -> bool: ...
    @property
    def notional_usd(self) -> float: ...
    @property
    def leverage(self) -> float: ...
    @property
    def margin_required_usd(self) -> float: ...
    @property
    def size(self) -> Decimal | None: ...
    @property
    def reason(self) -> str: ...
    @property
    def trading_state(self) -> str:
        """The loss-limit state the decision saw ('active' allows entries; ``TradingState`` of the risk layer)."""
        ...


class TradeValidator(Protocol):
    """The sizing port: ``krakenbot.risk.risk_manager.RiskManager`` implements it (its signature, in full)."""

    def validate_trade(
        self,
        signal: Signal,
        account: AccountState,
        available_margin_override: float | None = None,
        notional_override: float | None = None,
        skip_margin_check: bool = False,
        *,
        instrument: Instrument | None = None,
        positions: Sequence[Position] = (),
        equity_marks: Any = None,  # an ``EquityMarks`` of the risk layer (policies stay independent)
        now: datetime,
    ) -> SizingDecision: ...


class CloseReason(StrEnum):
    REVERSED = "reversed"  # the symbol's latest signal is on the other side
    STALE = "stale"  # the symbol's latest signal is older than stale_signal_minutes
    OUTRANKED = "outranked"  # a better candidate needs the slot or the margin


class RejectReason(StrEnum):
    NO_CONTRACT = "no_contract"
    PAUSED = "paused"
    NOT_SIZED = "not_sized"
    STALE_SIGNAL = "stale_signal"
    DUPLICATE = "duplicate"
    NO_SLOT = "no_slot"
    MARGIN = "margin"
    EXPOSURE = "exposure"
    REDUCE_ONLY = "reduce_only"
    OUTRANKED = "outranked"  # it confirmed a held position that a better candidate replaced


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedClose:
    """Close ``position`` for ``reason``; ``freed_margin_usd`` is the (conservative) margin it frees."""

    position: Position
    reason: CloseReason
    detail: str
    freed_margin_usd: float

    @property
    def symbol(self) -> str:
        return self.position.symbol


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Keep:
    """Hold ``position``; ``candidate`` is the same-side candidate that confirmed it, if any."""

    position: Position
    score: float
    detail: str
    candidate: CandidateSignal | None = None

    @property
    def symbol(self) -> str:
        return self.position.symbol


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Rejection:
    """A candidate the plan does not open, and why."""

    candidate: CandidateSignal
    reason: RejectReason
    detail: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRefusal:
    """A signal that did not become a candidate (no futures contract, or risk refused it)."""

    signal: Signal
    futures_symbol: str
    reason: str


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationPlan:
    """What the auction decided at ``ts``. Closes run first, then the account is refreshed, then opens.

    Margin figures in USD: ``available_margin_usd`` as given by the account, ``freed_margin_usd``
    by the closes (conservative), ``margin_budget_usd`` what opens may use (also within
    ``max_margin_utilization_pct``), ``planned_margin_usd`` what the opens use.
    """

    ts: datetime
    closes: tuple[PlannedClose, ...]
    opens: tuple[CandidateSignal, ...]
    keeps: tuple[Keep, ...]
    rejected: tuple[Rejection, ...]
    available_margin_usd: float
    freed_margin_usd: float
    margin_budget_usd: float
    planned_margin_usd: float

    def __post_init__(self) -> None:
        if self.ts.tzinfo is not UTC:  # the common case first
            ensure_utc(self.ts, field="AllocationPlan.ts")

    @property
    def is_empty(self) -> bool:
        """True when the plan neither closes nor opens anything."""
        return not self.closes and not self.opens

    def summary(self) -> str:
        """One line for the log, e.g. ``Auction: 1 close, 1 open, 2 keep, 3 rejected | close PF_X (outranked) ...``."""
        head = (f"Auction: {len(self.closes)} close, {len(self.opens)} open, {len(self.keeps)} keep, "
                f"{len(self.rejected)} rejected | margin planned {self.planned_margin_usd:,.2f} of budget "
                f"{self.margin_budget_usd:,.2f} USD (available {self.available_margin_usd:,.2f} + freed "
                f"{self.freed_margin_usd:,.2f})")
        parts = [f"close {c.symbol} ({c.reason.value})" for c in self.closes]
        parts += [f"open {o.futures_symbol} {o.side.value} score={o.score:.2f} notional={o.position_notional:,.2f} "
                  f"margin={o.margin_required:,.2f}" for o in self.opens]
        parts += [f"keep {k.symbol}" for k in self.keeps]
        parts += [f"reject {r.candidate.futures_symbol or r.candidate.symbol} ({r.reason.value})"
                  for r in self.rejected]
        return head + ("" if not parts else " | " + "; ".join(parts))

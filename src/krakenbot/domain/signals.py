"""What a strategy says and what the auction makes of it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import fast_init
from krakenbot.domain.market import is_good_price


class Side(StrEnum):
    """Direction of a position or a signal."""

    LONG = "long"
    SHORT = "short"

    @property
    def sign(self) -> int:
        """+1 for a long, -1 for a short."""
        return 1 if self is _LONG else -1


_LONG = Side.LONG  # read once: on Python 3.11 an Enum class's attribute costs about a function call


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """A scored trade idea from a strategy, on a *spot* symbol.

    ``score`` is comparable across symbols (higher is better conviction per unit of risk);
    ``ref_price`` is the spot price the idea was formed at; ``stop_distance_pct`` is the
    distance to the protective stop as a fraction of ``ref_price`` (0.02 means 2 %);
    ``take_profit`` is an optional absolute price.
    """

    symbol: str
    side: Side
    score: float
    ref_price: float
    stop_distance_pct: float
    ts: datetime
    take_profit: float | None = None
    strategy: str = ""

    def __post_init__(self) -> None:
        if self.ts.tzinfo is not UTC:  # the common case first: no field name built for a good value
            ensure_utc(self.ts, field=f"Signal({self.symbol}).ts")
        if not math.isfinite(self.score):
            raise ValueError(f"Signal({self.symbol}).score must be finite, got {self.score!r}")
        if not is_good_price(self.ref_price):
            raise ValueError(f"Signal({self.symbol}).ref_price must be > 0, got {self.ref_price!r}")
        if not (math.isfinite(self.stop_distance_pct) and 0 < self.stop_distance_pct < 1):
            raise ValueError(f"Signal({self.symbol}).stop_distance_pct must be in (0, 1), "
                             f"got {self.stop_distance_pct!r}")
        if self.take_profit is not None and not is_good_price(self.take_profit):
            raise ValueError(f"Signal({self.symbol}).take_profit must be > 0, got {self.take_profit!r}")

    @property
    def stop_price(self) -> float:
        """The protective stop implied by ``stop_distance_pct``."""
        return self.ref_price * (1 - self.side.sign * self.stop_distance_pct)


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class CandidateSignal:
    """A signal mapped to a futures contract and sized, competing in the auction.

    ``position_notional`` is the USD notional the auction would open; ``margin_required`` the
    initial margin in USD it would take at ``leverage``; ``size`` the contracts that notional is
    (lot-rounded; None when sized without an instrument). Sized once, by the RiskManager.
    """

    signal: Signal
    futures_symbol: str
    position_notional: float
    margin_required: float
    leverage: float
    size: Decimal | None = None

    def __post_init__(self) -> None:
        isfinite = math.isfinite
        if (isfinite(self.position_notional) and self.position_notional >= 0 and isfinite(self.margin_required)
                and self.margin_required >= 0 and isfinite(self.leverage) and self.leverage >= 0):
            return  # the common case first: no field name looked up for good values
        for name in ("position_notional", "margin_required", "leverage"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"CandidateSignal({self.futures_symbol}).{name} must be >= 0, got {value!r}")

    @property
    def symbol(self) -> str:
        return self.signal.symbol

    @property
    def score(self) -> float:
        return self.signal.score

    @property
    def side(self) -> Side:
        return self.signal.side

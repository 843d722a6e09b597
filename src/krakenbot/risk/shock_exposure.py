"""ShockGuard's exposure reduction: liquidation buffer per position, CLOSE or TRIM while shocked.

Kraken Futures multi-collateral ("flex") accounts are cross-margined: the account is liquidated
when margin equity ``E`` falls to the maintenance margin ``MM`` of all positions. For one position
of notional ``N = size * contract_size * mark`` and maintenance rate ``m``, an adverse move of a
fraction ``x`` of the mark (other prices held) changes equity by ``-N x`` and maintenance margin
by ``-m N x`` (long: price falls) or ``+m N x`` (short: price rises). Equity meets maintenance at::

    buffer x = (E - MM) / (N * k),   k = 1 - m (long) or 1 + m (short)

When the exchange reports a liquidation price ``L`` it wins: ``x = (mark - L) / mark`` (long) or
``(L - mark) / mark`` (short).

Trimming a fraction ``f`` of the position leaves equity unchanged (unrealised PnL is realised,
fees ignored), frees ``m N f`` of maintenance margin and leaves notional ``N (1 - f)``. The new
buffer is ``(E - MM + m N f) / (N (1 - f) k)``; setting it to the target ``T`` and writing the
current excess as ``E - MM = x N k`` gives::

    f = k (T - x) / (T k + m)

which needs only the current buffer ``x``, so it also holds when ``x`` came from the exchange's
liquidation price. With ``m = 0`` it is ``1 - x / T``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from krakenbot.config.models import RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.market import is_good_price
from krakenbot.domain.signals import Side
from krakenbot.domain.trading import AccountState, Position
from krakenbot.domain.vocabulary import OrderReason

log = logging.getLogger(__name__)

DEFAULT_MAINTENANCE_MARGIN_RATE = 0.01  # Kraken flex at 50x (IM 2 %, MM 1 %); pass the real tier per contract

BufferSource = Literal["exchange", "estimated"]


class ShockActionKind(StrEnum):
    CLOSE = "close"
    TRIM = "trim"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockAction:
    """Reduce one position because a shock is active.

    ``reduce_size`` is in contracts, unrounded (round *up* to the lot so the buffer is restored;
    it equals ``size`` for CLOSE); ``buffer_pct`` the liquidation buffer before the action and
    ``target_buffer_pct`` the buffer a TRIM restores (fractions of mark); ``detail`` a human sentence.
    """

    symbol: str
    action: ShockActionKind
    side: Side
    size: float
    reduce_size: float
    buffer_pct: float
    buffer_source: BufferSource
    target_buffer_pct: float
    mark_price: float
    detail: str
    ts: datetime

    def __post_init__(self) -> None:
        ensure_utc(self.ts, field=f"ShockAction({self.symbol}).ts")
        if not (0 < self.reduce_size <= self.size):
            raise ValueError(f"ShockAction({self.symbol}).reduce_size must be in (0, size={self.size}], "
                             f"got {self.reduce_size!r}")

    @property
    def reason(self) -> OrderReason:
        """The order's reason, also the journal event's kind: ``SHOCK_CLOSE`` or ``SHOCK_TRIM``."""
        return OrderReason.SHOCK_CLOSE if self.action is ShockActionKind.CLOSE else OrderReason.SHOCK_TRIM

    @property
    def key(self) -> str:
        """Idempotency key: one action per symbol, kind and tick (use it to never run it twice)."""
        return f"{self.symbol}:{self.action.value}:{self.ts.isoformat()}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShockPlan:
    """What ShockGuard asks of the loop this tick. ``shocked`` holds the paused symbols ('*' for
    market-wide); ``unassessed`` the shocked positions without a usable mark (no action taken)."""

    ts: datetime
    actions: tuple[ShockAction, ...] = ()
    shocked: frozenset[str] = frozenset()
    unassessed: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.shocked)


def _rate(rates: Mapping[str, float] | float, symbol: str) -> float:
    rate = rates if isinstance(rates, float | int) else rates.get(symbol, DEFAULT_MAINTENANCE_MARGIN_RATE)
    if not (math.isfinite(rate) and 0 <= rate < 1):
        raise ValueError(f"{symbol}: maintenance_margin_rate must be in [0, 1), got {rate!r}")
    return float(rate)


def liquidation_buffer_pct(*, side: Side, mark: float, notional_usd: float, equity_usd: float,
                           maintenance_margin_usd: float, maintenance_rate: float,
                           liquidation_price: float | None = None) -> tuple[float, BufferSource]:
    """Distance from ``mark`` to liquidation as a fraction of ``mark`` (<= 0: at or past it).

    Uses ``liquidation_price`` when it is a good price, else the cross-margin estimate
    ``(E - MM) / (N k)`` of the module docstring. Raises ``ValueError`` on a bad mark or notional.
    """
    if not is_good_price(mark) or not (math.isfinite(notional_usd) and notional_usd > 0):
        raise ValueError(f"liquidation buffer needs a good mark and notional, got {mark!r}, {notional_usd!r}")
    if liquidation_price is not None and is_good_price(liquidation_price):
        return side.sign * (mark - liquidation_price) / mark, "exchange"
    k = 1.0 - maintenance_rate if side is Side.LONG else 1.0 + maintenance_rate
    return (equity_usd - maintenance_margin_usd) / (notional_usd * k), "estimated"


def trim_fraction(*, side: Side, buffer_pct: float, target_buffer_pct: float, maintenance_rate: float) -> float:
    """Fraction of the position to cut so its buffer rises from ``buffer_pct`` to ``target_buffer_pct``.

    ``f = k (T - x) / (T k + m)``; 0 when already at or above target, capped at 1.
    """
    if buffer_pct >= target_buffer_pct:
        return 0.0
    k = 1.0 - maintenance_rate if side is Side.LONG else 1.0 + maintenance_rate
    fraction = k * (target_buffer_pct - buffer_pct) / (target_buffer_pct * k + maintenance_rate)
    return min(1.0, fraction)


def plan_exposure(*, cfg: RiskConfig, positions: Sequence[Position], account: AccountState, now: datetime,
                  shocked: frozenset[str], marks: Mapping[str, float],
                  maintenance_margin_rate: Mapping[str, float] | float) -> ShockPlan:
    """CLOSE / TRIM actions for the positions under an active shock (their symbol or '*' is shocked).

    ``marks`` are fresh marks by symbol (preferred over ``position.mark_price``). The account's
    maintenance margin is floored at ``sum(m_i * N_i)`` of all positions (never understated).
    """
    ensure_utc(now, field="now")
    if not shocked:
        return ShockPlan(ts=now)
    marketwide = "*" in shocked
    notionals: dict[str, float] = {}
    prices: dict[str, float] = {}
    for pos in positions:
        mark = marks.get(pos.symbol)
        if mark is None or not is_good_price(mark):
            mark = pos.mark_price
        if mark is not None and is_good_price(mark):
            prices[pos.symbol] = mark
            notionals[pos.symbol] = pos.size * pos.contract_size * mark
    floor_mm = sum(_rate(maintenance_margin_rate, s) * n for s, n in notionals.items())
    maintenance = max(account.maintenance_margin_usd, floor_mm)
    actions: list[ShockAction] = []
    unassessed: list[str] = []
    for pos in sorted(positions, key=lambda p: p.symbol):
        if not (marketwide or pos.symbol in shocked):
            continue
        if pos.symbol not in prices:
            log.warning("%s: shock active but no good mark price; position not assessed", pos.symbol)
            unassessed.append(pos.symbol)
            continue
        rate = _rate(maintenance_margin_rate, pos.symbol)
        buffer, source = liquidation_buffer_pct(
            side=pos.side, mark=prices[pos.symbol], notional_usd=notionals[pos.symbol],
            equity_usd=account.equity_usd, maintenance_margin_usd=maintenance, maintenance_rate=rate,
            liquidation_price=pos.liquidation_price)
        why = "market-wide shock" if marketwide else "shock on symbol"
        if buffer < cfg.emergency_buffer_pct:
            kind, reduce, target = ShockActionKind.CLOSE, pos.size, 0.0
            detail = (f"liquidation buffer {buffer:.2%} ({source}) < emergency {cfg.emergency_buffer_pct:.2%}"
                      f" during {why}: close")
        elif buffer < cfg.trim_buffer_pct:
            fraction = trim_fraction(side=pos.side, buffer_pct=buffer, target_buffer_pct=cfg.trim_buffer_pct,
                                     maintenance_rate=rate)
            if fraction <= 0:
                continue
            kind = ShockActionKind.CLOSE if fraction >= 1 else ShockActionKind.TRIM
            reduce, target = pos.size * fraction, cfg.trim_buffer_pct
            detail = (f"liquidation buffer {buffer:.2%} ({source}) < trim {cfg.trim_buffer_pct:.2%} during {why}: "
                      f"cut {fraction:.2%} of the position to restore it")
        else:
            continue
        action = ShockAction(
            symbol=pos.symbol, action=kind, side=pos.side, size=pos.size, reduce_size=min(reduce, pos.size),
            buffer_pct=buffer, buffer_source=source, target_buffer_pct=target, mark_price=prices[pos.symbol],
            detail=detail, ts=now)
        log.warning("%s: shock %s %.8g of %.8g contracts: %s", pos.symbol, kind.value.upper(),
                    action.reduce_size, pos.size, detail)
        actions.append(action)
    return ShockPlan(ts=now, actions=tuple(actions), shocked=shocked, unassessed=tuple(unassessed))

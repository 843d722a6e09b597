"""RiskManager: size a trade from risk per trade and its stop, cap it, and check margin.

``validate_trade`` returns a ``TradeDecision``; a refusal is a decision with ``approved=False``
and a reason, never an exception. Checks, in order:

1. trading state (``equity_marks``): reduce-only after the daily loss limit or max drawdown;
2. equity > 0;
3. notional: ``notional_override`` when given, else ``equity * risk_per_trade_pct / stop_distance_pct``;
   then capped by leverage (``min(max_leverage, instrument leverage) * equity``, the instrument's
   leverage being that of the margin tier the capped notional reaches: capped again when it is lower),
   ``max_position_notional_usd``, one position's margin within ``max_margin_utilization_pct *
   equity``, and the room left under ``max_total_exposure * equity`` (open positions included);
   ``capped_by`` names the cap that bound it;
4. size: rounded *down* to the instrument's lot (exact, in Decimal), at least ``min_size``; the
   notional is then the size's, as the smallest float not below it (so that feeding it back as
   ``notional_override`` gives the same size);
5. ``min_notional_usd``;
6. margin: ``notional / leverage`` within available margin (``available_margin_override`` when
   given) and initial margin of all positions within ``max_margin_utilization_pct * equity``.
   ``skip_margin_check`` says the auction already sized and budgeted the trade: it skips the
   checks against ``account`` (the stale, pre-close figures), never the check against an
   ``available_margin_override`` (the refreshed budget after the closes). Every other check runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from krakenbot.config.models import RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.instrument import DECIMAL_ZERO, Instrument, to_decimal
from krakenbot.domain.signals import Signal
from krakenbot.domain.trading import AccountState, Position
from krakenbot.domain.vocabulary import CapReason
from krakenbot.risk.trading_state import EquityMarks, TradingState

log = logging.getLogger(__name__)

APPROVED = "approved"
# Enum members read on every sizing, looked up once: on Python 3.11 an attribute of an Enum class goes through
# ``EnumType.__getattr__``'s slow path (about 150 ns, several times a plain class attribute)
_ACTIVE = TradingState.ACTIVE
_BY_OVERRIDE, _BY_RISK = CapReason.NOTIONAL_OVERRIDE, CapReason.RISK_PER_TRADE
_BY_LEVERAGE, _BY_POSITION = CapReason.LEVERAGE, CapReason.MAX_POSITION_NOTIONAL
_BY_MARGIN, _BY_EXPOSURE = CapReason.MARGIN_UTILIZATION, CapReason.TOTAL_EXPOSURE


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TradeDecision:
    """The answer to "may this signal be traded, and how big?".

    ``notional_usd`` is the position notional (after lot rounding when an instrument was
    given); ``leverage`` the leverage its margin is computed at; ``margin_required_usd`` its
    initial margin; ``size`` in contracts, a lot multiple (None without an instrument).
    ``capped_by`` (a ``CapReason``) says what set the notional: ``RISK_PER_TRADE``, ``NOTIONAL_OVERRIDE``,
    ``LEVERAGE``, ``MAX_POSITION_NOTIONAL``, ``MARGIN_UTILIZATION`` or ``TOTAL_EXPOSURE`` (``NONE`` when refused
    before sizing). When not approved, ``reason`` says why and the figures are those computed before the
    refusal (0 when none were).
    """

    approved: bool
    symbol: str
    notional_usd: float
    leverage: float
    margin_required_usd: float
    reason: str
    size: Decimal | None = None
    capped_by: CapReason = CapReason.NONE
    trading_state: TradingState = TradingState.ACTIVE


def _refused(symbol: str, leverage: float, state: TradingState, reason: str, notional: float = 0.0,
             size: Decimal | None = None, capped_by: CapReason = CapReason.NONE) -> TradeDecision:
    """A refusal of a trade on ``symbol`` (logged), with the figures computed before it (0 when none were)."""
    log.info("%s: trade refused: %s", symbol, reason)
    margin = notional / leverage if notional > 0 else 0.0
    return TradeDecision(approved=False, symbol=symbol, notional_usd=notional, leverage=leverage,
                         margin_required_usd=margin, reason=reason, size=size, capped_by=capped_by,
                         trading_state=state)


def _float_at_least(value: Decimal) -> float:
    """The smallest float >= ``value``: fed back as ``notional_override`` it rounds to the same size."""
    result = float(value)
    return math.nextafter(result, math.inf) if Decimal(result) < value else result


class RiskManager:
    """Sizing and limits from a ``RiskConfig``. Stateless apart from its config (and a memo of its last lot
    sizing, a pure function of its inputs): safe to share."""

    def __init__(self, cfg: RiskConfig) -> None:
        self.cfg = cfg
        # ((notionals), ref price, instrument, answer) of the last ``_lot_sized``: the auction sizes a candidate,
        # then its open is validated again with the notional that sizing gave (the same size: not computed again)
        self._last_sized: tuple[tuple[float, float], float, Instrument, tuple[Decimal, float]] | None = None
        # (instrument, cap) of the last instrument without margin tiers asked about (config and instrument frozen)
        self._flat_cap: tuple[Instrument, float] | None = None
        # (instrument, one lot's notional per unit of price in USD) of the last instrument sized (it is frozen)
        self._lot_per_price: tuple[Instrument, float] | None = None

    def leverage_cap(self, instrument: Instrument | None = None, notional_usd: float = 0.0) -> float:
        """``max_leverage`` of the config, lowered to the instrument's own cap when given: the cap of the
        margin tier a position of ``notional_usd`` (USD) reaches (``Instrument.leverage_at``)."""
        if instrument is None:
            return self.cfg.max_leverage
        if not instrument.margin_tiers:  # one tier: the same cap at any notional, kept for the last instrument
            flat = self._flat_cap
            if flat is not None and flat[0] is instrument:
                return flat[1]
            cap = min(self.cfg.max_leverage, instrument.leverage_at(notional_usd))
            self._flat_cap = (instrument, cap)
            return cap
        return min(self.cfg.max_leverage, instrument.leverage_at(notional_usd))

    def risk_notional_usd(self, signal: Signal, equity_usd: float) -> float:
        """Notional whose stop loss costs ``risk_per_trade_pct`` of equity: ``equity * risk / stop_distance``."""
        return equity_usd * self.cfg.risk_per_trade_pct / signal.stop_distance_pct

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
        equity_marks: EquityMarks | None = None,
        now: datetime,
    ) -> TradeDecision:
        """Decide whether ``signal`` may open a position, sized and capped. Never raises for a refusal.

        ``available_margin_override`` (USD) replaces ``account.available_margin_usd`` in the margin
        check (e.g. margin refreshed after the auction's closes); ``notional_override`` (USD) replaces
        risk-based sizing (caps still apply); ``skip_margin_check`` skips only the margin checks
        against ``account``: a given ``available_margin_override`` is always enforced.
        ``positions`` are the open positions (for total exposure); ``equity_marks`` the day-start
        and peak equity for the loss limits (without them the limits are not checked). Raises
        ``ValueError`` only when ``now`` is not timezone-aware UTC.
        """
        if now.tzinfo is not UTC:  # the common case first
            ensure_utc(now, field="now")
        cfg = self.cfg
        symbol = signal.symbol
        leverage = self.leverage_cap(instrument)
        state = _ACTIVE
        equity = account.equity_usd
        if equity_marks is not None:
            marks = equity_marks.update(equity, now)
            if not marks.allows_entries(equity, cfg):  # the assessment is built for its reason only
                assessment = marks.assess(equity, cfg)
                state = assessment.state
                return _refused(symbol, leverage, state, f"{state.value}: {assessment.reason}")
        if equity <= 0:
            return _refused(symbol, leverage, state, f"account equity {equity:,.2f} USD <= 0")

        # 3. notional and its caps
        if notional_override is not None:
            if not (math.isfinite(notional_override) and notional_override > 0):
                return _refused(symbol, leverage, state,
                                f"notional_override must be a finite number > 0, got {notional_override!r}")
            notional, capped_by = notional_override, _BY_OVERRIDE
        else:
            notional, capped_by = self.risk_notional_usd(signal, equity), _BY_RISK
        open_notional = sum([p.notional_usd for p in positions]) if positions else 0
        exposure_room = cfg.max_total_exposure * equity - open_notional
        if exposure_room <= 0:
            return _refused(symbol, leverage, state, f"total exposure {open_notional:,.2f} USD already at the cap "
                            f"{cfg.max_total_exposure:g} x equity {equity:,.2f} USD",
                            capped_by=CapReason.TOTAL_EXPOSURE)
        wanted, wanted_by = notional, capped_by
        notional, capped_by = self._capped(wanted, wanted_by, leverage, equity, exposure_room)
        if instrument is not None and instrument.margin_tiers:  # one tier: the same cap at any notional
            tiered = self.leverage_cap(instrument, notional)
            if tiered < leverage:  # the capped size reaches a higher margin tier: cap again at its leverage
                leverage = tiered  # (a smaller size never reaches a higher tier, so this leverage holds)
                notional, capped_by = self._capped(wanted, wanted_by, leverage, equity, exposure_room)

        # 4. size in contracts, rounded down to the lot
        size: Decimal | None = None
        if instrument is not None:
            size, notional = self._lot_sized(notional, signal.ref_price, instrument)
            if size <= DECIMAL_ZERO or size < instrument.min_size:
                return _refused(symbol, leverage, state,
                                f"size {size} contracts of {instrument.symbol} is below the instrument's minimum "
                                f"{instrument.min_size} (lot {instrument.lot_size})", notional, size, capped_by)

        # 5. minimum notional
        if notional < cfg.min_notional_usd:
            return _refused(symbol, leverage, state,
                            f"notional {notional:,.2f} USD is below min_notional_usd {cfg.min_notional_usd:,.2f} "
                            f"(capped by {capped_by})", notional, size, capped_by)

        # 6. margin: against the given budget always; against the account unless the auction budgeted it
        margin = notional / leverage
        if not skip_margin_check or available_margin_override is not None:
            available = account.available_margin_usd if available_margin_override is None else available_margin_override
            if not math.isfinite(available) or margin > available:
                return _refused(symbol, leverage, state,
                                f"margin {margin:,.2f} USD exceeds available margin {available:,.2f} USD"
                                f"{' (override)' if available_margin_override is not None else ''}",
                                notional, size, capped_by)
        if not skip_margin_check:
            utilization_cap = cfg.max_margin_utilization_pct * equity
            if account.initial_margin_usd + margin > utilization_cap:
                return _refused(symbol, leverage, state,
                                f"initial margin {account.initial_margin_usd:,.2f} + {margin:,.2f} USD exceeds "
                                f"max_margin_utilization_pct {cfg.max_margin_utilization_pct:.0%} of equity "
                                f"({utilization_cap:,.2f} USD)", notional, size, capped_by)

        decision = new(TradeDecision)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        TradeDecision.__init__(decision, approved=True, symbol=symbol, notional_usd=notional, leverage=leverage,
                               margin_required_usd=margin, reason=APPROVED, size=size, capped_by=capped_by,
                               trading_state=state)
        return decision

    def _lot_sized(self, notional: float, ref_price: float, instrument: Instrument) -> tuple[Decimal, float]:
        """``notional`` (USD) in contracts at ``ref_price`` rounded down to the lot (exact, from the float's exact
        binary value), and that size's notional as the smallest float not below it. The last answer is kept for
        ``notional`` and for the notional it gave, which sizes to the same lots (it is at most one float above
        size x price, far below one more lot) and gives itself back."""
        last = self._last_sized
        if last is not None and notional in last[0] and last[1] == ref_price and last[2] is instrument:
            return last[3]
        price = to_decimal(ref_price) * instrument.contract_size
        size = instrument.round_size(Decimal(notional) / price)
        answer = (size, _float_at_least(size * price))
        # the notional given back sizes to the same lots while one float step there is well under one lot
        per_price = self._lot_per_price
        if per_price is None or per_price[0] is not instrument:
            per_price = self._lot_per_price = (instrument, float(instrument.lot_size) * float(instrument.contract_size))
        lot_usd = per_price[1] * ref_price
        again = answer[1] if 4 * math.ulp(answer[1]) < lot_usd else notional
        self._last_sized = ((notional, again), ref_price, instrument, answer)
        return answer

    def _capped(self, notional: float, capped_by: CapReason, leverage: float, equity: float,
                exposure_room: float) -> tuple[float, CapReason]:
        """``notional`` (USD) within the leverage, position, margin-utilisation and exposure caps."""
        cfg = self.cfg  # the caps in this order: the last one that binds names the cap
        cap = leverage * equity
        if cap < notional:
            notional, capped_by = cap, _BY_LEVERAGE
        cap = cfg.max_position_notional_usd
        if cap < notional:
            notional, capped_by = cap, _BY_POSITION
        cap = cfg.max_margin_utilization_pct * equity * leverage
        if cap < notional:
            notional, capped_by = cap, _BY_MARGIN
        if exposure_room < notional:
            notional, capped_by = exposure_room, _BY_EXPOSURE
        return notional, capped_by

"""Instruments and the one place where prices and sizes are rounded exactly."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Literal

PriceRounding = Literal["nearest", "down", "up"]

_PRICE_MODES = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}

MAINTENANCE_TO_INITIAL = 0.5  # Kraken Futures flex: maintenance margin is half the initial margin (every tier)
DECIMAL_ZERO = Decimal(0)
"""Decimals on the order path are compared with this, not with int 0: ``_decimal`` converts an int operand to a
new Decimal on every comparison. The one such constant (the domain checks, the executor, the risk manager and the
paper exchange use it)."""


class InstrumentKind(StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert a number to ``Decimal`` through its shortest repr, so 0.1 becomes Decimal('0.1')."""
    if isinstance(value, float):  # first: the common case (prices and sizes from float64 arithmetic)
        if not math.isfinite(value):
            raise ValueError(f"cannot convert non-finite number {value!r} to a decimal")
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    return Decimal(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginTier:
    """One level of a contract's margin schedule (Kraken's ``marginLevels``): from ``from_notional_usd``
    of position notional (USD) up, ``initial`` and ``maintenance`` margin as fractions of notional."""

    from_notional_usd: float
    initial: float
    maintenance: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.from_notional_usd) or self.from_notional_usd < 0:
            raise ValueError(f"MarginTier.from_notional_usd must be >= 0, got {self.from_notional_usd!r}")
        if not (0 < self.initial <= 1 and 0 < self.maintenance <= self.initial):
            raise ValueError(f"MarginTier needs 0 < maintenance <= initial <= 1, got {self.initial!r}, "
                             f"{self.maintenance!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument:
    """A tradable market: a spot pair or a futures contract.

    ``tick_size`` is the price increment (quote currency), ``lot_size`` the size increment
    (in contracts for futures, in base units for spot), ``contract_size`` the base units one
    contract stands for (1 for Kraken's linear ``PF_`` perpetuals), ``min_size`` the smallest
    order (same unit as ``lot_size``), ``max_leverage`` the venue's cap (1.0 for spot).
    ``margin_tiers``: the margin schedule by position notional, ascending (Kraken's ``marginLevels``);
    empty: one tier, initial ``1 / max_leverage``, maintenance half of it.
    """

    symbol: str
    kind: InstrumentKind
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_size: Decimal
    contract_size: Decimal = Decimal(1)
    max_leverage: float = 1.0
    unified_symbol: str | None = None
    margin_tiers: tuple[MarginTier, ...] = ()
    # (a float size, ``round_size`` of it) of the last float rounded: a position's reported size is rounded several
    # times a tick (its close, its check, its stop). Keyed by the whole input of a pure function: never stale.
    _last_rounded: tuple[float, Decimal] | None = field(default=None, init=False, repr=False, compare=False)
    # ``tick_size`` as a float for ``_whole_steps``; infinite when that float is not a normal number (then every
    # price takes the exact path)
    _tick_f: float = field(default=math.inf, init=False, repr=False, compare=False)
    # ``tick_size`` as (its coefficient, 10 ** -exponent) for ``_whole_steps``: None when its exponent is not negative
    # (then a price on a tick takes the exact path)
    _tick_ratio: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("Instrument.symbol must not be empty")
        for name in ("tick_size", "lot_size", "contract_size"):
            value = getattr(self, name)
            if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
                raise ValueError(f"{self.symbol}: {name} must be a positive Decimal, got {value!r}")
        if not isinstance(self.min_size, Decimal) or not self.min_size.is_finite() or self.min_size < 0:
            raise ValueError(f"{self.symbol}: min_size must be a Decimal >= 0, got {self.min_size!r}")
        if not math.isfinite(self.max_leverage) or self.max_leverage < 1:
            raise ValueError(f"{self.symbol}: max_leverage must be >= 1, got {self.max_leverage!r}")
        tick_f = float(self.tick_size)
        if _MIN_NORMAL <= tick_f < math.inf:
            object.__setattr__(self, "_tick_f", tick_f)
        _, digits, exponent = self.tick_size.as_tuple()
        if isinstance(exponent, int) and exponent < 0:
            object.__setattr__(self, "_tick_ratio", (int("".join(map(str, digits))), 10**-exponent))
        starts = [t.from_notional_usd for t in self.margin_tiers]
        if starts != sorted(starts) or len(set(starts)) != len(starts):
            raise ValueError(f"{self.symbol}: margin_tiers must ascend by from_notional_usd, got {starts}")

    def margin_tier(self, notional_usd: float) -> MarginTier:
        """The tier a position of ``notional_usd`` (USD, sign ignored) reaches. The whole position is charged
        that tier's rates (the loopback and the paper exchange do the same): never less than a banded sum
        would be, so sizing and liquidation distance err on the safe side. Below the second tier, or
        without tiers, the first tier."""
        if not self.margin_tiers:
            return _flat_tier(self.max_leverage)
        size = abs(notional_usd)
        tier = self.margin_tiers[0]
        for candidate in self.margin_tiers[1:]:
            if size >= candidate.from_notional_usd:
                tier = candidate
        return tier

    def initial_margin_rate(self, notional_usd: float = 0.0) -> float:
        """Initial margin as a fraction of notional for a position of ``notional_usd`` (USD)."""
        return self.margin_tier(notional_usd).initial

    def maintenance_margin_rate(self, notional_usd: float = 0.0) -> float:
        """Maintenance margin as a fraction of notional for a position of ``notional_usd`` (USD)."""
        return self.margin_tier(notional_usd).maintenance

    def leverage_at(self, notional_usd: float) -> float:
        """The venue's leverage cap for a position of ``notional_usd``: ``1 / initial_margin_rate``."""
        return 1 / self.initial_margin_rate(notional_usd)

    def round_size(self, size: float | Decimal) -> Decimal:
        """Round a size *down* to a multiple of ``lot_size``: never above ``|size|``, sign kept.

        A size below one lot rounds to zero; whether zero or a size under ``min_size`` may be
        sent is the caller's decision (see ``is_tradable_size``).
        """
        is_float = type(size) is float
        if is_float:  # equal floats have one repr: the same Decimal (0.0 and -0.0 both round to a zero of lots)
            last = self._last_rounded
            if last is not None and last[0] == size:
                return last[1]
        value = to_decimal(size)
        # the rounding passed positionally: by keyword, _decimal's argument parsing costs four times the rounding
        lots = (abs(value) / self.lot_size).to_integral_value(ROUND_DOWN)
        rounded = lots * self.lot_size
        if value < DECIMAL_ZERO:
            rounded = -rounded
        if is_float:
            object.__setattr__(self, "_last_rounded", (size, rounded))
        return rounded

    def round_price(self, price: float | Decimal, mode: PriceRounding = "nearest") -> Decimal:
        """Round a price to a multiple of ``tick_size``.

        ``down`` and ``up`` let a caller round in its own favour: a buy limit rounds down,
        a sell limit up; ``nearest`` uses banker's rounding.
        """
        if type(price) is float:
            whole = _whole_steps(price, self._tick_f, mode, self._tick_ratio)
            if whole is not None:
                return Decimal(whole) * self.tick_size
        value = to_decimal(price)
        if value <= DECIMAL_ZERO:
            raise ValueError(f"{self.symbol}: price must be > 0, got {price!r}")
        ticks = (value / self.tick_size).to_integral_value(_PRICE_MODES[mode])  # positional: see round_size
        return ticks * self.tick_size

    def is_tradable_size(self, size: Decimal) -> bool:
        """True when ``|size|`` is a positive lot multiple at or above ``min_size``."""
        magnitude = abs(size)
        try:
            return magnitude > DECIMAL_ZERO and magnitude >= self.min_size and magnitude % self.lot_size == DECIMAL_ZERO
        except ArithmeticError:  # a size with more digits than Decimal's context holds is no lot multiple
            return False

    def order_problem(self, size: Decimal, *prices: Decimal | None) -> str | None:
        """Why an order of ``size`` at ``prices`` (limit, stop; None skipped) cannot be sent as it is,
        or None: a size off the lot or below the minimum, a price off the tick or not positive."""
        if not self.is_tradable_size(size):
            return (f"{self.symbol}: size {size} is not a multiple of lot {self.lot_size} "
                    f"at or above min {self.min_size}")
        for level in prices:
            if level is None:
                continue
            try:
                off_tick = level <= DECIMAL_ZERO or level % self.tick_size != DECIMAL_ZERO
            except ArithmeticError:  # e.g. DivisionImpossible: 1e308 / tick has too many digits
                return f"{self.symbol}: price {level} cannot be checked against tick {self.tick_size}"
            if off_tick:
                return f"{self.symbol}: price {level} is not a multiple of tick {self.tick_size}"
        return None

    def notional_usd(self, size: float, price: float) -> float:
        """Notional value in quote currency of ``size`` (contracts or base units) at ``price``."""
        return abs(size) * float(self.contract_size) * price


def _whole_steps(value: float, step: float, mode: PriceRounding, ratio: tuple[int, int] | None) -> int | None:
    """``Decimal(repr(value)) / step`` rounded to a whole number by ``mode`` (down, up, half-even), from float
    and integer arithmetic alone, when that decides it beyond doubt; None when the exact path must decide (a
    quotient near a whole number but not exactly on it, near a half number, below 1, from 2**52 up, or not a
    number at all). ``ratio``: the step as (its coefficient, 10 ** -exponent), or None (see below).

    Why it is exact: the repr's value is within half an ulp of ``value`` (relative 2**-53), ``step`` (the
    tick's float) within 2**-53 of the tick, and the division adds one more rounding: the float quotient is
    within 2**-51 (relative) of the exact one. Kept only when at least ``_STEP_MARGIN`` (2**-48, relative) away
    from every whole and half number, the exact quotient, and its 28-digit Decimal rounding, round alike. Near a
    whole number the exact path decides also the Decimal's exponent (an exact quotient keeps its ideal exponent);
    everywhere else the exact path's ticks are a whole Decimal of exponent 0, as ``Decimal(int)`` is.

    Near a whole number N the answer is N in every mode when ``Decimal(repr(value))`` is exactly N steps written
    with the step's exponent (a stop or a price rounded before): then the exact quotient is N of exponent 0.
    ``digits / scale`` (integers: a correctly rounded quotient) is the float nearest to N steps, ``digits`` of
    them in units of the step's last digit. Equal to ``value`` with at most 15 digits, that decimal is what
    ``repr(value)`` reads (two decimals of 15 digits or fewer never round to one float), and with its last digit
    not 0 it has the step's exponent."""
    quotient = value / step
    if not 1.0 <= quotient < _TWO_52:
        return None
    whole = math.floor(quotient)
    part = quotient - whole  # exact: a float below 2**52 minus its floor
    margin = quotient * _STEP_MARGIN
    if part <= margin or part >= 1.0 - margin:
        if ratio is None:
            return None
        whole = round(quotient)
        digits = whole * ratio[0]
        return whole if digits % 10 and digits < _FIFTEEN_DIGITS and digits / ratio[1] == value else None
    if mode == "down":
        return whole
    if mode == "up":
        return whole + 1
    if abs(part - 0.5) <= margin:
        return None
    return whole if part < 0.5 else whole + 1


_MIN_NORMAL = sys.float_info.min  # the smallest normal float: below it a float's relative precision is lost
_TWO_52 = 2.0**52  # from here on a float has no fraction left
_FIFTEEN_DIGITS = 10**15  # decimals below it (15 significant digits) survive a round trip through a float
_STEP_MARGIN = 2.0**-48  # see _whole_steps: eight times the float quotient's worst relative error


@lru_cache(maxsize=256)
def _flat_tier(max_leverage: float) -> MarginTier:
    """The one tier of a contract without a margin schedule: built (and validated) once per leverage,
    not on every margin question (a frozen value, safe to share)."""
    return MarginTier(from_notional_usd=0.0, initial=1 / max_leverage,
                      maintenance=MAINTENANCE_TO_INITIAL / max_leverage)

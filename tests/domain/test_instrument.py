"""Instrument rounding: the one place sizes and prices become exact."""

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenbot.domain import Instrument, InstrumentKind

LOTS = [Decimal("0.0001"), Decimal("0.001"), Decimal("0.01"), Decimal("1"), Decimal("10"), Decimal("0.5")]


def instrument(lot: Decimal = Decimal("0.001"), tick: Decimal = Decimal("0.5")) -> Instrument:
    return Instrument(symbol="PF_XBTUSD", kind=InstrumentKind.FUTURES, base="BTC", quote="USD",
                      tick_size=tick, lot_size=lot, min_size=lot, max_leverage=50)


@given(size=st.floats(min_value=-1e7, max_value=1e7, allow_nan=False), lot=st.sampled_from(LOTS))
def test_round_size_is_lot_multiple_never_above_input(size, lot):
    rounded = instrument(lot).round_size(size)
    exact = Decimal(repr(size))
    assert rounded % lot == 0
    assert abs(rounded) <= abs(exact)
    assert abs(exact) - abs(rounded) < lot
    assert rounded == 0 or (rounded > 0) == (exact > 0)


@given(sizes=st.lists(st.floats(min_value=-1e7, max_value=1e7, allow_nan=False), min_size=1, max_size=6),
       lot=st.sampled_from(LOTS))
def test_round_size_of_a_float_rounded_before_is_the_same_as_rounded_afresh(sizes, lot):
    kept = instrument(lot)  # remembers its last float (a pure function's input): repeats and changes alike
    for size in [*sizes, *reversed(sizes), sizes[0], sizes[0]]:
        rounded, fresh = kept.round_size(size), instrument(lot).round_size(size)
        assert rounded == fresh and str(rounded) == str(fresh)
    assert kept == instrument(lot) and hash(kept) == hash(instrument(lot))  # not part of its value


@given(price=st.floats(min_value=1e-3, max_value=1e7), tick=st.sampled_from(LOTS),
       mode=st.sampled_from(["nearest", "down", "up"]))
def test_round_price_is_tick_multiple_within_one_tick(price, tick, mode):
    rounded = instrument(tick=tick).round_price(price, mode)
    exact = Decimal(repr(price))
    assert rounded % tick == 0
    assert abs(rounded - exact) <= tick
    if mode == "down":
        assert rounded <= exact
    if mode == "up":
        assert rounded >= exact


TICKS = [*LOTS, Decimal("0.1"), Decimal("0.25"), Decimal("0.05"), Decimal("1E-8"), Decimal("0.00001"), Decimal("5"),
         Decimal("0.3"), Decimal("0.0007")]
_MODES = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


def _near_a_tick(draw: st.DrawFn) -> tuple[float, Decimal]:
    """A tick and a price on, next to, or half-way between its multiples (where the float fast path must step
    aside), or anywhere."""
    tick = draw(st.sampled_from(TICKS) | st.decimals(min_value=Decimal("1E-9"), max_value=Decimal("1000"),
                                                       allow_nan=False, allow_infinity=False, places=9)
                .filter(lambda d: d > 0))
    whole = Decimal(draw(st.integers(min_value=0, max_value=10**16)))
    at = whole + draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal("1E-12"), Decimal("-1E-12"),
                                       Decimal("0.5000000000001"), Decimal("0.4999999999999")]))
    price = float(at * tick)
    price = draw(st.sampled_from([price, math.nextafter(price, 0.0), math.nextafter(price, math.inf)])
                 | st.floats(min_value=1e-9, max_value=1e12))
    return price, tick


@given(case=st.composite(_near_a_tick)(), mode=st.sampled_from(["nearest", "down", "up"]))
def test_round_price_of_a_float_is_the_exact_rounding_of_its_repr(case, mode):
    """The float fast path (``_whole_steps``) gives the exact path's Decimal, value and exponent alike."""
    price, tick = case
    exact = Decimal(repr(price))
    if not exact > 0:
        return
    expected = (exact / tick).to_integral_value(_MODES[mode]) * tick
    rounded = instrument(tick=tick).round_price(price, mode)
    assert rounded == expected and str(rounded) == str(expected)


def test_round_size_uses_decimal_not_binary_float():
    # 0.3 / 0.1 is 2.9999999999999996 in binary floating point: a naive floor gives 0.2.
    assert instrument(Decimal("0.1")).round_size(0.3) == Decimal("0.3")


def test_is_tradable_size_checks_min_and_lot():
    inst = Instrument(symbol="PF_ETHUSD", kind=InstrumentKind.FUTURES, base="ETH", quote="USD",
                      tick_size=Decimal("0.1"), lot_size=Decimal("0.01"), min_size=Decimal("0.05"))
    assert inst.is_tradable_size(Decimal("0.05"))
    assert not inst.is_tradable_size(Decimal("0.04"))
    assert not inst.is_tradable_size(Decimal("0.055"))
    assert not inst.is_tradable_size(Decimal("0"))


@pytest.mark.parametrize("field", ["tick_size", "lot_size"])
def test_instrument_rejects_non_positive_increments(field):
    with pytest.raises(ValueError, match=field):
        Instrument(**{"symbol": "X", "kind": InstrumentKind.SPOT, "base": "X", "quote": "USD",
                      "tick_size": Decimal("0.1"), "lot_size": Decimal("1"), "min_size": Decimal("1"),
                      field: Decimal("0")})


def test_round_price_rejects_non_positive():
    with pytest.raises(ValueError, match="price must be > 0"):
        instrument().round_price(0.0)


@pytest.mark.parametrize(("size", "prices", "problem"), [
    ("0.00015", (), "not a multiple of lot"),
    ("0.001", (Decimal("30000.25"),), "price 30000.25 is not a multiple of tick 0.5"),
    ("0.001", (None, Decimal("-1")), "price -1"),
    ("0.001", (Decimal("30000.5"), None), None),
])
def test_order_problem_names_what_is_off(size, prices, problem):
    found = instrument().order_problem(Decimal(size), *prices)
    assert (found is None) if problem is None else (problem in found)


@given(whole=st.integers(min_value=0, max_value=10**15), tick=st.sampled_from(TICKS) | st.decimals(
           min_value=Decimal("1E-9"), max_value=Decimal("1000"), allow_nan=False, allow_infinity=False, places=9),
       step=st.sampled_from([0, -1, 1]), mode=st.sampled_from(["nearest", "down", "up"]))
def test_round_price_of_a_float_on_a_tick_is_the_exact_rounding_of_its_repr(whole, tick, step, mode):
    """On a tick and next to one, where ``_whole_steps`` answers only for a price exactly on a tick: the exact
    path's Decimal, value and exponent alike."""
    price = float(whole * tick)
    if step:
        price = math.nextafter(price, math.inf * step)
    exact = Decimal(repr(price))
    if not (tick > 0 and exact > 0):
        return
    expected = (exact / tick).to_integral_value(_MODES[mode]) * tick
    rounded = instrument(tick=tick).round_price(price, mode)
    assert rounded == expected and str(rounded) == str(expected)


def test_a_float_price_exactly_on_a_tick_is_rounded_without_its_repr(monkeypatch):
    import krakenbot.domain.instrument as module

    def no_repr(value):
        raise AssertionError(f"{value!r} took the exact path")

    inst = instrument(tick=Decimal("0.01"))
    monkeypatch.setattr(module, "to_decimal", no_repr)
    for price in (101.08, 0.07, 123456.79):
        for mode in ("nearest", "down", "up"):
            rounded = inst.round_price(price, mode)
            assert rounded == Decimal(repr(price)) and str(rounded) == repr(price)
    with pytest.raises(AssertionError, match="exact path"):
        inst.round_price(101.1, "up")  # its repr has one digit fewer than the tick: the exact path decides

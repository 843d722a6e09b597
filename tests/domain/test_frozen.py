"""fast_init: the faster __init__ of the hot frozen value types behaves as the dataclass one it replaces."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from krakenbot.domain import AccountState, Order, OrderSide, OrderStatus, OrderType, Position, Side
from krakenbot.domain.frozen import fast_init, new

TS = datetime(2024, 1, 1, tzinfo=UTC)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Plain:
    a: int
    b: str = "b"
    c: float = dataclasses.field(default=1.5, compare=False)
    seen: tuple[int, ...] = dataclasses.field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")
        object.__setattr__(self, "seen", (self.a,))


@fast_init
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class _Fast:
    a: int
    b: str = "b"
    c: float = dataclasses.field(default=1.5, compare=False)
    seen: tuple[int, ...] = dataclasses.field(default=(), init=False)

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("a must be >= 0")
        object.__setattr__(self, "seen", (self.a,))


def test_fast_init_takes_the_same_keywords_defaults_and_runs_post_init_as_the_dataclass_init() -> None:
    assert list(inspect.signature(_Fast).parameters) == list(inspect.signature(_Plain).parameters)
    fast, plain = _Fast(a=2), _Plain(a=2)
    assert (fast.a, fast.b, fast.c, fast.seen) == (plain.a, plain.b, plain.c, plain.seen) == (2, "b", 1.5, (2,))
    assert _Fast(a=2, b="x", c=9.0) == _Fast(a=2, b="x", c=1.0)  # compare=False kept
    with pytest.raises(ValueError, match="a must be >= 0"):
        _Fast(a=-1)
    with pytest.raises(TypeError):
        _Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Fast(1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.a = 3  # type: ignore[misc]
    assert dataclasses.replace(fast, b="y") == _Fast(a=2, b="y")


def test_fast_init_refuses_a_class_that_is_not_frozen_slotted_and_keyword_only() -> None:
    @dataclasses.dataclass(slots=True, kw_only=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    for cls in (Mutable, Factory):
        with pytest.raises(TypeError, match="fast_init"):
            fast_init(cls)


def test_the_hot_value_types_still_check_their_values_and_stay_frozen() -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        AccountState(equity_usd=1.0, available_margin_usd=1.0, initial_margin_usd=0.0, maintenance_margin_usd=0.0,
                     ts=TS.astimezone(timezone(timedelta(hours=1))))
    with pytest.raises(ValueError, match="equity_usd must be finite"):
        AccountState(equity_usd=float("nan"), available_margin_usd=1.0, initial_margin_usd=0.0,
                     maintenance_margin_usd=0.0, ts=TS)
    with pytest.raises(ValueError, match="size must be > 0"):
        Position(symbol="PF_XBTUSD", side=Side.LONG, size=0.0, entry_price=1.0, ts_opened=TS)
    order = Order(client_order_id="a", symbol="PF_XBTUSD", side=OrderSide.BUY, size=Decimal("1"),
                  order_type=OrderType.IOC, reduce_only=False, status=OrderStatus.SUBMITTED, ts_updated=TS,
                  limit_price=Decimal("10"))
    filled = order.transition(OrderStatus.FILLED, ts=TS, filled_size=Decimal("1"), avg_fill_price=Decimal("9"))
    assert filled == dataclasses.replace(order, status=OrderStatus.FILLED, filled_size=Decimal("1"),
                                         avg_fill_price=Decimal("9"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        filled.status = OrderStatus.OPEN  # type: ignore[misc]


def test_new_then_init_builds_the_same_value_as_calling_the_class_and_checks_it_alike() -> None:
    built = new(_Fast)
    _Fast.__init__(built, a=2, c=3.0)
    assert built == _Fast(a=2, c=3.0) and type(built) is _Fast
    assert (built.b, built.c, built.seen) == ("b", 3.0, (2,))
    with pytest.raises(ValueError, match="a must be >= 0"):
        _Fast.__init__(new(_Fast), a=-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.a = 3  # type: ignore[misc]


def test_new_hands_out_a_blank_that_becomes_the_class_only_through_its_init() -> None:
    blank = new(_Fast)
    twin = type(blank)
    assert twin is not _Fast  # the fields twin: not frozen, its slots filled by plain assignment in ``__init__``
    assert twin.__bases__ == (_Fast,) and twin.__slots__ == ()  # a subclass adding no slots: the cheap swap
    blank.a = 1  # not frozen (``object.__setattr__``)
    _Fast.__init__(blank, a=4)
    assert type(blank) is _Fast and blank == _Fast(a=4) and hash(blank) == hash(_Fast(a=4))
    assert pickle.loads(pickle.dumps(blank)) == blank and copy.copy(blank) == blank
    with pytest.raises(KeyError):
        new(_Plain)  # not a ``fast_init`` class: no twin


def test_a_small_class_called_directly_is_written_through_its_descriptors_and_equals_a_built_one() -> None:
    @fast_init
    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class Small:  # fewer fields than turning the instance into a blank would pay for
        a: int
        b: int = 2

    built = new(Small)
    Small.__init__(built, a=1)
    assert Small(a=1) == built and type(Small(a=1)) is Small
    with pytest.raises(dataclasses.FrozenInstanceError):
        Small(a=1).a = 3  # type: ignore[misc]

"""Value types shared by every layer. Standard library only."""

from krakenbot.domain.clock import Clock, SimulatedClock, WallClock, ensure_utc
from krakenbot.domain.instrument import Instrument, InstrumentKind, MarginTier, to_decimal
from krakenbot.domain.market import Candle, Ticker, is_good_price
from krakenbot.domain.signals import CandidateSignal, Side, Signal
from krakenbot.domain.trading import (
    ORDER_TRANSITIONS,
    AccountState,
    Fill,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
)

__all__ = [
    "ORDER_TRANSITIONS", "AccountState", "CandidateSignal", "Candle", "Clock", "Fill", "Instrument",
    "InstrumentKind", "MarginTier", "Order", "OrderIntent", "OrderSide", "OrderStatus", "OrderType", "Position", "Side",
    "Signal", "SimulatedClock", "Ticker", "WallClock", "ensure_utc", "is_good_price", "to_decimal",
]

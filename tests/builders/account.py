"""Accounts, positions and instruments as the exchange port reports them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from builders.clock import T0
from krakenbot.domain import AccountState, Instrument, InstrumentKind, Position, Side


def make_account(equity: float = 10_000.0, *, available: float | None = None, initial: float = 0.0,
                 maintenance: float | None = None, ts: datetime = T0) -> AccountState:
    """A futures account (USD); ``available`` defaults to equity minus initial margin, maintenance to half the
    initial."""
    return AccountState(equity_usd=equity, available_margin_usd=equity - initial if available is None else available,
                        initial_margin_usd=initial,
                        maintenance_margin_usd=initial / 2 if maintenance is None else maintenance, ts=ts)


def make_position(symbol: str = "PF_XBTUSD", side: Side = Side.LONG, *, size: float = 0.1,
                  entry_price: float = 20_000.0, mark: float | None = None, opened: datetime | None = None,
                  held_minutes: float | None = None,
                  leverage: float | None = None, score: float | None = None) -> Position:
    """A futures position of ``size`` contracts; ``held_minutes`` before ``T0`` (or ``opened``; default one day
    before ``T0``)."""
    if opened is None:
        opened = T0 - timedelta(minutes=held_minutes if held_minutes is not None else 24 * 60)
    return Position(symbol=symbol, side=side, size=size, entry_price=entry_price, ts_opened=opened, mark_price=mark,
                    leverage=leverage, score=score)


def make_perp(symbol: str = "PF_XBTUSD", *, base: str = "BTC", lot: str = "0.0001", min_size: str | None = None,
              max_leverage: float = 50, tick: str = "0.5") -> Instrument:
    """A linear perpetual (1 base unit per contract); ``min_size`` defaults to one lot."""
    return Instrument(symbol=symbol, kind=InstrumentKind.FUTURES, base=base, quote="USD", tick_size=Decimal(tick),
                      lot_size=Decimal(lot), min_size=Decimal(min_size if min_size is not None else lot),
                      max_leverage=max_leverage)


def btc_perp(*, max_leverage: float = 50, lot: str = "0.0001", tick: str = "1") -> Instrument:
    """PF_XBTUSD as Kraken lists it: linear, 1 BTC per contract, lot 0.0001, tick 1 USD, unified symbol."""
    return Instrument(symbol="PF_XBTUSD", kind=InstrumentKind.FUTURES, base="BTC", quote="USD",
                      tick_size=Decimal(tick), lot_size=Decimal(lot), min_size=Decimal(lot),
                      max_leverage=max_leverage, unified_symbol="BTC/USD:USD")

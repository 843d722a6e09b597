"""Shared test builders. Add functions; never change existing ones (other tests rely on them)."""

from __future__ import annotations

from typing import Any


def futures_ticker_raw(symbol: str, *, mark: float | None = 100.0, bid: float | None = None,
                       ask: float | None = None, last: float | None = None, index: float | None = None,
                       vol24h: float | None = 1000.0, volume_quote: float | None = None,
                       open_interest: float | None = 500.0, funding_rate: float | None = 0.0,
                       suspended: bool = False, post_only: bool = False,
                       last_time: str | None = "2026-01-15T11:59:30.000Z", **extra: Any) -> dict[str, Any]:
    """One element of Kraken's /derivatives/api/v3/tickers ``tickers`` list (field names as Kraken sends them).

    Prices default around ``mark``; ``volume_quote`` (USD) defaults to ``vol24h * mark``.
    ``tag`` and ``pair`` are derived from the symbol (``PF_XBTUSD`` -> perpetual, ``XBT:USD``).
    """
    prefix, _, rest = symbol.partition("_")
    pair_id = rest.split("_")[0]
    tag = "perpetual" if prefix.upper() in ("PF", "PI") else "month"
    raw: dict[str, Any] = {"tag": tag, "pair": f"{pair_id[:-3]}:{pair_id[-3:]}", "symbol": symbol,
                           "suspended": suspended, "postOnly": post_only}
    if mark is not None:
        raw["markPrice"] = mark
        raw["bid"] = bid if bid is not None else mark * 0.9995
        raw["ask"] = ask if ask is not None else mark * 1.0005
        raw["last"] = last if last is not None else mark
        raw["indexPrice"] = index if index is not None else mark
    if vol24h is not None:
        raw["vol24h"] = vol24h
        if mark is not None:
            raw["volumeQuote"] = volume_quote if volume_quote is not None else vol24h * mark
    if open_interest is not None:
        raw["openInterest"] = open_interest
    if funding_rate is not None:
        raw["fundingRate"] = funding_rate
    if last_time is not None:
        raw["lastTime"] = last_time
    raw.update(extra)
    return raw


def futures_tickers_body(*tickers: dict[str, Any], server_time: str = "2026-01-15T12:00:00.000Z") -> dict[str, Any]:
    """A whole /derivatives/api/v3/tickers body around ``tickers`` (see ``futures_ticker_raw``)."""
    return {"result": "success", "tickers": list(tickers), "serverTime": server_time}


# --- exchange-port builders (lead) ---------------------------------------------------------
from datetime import UTC, datetime  # noqa: E402
from decimal import Decimal  # noqa: E402

from krakenbot.domain import Instrument, InstrumentKind, OrderIntent, OrderSide, OrderType  # noqa: E402

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def btc_perp(*, max_leverage: float = 50, lot: str = "0.0001", tick: str = "1") -> Instrument:
    """PF_XBTUSD as Kraken lists it: linear, 1 BTC per contract, lot 0.0001, tick 1 USD."""
    return Instrument(symbol="PF_XBTUSD", kind=InstrumentKind.FUTURES, base="BTC", quote="USD",
                      tick_size=Decimal(tick), lot_size=Decimal(lot), min_size=Decimal(lot),
                      max_leverage=max_leverage, unified_symbol="BTC/USD:USD")


def intent(client_order_id: str, side: OrderSide, size: str, *, limit: str | None = None, stop: str | None = None,
           reduce_only: bool = False, order_type: OrderType | None = None, symbol: str = "PF_XBTUSD") -> OrderIntent:
    """An order intent; IOC when a limit is given, else the given ``order_type``."""
    kind = order_type or (OrderType.IOC if limit is not None else OrderType.MARKET)
    return OrderIntent(client_order_id=client_order_id, symbol=symbol, side=side, size=Decimal(size),
                       order_type=kind, reduce_only=reduce_only, reason="test", ts_created=T0,
                       limit_price=Decimal(limit) if limit else None, stop_price=Decimal(stop) if stop else None)


# --- policy builders: strategy, RiskManager, AuctionAllocator ------------------------------
from datetime import timedelta  # noqa: E402

from krakenbot.domain import AccountState, CandidateSignal, Position, Side, Signal  # noqa: E402


def make_signal(symbol: str = "BTC/USD", side: Side = Side.LONG, *, score: float = 1.0, ref_price: float = 20_000.0,
                stop_distance_pct: float = 0.02, ts: datetime = T0, take_profit: float | None = None) -> Signal:
    """A spot signal formed at ``ts`` (default ``T0``)."""
    return Signal(symbol=symbol, side=side, score=score, ref_price=ref_price, stop_distance_pct=stop_distance_pct,
                  ts=ts, take_profit=take_profit, strategy="test")


def make_account(equity: float = 10_000.0, *, available: float | None = None, initial: float = 0.0,
                 maintenance: float | None = None, ts: datetime = T0) -> AccountState:
    """A futures account; ``available`` defaults to equity minus initial margin, maintenance to half the initial."""
    return AccountState(equity_usd=equity, available_margin_usd=equity - initial if available is None else available,
                        initial_margin_usd=initial,
                        maintenance_margin_usd=initial / 2 if maintenance is None else maintenance, ts=ts)


def make_position(symbol: str = "PF_XBTUSD", side: Side = Side.LONG, *, size: float = 0.1,
                  entry_price: float = 20_000.0, mark: float | None = None, opened: datetime | None = None,
                  held_minutes: float | None = None,
                  leverage: float | None = None, score: float | None = None) -> Position:
    """A futures position; ``held_minutes`` before ``T0`` (or ``opened``; default one day before ``T0``)."""
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


def make_candidate(futures_symbol: str = "PF_XBTUSD", side: Side = Side.LONG, *, score: float = 1.0,
                   symbol: str | None = None, notional: float = 1_000.0, margin: float | None = None,
                   leverage: float = 3.0, ts: datetime = T0) -> CandidateSignal:
    """A sized auction candidate; spot ``symbol`` defaults from the contract (PF_ETHUSD -> ETH/USD),
    ``margin`` to notional / leverage."""
    spot = symbol if symbol is not None else f"{futures_symbol.removeprefix('PF_')[:-3]}/USD"
    return CandidateSignal(signal=make_signal(spot, side, score=score, ts=ts), futures_symbol=futures_symbol,
                           position_notional=notional,
                           margin_required=notional / leverage if margin is None else margin, leverage=leverage)

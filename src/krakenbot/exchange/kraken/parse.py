"""ccxt structures (as ccxt 4.5.90 parses Kraken and Kraken Futures) -> Krakenbot domain values.

Pure functions; no I/O. Futures symbols in the returned values are Kraken's raw contract ids
(``PF_XBTUSD``), the ids orders are sent with; spot instruments use ccxt's unified pair
(``BTC/USD``), the form candle requests take.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from krakenbot.domain import (
    AccountState,
    Candle,
    Fill,
    Instrument,
    InstrumentKind,
    MarginTier,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Side,
    to_decimal,
)
from krakenbot.domain.clock import ServerTime
from krakenbot.domain.errors import ExchangeError, MarketDataError
from krakenbot.domain.market import InstrumentStatus
from krakenbot.domain.vocabulary import LIQUIDATION_ID_PREFIX

log = logging.getLogger(__name__)


def ts_from_ms(value: Any, *, default: datetime | None = None) -> datetime | None:
    """A ccxt millisecond timestamp as an aware UTC datetime (``default`` when missing)."""
    if value is None:
        return default
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def ms_from_ts(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def server_time_from_answer(body: Any, *, received: datetime) -> ServerTime | None:
    """Kraken Futures' ``serverTime`` (``2024-02-06T22:24:34.849Z``) of an answer received at local
    time ``received``; None when the answer carries none or an unreadable one (never raises)."""
    raw = body.get("serverTime") if isinstance(body, Mapping) else None
    if not isinstance(raw, str) or not 10 <= len(raw) <= 40:
        return None
    try:
        server = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if server.tzinfo is None:
        return None
    return ServerTime(server_ts=server.astimezone(UTC), local_ts=received)


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = to_decimal(value if isinstance(value, (int, float, Decimal)) else str(value))
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() else None


def _max_leverage(info: Mapping[str, Any]) -> float:
    """1 / initial margin of the first tier of Kraken's ``marginLevels`` (1.0 when not given)."""
    levels = info.get("marginLevels") or []
    if not levels:
        return 1.0
    first = _dec(levels[0].get("initialMargin"))
    return float(1 / first) if first is not None and first > 0 else 1.0


def margin_tiers(info: Mapping[str, Any]) -> tuple[MarginTier, ...]:
    """Kraken's ``marginLevels`` -> tiers ascending by start (USD notional: ``numNonContractUnits`` for
    linear contracts, ``contracts`` for inverse ones, whose contract is 1 USD). An unreadable level
    drops the whole schedule (logged): the first-tier fallback is then ``1 / max_leverage``."""
    tiers: dict[float, MarginTier] = {}
    for level in info.get("marginLevels") or []:
        start = _dec(level.get("numNonContractUnits", level.get("contracts"))) if isinstance(level, Mapping) else None
        im = _dec(level.get("initialMargin")) if isinstance(level, Mapping) else None
        mm = _dec(level.get("maintenanceMargin")) if isinstance(level, Mapping) else None
        try:
            assert start is not None and im is not None and mm is not None
            tiers[float(start)] = MarginTier(from_notional_usd=float(start), initial=float(im), maintenance=float(mm))
        except (AssertionError, ValueError) as exc:
            log.warning("%s: unreadable margin level %r (%s): margin tiers not used", info.get("symbol"), level, exc)
            return ()
    return tuple(tiers[k] for k in sorted(tiers))


def instrument_from_market(market: Mapping[str, Any]) -> Instrument | None:
    """A ccxt market -> ``Instrument``; None for indices and markets without tick or lot."""
    if market.get("type") == "index" or market.get("index"):
        return None
    precision = market.get("precision") or {}
    tick, lot = _dec(precision.get("price")), _dec(precision.get("amount"))
    if tick is None or lot is None or tick <= 0 or lot <= 0:
        log.warning("%s: market has no usable tick/lot (%s); skipped", market.get("id"), precision)
        return None
    if market.get("spot"):
        min_amount = _dec(((market.get("limits") or {}).get("amount") or {}).get("min")) or Decimal(0)
        return Instrument(symbol=str(market["symbol"]), kind=InstrumentKind.SPOT, base=str(market["base"]),
                          quote=str(market["quote"]), tick_size=tick, lot_size=lot, min_size=min_amount,
                          unified_symbol=str(market["symbol"]))
    info = market.get("info") or {}
    contract_size = _dec(market.get("contractSize")) or Decimal(1)
    return Instrument(symbol=str(market["id"]), kind=InstrumentKind.FUTURES, base=str(market["base"]),
                      quote=str(market["quote"]), tick_size=tick, lot_size=lot, min_size=lot,
                      contract_size=contract_size, max_leverage=max(1.0, _max_leverage(info)),
                      unified_symbol=str(market["symbol"]), margin_tiers=margin_tiers(info))


def instruments_from_markets(markets: Iterable[Mapping[str, Any]], *,
                             spot: bool) -> tuple[dict[str, Instrument], dict[str, str]]:
    """Instruments keyed by ``Instrument.symbol`` (raw id for futures, unified pair for spot), and the
    markets left out because they could not be read, ``{id: reason}``: one malformed market never
    fails the others."""
    out: dict[str, Instrument] = {}
    dropped: dict[str, str] = {}
    for position, market in enumerate(markets):
        if not isinstance(market, Mapping):
            dropped[f"#{position}"] = f"not an object ({type(market).__name__})"
            continue
        if bool(market.get("spot")) != spot:
            continue
        try:
            instrument = instrument_from_market(market)
        except Exception as exc:  # one market's bad data must not fail the rest
            dropped[str(market.get("id") or f"#{position}")[:40]] = f"{type(exc).__name__}: {str(exc)[:120]}"
            continue
        if instrument is not None:
            out[instrument.symbol] = instrument
    return out, dropped


def instrument_statuses(body: Any) -> dict[str, InstrumentStatus]:
    """Kraken's ``/instruments/status`` body -> status by contract id (upper case). Kraken names the
    contract ``tradeable``; an entry without one is skipped, a missing flag reads as False, a missing
    or unreadable multiplier as 1. Raises ``MarketDataError`` when the body holds no list."""
    rows = body.get("instrumentStatus") if isinstance(body, Mapping) else None
    if not isinstance(rows, list):
        raise MarketDataError(f"instruments/status: no instrumentStatus list in the answer ({str(body)[:120]})")
    out: dict[str, InstrumentStatus] = {}
    for row in rows:
        symbol = row.get("tradeable") if isinstance(row, Mapping) else None
        if not isinstance(symbol, str) or not symbol.strip():
            continue
        multiplier = _dec(row.get("extremeVolatilityInitialMarginMultiplier"))
        out[symbol.strip().upper()] = InstrumentStatus(
            symbol=symbol.strip().upper(), extreme_volatility=row.get("experiencingExtremeVolatility") is True,
            dislocation=row.get("experiencingDislocation") is True,
            initial_margin_multiplier=float(multiplier) if multiplier is not None and multiplier >= 1 else 1.0)
    return out


def candles_from_ohlcv(symbol: str, rows: Iterable[list[Any]]) -> list[Candle]:
    """ccxt OHLCV rows -> candles, de-duplicated by open time and ordered.

    A row that is not a valid candle (missing or non-positive price, high below low) is
    dropped with a warning, never repaired: the gap it leaves is for the caller to see.
    Mark and index candles carry no volume; it becomes 0.
    """
    by_ts: dict[int, Candle] = {}
    for row in rows:
        try:
            ts = ts_from_ms(row[0])
            volume = 0.0 if row[5] is None or not math.isfinite(float(row[5])) else float(row[5])
            assert ts is not None
            candle = Candle(ts=ts, open=float(row[1]), high=float(row[2]), low=float(row[3]),
                            close=float(row[4]), volume=volume)
        except (TypeError, ValueError, IndexError, AssertionError) as exc:
            log.warning("%s: dropped a bad candle %r (%s)", symbol, row, exc)
            continue
        by_ts[row[0]] = candle
    return [by_ts[k] for k in sorted(by_ts)]


def account_from_balance(balance: Mapping[str, Any], *, now: datetime) -> AccountState:
    """``fetch_balance()`` -> ``AccountState`` from ``info['accounts']['flex']`` (USD figures).

    Raises ``ExchangeError`` when the flex account or one of its margin figures is missing.
    """
    info = balance.get("info") or {}
    flex = (info.get("accounts") or {}).get("flex") if isinstance(info, Mapping) else None
    if not isinstance(flex, Mapping):
        raise ExchangeError("fetch_balance: no flex (multi-collateral) account in the answer")
    figures: dict[str, float] = {}
    for key in ("marginEquity", "availableMargin", "initialMargin", "maintenanceMargin"):
        value = _dec(flex.get(key))
        if value is None:
            raise ExchangeError(f"fetch_balance: flex account lacks {key}")
        figures[key] = float(value)
    ts = ts_from_ms(balance.get("timestamp"), default=now) or now
    funding = _dec(flex.get("unrealizedFunding")) or Decimal(0)  # already inside marginEquity
    return AccountState(equity_usd=figures["marginEquity"], available_margin_usd=figures["availableMargin"],
                        initial_margin_usd=figures["initialMargin"],
                        maintenance_margin_usd=figures["maintenanceMargin"], ts=ts,
                        unrealized_funding_usd=float(funding))


def position_from_ccxt(raw: Mapping[str, Any], *, now: datetime) -> Position | None:
    """A ccxt position -> ``Position`` (symbol = Kraken id); None for an empty position.

    ccxt leaves mark, liquidation price and leverage empty for Kraken Futures; so does this.
    ``unrealized_funding_usd`` is Kraken's ``unrealizedFunding`` of the row (ccxt keeps it in ``info``).
    """
    info = raw.get("info") or {}
    size = _dec(raw.get("contracts"))
    entry = _dec(raw.get("entryPrice"))
    if size is None or size == 0:
        return None
    if entry is None or entry <= 0:
        raise MarketDataError(f"{info.get('symbol')}: position without an entry price: {info}")
    side = Side.LONG if str(raw.get("side")).lower() == "long" else Side.SHORT
    return Position(symbol=str(info.get("symbol") or raw.get("symbol")), side=side, size=float(abs(size)),
                    entry_price=float(entry), ts_opened=ts_from_ms(raw.get("timestamp"), default=now) or now,
                    contract_size=float(_dec(raw.get("contractSize")) or 1),
                    unrealized_funding_usd=float(_dec(info.get("unrealizedFunding")) or 0))


_CCXT_STATUS = {"open": OrderStatus.OPEN, "closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELLED,
                "cancelled": OrderStatus.CANCELLED, "rejected": OrderStatus.REJECTED,
                "expired": OrderStatus.EXPIRED}


def _order_type(raw: Mapping[str, Any]) -> OrderType:
    if raw.get("triggerPrice") is not None or raw.get("type") in ("stop", "stp"):
        return OrderType.STOP
    if raw.get("timeInForce") == "ioc" and raw.get("type") == "market" and raw.get("price") is not None:
        return OrderType.IOC
    return OrderType.MARKET if raw.get("type") == "market" else OrderType.LIMIT


def order_from_ccxt(raw: Mapping[str, Any], *, symbol: str, now: datetime,
                    order_type: OrderType | None = None, client_order_id: str | None = None,
                    size: Decimal | None = None) -> Order:
    """A ccxt order -> ``Order``. ``symbol`` is the Kraken id; the keyword fallbacks fill
    what Kraken's answer leaves out (its type, client id or size) from what we sent. An IOC or market
    order is always finished: FILLED, or CANCELLED with what it filled. Raises ``ExchangeError``
    for an order without a side."""
    filled = _dec(raw.get("filled")) or Decimal(0)
    amount = _dec(raw.get("amount")) or size or filled
    status = _CCXT_STATUS.get(str(raw.get("status")), OrderStatus.OPEN)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.FILLED and raw.get("filled") is None:
        filled = amount
    kind = order_type or _order_type(raw)
    if kind in (OrderType.IOC, OrderType.MARKET) and status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
        # Kraken's IOC (and ``mkt``, an IOC with price protection) never rests: what did not fill is cancelled
        status = OrderStatus.FILLED if filled >= amount else OrderStatus.CANCELLED
    side_text = str(raw.get("side") or "").lower()
    if side_text not in ("buy", "sell"):
        raise ExchangeError(f"{symbol}: order {raw.get('id')} without a side")
    ts = ts_from_ms(raw.get("lastUpdateTimestamp") or raw.get("timestamp"), default=now) or now
    return Order(client_order_id=str(raw.get("clientOrderId") or client_order_id or ""), symbol=symbol,
                 side=OrderSide(side_text), size=amount, order_type=kind,
                 reduce_only=bool(raw.get("reduceOnly")), status=status, ts_updated=ts,
                 exchange_order_id=None if raw.get("id") is None else str(raw["id"]),
                 filled_size=min(filled, amount), avg_fill_price=_dec(raw.get("average")),
                 limit_price=_dec(raw.get("price")) if kind is not OrderType.MARKET else None,
                 stop_price=_dec(raw.get("triggerPrice")))


# Kraken's ``fillType`` values: Kraken's own closes of a position (no client id of ours) and
# ordinary fills. ccxt reads only maker/taker/takerAfterEdit and leaves the others without a fee.
KRAKEN_LIQUIDATION_FILL_TYPES = frozenset({"liquidation", "unwindBankrupt"})
KRAKEN_FILL_TYPES = frozenset({"maker", "taker", "takerAfterEdit", "assignee", "assignor",
                               "unwindCounterparty"}) | KRAKEN_LIQUIDATION_FILL_TYPES
# Kraken Futures' base-tier fee rates, for fills ccxt gives no fee (its own estimate uses the same tier).
BASE_TAKER_FEE_RATE = Decimal("0.0005")
BASE_MAKER_FEE_RATE = Decimal("0.0002")


def fill_from_ccxt(raw: Mapping[str, Any], *, symbol: str) -> Fill | None:
    """A ccxt trade from ``fetch_my_trades`` -> ``Fill``; None when it lacks id, size or price.

    Kraken's ``/fills`` carries no fee: ``fee_usd`` is the payload's own ``fee`` when it has one, else
    ccxt's estimate at the base fee tier (size x price x taker/maker rate); for the fill types ccxt leaves
    without a fee (liquidation, assignee, assignor, unwindBankrupt, unwindCounterparty) it is estimated at
    the base taker rate, never 0 (the account log holds the exact fee). A ``liquidation``/``unwindBankrupt``
    fill carries no client id of ours: it gets ``liquidation-<fill id>`` (``OrderReason.LIQUIDATION``); any
    other fill without one (e.g. the operator's own ``taker`` close on Kraken's site) stays external.
    ``symbol`` is upper-cased (older answers name contracts ``pf_xbtusd``).
    """
    info = raw.get("info") or {}
    symbol = kraken_id(symbol)
    size, price = _dec(raw.get("amount")), _dec(raw.get("price"))
    ts = ts_from_ms(raw.get("timestamp"))
    if not raw.get("id") or size is None or price is None or size <= 0 or price <= 0 or ts is None:
        log.warning("%s: unusable fill %s skipped", symbol, info)
        return None
    fill_type = str(info.get("fillType") or "") if isinstance(info, Mapping) else ""
    if fill_type and fill_type not in KRAKEN_FILL_TYPES:
        log.warning("%s: fill %s of unknown fillType %r: read as a taker fill", symbol, raw["id"], fill_type)
    is_maker = raw.get("takerOrMaker") == "maker" or fill_type == "maker"
    fee = _dec(info.get("fee")) if isinstance(info, Mapping) else None
    if fee is None:
        fee = _dec((raw.get("fee") or {}).get("cost"))
    if fee is None:
        notional = _dec(raw.get("cost")) or size * price  # ccxt's cost: size x price x contract size
        fee = notional * (BASE_MAKER_FEE_RATE if is_maker else BASE_TAKER_FEE_RATE)
    client_order_id = str(info.get("cliOrdId") or "") if isinstance(info, Mapping) else ""
    if not client_order_id and fill_type in KRAKEN_LIQUIDATION_FILL_TYPES:
        client_order_id = f"{LIQUIDATION_ID_PREFIX}-{raw['id']}"
    return Fill(trade_id=str(raw["id"]), client_order_id=client_order_id, symbol=symbol,
                side=OrderSide(str(raw.get("side")).lower()), size=size, price=price, fee_usd=fee, ts=ts,
                exchange_order_id=None if raw.get("order") is None else str(raw["order"]), is_maker=is_maker)


def kraken_id(symbol: str) -> str:
    """A Kraken Futures contract id as Kraken sends it now (``PF_XBTUSD``): older answers and some endpoints
    send lower case (``pf_xbtusd``, ``pi_xbtusd``). A ccxt unified symbol (with ``/``) is returned unchanged."""
    return symbol if "/" in symbol else symbol.upper()

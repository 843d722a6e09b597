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


# --- backtest result builders (backtest data/report helper) ---------------------------------
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from krakenbot.backtest.result import BacktestResult  # noqa: E402


def make_backtest_result(*, symbols: Sequence[str] = ("BTC/USD", "ETH/USD"), minutes: int = 2 * 1440,
                         start: datetime = datetime(2021, 5, 18, tzinfo=UTC), initial_equity_usd: float = 10_000.0,
                         equity_usd: Sequence[float] | None = None, trade_pnls_usd: Sequence[float] | None = None,
                         step_minutes: int = 1, seed: int = 5) -> BacktestResult:
    """A synthetic, seeded BacktestResult: random-walk closes with a -20 % crash at 60 % of the window,
    shocks (one market-wide, one per symbol) at the crash, an equity curve (or ``equity_usd``, one row per
    ``step_minutes``), and trades alternating over ``symbols`` with ``trade_pnls_usd`` (default 6 trades)."""
    rng = np.random.default_rng(seed)
    n_rows = len(equity_usd) if equity_usd is not None else minutes // step_minutes
    ts = pd.date_range(start, periods=n_rows, freq=f"{step_minutes}min", tz="UTC")
    crash = int(n_rows * 0.6)
    at = [ts[min(crash + k, n_rows - 1)] for k in range(6)]  # event times just after the crash
    prices = []
    for k, symbol in enumerate(symbols):
        steps = rng.normal(0.0, 0.001, n_rows)
        steps[crash:crash + 10] -= 0.022
        close = (30_000.0 / (k + 1)) * np.exp(np.cumsum(steps))
        prices.append(pd.DataFrame({"ts": ts, "symbol": symbol, "close": close}))
    if equity_usd is None:
        path = np.cumsum(rng.normal(0.00005, 0.0008, n_rows))
        path[crash:] -= 0.08
        equity = initial_equity_usd * np.exp(path)
    else:
        equity = np.asarray(equity_usd, dtype="float64")
    exposure = np.where(np.arange(n_rows) % 700 < 500, 0.5 * equity, 0.0)
    equity_frame = pd.DataFrame({"ts": ts, "equity_usd": equity, "exposure_usd": exposure,
                                 "margin_used_usd": exposure / 3.0})
    pnls = list(trade_pnls_usd) if trade_pnls_usd is not None else [120.0, -45.5, 300.25, -80.0, 0.0, 15.0]
    rows = []
    for i, pnl in enumerate(pnls):
        opened = ts[min(i * 10, n_rows - 1)]
        rows.append({"symbol": symbols[i % len(symbols)], "side": "long" if i % 2 == 0 else "short",
                     "ts_open": opened, "ts_close": opened + pd.Timedelta(minutes=5), "entry_price": 100.0 + i,
                     "exit_price": 101.0 + i, "size": 1.5, "notional_usd": 150.0 + 1.5 * i, "pnl_usd": pnl,
                     "fees_usd": 0.15, "funding_usd": 0.01, "close_reason": "stop" if pnl < 0 else "auction"})
    trades = pd.DataFrame(rows, columns=["symbol", "side", "ts_open", "ts_close", "entry_price", "exit_price",
                                         "size", "notional_usd", "pnl_usd", "fees_usd", "funding_usd",
                                         "close_reason"])
    trades[["ts_open", "ts_close"]] = trades[["ts_open", "ts_close"]].astype("datetime64[ns, UTC]")
    events = pd.DataFrame(
        [{"ts": at[3], "kind": "shock_market_wide", "symbol": "", "detail": "4 symbols fell > 3 % in 5 min"}]
        + [{"ts": at[2], "kind": "shock_move", "symbol": s, "detail": "move -4.1 % in 1 min"} for s in symbols]
        + [{"ts": at[4], "kind": "entries_paused", "symbol": "", "detail": "ShockGuard cooldown 30 min"},
           {"ts": at[5], "kind": "close", "symbol": symbols[0], "detail": "shock_close: near liquidation"}])
    events["ts"] = events["ts"].astype("datetime64[ns, UTC]")
    return BacktestResult(
        start=ts[0].to_pydatetime(), end=ts[-1].to_pydatetime(), symbols=tuple(symbols),
        candles=n_rows * len(symbols), trades=trades, equity=equity_frame, events=events,
        prices=pd.concat(prices, ignore_index=True), fees_usd=float(trades["fees_usd"].sum()),
        funding_usd=float(trades["funding_usd"].sum()), liquidations=0, shock_events=len(symbols) + 1,
        config_hash="0123456789abcdef", initial_equity_usd=initial_equity_usd)


# --- trading-loop stand-ins at the ports (live loop tests) ----------------------------------
import math  # noqa: E402
from collections.abc import Callable, Mapping  # noqa: E402
from dataclasses import replace  # noqa: E402

from krakenbot.config.models import FeesConfig  # noqa: E402
from krakenbot.domain import Clock, Fill, Order, OrderStatus, Ticker  # noqa: E402
from krakenbot.domain.errors import OrderRejectedError  # noqa: E402
from krakenbot.exchange.paper import PaperExchange  # noqa: E402
from krakenbot.store.journal import MemoryJournal  # noqa: E402


class ScriptedMarket:
    """A ``MarketFeed`` that answers the tickers a test sets: ``marks`` (fresh tickers stamped at the
    clock's now), ``tickers`` (whole Ticker values that win, e.g. stale, suspended or NaN ones) and
    ``error`` (raised once by the next call)."""

    def __init__(self, clock: Clock, marks: Mapping[str, float] | None = None) -> None:
        self.clock = clock
        self.marks: dict[str, float] = dict(marks or {})
        self.tickers: dict[str, Ticker] = {}
        self.error: Exception | None = None
        self.calls = 0

    def futures_tickers(self) -> dict[str, Ticker]:
        self.calls += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        now = self.clock.now()
        out = {s: Ticker(symbol=s, ts=now, mark=m, index=m if math.isfinite(m) else None,
                         bid=m * 0.9999, ask=m * 1.0001) for s, m in self.marks.items()}
        out.update(self.tickers)
        return out


class ScriptedSignals:
    """A ``SignalFeed`` that answers ``next`` (the signals a test sets), recording each ``now`` asked."""

    def __init__(self) -> None:
        self.next: list[Signal] = []
        self.asked: list[datetime] = []

    def signals(self, now: datetime) -> list[Signal]:
        self.asked.append(now)
        return list(self.next)


class RecordingPaperExchange(PaperExchange):
    """A ``PaperExchange`` that records the loop's calls in order (``calls``: ("create_order", client id) /
    ("fetch_account", "")), notes for each order whether ``journal`` already held its intent when it
    was sent (``journaled_before_send``), refuses orders ``reject`` names a reason for, and fills only
    ``entry_fill_fraction`` (lot-rounded) of IOC entries when set, the rest cancelled (a partial fill)."""

    def __init__(self, *, instruments: Mapping[str, Instrument], clock: Clock, journal: MemoryJournal,
                 initial_equity_usd: float = 10_000.0, fees: FeesConfig | None = None) -> None:
        super().__init__(instruments=instruments, fees=fees or FeesConfig(), clock=clock,
                         initial_equity_usd=initial_equity_usd)
        self.journal = journal
        self.calls: list[tuple[str, str]] = []
        self.sent: list[OrderIntent] = []
        self.journaled_before_send: list[bool] = []
        self.reject: Callable[[OrderIntent], str | None] = lambda _intent: None
        self.entry_fill_fraction: Decimal | None = None
        self._inside = 0  # calls the paper exchange makes on itself are not the loop's

    def fetch_account(self) -> AccountState:
        if not self._inside:
            self.calls.append(("fetch_account", ""))
        return super().fetch_account()

    def update_market(self, marks: Mapping[str, float],
                      funding_rates: Mapping[str, float] | None = None) -> list[Fill]:
        self._inside += 1
        try:
            return super().update_market(marks, funding_rates)
        finally:
            self._inside -= 1

    def create_order(self, intent: OrderIntent) -> Order:
        self.calls.append(("create_order", intent.client_order_id))
        self.sent.append(intent)
        self.journaled_before_send.append(intent in self.journal.intents)
        why = self.reject(intent)
        if why:
            raise OrderRejectedError(f"{intent.symbol}: {why}")
        self._inside += 1
        try:
            fraction = self.entry_fill_fraction
            if fraction is None or intent.reduce_only or intent.order_type is not OrderType.IOC:
                return super().create_order(intent)
            part = self._instruments[intent.symbol].round_size(intent.size * fraction)
            order = super().create_order(replace(intent, size=part))
            return replace(order, size=intent.size, status=OrderStatus.CANCELLED)  # the rest found no match
        finally:
            self._inside -= 1


# --- store builders: orders as the exchange reports them, fills ---------------------------------
def order_of(intent: OrderIntent, status: OrderStatus, *, filled: str = "0", avg_price: str | None = None,
             exchange_order_id: str | None = "X-1", ts: datetime = T0) -> Order:
    """The order ``intent`` became, in ``status`` with ``filled`` contracts filled at ``avg_price``."""
    return Order(client_order_id=intent.client_order_id, symbol=intent.symbol, side=intent.side, size=intent.size,
                 order_type=intent.order_type, reduce_only=intent.reduce_only, status=status, ts_updated=ts,
                 exchange_order_id=exchange_order_id, filled_size=Decimal(filled),
                 avg_fill_price=Decimal(avg_price) if avg_price is not None else None,
                 limit_price=intent.limit_price, stop_price=intent.stop_price)


def make_fill(trade_id: str, *, client_order_id: str = "kb-1", size: str = "0.1", price: str = "20000",
              fee: str = "0.5", side: OrderSide = OrderSide.BUY, symbol: str = "PF_XBTUSD", ts: datetime = T0,
              is_maker: bool = False) -> Fill:
    """A fill of ``size`` contracts at ``price`` USD paying ``fee`` USD."""
    return Fill(trade_id=trade_id, client_order_id=client_order_id, symbol=symbol, side=side, size=Decimal(size),
                price=Decimal(price), fee_usd=Decimal(fee), ts=ts, exchange_order_id="X-1", is_maker=is_maker)

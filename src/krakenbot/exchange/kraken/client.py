"""``KrakenClient``: Kraken spot (candles, pairs) and Kraken Futures (everything else) through ccxt.

Every ccxt call goes through one wrapper that translates ccxt errors with
``krakenbot.exchange.kraken.errors.translate_ccxt_error``. Reads are retried on ``TransientError``
(``RateLimitError`` included) up to ``ExchangeConfig.max_retries`` times, sleeping
``retry_base_delay_seconds * 2**attempt`` (doubled again after a rate limit) times a jitter in
[0.5, 1.5). ``create_order`` is never retried: a missing answer is ``OutcomeUnknownError`` and the
caller looks the order up with ``fetch_order_by_client_id``.

Futures symbols may be given as Kraken ids (``PF_XBTUSD``) or ccxt unified symbols
(``BTC/USD:USD``); returned values carry Kraken ids. Spot pairs are Krakenbot's (``BTC/USD``, ``LUNA2/USD``,
Kraken's ids and altnames also taken), resolved on Kraken's own pair names: ccxt renames Kraken's LUNA2USD
``LUNA/USD`` and LUNAUSD ``LUNC/USD``. Kraken's spot OHLC reaches back ``SPOT_OHLC_REACH`` (720, in
``domain/market.py``) candles only.
API keys are handed to ccxt and never logged.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import ccxt

from krakenbot.config.models import TIMEFRAME_MINUTES, ExchangeConfig
from krakenbot.domain import (
    AccountState,
    Candle,
    Clock,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderStatus,
    OrderType,
    Position,
    WallClock,
)
from krakenbot.domain.clock import ServerTime
from krakenbot.domain.errors import (
    ExchangeError,
    MarketDataError,
    OrderRejectedError,
    OutcomeUnknownError,
    RateLimitError,
    TransientError,
)
from krakenbot.domain.market import FundingRecord, InstrumentStatus, Ticker, TradePage
from krakenbot.exchange.base import ExchangeCapabilities
from krakenbot.exchange.kraken.dropped import DroppedContracts
from krakenbot.exchange.kraken.errors import send_status_error, translate_ccxt_error
from krakenbot.exchange.kraken.history import STATUS_WINDOW, HistoryBudget, order_from_history
from krakenbot.exchange.kraken.parse import (
    account_from_balance,
    candles_from_ohlcv,
    fill_from_ccxt,
    instrument_from_market,
    instrument_statuses,
    instruments_from_markets,
    kraken_id,
    ms_from_ts,
    order_from_ccxt,
    position_from_ccxt,
    server_time_from_answer,
    ts_from_ms,
)
from krakenbot.exchange.kraken.symbols import (
    FuturesTickers,
    SpotMarketName,
    finite_float,
    futures_tickers_from_raws,
    normalize_futures_tickers,
    resolve_spot_pair,
)
from krakenbot.logs import protect_library_loggers, register_secrets

if TYPE_CHECKING:
    from krakenbot.exchange.base import Exchange

log = logging.getLogger(__name__)
T = TypeVar("T")
_MAX_PAGES = 500  # a guard against a venue that keeps answering the same page
# /fills with lastFillTime costs 25 of the 500 units per 10 s: paged reads go at most one per this many
# seconds after the first two (200 units per 10 s), leaving the rest of the budget to orders and stops
_FILLS_PAGE_PACE_SECONDS = 1.25
_HISTORY_PAGES = 3  # history pages (1,000 events each) read per lookup
_CHART_PRICE = {"trade": "trade", "mark": "mark", "index": "spot"}  # Kraken's charts call the index "spot"


RestObserver = Callable[[str, float, str | None], None]
"""Told after each REST call: the API (``kraken`` spot, ``krakenfutures``), its duration in seconds (a
monotonic clock), and the class name of the error it raised (``TransientError``, ``RateLimitError``, ...;
None: it succeeded)."""


class KrakenClient:
    """Kraken spot + Kraken Futures over ccxt 4.5.90 (sync); the live ``Exchange`` port.

    See the module docstring. Kraken Futures has a native dead man's switch
    (``cancelallordersafter``), server-side stops triggered by the mark, reduce-only orders and
    client order ids.
    """

    capabilities = ExchangeCapabilities(polls_fills=True, dead_man_switch=True)

    def __init__(self, config: ExchangeConfig, *, api_key: str | None = None, api_secret: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                 clock: Clock | None = None, enable_rate_limit: bool = True,
                 observer: RestObserver | None = None) -> None:
        self._config = config
        self.observer = observer  # told of each REST call (metrics); one that raises is logged, never fails a call
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock or WallClock()
        register_secrets((api_key, api_secret))
        protect_library_loggers("ccxt")  # ccxt logs request headers (APIKey, Authent) at DEBUG
        self._dropped_tickers = DroppedContracts(log, "krakenfutures: tickers", self._clock.now)
        self._dropped_markets = DroppedContracts(log, "load_markets", self._clock.now)
        self._server_time: ServerTime | None = None  # from the newest tickers answer
        self._history = HistoryBudget()  # the history endpoints' own pool (100 per 10 min at Kraken)
        self._spot_symbols: dict[str, str] = {}  # Krakenbot spot pair -> ccxt symbol (_unified_spot)
        self._unified_by_id: dict[str, str] = {}  # futures id -> ccxt unified symbol, of ``_unified_source``
        self._unified_source: Any = None  # the ccxt ``markets_by_id`` it was built from
        common: dict[str, Any] = {"enableRateLimit": enable_rate_limit, "timeout": int(config.timeout_seconds * 1000)}
        self.spot = ccxt.kraken(dict(common))
        futures_options = dict(common)
        if api_key and api_secret:
            futures_options |= {"apiKey": api_key, "secret": api_secret}
        self.futures = ccxt.krakenfutures(futures_options)
        if config.sandbox:
            self.futures.set_sandbox_mode(True)  # demo-futures.kraken.com; Kraken spot has no sandbox
        if config.spot_base_url is not None:
            base = str(config.spot_base_url).rstrip("/")
            self.spot.urls["api"] = dict(self.spot.urls["api"]) | {"public": base, "private": base}
        if config.futures_base_url is not None:
            base = str(config.futures_base_url).rstrip("/")
            self.futures.urls["api"] = {
                "public": f"{base}/derivatives/api/", "private": f"{base}/derivatives/api/",
                "charts": f"{base}/api/charts/", "history": f"{base}/api/history/",
                "feeschedules": f"{base}/api/feeschedules/"}

    def __repr__(self) -> str:  # never show keys
        return f"KrakenClient(sandbox={self._config.sandbox}, futures={self.futures.urls['api'].get('public')})"

    # ---- plumbing --------------------------------------------------------------------------------
    def _call(self, exchange: ccxt.Exchange, what: str, call: Callable[[], T], *, creating: bool = False) -> T:
        exchange.last_http_response = None
        started = time.monotonic()
        try:
            result = call()
            if not result and _garbled_body(exchange, None):
                # ccxt reads an unparseable body as no answer and returns an empty result: not "nothing there"
                raise ccxt.BadResponse(f"{exchange.id} unreadable body: {str(exchange.last_http_response)[:200]}")
        except Exception as exc:  # translated below; nothing ccxt raises escapes untranslated
            if _garbled_body(exchange, exc):
                exc = ccxt.BadResponse(f"{exchange.id} unreadable body: {str(exchange.last_http_response)[:200]}")
            error = translate_ccxt_error(exc, during_order_create=creating, context=what)
            self._observe(exchange, started, type(error).__name__)
            raise error from exc
        self._observe(exchange, started, None)
        return result

    def _observe(self, exchange: ccxt.Exchange, started: float, error: str | None) -> None:
        if self.observer is None:
            return
        try:
            self.observer(exchange.id, time.monotonic() - started, error)
        except Exception:  # metrics never fail a request
            log.exception("REST observer failed; the request's outcome stands")

    def _read(self, exchange: ccxt.Exchange, what: str, call: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                if exchange.markets is None:
                    self._call(exchange, f"{exchange.id}: load_markets", exchange.load_markets)
                return self._call(exchange, what, call)
            except TransientError as exc:
                if attempt >= self._config.max_retries:
                    raise
                delay = self._config.retry_base_delay_seconds * 2**attempt * (0.5 + self._rng.random())
                if isinstance(exc, RateLimitError):
                    delay *= 2
                attempt += 1
                log.warning("%s failed (%s); retry %d/%d in %.2f s", what, type(exc).__name__, attempt,
                            self._config.max_retries, delay)
                self._sleep(delay)

    def _unified_futures(self, symbol: str) -> str:
        self._read(self.futures, "krakenfutures: load_markets", lambda: None)
        if symbol in self.futures.markets:
            return symbol
        by_id = self.futures.markets_by_id.get(symbol) or self.futures.markets_by_id.get(symbol.upper())
        if by_id:
            return str(by_id[0]["symbol"])
        raise OrderRejectedError(f"{symbol}: no such Kraken Futures contract")

    def _raw_futures(self, unified: str) -> str:
        return str(self.futures.market(unified)["id"])

    # ---- market data -----------------------------------------------------------------------------
    def get_futures_tickers_bulk(self) -> FuturesTickers:
        """All futures tickers in ONE request, reachable by raw id, PF_ form, unified and BASE/USD.

        Raises ``TransientError``/``RateLimitError`` after retries, ``MarketDataError`` when the
        answer holds no usable ticker. A malformed contract is left out (logged once an hour), never
        fails the others. Kraken's raw tickers are read directly (``_tickers_from_raws``): ccxt does the
        request (auth, rate limit, errors) but builds no unified ticker per contract.
        """
        raws = self._read(self.futures, "krakenfutures: fetch_tickers", self._fetch_tickers)
        tickers, dropped = self._tickers_from_raws(raws)
        self._dropped_tickers.report(dropped)
        if not tickers:
            raise MarketDataError("krakenfutures: tickers answer held no usable ticker")
        return normalize_futures_tickers(tickers)

    def _fetch_tickers(self) -> list[Any]:
        # ccxt's request of fetch_tickers without its per-contract parse, keeping the answer's serverTime
        # (the loop's clock check, no extra request). An answer without a list is empty (falsy): ``_call``
        # then tells a garbled body from a true "no tickers"
        answer = self.futures.publicGetTickers()
        measured = server_time_from_answer(answer, received=self._clock.now())
        if measured is not None:
            self._server_time = measured
        raws = answer.get("tickers") if isinstance(answer, dict) else None
        return raws if isinstance(raws, list) else []

    def _tickers_from_raws(self, raws: list[Any]) -> tuple[list[Ticker], dict[str, str]]:
        """Kraken's raw tickers -> domain tickers and the dropped ``{contract: reason}``, each named with
        ccxt's unified symbol of its market (as ccxt's ``parse_tickers`` would name it; Krakenbot's own
        ``unified_symbol_for`` when ccxt's markets lack the contract)."""
        unified = self._futures_unified_symbols()

        def named(raw: Any) -> tuple[Any, str | None]:
            symbol = raw.get("symbol") if type(raw) is dict else None
            return raw, unified.get(symbol) if type(symbol) is str else None

        return futures_tickers_from_raws(map(named, raws))

    def _futures_unified_symbols(self) -> dict[str, str]:
        """ccxt's unified symbol by Kraken id (``PF_XBTUSD`` -> ``BTC/USD:USD``) of the loaded markets, rebuilt
        only when ccxt loaded new markets; ids that name several markets are left out, as ccxt leaves them."""
        by_id = self.futures.markets_by_id
        if self._unified_source is not by_id:
            self._unified_by_id = {} if not by_id else {
                market_id: str(found[0]["symbol"]) for market_id, found in by_id.items()
                if len(found) == 1 and "/" in str(found[0].get("symbol"))}
            self._unified_source = by_id
        return self._unified_by_id

    def server_time(self) -> ServerTime | None:
        """Kraken Futures' clock as the newest tickers answer stated it (None before the first):
        ``skew`` = local - server. Measured on every ``get_futures_tickers_bulk``, no extra request."""
        return self._server_time

    def fetch_instrument_status(self) -> dict[str, InstrumentStatus]:
        """Kraken's ``/instruments/status`` (one public request): extreme volatility, its initial margin
        multiplier and price dislocation, by contract id. Raises ``TransientError`` after retries and
        ``MarketDataError`` on an answer without the list."""
        body = self._read(self.futures, "krakenfutures: instruments/status", self.futures.publicGetInstrumentsStatus)
        return instrument_statuses(body)

    def load_futures_instruments(self) -> dict[str, Instrument]:
        """Futures contracts keyed by Kraken id, with their margin tiers (``marginLevels``)."""
        markets = self._read(self.futures, "krakenfutures: load_markets", self.futures.load_markets)
        instruments, dropped = instruments_from_markets(markets.values(), spot=False)
        self._dropped_markets.report(dropped)
        return instruments

    def load_spot_instruments(self) -> dict[str, Instrument]:
        """Spot pairs keyed by ccxt unified pair (``BTC/USD``)."""
        markets = self._read(self.spot, "kraken: load_markets", self.spot.load_markets)
        instruments, dropped = instruments_from_markets(markets.values(), spot=True)
        self._dropped_markets.report(dropped)
        return instruments

    def _unified_spot(self, pair: str) -> str:
        """CCXT's symbol of Krakenbot's spot ``pair`` (``LUNA2/USD`` -> ``LUNA/USD``, ``XBT/USD`` -> ``BTC/USD``),
        resolved on Kraken's own pair ids and altnames (``symbols.resolve_spot_pair``). Raises
        ``MarketDataError`` when Kraken lists no such spot market (a market-data problem, not an order's)."""
        known = self._spot_symbols.get(pair)
        if known is not None:
            return known
        markets = self._read(self.spot, "kraken: load_markets", self.spot.load_markets)
        names = [SpotMarketName(unified=str(m["symbol"]), market_id=str(m.get("id") or ""),
                                altname=str((m.get("info") or {}).get("altname") or m.get("id") or ""))
                 for m in markets.values() if m.get("spot")]
        unified, why = resolve_spot_pair(pair, names)
        if unified is None:
            raise MarketDataError(f"{pair}: no Kraken spot market ({why})")
        self._spot_symbols[pair] = unified
        return unified

    def _spot_read(self, what: str, call: Callable[[], T]) -> T:
        """A spot read; Kraken's ``EQuery:Unknown asset pair`` (ccxt ``BadSymbol``) is market data missing."""
        try:
            return self._read(self.spot, what, call)
        except OrderRejectedError as exc:
            if isinstance(exc.__cause__, ccxt.BadSymbol):
                raise MarketDataError(f"{what}: no such Kraken spot market ({exc})") from exc
            raise

    def fetch_spot_ohlcv(self, pair: str, timeframe: str, since: datetime,
                         until: datetime | None = None) -> list[Candle]:
        """Spot candles with open time in [since, until], as far as Kraken's OHLC endpoint reaches.

        Kraken answers only the newest ``SPOT_OHLC_REACH`` (720) candles of a timeframe, the one still forming
        included, whatever ``since`` says: candles older than that are not returned (rebuild them from
        ``fetch_spot_trades`` or import Kraken's archive). Ordered, de-duplicated; the still-forming last
        candle is included (callers drop it). ``pair`` is Krakenbot's spelling (``LUNA2/USD``, ``BTC/USD``);
        an unknown pair raises ``MarketDataError``.
        """
        unified = self._unified_spot(pair)
        start = ms_from_ts(since)
        end_ms = ms_from_ts(until) if until is not None else None
        # one request: Kraken's answer after ``since`` already holds every candle it still serves
        page = self._spot_read(f"{pair}: fetch_ohlcv {timeframe}",
                               partial(self.spot.fetch_ohlcv, unified, timeframe, since=start))
        return candles_from_ohlcv(pair, [r for r in page if r[0] >= start and (end_ms is None or r[0] <= end_ms)])

    def fetch_spot_trades(self, pair: str, since: int) -> TradePage:
        """One page of Kraken spot's public trades after ``since`` (Kraken's cursor: nanoseconds since the epoch;
        0 = from the first trade), at most 1,000, oldest first, through ccxt ``fetch_trades`` with Kraken's own
        ``since`` in params. The page's ``last`` is the cursor of the next page (``since`` again when nothing
        came). ``pair`` is Krakenbot's spelling (``LUNA2/USD``). Raises ``MarketDataError`` for an unknown pair
        or an unreadable trade, ``TransientError``/``RateLimitError`` after retries.
        """
        unified = self._unified_spot(pair)
        trades = self._spot_read(f"{pair}: fetch_trades since {since}",
                                 partial(self.spot.fetch_trades, unified, params={"since": str(since)}))
        infos = [t.get("info") for t in trades]
        if not infos:
            return TradePage(rows=(), last=since)
        if not all(isinstance(i, list) and len(i) >= 3 for i in infos):
            raise MarketDataError(f"{pair}: trades answer with unreadable rows: {str(infos[:2])[:200]}")
        try:
            rows = sorted(((_ns(info[2]), float(info[0]), float(info[1])) for info in infos), key=lambda r: r[0])
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise MarketDataError(f"{pair}: trades answer with unreadable rows: {exc}") from exc
        return TradePage(rows=tuple(rows), last=_trades_cursor(infos, default=rows[-1][0]))

    def fetch_funding_history(self, contract: str) -> list[FundingRecord]:
        """Kraken Futures' historical hourly funding rates of a perpetual (Kraken keeps a rolling year), ascending,
        one per hour Kraken settled: a missed hour is absent, never a zero. ``relative`` is Kraken's
        ``relativeFundingRate`` (fraction of notional per hour; ccxt's ``fundingRate``), ``absolute`` its
        ``fundingRate`` (USD per contract per hour, from ccxt's ``info``). Raises ``MarketDataError`` for a
        record without a time or relative rate (nothing half-read is returned)."""
        unified = self._unified_futures(contract)
        raw = self._read(self.futures, f"{contract}: fetch_funding_rate_history",
                         partial(self.futures.fetch_funding_rate_history, unified))
        records: dict[datetime, FundingRecord] = {}
        for entry in raw:
            info = entry.get("info") or {}
            ts = ts_from_ms(entry.get("timestamp"))
            relative = finite_float(info.get("relativeFundingRate", entry.get("fundingRate")))
            if ts is None or relative is None:
                raise MarketDataError(f"{contract}: funding history record without a time or relative rate: "
                                      f"{str(info)[:200]}")
            records[ts] = FundingRecord(ts=ts, relative=relative, absolute=finite_float(info.get("fundingRate")))
        return [records[ts] for ts in sorted(records)]

    def fetch_futures_ohlcv(self, symbol: str, timeframe: str, since: datetime, until: datetime | None = None,
                            price: Literal["trade", "mark", "index"] = "trade") -> list[Candle]:
        """Futures candles with open time in [since, until], 2,000 per window: ``trade`` (traded price),
        ``mark`` or ``index`` (Kraken's ``spot`` charts: the contract's index, volume 0)."""
        unified = self._unified_futures(symbol)
        step_ms = _step_ms(timeframe)
        now_ms = ms_from_ts(self._clock.now())
        end_ms = min(ms_from_ts(until), now_ms) if until is not None else now_ms
        rows: list[list[Any]] = []
        cursor = ms_from_ts(since)
        for _ in range(_MAX_PAGES):
            if cursor > end_ms:
                break
            start = cursor
            page = self._read(self.futures, f"{symbol}: fetch_ohlcv {price} {timeframe}",
                              partial(self.futures.fetch_ohlcv, unified, timeframe, since=start,
                                      params={"price": _CHART_PRICE[price]}))
            fresh = [r for r in page if r[0] >= start]
            rows += fresh
            # an empty window may be a gap longer than a window: step over it
            cursor = fresh[-1][0] + step_ms if fresh else start + 2000 * step_ms
        return candles_from_ohlcv(symbol, [r for r in rows if r[0] <= end_ms])

    # ---- private reads ---------------------------------------------------------------------------
    def fetch_account(self) -> AccountState:
        """The flex account's margin figures (USD)."""
        balance = self._read(self.futures, "krakenfutures: fetch_balance", self.futures.fetch_balance)
        return account_from_balance(balance, now=self._clock.now())

    def fetch_positions(self) -> list[Position]:
        """Open futures positions (mark, liquidation and leverage are not in Kraken's answer).

        An answer that cannot say what is held (empty, ``null``, truncated, rows without size or
        side) raises (``TransientError`` after retries, ``MarketDataError``): it is never read as flat.
        """
        raw = self._read(self.futures, "krakenfutures: fetch_positions", self.futures.fetch_positions)
        unreadable = [r.get("info") for r in raw if r.get("contracts") is None or r.get("side") is None]
        if unreadable:  # a row without its size or side is not a flat position: never read it as one
            raise MarketDataError(f"krakenfutures: fetch_positions: {len(unreadable)} position rows without size "
                                  f"or side: {str(unreadable)[:200]}")
        now = self._clock.now()
        return [p for p in (position_from_ccxt(r, now=now) for r in raw) if p is not None]

    def fetch_open_orders(self) -> list[Order]:
        """Open orders of every contract, trigger (stop) orders included."""
        raw = self._read(self.futures, "krakenfutures: fetch_open_orders",
                         self.futures.fetch_open_orders)
        now = self._clock.now()
        return [order_from_ccxt(o, symbol=kraken_id(str((o.get("info") or {}).get("symbol") or o["symbol"])), now=now)
                for o in raw]

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str, *,
                                 since: datetime | None = None) -> Order | None:
        """The order sent with ``client_order_id``: from ``orders/status`` (open, or closed in the last
        5 s), else rebuilt from its fills (FILLED with the filled size), read back to ``since`` page by page
        (one page, the latest 100, when None), else, with ``since`` more than 5 s ago, from Kraken's order
        and trigger history (``fetch_order_history``).

        None when none knows it: never sent (or refused), or, without ``since``, closed unfilled more than
        5 s ago. Raises ``TransientError`` (``RateLimitError`` when the history budget is spent).
        """
        raw_symbol = self._raw_futures(self._unified_futures(symbol))
        found = self._read(self.futures, f"{raw_symbol}: fetch_orders {client_order_id}",
                           lambda: self.futures.fetch_orders(params={"cliOrdIds": client_order_id}))
        now = self._clock.now()
        for order in found:
            if order.get("clientOrderId") == client_order_id:
                return order_from_ccxt(order, symbol=raw_symbol, now=now, client_order_id=client_order_id)
        fills = [f for f in self.fetch_fills(since=since) if f.client_order_id == client_order_id]
        if fills:
            size = sum((f.size for f in fills), start=fills[0].size * 0)
            avg = sum((f.size * f.price for f in fills), start=fills[0].size * 0) / size
            return Order(client_order_id=client_order_id, symbol=fills[0].symbol, side=fills[0].side, size=size,
                         order_type=OrderType.MARKET, reduce_only=False, status=OrderStatus.FILLED,
                         ts_updated=max(f.ts for f in fills), exchange_order_id=fills[0].exchange_order_id,
                         filled_size=size, avg_fill_price=avg)
        if since is None or now - since <= STATUS_WINDOW:
            return None
        return self.fetch_order_history(client_order_id, raw_symbol, since=since)

    def fetch_order_history(self, client_order_id: str, symbol: str, *, since: datetime) -> Order | None:
        """The order sent with ``client_order_id`` at or after ``since`` as Kraken's order history
        (``/api/history/v2/orders``), else its trigger history (``/triggers``, stops), shows it last: placed
        then cancelled unfilled is CANCELLED with 0 filled, refused is REJECTED; None when neither has a trace
        of it (never sent). For orders in doubt past the 5 s ``orders/status`` window only: the history
        endpoints have their own small budget (``HistoryBudget``); spent, this raises ``RateLimitError``
        (ask again later). Raises ``TransientError``.
        """
        raw_symbol = self._raw_futures(self._unified_futures(symbol))
        start = ms_from_ts(since - timedelta(seconds=1))  # a clock a little behind Kraken's
        for kind, call in (("orders", self.futures.historyGetOrders), ("triggers", self.futures.historyGetTriggers)):
            elements: list[Any] = []
            params: dict[str, Any] = {"since": start, "sort": "asc", "tradeable": raw_symbol}
            for _ in range(_HISTORY_PAGES):
                if not self._history.take(self._clock.now()):
                    raise RateLimitError(f"{raw_symbol}: Kraken's history budget for lookups is spent "
                                         f"({self._history.spent} requests in 10 minutes); {client_order_id} "
                                         "is looked up again later")
                answer = self._call(self.futures, f"{raw_symbol}: history {kind} {client_order_id}",
                                    partial(call, dict(params)))
                page = answer.get("elements") if isinstance(answer, dict) else None
                if not isinstance(page, list):
                    raise ExchangeError(f"{raw_symbol}: history {kind}: answer without elements: {str(answer)[:200]}")
                elements += page
                token = answer.get("continuationToken")
                if not token or not page:
                    break
                params = {**params, "continuation_token": token}
            found = order_from_history(elements, client_order_id, now=self._clock.now())
            if found is not None:
                log.info("%s: %s found in Kraken's %s history: %s, %s filled", raw_symbol, client_order_id, kind,
                         found.status.value, found.filled_size)
                return found
        return None

    def fetch_fills(self, since: datetime | None = None) -> list[Fill]:
        """Own fills at or after ``since`` (the latest 100, one page, when None), oldest first.

        Pages backwards through ``/fills`` (100 per answer, newest first) with ``lastFillTime`` until a page
        reaches past ``since``; pages after the second wait ``_FILLS_PAGE_PACE_SECONDS`` each (each costs 25
        of Kraken's 500 units per 10 s), so a restart reading a week of fills leaves room for orders.
        """
        seen: dict[str, Fill] = {}
        params: dict[str, Any] = {}
        for page_number in range(_MAX_PAGES):
            page_params = dict(params)
            if page_number >= 2:
                self._sleep(_FILLS_PAGE_PACE_SECONDS)
            page = self._read(self.futures, "krakenfutures: fetch_my_trades",
                              partial(self.futures.fetch_my_trades, params=page_params))
            new = 0
            for trade in page:
                symbol = str((trade.get("info") or {}).get("symbol") or trade.get("symbol"))
                fill = fill_from_ccxt(trade, symbol=symbol)
                if fill is not None and fill.trade_id not in seen:
                    seen[fill.trade_id] = fill
                    new += 1
            if len(page) < 100 or new == 0 or since is None:
                break
            oldest = min(seen.values(), key=lambda f: f.ts).ts
            if oldest < since:
                break
            # lastFillTime is exclusive: step 1 ms past the oldest so same-millisecond fills are not lost
            params = {"lastFillTime": (oldest + timedelta(milliseconds=1)).isoformat().replace("+00:00", "Z")}
        fills = [f for f in seen.values() if since is None or f.ts >= since]
        return sorted(fills, key=lambda f: (f.ts, f.trade_id))

    # ---- orders ------------------------------------------------------------------------------------
    def create_order(self, intent: OrderIntent) -> Order:
        """Send ``intent`` once (never retried). Sizes and prices go exactly as the caller rounded
        them: an off-lot size or off-tick price is refused here, before ccxt would silently round it.

        Kraken's own ``sendStatus.status`` decides (``errors.send_status_error``). An IOC that Kraken
        answers ``iocWouldNotExecute`` (nothing to match within its limit) comes back as a CANCELLED
        order with nothing filled, as an IOC that expired unfilled; a partly filled IOC as CANCELLED with
        its filled size (an IOC never rests). Raises ``OutcomeUnknownError`` when no answer came, or one
        that cannot be read or whose status says nothing sure (look the order up by client id),
        ``DuplicateOrderError``, ``OrderRejectedError``/``InsufficientMarginError`` (the message names
        Kraken's status), ``RateLimitError``, ``AuthenticationError``.
        """
        unified = self._unified_futures(intent.symbol)
        raw_symbol = self._raw_futures(unified)
        self._check_increments(unified, intent)
        params: dict[str, Any] = {"cliOrdId": intent.client_order_id}
        if intent.reduce_only:
            params["reduceOnly"] = True
        price: str | None = None
        kind = "limit"
        if intent.order_type is OrderType.MARKET:
            kind = "market"
        elif intent.order_type in (OrderType.LIMIT, OrderType.IOC):
            price = str(intent.limit_price)
            if intent.order_type is OrderType.IOC:
                params["timeInForce"] = "ioc"  # lower case: ccxt drops 'IOC' silently
        else:  # STOP, triggered by the mark price; a stop-limit when a limit price is given
            params |= {"triggerPrice": str(intent.stop_price), "triggerSignal": "mark"}
            kind = "limit" if intent.limit_price is not None else "market"
            price = str(intent.limit_price) if intent.limit_price is not None else None
        log.info("%s: create_order %s %s %s %s cid=%s reduce_only=%s", raw_symbol, intent.order_type,
                 intent.side, intent.size, price or intent.stop_price or "", intent.client_order_id,
                 intent.reduce_only)
        what = f"{raw_symbol}: create_order {intent.client_order_id}"
        request = self._call(self.futures, what, lambda: self.futures.create_order_request(
            unified, kind, str(intent.side), str(intent.size), price, params))
        answer = self._call(self.futures, what, lambda: self.futures.privatePostSendorder(request), creating=True)
        return self._sent_order(answer, intent, unified, raw_symbol)

    def _sent_order(self, answer: Any, intent: OrderIntent, unified: str, raw_symbol: str) -> Order:
        """The order of a ``sendorder`` answer, judged by Kraken's own ``sendStatus.status``
        (``errors.send_status_error``); an answer that cannot be read is ``OutcomeUnknownError``."""
        what = f"{raw_symbol}: create_order {intent.client_order_id}"
        send_status = answer.get("sendStatus") if isinstance(answer, dict) else None
        if not isinstance(send_status, dict):
            raise OutcomeUnknownError(f"{what}: sendorder answer without a sendStatus: {str(answer)[:200]}")
        status = send_status.get("status")
        if status == "iocWouldNotExecute" and intent.order_type in (OrderType.IOC, OrderType.MARKET):
            log.info("%s: IOC %s found nothing to match within %s; nothing filled", raw_symbol,
                     intent.client_order_id, intent.limit_price)
            return Order(client_order_id=intent.client_order_id, symbol=raw_symbol, side=intent.side,
                         size=intent.size, order_type=intent.order_type, reduce_only=intent.reduce_only,
                         status=OrderStatus.CANCELLED, ts_updated=self._clock.now(),
                         limit_price=intent.limit_price)
        problem = send_status_error(status, context=what)
        if problem is not None:
            raise problem
        try:
            raw = self.futures.parse_order(send_status, self.futures.market(unified))
            return order_from_ccxt(raw, symbol=raw_symbol, now=self._clock.now(), order_type=intent.order_type,
                                   client_order_id=intent.client_order_id, size=intent.size)
        except Exception as exc:  # accepted, but its order unreadable: look it up rather than guess
            raise OutcomeUnknownError(f"{what}: {status} answer without a readable order "
                                      f"({type(exc).__name__}: {str(exc)[:120]})") from exc

    def _check_increments(self, unified: str, intent: OrderIntent) -> None:
        """Refuse a size off the contract's lot (or below its minimum) and prices off its tick.

        ccxt's ``amount_to_precision`` would truncate 0.00015 to 0.0001 and send that: a
        different order from the one decided and journaled.
        """
        instrument = instrument_from_market(self.futures.market(unified))
        if instrument is None:
            raise OrderRejectedError(f"{intent.symbol}: contract has no usable tick/lot")
        problem = instrument.order_problem(intent.size, intent.limit_price, intent.stop_price)
        if problem is not None:
            raise OrderRejectedError(problem)

    def arm_dead_man_switch(self, timeout_seconds: int) -> None:
        """Kraken's dead man's switch: cancel ALL our orders ``timeout_seconds`` from now unless
        armed again (0 disarms). Sent once, never retried: the next tick re-arms it anyway."""
        self._call(self.futures, f"cancelallordersafter {timeout_seconds}s",
                   lambda: self.futures.cancel_all_orders_after(timeout_seconds * 1000))

    def cancel_order(self, client_order_id: str, symbol: str) -> Order:
        """Cancel a resting order by client id, once (not retried: a second try after a lost
        answer would report the first one's success as ``OrderNotFoundError``).

        Returns the order as cancelled, from the order event of Kraken's ``cancelorder`` answer,
        else read back from ``orders/status`` (which keeps it 5 s). Raises ``OrderNotFoundError``
        when the order is unknown, filled or already cancelled, ``TransientError`` when no answer
        came (look the order up before trying again), ``ExchangeError`` when the cancel was
        confirmed but the order could be read from neither.
        """
        unified = self._unified_futures(symbol)  # loads markets (a retried read) before the one-shot cancel
        raw_symbol = self._raw_futures(unified)
        what = f"{raw_symbol}: cancel_order {client_order_id}"
        answer = self._call(self.futures, what,
                            lambda: self.futures.privatePostCancelorder({"cliOrdId": client_order_id}))
        cancel_status = answer.get("cancelStatus") or {}
        status = str(cancel_status.get("status"))
        self._call(self.futures, what, lambda: self.futures.verify_order_action_success(status, "cancelOrder"))
        log.info("%s: cancelled %s", raw_symbol, client_order_id)
        parsed = dict(self._call(self.futures, what, lambda: self.futures.parse_order(cancel_status)))
        if str(parsed.get("side") or "").lower() in ("buy", "sell") and parsed.get("amount") is not None:
            events = cancel_status.get("orderEvents") or [{}]
            echoed = events[0].get("order") or events[0].get("orderTrigger") or {}
            parsed["price"] = parsed.get("price") or echoed.get("limitPrice")  # ccxt drops it here
            return order_from_ccxt(parsed, symbol=raw_symbol, now=self._clock.now(),
                                   client_order_id=client_order_id)
        found = self.fetch_order_by_client_id(client_order_id, raw_symbol)
        if found is None:
            raise ExchangeError(f"{raw_symbol}: {client_order_id} cancelled, but the order could not be read back")
        return found


def _ns(seconds: Any) -> int:
    """Kraken's trade time (seconds with up to nine decimals, number or string) as int nanoseconds, exactly."""
    return int(Decimal(str(seconds)).scaleb(9))


def _trades_cursor(infos: list[Any], *, default: int) -> int:
    """Kraken's ``last`` cursor, which ccxt 4.5.90 appends to the raw row of the last trade (``info``): Kraken's
    rows have 7 fields (6 before trade ids), so the one row with an extra field carries it."""
    lengths = {len(info) for info in infos}
    base = min(lengths) if len(lengths) > 1 else (7 if lengths == {8} else 6 if lengths == {7} else None)
    for info in reversed(infos):
        if base is not None and len(info) == base + 1:
            try:
                return int(str(info[-1]))
            except ValueError:
                break
    return default


def _step_ms(timeframe: str) -> int:
    if timeframe not in TIMEFRAME_MINUTES:
        raise ValueError(f"unknown timeframe {timeframe!r}; use one of {sorted(TIMEFRAME_MINUTES)}")
    return TIMEFRAME_MINUTES[timeframe] * 60_000


def _garbled_body(exchange: ccxt.Exchange, exc: BaseException | None) -> bool:
    """True when an answer came with HTTP success but its body is not JSON (a truncated or
    garbled answer), which ccxt reports as whatever its parser tripped over, or (``exc`` None: the
    call returned an empty result) reads as no answer at all; an empty body counts then too."""
    if isinstance(exc, ccxt.NetworkError | ccxt.BadResponse):
        return False
    body = exchange.last_http_response
    if exc is None and body == "":
        return True
    if not isinstance(body, str) or not body:
        return False
    try:
        json.loads(body)
    except ValueError:
        return True
    return False


if TYPE_CHECKING:
    def _satisfies_the_port(client: KrakenClient) -> Exchange:
        return client  # mypy proves ``KrakenClient`` implements ``Exchange`` exactly

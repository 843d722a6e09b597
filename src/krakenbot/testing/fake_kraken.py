"""A loopback Kraken: spot and Futures REST endpoints on 127.0.0.1, in Kraken's own shapes.

Tests drive the real ccxt client against it; operators rehearse a config with it::

    python -m krakenbot.testing.fake_kraken --port 8765 --data /work/shared/data/kraken-2023q1

and point ``exchange.spot_base_url`` / ``exchange.futures_base_url`` at ``http://127.0.0.1:8765``.
In-process::

    with FakeKraken(data_dir=path) as fk:
        fk.spot_url, fk.futures_url      # base URLs for ExchangeConfig
        fk.inject("status", path="/tickers", status=429, times=3)
        fk.requests                      # every request: method, path, query, ts

Endpoints: spot ``/0/public/{AssetPairs,Assets,OHLC,Time,Trades}`` (OHLC: only the newest 720 candles,
whatever ``since``, as Kraken; Trades: derived from the served candles, ``fake_kraken_trades``); futures
``/derivatives/api/v3/{instruments,instruments/status,tickers,historicalfundingrates}`` (funding history:
``fake_kraken_funding.FundingHistory``) and, signed as Kraken documents
(``Authent`` checked against ``credentials``, see ``fake_kraken_auth``; each request charged to Kraken's
token buckets, see ``fake_kraken_limits``), ``accounts, openpositions, openorders, sendorder, cancelorder,
orders/status, fills``; history ``/api/history/v2/{orders,triggers}`` (``fake_kraken_history``); charts
``/api/charts/v1/{trade|mark|spot}/SYMBOL/RESOLUTION``. Order
simulation is in ``fake_kraken_orders``; the catalogue and candles in ``fake_kraken_market``.

Faults (``inject``), each consumed by the next ``times`` matching requests:
``delay`` (answer after ``delay_seconds``), ``status`` (HTTP ``status`` with a Kraken-like body:
429 -> rate limit, 5xx -> a gateway page), ``drop`` (close without answering, nothing done),
``accept_then_drop`` (do the work, e.g. place the order, then close without answering),
``accept_then_hang`` (do the work, then hold the connection ``delay_seconds`` so the client
times out), ``malformed`` (HTTP 200 with a truncated JSON body, or ``body`` as given: ``""`` is an
empty answer), ``duplicate`` (the request arrives twice, as a retrying proxy would send it: the
work is done once and the client gets the second answer, e.g. ``clientOrderIdAlreadyExist``),
``accept_then_status`` (do the work, then answer HTTP ``status`` with ``body``: an error of the
wrong class for an order that was placed). ``suspend(symbol)`` marks a contract suspended: its
ticker says so and orders get ``marketSuspended``. ``refuse_next(status)`` answers the next order
with one of Kraken's ``sendorder`` statuses (``fake_kraken_statuses``).

Behaviours: ``set_post_only`` and ``set_instrument_status`` (``fake_kraken_instruments``: Kraken's
recorded instruments, margin tiers and instrument status); ``set_ticker`` overrides raw ticker fields
(NaN, zero, crossed book, old ``lastTime``, a print the index does not confirm); ``set_liquidity``
makes taker orders (triggered stops too, an IoC within ``set_stop_band``) fill partially;
``race_cancel_with_fill`` fills a stop just before its cancel; ``hide_next_order`` keeps an
accepted order out of every lookup for a number of reads; ``close_position`` liquidates or
closes a position on the exchange, not through the bot.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from krakenbot.testing.fake_kraken_auth import DEFAULT_CREDENTIALS, refuse_private
from krakenbot.testing.fake_kraken_funding import FundingHistory, FundingLedger
from krakenbot.testing.fake_kraken_history import HISTORY_PREFIX, history_answer
from krakenbot.testing.fake_kraken_http import DropConnectionError, make_handler
from krakenbot.testing.fake_kraken_instruments import StatusBoard, use_real_margin_levels
from krakenbot.testing.fake_kraken_limits import RateLimits, SpotPublicLimits
from krakenbot.testing.fake_kraken_market import (
    FUTURES_CHART_CAP,
    SPOT_OHLC_CAP,
    Bar,
    CandleStore,
    FuturesContract,
    SpotPair,
    asset_pairs_body,
    assets_body,
    decimal_str,
    default_contracts,
    default_spot_pairs,
    instruments_body,
    iso_ms,
    tickers_body,
)
from krakenbot.testing.fake_kraken_orders import FuturesBook
from krakenbot.testing.fake_kraken_statuses import Refusal, Refusals
from krakenbot.testing.fake_kraken_trades import TRADES_CAP, TradeTape, since_ns

log = logging.getLogger(__name__)

FaultKind = Literal["delay", "status", "drop", "accept_then_drop", "accept_then_hang", "malformed", "duplicate",
                    "accept_then_status"]
_RESOLUTIONS = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "12h": 720, "1d": 1440, "1w": 10080}
_FUTURES_PREFIX = "/derivatives/api/v3/"
_CHARTS_PREFIX = "/api/charts/v1/"
_FUNDING_HISTORY_V4 = "/derivatives/api/v4/historicalfundingrates"
_PRIVATE = {"accounts", "openpositions", "openorders", "sendorder", "cancelorder", "cancelallorders",
            "cancelallordersafter", "orders/status", "fills"}


@dataclass(slots=True)
class Fault:
    """One injected fault, matched by path substring (and method), used ``times`` times."""

    kind: FaultKind
    path: str | None = None
    method: str | None = None
    times: int = 1
    status: int = 500
    delay_seconds: float = 0.0
    body: str | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and (self.path is None or self.path in path) and (
            self.method is None or self.method.upper() == method)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request the server saw: ``query`` maps each parameter to its values (query and form)."""

    method: str
    path: str
    query: dict[str, list[str]]
    ts: datetime
    headers: dict[str, str] = field(default_factory=dict)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


class FakeKraken:
    """The loopback server. Thread-safe; a context manager that starts and stops it.

    ``clock`` gives the server's now (wall clock by default); ``balance_usd`` is the flex
    account's starting USD collateral; ``closed_order_retention_seconds`` how long ``orders/status``
    still reports a closed order (Kraken: 5 s; None keeps them forever). ``credentials`` maps API
    key -> base64 secret: private requests must be signed with one of them (None: not checked);
    ``rate_limits`` False turns Kraken's request budgets off.
    """

    def __init__(self, *, data_dir: Path | str | None = None, port: int = 0, seed: int = 7,
                 clock: Callable[[], datetime] | None = None, balance_usd: float = 10_000.0,
                 closed_order_retention_seconds: float | None = 5.0,
                 contracts: list[FuturesContract] | None = None, spot_pairs: list[SpotPair] | None = None,
                 credentials: Mapping[str, str] | None = DEFAULT_CREDENTIALS, rate_limits: bool = True) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self.credentials = None if credentials is None else dict(credentials)
        self.limits = RateLimits(enabled=rate_limits)
        self.spot_limits: SpotPublicLimits | None = None  # Kraken spot's public limit: limit_spot_public
        self.funding = FundingLedger()  # unrealised funding per position, settled hourly into the balance
        self.auth_refusals: list[str] = []  # why each refused signature failed (never sent to the client)
        now = self._clock()
        self.contracts = {c.symbol: c for c in (contracts or default_contracts(now))}
        if contracts is None:  # Kraken's recorded marginLevels for the contracts it lists
            use_real_margin_levels(self.contracts)
        self.statuses = StatusBoard(list(self.contracts))  # /instruments/status; set_instrument_status
        self.spot_pairs = spot_pairs or default_spot_pairs()
        self._anchors = {s: c.mark for s, c in self.contracts.items()}
        self.candles = CandleStore(Path(data_dir) if data_dir is not None else None, seed=seed)
        self.trades = TradeTape(self.candles)  # /0/public/Trades, derived from the served candles
        # /historicalfundingrates: recorded (record_funding, or files in the data folder); reach: rolling year
        self.funding_history = FundingHistory(Path(data_dir) if data_dir is not None else None)
        self.book = FuturesBook(contracts=self.contracts, balance_usd=Decimal(repr(balance_usd)),
                                closed_order_retention_seconds=closed_order_retention_seconds)
        self._lock = threading.RLock()
        self._faults: list[Fault] = []
        self.refusals = Refusals()  # refuse_next: Kraken's refusal statuses (fake_kraken_statuses)
        self._ticker_overrides: dict[str, dict[str, Any]] = {}
        self.faults_served: Counter[str] = Counter()  # fault kind -> requests it answered
        self._requests: list[RequestRecord] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spot_url(self) -> str:
        """Base URL for ``ExchangeConfig.spot_base_url`` (ccxt appends ``/0/public/...``)."""
        return self.url

    @property
    def futures_url(self) -> str:
        """Base URL for ``ExchangeConfig.futures_base_url`` (``/derivatives/api/``, ``/api/charts/``)."""
        return self.url

    def start(self) -> FakeKraken:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-kraken", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeKraken:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- control -----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self._clock()

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the request log (control requests under ``/_fake`` excluded)."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def requests_to(self, path_part: str) -> list[RequestRecord]:
        """Logged requests whose path contains ``path_part``."""
        return [r for r in self.requests if path_part in r.path]

    def inject(self, kind: FaultKind, *, path: str | None = None, method: str | None = None, times: int = 1,
               status: int = 500, delay_seconds: float = 0.0, body: str | None = None) -> Fault:
        """Arm a fault for the next ``times`` requests whose path contains ``path``."""
        fault = Fault(kind=kind, path=path, method=method, times=times, status=status,
                      delay_seconds=delay_seconds, body=body)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def refuse_next(self, status: str, *, path: str = "sendorder", symbol: str | None = None,
                    times: int = 1) -> Refusal:
        """Answer the next ``times`` requests to ``path`` (on ``symbol``) with Kraken's ``status`` (HTTP 200,
        ``result: success``), doing nothing; see ``fake_kraken_statuses``."""
        return self.refusals.arm(status, path=path, symbol=symbol, times=times)

    def suspend(self, symbol: str, suspended: bool = True) -> None:
        with self._lock:
            self.contracts[symbol].suspended = suspended

    def set_post_only(self, symbol: str, post_only: bool = True) -> None:
        """Kraken's ``postOnly`` on ``symbol`` (ticker and instruments); orders other than post-only limits and
        trigger orders are then refused with ``marketIsPostOnly``."""
        with self._lock:
            self.contracts[symbol].post_only = post_only

    def set_instrument_status(self, symbol: str, **fields: Any) -> None:
        """``symbol``'s ``/instruments/status`` row: ``extreme_volatility``, ``multiplier``, ``dislocation``,
        ``direction`` (see ``fake_kraken_instruments.StatusBoard.set``)."""
        with self._lock:
            self.statuses.set(symbol, **fields)

    def record_candles(self, name: str, minutes: int, bars: list[Bar]) -> None:
        """Serve ``bars`` as the recorded series ``name`` (a spot altname such as ``LUNA2USD``, or
        ``futures/PF_XBTUSD[-mark|-spot]``) at ``minutes``; the spot trades derive from the finest one."""
        with self._lock:
            self.candles.record(name, minutes, bars)

    def record_funding(self, symbol: str, rows: list[tuple[datetime, float, float | None]]) -> None:
        """Serve ``rows`` (hour start UTC, relative rate per hour, absolute USD per contract per hour or None)
        as ``symbol``'s historical funding rates; a missing hour stays missing."""
        with self._lock:
            self.funding_history.record(symbol, rows)

    def set_mark(self, symbol: str, mark: float) -> None:
        """Move a contract's mark price; resting limits and stops react as described in the book."""
        with self._lock:
            self.funding.advance(self.book, self.now())
            self.book.check_dead_man(self.now())  # a stop the switch cancelled cannot trigger
            self.book.set_mark(symbol, mark, self.now())

    def tickers_payload(self) -> dict[str, Any]:
        """The body ``/derivatives/api/v3/tickers`` answers right now."""
        with self._lock:
            return self._tickers(self.now())

    def set_ticker(self, symbol: str, **fields: Any) -> None:
        """Override raw fields of ``symbol``'s ticker (Kraken's names: ``markPrice``, ``bid``, ``ask``,
        ``indexPrice``, ``lastTime``; a datetime is sent in Kraken's form) until ``clear_ticker``."""
        with self._lock:
            self._ticker_overrides.setdefault(symbol, {}).update(
                {k: iso_ms(v) if isinstance(v, datetime) else v for k, v in fields.items()})

    def clear_ticker(self, symbol: str | None = None) -> None:
        """Drop the overrides of ``symbol`` (of every symbol when None)."""
        with self._lock:
            if symbol is None:
                self._ticker_overrides.clear()
            else:
                self._ticker_overrides.pop(symbol, None)

    def set_liquidity(self, symbol: str, contracts: float | None) -> None:
        """Taker orders on ``symbol`` fill at most ``contracts`` (an IOC's rest is cancelled); None: unlimited."""
        with self._lock:
            if contracts is None:
                self.book.liquidity.pop(symbol, None)
            else:
                self.book.liquidity[symbol] = Decimal(repr(contracts))

    def set_stop_band(self, pct: float) -> None:
        """A triggered stop-market's IoC band, ``pct`` (0.01 = 1 %, the default) from the mark at the trigger."""
        with self._lock:
            self.book.stop_band_pct = Decimal(repr(pct))

    def race_cancel_with_fill(self, times: int = 1) -> None:
        """The next ``times`` cancels of a resting stop find it triggered and filled at the mark first."""
        with self._lock:
            self.book.cancel_races_fill = times

    def hide_next_order(self, reads: int, *, orders: int = 1, fills: bool = True) -> None:
        """The next ``orders`` accepted orders stay out of ``orders/status``, ``openorders`` and (unless
        ``fills`` is False) ``fills`` for ``reads`` reads of those endpoints (Kraken's lookups lagging
        its matching engine)."""
        with self._lock:
            self.book.hide_next_orders, self.book.hide_reads = orders, reads
            self.book.hide_fills = fills

    def close_position(self, symbol: str, *, kind: str = "liquidation", size: float | None = None) -> bool:
        """Close ``size`` contracts (all when None) of ``symbol``'s position on the exchange without the
        bot, as a fill of Kraken's type ``kind`` (``liquidation``; ``taker``: the operator closing it on
        Kraken's site, also accepted as ``manual``; see ``fake_kraken_orders.FILL_TYPES``). False when there
        is no position."""
        with self._lock:
            self.funding.advance(self.book, self.now())
            amount = None if size is None else Decimal(repr(size))
            return self.book.close_position(symbol, self.now(), kind=kind, size=amount) is not None

    def set_funding_rate(self, symbol: str, relative_per_hour: float) -> None:
        """Set ``symbol``'s funding rate (relative, per hour; the ticker quotes it x mark). Funding accrued
        so far keeps the old rate."""
        with self._lock:
            self.funding.advance(self.book, self.now())
            self.contracts[symbol].funding_rate_rel = relative_per_hour

    def _tickers(self, now: datetime) -> dict[str, Any]:
        body = tickers_body(list(self.contracts.values()), now)
        for entry in body["tickers"]:
            entry.update(self._ticker_overrides.get(entry["symbol"], {}))
        return body

    # ---- request handling (called from the handler threads) ------------------------------------
    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    self.faults_served[fault.kind] += 1
                    return fault
        return None

    def _log(self, record: RequestRecord) -> None:
        with self._lock:
            self._requests.append(record)

    def handle(self, method: str, path: str, params: dict[str, list[str]], headers: dict[str, str],
               raw: tuple[str, str] = ("", "")) -> tuple[int, str, str]:
        """Route one request; return (HTTP status, content type, body). ``raw`` is (query string, body)
        as sent, what the signature covers. Raises ``DropConnectionError``."""
        if path.startswith("/_fake/"):
            return self._control(path, params)
        self._log(RequestRecord(method=method, path=path, query=params, ts=self.now(), headers=headers))
        with self._lock:  # Kraken's timer runs out by itself: whatever arrives next finds the orders gone
            self.book.check_dead_man(self.now())
        fault = self._take_fault(method, path)
        if fault is not None and fault.kind == "drop":
            raise DropConnectionError
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay_seconds)
        if fault is not None and fault.kind == "status":
            return fault.status, *_fault_body(fault, path)
        with self._lock:
            status, body = self._route(method, path, {k: v[-1] for k, v in params.items()}, params, headers, raw)
            if fault is not None and fault.kind == "duplicate":
                status, body = self._route(method, path, {k: v[-1] for k, v in params.items()}, params, headers, raw)
        if fault is not None and fault.kind == "accept_then_status":
            return fault.status, *_fault_body(fault, path)
        if fault is not None and fault.kind == "accept_then_hang":
            time.sleep(fault.delay_seconds)
            raise DropConnectionError
        if fault is not None and fault.kind == "accept_then_drop":
            raise DropConnectionError
        text = json.dumps(body)
        if fault is not None and fault.kind == "malformed":
            return 200, "application/json", fault.body if fault.body is not None else text[: max(1, len(text) // 2)]
        return status, "application/json", text

    def _route(self, method: str, path: str, p: dict[str, str], multi: dict[str, list[str]],
               headers: dict[str, str], raw: tuple[str, str] = ("", "")) -> tuple[int, dict[str, Any]]:
        now = self.now()
        if path.startswith("/0/public/"):
            return self._spot(path.removeprefix("/0/public/"), p, now)
        if path.startswith(_CHARTS_PREFIX):
            return self._chart(path.removeprefix(_CHARTS_PREFIX), p, now)
        if path.startswith(HISTORY_PREFIX):  # account history (fake_kraken_history): private, own budget
            rest = path.removeprefix(HISTORY_PREFIX)  # v2/orders
            refused = self.guard_private("history", rest.split("/", 1)[-1], path, p, headers, raw, now)
            return refused or history_answer(self.book, rest, p, now)
        if path == _FUNDING_HISTORY_V4:  # ccxt 4.5.90 asks v4; Kraken serves it under v3 and v4
            path = _FUTURES_PREFIX + "historicalfundingrates"
        if path.startswith(_FUTURES_PREFIX):
            endpoint = path.removeprefix(_FUTURES_PREFIX)
            if endpoint in _PRIVATE:
                refused = self.guard_private("derivatives", endpoint, path, p, headers, raw, now)
                return refused or self._private(endpoint, p, multi, now)
            return self._futures_public(endpoint, p, now)
        return 404, {"result": "error", "error": "notFound", "serverTime": iso_ms(now)}

    def guard_private(self, budget: str, endpoint: str, path: str, p: dict[str, str], headers: dict[str, str],
                      raw: tuple[str, str], now: datetime) -> tuple[int, dict[str, Any]] | None:
        """Kraken's checks before a private endpoint acts (``fake_kraken_auth.refuse_private``): the answer, or None."""
        return refuse_private(self.credentials, self.limits, self.auth_refusals, budget=budget, endpoint=endpoint,
                              path=path, params=p, headers=headers, raw=raw, now=now)

    def drain_rate_limit(self, budget: str = "derivatives") -> None:
        """Empty a request budget now, as a burst by another program on the same key would."""
        with self._lock:
            self.limits.drain(budget, self.now())

    def limit_spot_public(self, *, burst: int = 5, per_second: float = 1.0) -> SpotPublicLimits:
        """Turn on Kraken spot's public rate limit (``fake_kraken_limits.SpotPublicLimits``): per pair for OHLC
        and Trades, ``burst`` calls refilling at ``per_second`` on the server's clock; over it, Kraken's
        ``EGeneral:Too many requests``."""
        with self._lock:
            self.spot_limits = SpotPublicLimits(burst=burst, per_second=per_second)
            return self.spot_limits

    def _spot(self, endpoint: str, p: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
        if self.spot_limits is not None and not self.spot_limits.charge(endpoint, p.get("pair"), now):
            return 200, {"error": ["EGeneral:Too many requests"]}
        if endpoint == "AssetPairs":
            return 200, asset_pairs_body(self.spot_pairs)
        if endpoint == "Assets":
            return 200, assets_body(self.spot_pairs)
        if endpoint == "Time":
            return 200, {"error": [], "result": {"unixtime": int(now.timestamp()),
                                                 "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000")}}
        if endpoint == "OHLC":
            return self._ohlc(p, now)
        if endpoint == "Trades":
            return self._trades(p, now)
        return 200, {"error": ["EGeneral:Unknown method"]}

    def _spot_pair(self, name: str) -> SpotPair | None:
        return next((x for x in self.spot_pairs if name in (x.pair_id, x.altname, x.wsname)), None)

    def _ohlc(self, p: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
        pair = self._spot_pair(p.get("pair", ""))
        if pair is None:
            return 200, {"error": ["EQuery:Unknown asset pair"]}
        minutes = int(p.get("interval", "1"))
        step = minutes * 60
        now_s = int(now.timestamp()) // step * step  # open time of the candle still forming
        since = int(float(p["since"])) if p.get("since") else None
        # Kraken's rule: only the newest 720 intervals (the forming one included) are ever answered, whatever
        # ``since`` says; ``since`` (exclusive) only trims that window. An interval without trades has no row.
        start = now_s - (SPOT_OHLC_CAP - 1) * step
        if since is not None:
            start = max(start, since + 1)
        bars = self.candles.bars([pair.altname, pair.pair_id], minutes, pair.price, start, now_s)
        dec = pair.pair_decimals
        rows = [[b.ts_s, decimal_str(b.open), decimal_str(b.high), decimal_str(b.low), decimal_str(b.close),
                 f"{(b.open + b.close) / 2:.{dec}f}", decimal_str(b.volume), 1] for b in bars]
        last = bars[-1].ts_s if bars else (since or now_s)
        return 200, {"error": [], "result": {pair.pair_id: rows, "last": last}}

    def _trades(self, p: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
        pair = self._spot_pair(p.get("pair", ""))
        if pair is None:
            return 200, {"error": ["EQuery:Unknown asset pair"]}
        try:
            since = since_ns(p.get("since"))
            count = int(p.get("count") or TRADES_CAP)
        except (ArithmeticError, ValueError):
            return 200, {"error": ["EGeneral:Invalid arguments"]}
        now_ns = int(now.timestamp() * 1_000_000) * 1000
        rows, last = self.trades.page([pair.altname, pair.pair_id], pair.price, since, now_ns, count)
        return 200, {"error": [], "result": {pair.pair_id: rows, "last": str(last)}}

    def _chart(self, rest: str, p: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
        parts = rest.split("/")
        if len(parts) != 3 or parts[0] not in ("trade", "mark", "spot") or parts[2] not in _RESOLUTIONS:
            return 400, {"result": "error", "error": "invalidArgument", "serverTime": iso_ms(now)}
        price_type, symbol, resolution = parts
        contract = self.contracts.get(symbol)
        if contract is None:
            return 404, {"result": "error", "error": "contractNotFound", "serverTime": iso_ms(now)}
        minutes = _RESOLUTIONS[resolution]
        step = minutes * 60
        now_s = int(now.timestamp()) // step * step
        to_s = min(int(float(p["to"])), now_s) if p.get("to") else now_s
        from_s = int(float(p["from"])) if p.get("from") else to_s - (FUTURES_CHART_CAP - 1) * step
        names = [f"futures/{symbol}-{price_type}", f"futures/{symbol}"] if price_type != "trade" else [
            f"futures/{symbol}"]
        bars = self.candles.bars(names, minutes, self._anchors[symbol], from_s, to_s)
        more = len(bars) > FUTURES_CHART_CAP
        candles = [{"time": b.ts_s * 1000, "open": decimal_str(b.open), "high": decimal_str(b.high),
                    "low": decimal_str(b.low), "close": decimal_str(b.close),
                    "volume": 0 if price_type != "trade" else b.volume} for b in bars[:FUTURES_CHART_CAP]]
        return 200, {"candles": candles, "more_candles": more}

    def _futures_public(self, endpoint: str, p: dict[str, str], now: datetime) -> tuple[int, dict[str, Any]]:
        contracts = list(self.contracts.values())
        if endpoint == "instruments":
            return 200, instruments_body(contracts, now)
        if endpoint == "tickers":
            return 200, self._tickers(now)
        if endpoint == "instruments/status":
            return 200, self.statuses.body(now)
        if endpoint == "historicalfundingrates":
            symbol = p.get("symbol", "").upper()
            return 200, self.funding_history.body(symbol, self.contracts.get(symbol), now)
        if endpoint.startswith("tickers/"):
            body = self._tickers(now)
            wanted = endpoint.removeprefix("tickers/").upper()
            match = [t for t in body["tickers"] if t["symbol"].upper() == wanted]
            if not match:
                return 404, {"result": "error", "error": "contractNotFound", "serverTime": iso_ms(now)}
            return 200, {"result": "success", "ticker": match[0], "serverTime": iso_ms(now)}
        return 404, {"result": "error", "error": "notFound", "serverTime": iso_ms(now)}

    def _private(self, endpoint: str, p: dict[str, str], multi: dict[str, list[str]],
                 now: datetime) -> tuple[int, dict[str, Any]]:
        book = self.book
        self.funding.advance(book, now)
        refused = self.refusals.take(endpoint, p, now)
        if refused is not None:
            return 200, refused
        if endpoint == "cancelallordersafter":
            status = book.arm_dead_man(int(float(p.get("timeout", "0"))), now)
            return 200, {"result": "success", "status": status, "serverTime": iso_ms(now)}
        if endpoint == "cancelallorders":
            gone = book.cancel_all(now)
            return 200, {"result": "success", "serverTime": iso_ms(now), "cancelStatus": {
                "status": "cancelled", "receivedTime": iso_ms(now),
                "cancelledOrders": [{"order_id": o} for o in gone]}}
        if endpoint == "accounts":
            return 200, self.funding.apply_to_accounts(book.accounts_body(now))
        if endpoint == "openpositions":
            return 200, self.funding.apply_to_positions(book.positions_body(now))
        if endpoint == "openorders":
            answer = book.open_orders_body(now)
            book.tick_hidden()
            return 200, answer
        if endpoint == "fills":
            last = p.get("lastFillTime")
            ts = datetime.fromisoformat(last.replace("Z", "+00:00")) if last else None
            answer = book.fills_body(ts, now)
            book.tick_hidden()
            return 200, answer
        if endpoint == "orders/status":
            answer = book.orders_status_body(multi.get("orderIds", []), multi.get("cliOrdIds", []), now)
            book.tick_hidden()
            return 200, answer
        if endpoint == "sendorder":
            return 200, {"result": "success", "sendStatus": book.send_order(p, now), "serverTime": iso_ms(now)}
        if endpoint == "cancelorder":
            return 200, {"result": "success", "cancelStatus": book.cancel_order(p, now), "serverTime": iso_ms(now)}
        return 404, {"result": "error", "error": "notFound", "serverTime": iso_ms(now)}

    def _control(self, path: str, params: dict[str, list[str]]) -> tuple[int, str, str]:
        """``/_fake/{inject,mark,suspend,requests}``: drive a server run with ``python -m``."""
        p = {k: v[-1] for k, v in params.items()}
        action = path.removeprefix("/_fake/")
        if action == "inject":
            fault = self.inject(p["kind"], path=p.get("path"), method=p.get("method"),  # type: ignore[arg-type]
                                times=int(p.get("times", "1")), status=int(p.get("status", "500")),
                                delay_seconds=float(p.get("delay_seconds", "0")), body=p.get("body"))
            return 200, "application/json", json.dumps(asdict(fault))
        if action == "mark":
            self.set_mark(p["symbol"], float(p["mark"]))
        elif action == "suspend":
            self.suspend(p["symbol"], p.get("suspended", "true").lower() == "true")
        elif action == "requests":
            rows = [{"method": r.method, "path": r.path, "query": r.query, "ts": r.ts.isoformat()}
                    for r in self.requests]
            return 200, "application/json", json.dumps(rows)
        else:
            return 404, "application/json", json.dumps({"error": f"unknown control {action!r}"})
        return 200, "application/json", json.dumps({"ok": True})


def _fault_body(fault: Fault, path: str) -> tuple[str, str]:
    if fault.body is not None:
        return "application/json", fault.body
    if fault.status == 429:
        if path.startswith("/0/"):
            return "application/json", json.dumps({"error": ["EAPI:Rate limit exceeded"]})
        return "application/json", json.dumps({"result": "error", "error": "apiLimitExceeded"})
    return "text/html", f"<html><body><h1>{fault.status} Service Unavailable</h1></body></html>"


def main(argv: list[str] | None = None) -> int:
    """Run the loopback server until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m krakenbot.testing.fake_kraken",
                                     description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of recorded candles ({ALTNAME}-{minutes}m.parquet)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic candle series")
    parser.add_argument("--balance-usd", type=float, default=10_000.0, help="flex account starting collateral, USD")
    parser.add_argument("--api-key", help="the (dummy) API key requests must be signed with; default: the tests' keys")
    parser.add_argument("--api-secret", help="its base64 secret (with --api-key; never a real one)")
    parser.add_argument("--no-auth-check", action="store_true", help="accept any signature (not Kraken's way)")
    parser.add_argument("--no-rate-limits", action="store_true", help="no request budgets (not Kraken's way)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    credentials = {args.api_key: args.api_secret} if args.api_key and args.api_secret else DEFAULT_CREDENTIALS
    fake = FakeKraken(data_dir=args.data, port=args.port, seed=args.seed, balance_usd=args.balance_usd,
                      credentials=None if args.no_auth_check else credentials, rate_limits=not args.no_rate_limits)
    log.info("fake kraken listening on %s (spot and futures base URL)", fake.url)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A simulated Kraken Futures multi-collateral (flex) account, for paper trading and backtests.

It implements the same ``Exchange`` port as the Kraken adapter and passes the same contract
tests. Prices arrive through ``update_market`` (live ticks: mark prices, optional hourly funding
rates) or ``update_candles`` (a backtest's base candles, walked open -> high/low -> close); time
comes from the injected clock. Internals are float64 for speed; fills leave as exact ``Decimal``
figures rounded to the instrument's tick.

Every fill convention (the intrabar path, gaps, stops, limits, liquidation before stops, the
zero equity floor and the insurance fund) is stated once, in ``krakenbot.exchange.intrabar``.
Market and IOC orders fill in full at the mark, moved against us by ``slippage_pct``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import numpy as np

from krakenbot.config.models import FeesConfig
from krakenbot.domain import (
    AccountState,
    Clock,
    Fill,
    Instrument,
    Order,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from krakenbot.domain.errors import (
    DuplicateOrderError,
    InsufficientMarginError,
    OrderNotFoundError,
    OrderRejectedError,
)
from krakenbot.domain.frozen import new
from krakenbot.domain.instrument import DECIMAL_ZERO, MAINTENANCE_TO_INITIAL
from krakenbot.exchange.base import ExchangeCapabilities
from krakenbot.exchange.intrabar import OHLC, candle_path, reached

FUNDING_INTERVAL = timedelta(hours=1)


@dataclass(slots=True)
class _Book:
    """One symbol's position: signed contracts (exact), average entry, when it was opened. ``size_f`` is
    ``float(size)``, kept with it (``_apply`` sets both): the valuations read the float, not the Decimal. A book
    is created empty by the fill that opens it (``_apply``), at that fill's time."""

    size: Decimal
    size_f: float
    entry_price: float
    ts_opened: datetime


class PaperExchange:
    """Simulated futures venue. ``maintenance_ratio`` is maintenance margin over initial margin
    (Kraken's flex tiers hold it at one half); the initial margin rate is the instrument's tier for the
    position's notional (``Instrument.initial_margin_rate``; ``1 / max_leverage`` without tiers). Across a
    tier boundary the liquidation level is interpolated as if the rate held (it is found again next move)."""

    capabilities = ExchangeCapabilities(polls_fills=False)

    def __init__(self, *, instruments: Mapping[str, Instrument], fees: FeesConfig, clock: Clock,
                 initial_equity_usd: float, maintenance_ratio: float = MAINTENANCE_TO_INITIAL) -> None:
        if not math.isfinite(initial_equity_usd) or initial_equity_usd <= 0:
            raise ValueError(f"initial_equity_usd must be > 0, got {initial_equity_usd!r}")
        self._instruments = dict(instruments)
        self._contract_sizes = {symbol: float(i.contract_size) for symbol, i in self._instruments.items()}
        self._fees = fees
        self._clock = clock
        self._maintenance_ratio = maintenance_ratio
        self.cash_usd = float(initial_equity_usd)
        self._books: dict[str, _Book] = {}
        # Bumped whenever a mark or a position moves: with the cash (and the clock's now) it keys the figures, account
        # and positions answers, kept until one of them changes (a loop reads them several times per tick).
        self._version = 0
        self._account_cache: tuple[tuple[float, int, datetime], AccountState] | None = None
        # (cash, version) -> (equity, initial margin) at the current marks: what liquidation checks read, kept
        # current by the same rule without building an AccountState (whose time is the clock's)
        self._figures_cache: tuple[tuple[float, int], tuple[float, float]] | None = None
        self._positions_cache: tuple[int, list[Position]] | None = None  # (version, the positions then)
        # symbol -> ((size, entry, opened, mark), its Position): reports kept per symbol until that symbol moves
        self._position_reports: dict[str, tuple[tuple[float, float, datetime, float | None], Position]] = {}
        self._marks: dict[str, float] = {}
        # ((symbol, price, buy), (the price rounded to the tick against us, its float)): ``_fill_price``'s last answer
        self._last_fill_price: tuple[tuple[str, float, bool], tuple[Decimal, float]] | None = None
        self._funding_rates: dict[str, float] = {}
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}  # the resting subset of _orders
        # client id -> (symbol, the price at which it acts as a float, whether it acts on a falling mark) of each
        # resting order with a level: read along every candle's path, converted once per stored state (``_put``)
        self._levels: dict[str, tuple[str, float, bool]] = {}
        self._fills: list[Fill] = []
        self._fill_ts: list[datetime] = []  # parallel to _fills: their timestamps, bisected by fetch_fills
        self._fills_in_time_order = True  # False once a fill is older than the one before (a clock set back)
        self._next_funding: datetime | None = None
        self._trade_seq = 0
        self.fees_paid_usd = 0.0
        self.funding_paid_usd = 0.0
        self.funding_payments: list[tuple[datetime, str, float]] = []  # (ts, symbol, USD paid; < 0 received)
        self.liquidations = 0
        self.insurance_fund_usd = 0.0  # deficits the insurance fund covered (equity floored at 0)

    # -- market --------------------------------------------------------------------------
    def update_market(self, marks: Mapping[str, float], funding_rates: Mapping[str, float] | None = None) -> list[Fill]:
        """Take new mark prices (and relative funding rates per hour, fractions) at the clock's now.

        A tick is a gap (``exchange/intrabar.py``): liquidation is checked first at the new marks,
        then the resting orders they reached. Bad prices (NaN, zero, negative) are ignored: the last
        good mark stands. Returns the fills this update caused, in the order they happened.
        """
        self._set_marks(marks)
        if funding_rates:
            self._set_funding_rates(funding_rates)
        now = self._clock.now()
        self._accrue_funding(now)
        fills = self._liquidate_if_needed(now)
        fills += self._trigger_resting(now)
        self._floor_equity()
        return fills

    def update_candles(self, candles: Mapping[str, OHLC], marks: Mapping[str, float] | None = None,
                       funding_rates: Mapping[str, float] | None = None) -> list[Fill]:
        """Walk each symbol's base candle (open, high, low, close) along the intrabar path, at the
        clock's now (the candles' close time); ``marks`` move symbols without a candle (no path).

        The conventions are ``exchange/intrabar.py``'s. Funding falls due after the walk, at the
        closes. Returns the fills (stops, limits, liquidations) in the order they happened.
        """
        if marks:
            self._set_marks(marks, candles)
        if funding_rates:
            self._set_funding_rates(funding_rates)
        now = self._clock.now()
        fills: list[Fill] = []
        # A symbol with no position and no resting order cannot fill or move equity along its path: its mark
        # goes straight to the close (exact: equity and every liquidation level depend only on held symbols).
        busy: set[str] | None = None  # the symbols with a resting order, gathered when first asked
        for symbol in sorted(candles):
            book = self._books.get(symbol)  # (a book is never empty)
            if book is None:
                if busy is None:
                    busy = {order.symbol for order in self._open.values()}
                if symbol not in busy:
                    close = candles[symbol][3]  # (open, high, low, close)
                    if math.isfinite(close) and close > 0:
                        self._marks[symbol] = close
                        self._version += 1
                    continue
            path = candle_path(candles[symbol], 0 if book is None else (1 if book.size_f > 0.0 else -1))
            if path is None:
                continue
            self._marks[symbol] = path[0]  # the gap to the open: liquidation first, then what it passed
            self._version += 1
            if self._books and self._room_at(symbol, path[0]) < 0:  # ``_liquidate_if_needed``: see ``_room_at``
                fills += self._liquidate(now)
            fills += self._trigger_resting(now, symbol)
            fills += self._walk(symbol, path, now)
            self._marks[symbol] = path[-1]
            self._version += 1
        self._accrue_funding(now)
        fills += self._liquidate_if_needed(now)
        self._floor_equity()
        return fills

    def mark(self, symbol: str) -> float | None:
        return self._marks.get(symbol)

    def _set_marks(self, marks: Mapping[str, float], skip: Container[str] = ()) -> None:
        """Take the good ``marks`` (finite, > 0) of the symbols not in ``skip``."""
        for symbol, mark in marks.items():
            if symbol not in skip and math.isfinite(mark) and mark > 0:
                self._marks[symbol] = float(mark)
                self._version += 1

    def _set_funding_rates(self, rates: Mapping[str, float]) -> None:
        """Take the finite relative funding ``rates`` (per hour); the others keep their last rate."""
        for symbol, rate in rates.items():
            if math.isfinite(rate):
                self._funding_rates[symbol] = rate

    def _accrue_funding(self, now: datetime) -> None:
        if self._next_funding is None:
            self._next_funding = now.replace(minute=0, second=0, microsecond=0) + FUNDING_INTERVAL
            return
        while now >= self._next_funding:
            for symbol in self._books:
                payment = self.funding_payment(symbol, self._marks.get(symbol), self._funding_rates.get(symbol, 0.0))
                if payment is not None:
                    self._pay_funding(self._next_funding, symbol, payment)
            self._next_funding += FUNDING_INTERVAL

    @property
    def next_funding(self) -> datetime | None:
        """The next hourly funding settlement not yet paid (None before the first market update)."""
        return self._next_funding

    def funding_payment(self, symbol: str, mark: float | None, rate: float) -> float | None:
        """USD the position in ``symbol`` pays for one hour at ``mark`` and relative ``rate`` (None: nothing
        falls due: no position, a zero rate or no mark). Longs pay shorts when the rate is positive:
        payment = signed size x contract size x mark x rate, the one formula of every settlement."""
        book = self._books.get(symbol)
        if book is None or not (book.size and rate and mark):
            return None
        return book.size_f * self._contract_size(symbol) * mark * rate

    def funding_due(self, marks: Mapping[str, float], rates: Mapping[str, float]) -> list[tuple[str, float]]:
        """(symbol, USD) of one hourly settlement at ``marks`` and relative ``rates`` (a symbol missing from
        ``marks`` takes its current mark), in the order an update would pay them."""
        out = []
        for symbol in self._books:
            payment = self.funding_payment(symbol, marks.get(symbol, self._marks.get(symbol)), rates.get(symbol, 0.0))
            if payment is not None:
                out.append((symbol, payment))
        return out

    def settle_funding(self, payments: Sequence[tuple[datetime, str, float]], next_funding: datetime) -> None:
        """Pay the hourly ``payments`` (boundary, symbol, USD; from ``funding_payment``) that fell due while
        the caller did not wake this exchange, in order, and move the next settlement to ``next_funding``.

        A backtest skips the hourly wakes of an idle position (``Backtest._funding_between``): the cash
        moves by the same subtractions, in the same order, as if each hour had been an update, so the
        account is bit-identical. Only valid while nothing else moved the account since the payments'
        first boundary (the backtest settles before its next wake)."""
        for ts, symbol, payment in payments:
            self._pay_funding(ts, symbol, payment)
        self._next_funding = next_funding

    def _pay_funding(self, ts: datetime, symbol: str, payment: float) -> None:
        self.cash_usd -= payment
        self.funding_paid_usd += payment
        self.funding_payments.append((ts, symbol, payment))

    def _trigger_resting(self, now: datetime, symbol: str | None = None) -> list[Fill]:
        """Fill the resting orders (of ``symbol``, or all) that the current marks are at or beyond."""
        fills: list[Fill] = []
        levels = self._levels  # the resting orders with a level (the others never fill here), by client id
        if not levels:
            return fills
        for client_order_id in sorted(levels):
            acts = levels.get(client_order_id)  # (gone once done: only the order filled leaves while this runs)
            if acts is None:
                continue
            of, level, below = acts
            mark = self._marks.get(of)
            if mark is None or (symbol is not None and of != symbol):
                continue
            if mark <= level if below else mark >= level:
                order = self._orders[client_order_id]
                if order.order_type is _LIMIT:  # a resting limit fills at its own price once reached
                    fills += self._execute(order, level, now, maker=True)
                else:  # a stop triggered by a gap: fill at the mark (the open) that passed it, less slippage
                    fills += self._execute(order, self._slipped(mark, order.side), now, maker=False)
        return fills

    def _liquidate_if_needed(self, now: datetime) -> list[Fill]:
        if not self._books:
            return []
        equity, initial = self._figures()
        if equity >= initial * self._maintenance_ratio:  # as fetch_account's equity vs maintenance margin
            return []
        return self._liquidate(now)

    def _figures(self) -> tuple[float, float]:
        """(equity, initial margin) in USD at the current marks, kept until the cash, a mark or a position moves."""
        key = (self.cash_usd, self._version)
        cached = self._figures_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        unrealized, initial, _ = self._valuation(self._marks)  # ``figures_at``'s floats, without its exposure
        equity = self.cash_usd + unrealized
        self._figures_cache = (key, (equity, initial))
        return equity, initial

    def _liquidate(self, now: datetime) -> list[Fill]:
        """Close every position at its mark with the taker fee, cancel every resting order, floor equity."""
        self.liquidations += 1
        fills: list[Fill] = []
        for symbol in sorted(self._books):
            book = self._books[symbol]
            side = _SELL if book.size > 0 else _BUY
            fills.append(self._fill(f"liquidation-{self.liquidations}", symbol, side, abs(book.size),
                                    self._marks[symbol], now, maker=False))
        for order in list(self._open.values()):
            self._put(order.transition(_CANCELLED, ts=now))
        self._floor_equity()
        return fills

    def _walk(self, symbol: str, path: Sequence[float], now: datetime) -> list[Fill]:
        """Move ``symbol``'s mark along ``path``, in a straight line from each point to the next: fill the resting
        orders and the liquidation each segment reaches, in the order it reaches them (liquidation first at a tie)."""
        fills: list[Fill] = []
        levels = self._levels
        for start, end in pairwise(path):
            reachable = []
            for client_order_id, (of, level, below) in levels.items():
                if of == symbol and reached(level, start, end, below=below):
                    reachable.append((abs(level - start), client_order_id, level))
            here = start
            if reachable:
                for _, client_order_id, level in sorted(reachable):
                    liquidation = self._liquidation_level(symbol, here, end)
                    if liquidation is not None and abs(liquidation - start) <= abs(level - start):
                        break
                    order = self._orders[client_order_id]
                    if order.is_done:
                        continue
                    self._marks[symbol] = here = level
                    self._version += 1
                    maker = order.order_type is _LIMIT
                    fills += self._execute(order, level if maker else self._slipped(level, order.side), now,
                                           maker=maker)
            liquidation = self._liquidation_level(symbol, here, end)
            if liquidation is not None:  # at the level itself equity equals maintenance: liquidate there
                self._marks[symbol] = liquidation
                self._version += 1
                fills += self._liquidate(now)
        return fills

    def _liquidation_level(self, symbol: str, start: float, end: float) -> float | None:
        """Where on ``start -> end`` (``symbol``'s mark; the others held) equity first falls below
        maintenance margin, or None. Equity minus maintenance is linear in one mark: interpolate."""
        if symbol not in self._books:
            return None
        room = self._room_at
        at_end = room(symbol, end)
        if at_end >= 0:
            return None
        at_start = room(symbol, start)
        if at_start < 0:
            return start
        return start + (end - start) * at_start / (at_start - at_end)

    def _room_at(self, symbol: str, mark: float) -> float:
        """Equity minus maintenance margin (USD) with ``symbol`` at ``mark`` and the others at their marks:
        ``figures_at({**marks, symbol: mark})``'s arithmetic in its order, without copying the marks. At the
        current marks it is < 0 exactly when ``_liquidate_if_needed`` liquidates: the same equity and margin
        floats, and ``equity - maintenance < 0`` exactly when ``equity < maintenance`` (IEEE subtraction)."""
        unrealized = 0.0
        initial = 0.0
        marks, sizes = self._marks, self._contract_sizes
        for sym, book in self._books.items():
            at = mark if sym == symbol else marks.get(sym, book.entry_price)
            size = book.size_f
            unrealized += size * sizes[sym] * (at - book.entry_price)
            initial += _initial_margin(self._instruments[sym], abs(size) * sizes[sym] * at)
        return float(self.cash_usd + unrealized - initial * self._maintenance_ratio)

    def _floor_equity(self) -> None:
        """Equity never goes below zero: with no position left, a negative balance is the insurance fund's."""
        if not self._books and self.cash_usd < 0:
            self.insurance_fund_usd -= self.cash_usd
            self.cash_usd = 0.0

    # -- the Exchange port ---------------------------------------------------------------
    def fetch_account(self) -> AccountState:
        """The account now; kept until the cash, a mark, a position or the clock moves (then computed anew)."""
        key = (self.cash_usd, self._version, self._clock.now())
        if self._account_cache is not None and self._account_cache[0] == key:
            return self._account_cache[1]
        equity, initial = self._figures()
        account = new(AccountState)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        AccountState.__init__(account, equity_usd=equity, available_margin_usd=equity - initial,
                              initial_margin_usd=initial, maintenance_margin_usd=initial * self._maintenance_ratio,
                              ts=key[2])
        self._account_cache = (key, account)
        return account

    def _valuation(self, marks: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        """(unrealised PnL, initial margin, the last book's notional) in USD of the open positions at ``marks``
        (floats or equal-length arrays; a symbol without a mark at its entry), summed in the books' order: the
        one arithmetic ``figures_at`` and the kept figures share, so both give the same floats. The sums start at
        the first book's terms, not at ``0.0 +`` them (one numpy operation fewer per sum for arrays): the same
        figures, as ``0.0 + x`` is ``x`` but for ``x = -0.0`` (a short's PnL at its entry), which every caller
        adds to the cash, where ``cash + -0.0`` is ``cash``."""
        unrealized: Any = 0.0
        initial: Any = 0.0
        notional: Any = 0.0
        sizes = self._contract_sizes
        for n, (symbol, book) in enumerate(self._books.items()):
            mark = marks.get(symbol, book.entry_price)
            size = book.size_f
            notional = abs(size) * sizes[symbol] * mark
            pnl = size * sizes[symbol] * (mark - book.entry_price)
            margin = _initial_margin(self._instruments[symbol], notional)
            if n:
                unrealized, initial = unrealized + pnl, initial + margin
            else:
                unrealized, initial = pnl, margin
        return unrealized, initial, notional

    def figures_at(self, marks: Mapping[str, Any], cash: Any = None) -> tuple[Any, Any, Any]:
        """(equity, initial margin, exposure) in USD with the open positions valued at ``marks``.

        ``marks`` values may be floats or equal-length numpy arrays (a backtest values a stretch of
        candles at once); symbols without a mark are valued at entry. The arithmetic is the same,
        in the same order, either way, so both give bit-identical figures. ``cash`` (default: the
        account's cash now) may be an array too: the cash along a stretch that pays funding.
        """
        unrealized, initial, notional = self._valuation(marks)
        exposure: Any = 0
        sizes = self._contract_sizes
        if len(self._books) == 1:  # one position: its notional (>= 0, a new array for arrays) is the exposure
            exposure = notional
        else:
            for symbol in sorted(self._books):  # as Position.notional_usd summed over fetch_positions()
                book = self._books[symbol]
                exposure = exposure + abs(book.size_f) * sizes[symbol] * marks.get(symbol, book.entry_price)
        return (self.cash_usd if cash is None else cash) + unrealized, initial, exposure

    def fetch_positions(self) -> list[Position]:
        """The open positions, sorted by symbol (a new list; each symbol's report is kept until its book or its
        mark moves, and the list until any mark or any position moves: a report does not depend on the clock)."""
        kept = self._positions_cache
        if kept is None or kept[0] != self._version:
            books = self._books
            kept = self._positions_cache = (self._version, [self._position(symbol, books[symbol])
                                                            for symbol in sorted(books)])
        return list(kept[1])

    def _position(self, symbol: str, book: _Book) -> Position:
        """``symbol``'s position as reported: built again only when its book or its mark moved (O(changed):
        the other symbols' reports are kept, whatever moved the version)."""
        mark = self._marks.get(symbol)
        state = (book.size_f, book.entry_price, book.ts_opened, mark)
        kept = self._position_reports.get(symbol)
        if kept is not None and kept[0] == state:
            return kept[1]
        position = new(Position)
        Position.__init__(position, symbol=symbol, side=_LONG if book.size_f > 0.0 else _SHORT, size=abs(book.size_f),
                          entry_price=book.entry_price, ts_opened=book.ts_opened, mark_price=mark,
                          contract_size=self._contract_sizes[symbol])
        self._position_reports[symbol] = (state, position)
        return position

    def fetch_open_orders(self) -> list[Order]:
        return list(self._open.values())

    def create_order(self, intent: OrderIntent) -> Order:
        if intent.client_order_id in self._orders:
            raise DuplicateOrderError(f"{intent.symbol}: client order id {intent.client_order_id} already exists")
        instrument = self._instruments.get(intent.symbol)
        if instrument is None:
            raise OrderRejectedError(f"{intent.symbol}: unknown instrument")
        problem = instrument.order_problem(intent.size, intent.limit_price, intent.stop_price)
        if problem is not None:
            raise OrderRejectedError(problem)
        mark = self._marks.get(intent.symbol)
        if mark is None:
            raise OrderRejectedError(f"{intent.symbol}: no market price yet")
        now = self._clock.now()
        reducible = self._reducible(intent.symbol, intent.side)
        if intent.reduce_only and not reducible:
            raise OrderRejectedError(f"{intent.symbol}: reduce-only order would open or increase a position")
        immediate = intent.order_type in _IMMEDIATE
        if not intent.reduce_only and immediate:
            self._check_margin(intent, mark, reducible)
        exchange_order_id = f"paper-order-{len(self._orders) + 1}"
        if immediate:
            return self._fill_immediate(intent, exchange_order_id, self._slipped(mark, intent.side), now, reducible)
        order = new(Order)
        Order.__init__(order, client_order_id=intent.client_order_id, exchange_order_id=exchange_order_id,
                       symbol=intent.symbol, side=intent.side, size=intent.size, order_type=intent.order_type,
                       reduce_only=intent.reduce_only, status=_OPEN, ts_updated=now,
                       limit_price=intent.limit_price, stop_price=intent.stop_price)
        self._put(order)
        self._trigger_resting(now)
        return self._orders[order.client_order_id]

    def _fill_immediate(self, intent: OrderIntent, exchange_order_id: str, price: float, now: datetime,
                        reducible: Decimal) -> Order:
        """A market or IOC order filled at ``price`` (or not at all): submitted, then filled or cancelled within
        this call, as ``_execute`` moves a submitted order. Those passing states are never seen outside the call,
        so only the final one is built and stored: FILLED, or CANCELLED with what filled (an IOC whose limit is
        worse than ``price`` fills nothing; a reduce-only one fills at most ``reducible``, the position)."""
        qty = intent.size - _NO_SIZE  # as ``Order.remaining`` of the submitted order
        if intent.reduce_only:
            qty = min(qty, reducible)
        limit = intent.limit_price
        status, filled, avg_price = _CANCELLED, _NO_SIZE, None
        if qty > 0 and (limit is None or _marketable(intent.side, price, float(limit))):
            fill = self._fill(intent.client_order_id, intent.symbol, intent.side, qty, price, now, maker=False,
                              exchange_order_id=exchange_order_id)
            filled, avg_price = _NO_SIZE + fill.size, fill.price
            if filled == intent.size:
                status = _FILLED
        order = new(Order)
        Order.__init__(order, client_order_id=intent.client_order_id, exchange_order_id=exchange_order_id,
                       symbol=intent.symbol, side=intent.side, size=intent.size, order_type=intent.order_type,
                       reduce_only=intent.reduce_only, status=status, ts_updated=now, filled_size=filled,
                       avg_fill_price=avg_price, limit_price=intent.limit_price, stop_price=intent.stop_price)
        self._put(order)
        return order

    def cancel_order(self, client_order_id: str, symbol: str) -> Order:
        order = self._orders.get(client_order_id)
        if order is None or order.is_done:
            raise OrderNotFoundError(f"{symbol}: no open order with client id {client_order_id}")
        cancelled = order.transition(_CANCELLED, ts=self._clock.now())
        self._put(cancelled)
        return cancelled

    def fetch_order_by_client_id(self, client_order_id: str, symbol: str, *,
                                 since: datetime | None = None) -> Order | None:
        return self._orders.get(client_order_id)

    def fetch_order_history(self, client_order_id: str, symbol: str, *, since: datetime) -> Order | None:
        return self._orders.get(client_order_id)  # the paper exchange forgets no order

    def fetch_fills(self, since: datetime | None = None) -> Sequence[Fill]:
        """Fills with ``ts >= since`` (every fill when None), in the order they happened.

        O(log fills + answer): fills are appended in time order, so a bisection on their
        timestamps finds the first one. Should a clock ever go back, it falls back to a scan.
        """
        if since is None:
            return list(self._fills)
        if not self._fills_in_time_order:
            return [f for f in self._fills if f.ts >= since]
        return self._fills[bisect_left(self._fill_ts, since):]

    # -- internals -----------------------------------------------------------------------
    def _put(self, order: Order) -> None:
        """Store ``order``'s latest state; resting orders are also indexed, so per-tick work
        scales with what rests, not with every order ever placed."""
        client_order_id = order.client_order_id
        self._orders[client_order_id] = order
        if order.is_done:
            self._open.pop(client_order_id, None)
            self._levels.pop(client_order_id, None)
        else:
            self._open[client_order_id] = order
            level = _resting_level(order)
            if level is not None:
                self._levels[client_order_id] = (order.symbol, level, _below(order))

    def _contract_size(self, symbol: str) -> float:
        return self._contract_sizes[symbol]

    def _slipped(self, mark: float, side: OrderSide) -> float:
        slip = self._fees.slippage_pct
        return mark * (1 + slip) if side is _BUY else mark * (1 - slip)

    def _reducible(self, symbol: str, side: OrderSide) -> Decimal:
        """Contracts an order on ``side`` can reduce: the position's size when it is opposite (a book is never
        empty, and its float size has the exact size's sign)."""
        book = self._books.get(symbol)
        if book is not None and (book.size_f > 0) is (side is _SELL):
            return abs(book.size)
        return _NO_SIZE

    def _check_margin(self, intent: OrderIntent, mark: float, reducible: Decimal) -> None:
        """Raise ``InsufficientMarginError`` when opening ``intent`` beyond the ``reducible`` contracts would
        need more initial margin (USD) at ``mark`` than the account has available."""
        instrument = self._instruments[intent.symbol]
        added = float(max(intent.size - reducible, _NO_SIZE))
        after = abs(self._books[intent.symbol].size_f if intent.symbol in self._books else 0.0) + added
        contract_size = self._contract_sizes[intent.symbol]
        rate = instrument.initial_margin_rate(after * contract_size * mark)
        required = added * contract_size * mark * rate
        equity, initial = self._figures()
        available = equity - initial  # the account's available margin (``fetch_account``), without building it
        if required > available:
            raise InsufficientMarginError(f"{intent.symbol}: order needs {required:.2f} USD initial margin, "
                                          f"{available:.2f} USD available")

    def _execute(self, order: Order, price: float, now: datetime, *, maker: bool) -> list[Fill]:
        qty = order.remaining
        if order.reduce_only:
            qty = min(qty, self._reducible(order.symbol, order.side))
        if qty <= 0:  # a reduce-only order whose position is gone has nothing left to do
            self._put(order.transition(_CANCELLED, ts=now))
            return []
        fill = self._fill(order.client_order_id, order.symbol, order.side, qty, price, now, maker=maker,
                          exchange_order_id=order.exchange_order_id)
        filled = order.filled_size + fill.size
        status = _FILLED if filled == order.size else _PARTIALLY_FILLED
        self._put(order.transition(status, ts=now, filled_size=filled, avg_fill_price=fill.price))
        if status is _PARTIALLY_FILLED:  # reduce-only remainder with no position left
            self._put(self._orders[order.client_order_id].transition(_CANCELLED, ts=now))
        return [fill]

    def _fill(self, client_order_id: str, symbol: str, side: OrderSide, qty: Decimal, price: float,
              now: datetime, *, maker: bool, exchange_order_id: str | None = None) -> Fill:
        buy = side is _BUY
        exact_price, price_f = self._fill_price(symbol, price, buy)
        rate = self._fees.maker_fee_pct if maker else self._fees.taker_fee_pct
        qty_f = float(qty)
        fee = qty_f * self._contract_sizes[symbol] * price_f * rate
        if buy:
            self._apply(symbol, qty, qty_f, price_f, now)
        else:
            self._apply(symbol, -qty, -qty_f, price_f, now)
        self.cash_usd -= fee
        self.fees_paid_usd += fee
        self._trade_seq += 1
        fill = new(Fill)
        Fill.__init__(fill, trade_id=f"paper-{self._trade_seq}", client_order_id=client_order_id, symbol=symbol,
                      side=side, size=qty, price=exact_price, fee_usd=_fee_decimal(fee), ts=now,
                      exchange_order_id=exchange_order_id, is_maker=maker)
        if self._fill_ts and fill.ts < self._fill_ts[-1]:
            self._fills_in_time_order = False
        self._fills.append(fill)
        self._fill_ts.append(fill.ts)
        return fill

    def _fill_price(self, symbol: str, price: float, buy: bool) -> tuple[Decimal, float]:
        """``price`` (USD) rounded to ``symbol``'s tick against us (up for a buy, down for a sell), exact and as a
        float. The last answer is kept: a reversal's close and open fill on one side at one mark, so one price."""
        key = (symbol, price, buy)
        kept = self._last_fill_price
        if kept is not None and kept[0] == key:
            return kept[1]
        exact = self._instruments[symbol].round_price(price, "up" if buy else "down")
        answer = (exact, float(exact))
        self._last_fill_price = (key, answer)
        return answer

    def _apply(self, symbol: str, qty: Decimal, qty_f: float, price: float, now: datetime) -> None:
        """Move the position by signed ``qty`` contracts (``qty_f``: ``float(qty)``) at ``price``; realise PnL on
        the reduced part. The book's float size has its exact size's sign, so the signs are read from floats."""
        self._version += 1
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _Book(_NO_SIZE, 0.0, 0.0, now)
        size_f = book.size_f
        if size_f == 0.0 or (size_f > 0.0) == (qty_f > 0.0):
            total = book.size + qty
            total_f = qty_f if size_f == 0.0 else float(total)  # a new book's total equals ``qty``
            book.entry_price = (book.entry_price * abs(size_f) + price * abs(qty_f)) / abs(total_f)
            book.size, book.size_f = total, total_f
        else:
            closed = min(abs(qty_f), abs(size_f))  # float(min(|qty|, |size|)): the conversion is monotonic
            sign = 1 if size_f > 0.0 else -1
            self.cash_usd += closed * self._contract_sizes[symbol] * (price - book.entry_price) * sign
            remainder = book.size + qty
            if remainder == _NO_SIZE:
                del self._books[symbol]
                return
            remainder_f = float(remainder)
            if (remainder_f > 0.0) != (size_f > 0.0):  # flipped through zero: the rest opens anew
                book.entry_price, book.ts_opened = price, now
            book.size, book.size_f = remainder, remainder_f

    def arm_dead_man_switch(self, timeout_seconds: int) -> None:
        """Nothing to arm: paper orders live and die with this process (``capabilities.dead_man_switch`` is False)."""


_IMMEDIATE = frozenset({OrderType.MARKET, OrderType.IOC})
# The enum members read on every order, fill and report, as module constants: on Python 3.11 an enum class's
# attribute goes through its metaclass's ``__getattr__`` hook, several times the cost of a global.
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_LIMIT, _STOP = OrderType.LIMIT, OrderType.STOP
_OPEN, _FILLED, _PARTIALLY_FILLED, _CANCELLED = (OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED,
                                                 OrderStatus.CANCELLED)
_LONG, _SHORT = Side.LONG, Side.SHORT
_NO_SIZE = DECIMAL_ZERO  # no contracts


def _fee_decimal(fee: float) -> Decimal:
    """``fee`` (USD) rounded to 8 decimals, exact: ``Decimal(repr(round(fee, 8)))``, the same digits and exponent,
    from one correctly rounded conversion to decimal instead of two (``round``'s and ``repr``'s). Below 1e7 the
    8-decimal string has at most 15 significant digits, so it reads back as ``round(fee, 8)`` and no shorter string
    does (those differ by >= 1e-8, several of the float's spacings): it is what ``repr`` prints, written in full,
    less its trailing zeros (one kept after the point, as ``repr`` keeps it). Beyond that range, ``repr``."""
    if not -1e7 < fee < 1e7:
        return Decimal(repr(round(fee, 8)))
    text = f"{fee:.8f}".rstrip("0")
    return Decimal(text + "0" if text[-1] == "." else text)


def _marketable(side: OrderSide, price: float, limit: float) -> bool:
    return price <= limit if side is _BUY else price >= limit


def _resting_level(order: Order) -> float | None:
    """The price at which a resting order acts: a stop's trigger, a limit's limit."""
    if order.order_type is _STOP and order.stop_price is not None:
        return float(order.stop_price)
    if order.order_type is _LIMIT and order.limit_price is not None:
        return float(order.limit_price)
    return None


def _below(order: Order) -> bool:
    """True when the order acts on a falling mark (a sell stop, a buy limit)."""
    return (order.side is _SELL) == (order.order_type is _STOP)


def _initial_margin(instrument: Instrument, notional: Any) -> Any:
    """Initial margin (USD) of a position of ``notional`` (USD; a float or a numpy array of them) at the
    instrument's tier. Without tiers exactly ``notional / max_leverage``, as before tiers existed."""
    if not instrument.margin_tiers:
        return notional / instrument.max_leverage
    if isinstance(notional, np.ndarray):
        rates = np.full(notional.shape, instrument.margin_tiers[0].initial)
        for tier in instrument.margin_tiers[1:]:
            rates = np.where(notional >= tier.from_notional_usd, tier.initial, rates)
        return notional * rates
    return notional * instrument.initial_margin_rate(float(notional))

"""Turns decisions into orders: entries, closes, trims and protective stops.

Every order gets a client order id (instance prefix + sequence) and its intent is written
to the journal *before* it is sent. Entries are immediate-or-cancel limits capped at
``entry_slippage_cap_pct`` from the mark; closes and trims are reduce-only; every position
gets a reduce-only stop on the exchange, triggered by the mark, sized from what was filled.
An order whose answer is lost (``OutcomeUnknownError``) or whose id already exists
(``DuplicateOrderError``) is looked up by client order id, never resent; so is a refused one
(an exchange may answer the wrong error class), and so is any other exchange error after a send. A
refusal is recorded REJECTED with an ``order_refused`` event naming Kraken's status. A rate limit or bad
nonce while sending means the order was not placed: recorded REJECTED, the symbol skipped this tick.
A store that fails to record (disk full) is met with protection first: the position the exchange
reports gets its stop (``execution.protection``), then ``StoreWriteError`` halts the loop.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from krakenbot.config.models import LoopConfig
from krakenbot.domain import (
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
    STORE_WRITE_ADVICE,
    DuplicateOrderError,
    ExchangeError,
    KrakenbotError,
    OrderNotFoundError,
    OrderRejectedError,
    OutcomeUnknownError,
    StoreError,
    StoreWriteError,
    TransientError,
)
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.instrument import DECIMAL_ZERO, PriceRounding
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.timeconv import to_ms
from krakenbot.domain.trading import CLOSING_SIDE, OPENING_SIDE
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.exchange.base import Exchange
from krakenbot.execution.protection import FALLBACK_STOP_PCT, ensure_stop
from krakenbot.execution.reconcile import UNSTORED_SUFFIX

log = logging.getLogger(__name__)

MAX_GIVEN_UP = 1_000  # orders given up as never placed whose late fill would still correct them
PROTECT_ATTEMPTS = 3  # tries to protect a position on a store failure when Kraken answers a transient error

# The members the send path uses, read once: on Python 3.11 every ``OrderType.IOC`` (a class attribute of an
# Enum) goes through ``EnumType.__getattr__``'s hook and costs about a small function call, several per order.
_IOC, _STOP = OrderType.IOC, OrderType.STOP
_BUY, _SELL = OrderSide.BUY, OrderSide.SELL
_ENDED_UNFILLED = frozenset({OrderStatus.CANCELLED, OrderStatus.EXPIRED})  # ended so with nothing filled: refused
# the tick an IOC limit rounds to, by side: a buy pays at most its limit (down), a sell takes at least (up)
_LIMIT_ROUNDING: dict[OrderSide, tuple[float, PriceRounding]] = {_BUY: (1.0, "down"), _SELL: (-1.0, "up")}
# the tick a stop rounds to, by the side that closes: a sell stop (a long's) up, a buy stop (a short's) down
_STOP_ROUNDING: dict[OrderSide, PriceRounding] = {_SELL: "up", _BUY: "down"}


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionResult:
    """What happened to one request: the order as last seen (None if refused before sending),
    the fills it produced, and why nothing (or not everything) was done (``refused``).

    ``reason`` is why the order was asked for; a plain string is turned into its ``OrderReason``
    (``ValueError`` if it is none of them).
    """

    symbol: str
    reason: OrderReason | str
    order: Order | None = None
    fills: tuple[Fill, ...] = ()
    refused: str | None = None
    # ``filled_size`` and ``avg_price``, each summed over the fills once, when first asked (the loop asks each
    # several times; a close's average price is never asked). ``_avg`` holds a 1-tuple: None is an answer too
    # (nothing filled), so None alone means "not summed yet"
    _filled: Decimal | None = field(default=None, init=False, repr=False, compare=False)
    _avg: tuple[float | None] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self.reason) is not OrderReason:  # already one: no enum lookup
            object.__setattr__(self, "reason", OrderReason(self.reason))

    @property
    def filled_size(self) -> Decimal:
        filled = self._filled
        if filled is None:
            fills = self.fills
            # the common case written out: Decimal(0) + x is x (exponent and all) as ``sum`` gives it
            filled = DECIMAL_ZERO + fills[0].size if len(fills) == 1 else sum((f.size for f in fills), DECIMAL_ZERO)
            _SET_FILLED(self, filled)
        return filled

    @property
    def avg_price(self) -> float | None:
        avg = self._avg
        if avg is None:
            fills, size = self.fills, self.filled_size
            if size == DECIMAL_ZERO:
                avg = (None,)
            elif len(fills) == 1:  # as ``sum`` gives it, written out
                avg = (float((DECIMAL_ZERO + fills[0].size * fills[0].price) / size),)
            else:
                avg = (float(sum((f.size * f.price for f in fills), DECIMAL_ZERO) / size),)
            _SET_AVG(self, avg)
        return avg[0]


# the caches' slots, written through their member descriptors (what ``object.__setattr__`` ends up calling)
_SET_FILLED = ExecutionResult.__dict__["_filled"].__set__
_SET_AVG = ExecutionResult.__dict__["_avg"].__set__


class ClientOrderIds:
    """Unique client order ids: ``{prefix}-{epoch_ms}-{run}{seq}``; the prefix names the instance.

    ``run`` is random per process: a restart in the same millisecond as the crashed run's last
    order (or after the clock stepped back) must not reuse its ids.
    """

    def __init__(self, prefix: str, clock: Clock) -> None:
        if not prefix or len(prefix) > 24 or not prefix.replace("-", "").isalnum():
            raise ValueError(f"client order id prefix must be 1-24 letters, digits or '-', got {prefix!r}")
        self._prefix = prefix
        self._own = f"{prefix}-"  # what every id of ours starts with
        self._clock = clock
        self._run = secrets.token_hex(3)
        self._seq = itertools.count(1)
        # (a clock reading, the id's text up to the sequence number): the orders of one tick share its time
        self._stamp: tuple[datetime | None, str] = (None, "")
        self._disowned: OrderedDict[str, None] = OrderedDict()  # our prefix, another process's order

    @property
    def clock(self) -> Clock:
        """The clock whose time (in ms) each id carries."""
        return self._clock

    def is_ours(self, client_order_id: str) -> bool:
        """True for ids this instance (any run of it) made; others are someone else's orders."""
        return client_order_id.startswith(self._own) and client_order_id not in self._disowned

    def disown(self, client_order_id: str, *, keep: int = 10_000) -> None:
        """``client_order_id`` carries our prefix but another live process sent it: from now on it is
        someone else's (never counted, cancelled or adopted as ours). The newest ``keep`` are remembered."""
        self._disowned[client_order_id] = None
        while len(self._disowned) > keep:
            self._disowned.popitem(last=False)

    def is_this_runs(self, client_order_id: str) -> bool:
        """True for ids this process made (they carry its run token); another run's carry another."""
        return self.is_ours(client_order_id) and client_order_id.rsplit("-", 1)[-1].startswith(self._run)

    def next(self, *, unstored: bool = False, now: datetime | None = None) -> str:
        """A new id; ``unstored`` marks a protective stop placed while the store could not write
        (``UNSTORED_SUFFIX``): reconciliation adopts such a stop instead of refusing it as unknown.
        ``now``: this clock's time, when the caller just read it (else it is read here)."""
        if now is None:
            now = self._clock.now()
        stamp = self._stamp
        if stamp[0] is not now:  # a datetime is immutable: the same object is the same millisecond
            stamp = self._stamp = (now, f"{self._prefix}-{to_ms(now)}-{self._run}")
        return f"{stamp[1]}{next(self._seq)}{UNSTORED_SUFFIX if unstored else ''}"


class Executor:
    """Sends orders through an ``Exchange`` and records everything in a ``Journal``."""

    def __init__(self, *, exchange: Exchange, instruments: Mapping[str, Instrument], journal: Journal,
                 clock: Clock, ids: ClientOrderIds, loop_cfg: LoopConfig) -> None:
        self.exchange = exchange
        self.instruments = instruments
        self.journal = journal
        self.clock = clock
        self.ids = ids
        self.cfg = loop_cfg
        self.in_doubt: dict[str, OrderIntent] = {}  # client order id -> intent whose answer was lost
        # client order id -> (intent, filled so far) of orders given up as never placed: a late fill corrects them
        self.given_up: OrderedDict[str, tuple[OrderIntent, Decimal]] = OrderedDict()

    # -- commands ---------------------------------------------------------------------------
    def open(self, *, symbol: str, side: Side, size: Decimal, mark: float, reason: OrderReason | str,
             stop_distance_pct: float = FALLBACK_STOP_PCT) -> ExecutionResult:
        """Enter with an IOC limit at ``mark`` +/- the slippage cap. ``size`` in contracts (lot-rounded).
        ``stop_distance_pct`` (0.05 = 5 %) places the protective stop when the store fails after the send."""
        instrument = self.instruments[symbol]
        order_side = OPENING_SIDE[side]
        limit = _ioc_limit(instrument, order_side, mark, self.cfg.entry_slippage_cap_pct)
        return self._send(symbol=symbol, side=order_side, size=size, order_type=_IOC, limit=limit,
                          reduce_only=False, reason=reason, stop_pct=stop_distance_pct)

    def reduce(self, position: Position, *, size: Decimal | None, mark: float,
               reason: OrderReason | str) -> ExecutionResult:
        """Reduce-only IOC close of ``size`` contracts (all of the position when None).

        A trim size is rounded *up* to the lot (so the buffer it restores is reached), capped at
        the position's size. The position's stops are cancelled only once a full close has filled
        in full: a refused, unfilled or unknown close leaves the position protected.
        """
        instrument = self.instruments[position.symbol]
        full = instrument.round_size(position.size)
        amount = full if size is None else min(full, _round_up(size, instrument.lot_size))
        if amount <= DECIMAL_ZERO:
            return ExecutionResult(symbol=position.symbol, reason=reason, refused="size rounds to zero")
        side = CLOSING_SIDE[position.side]
        # an exit must get done: a wider cap than entries
        limit = _ioc_limit(instrument, side, mark, self.cfg.entry_slippage_cap_pct * 3)
        result = self._send(symbol=position.symbol, side=side, size=amount, order_type=_IOC, limit=limit,
                            reduce_only=True, reason=reason)
        if amount == full and result.filled_size == full:  # a failed close keeps its position's stop
            self.cancel_stops(position.symbol)
        return result

    def place_stop(self, *, symbol: str, side: Side, size: Decimal, stop_price: float,
                   reason: OrderReason | str) -> ExecutionResult:
        """Reduce-only stop for a ``side`` position of ``size`` contracts, triggered by the mark."""
        instrument = self.instruments[symbol]
        order_side = CLOSING_SIDE[side]
        stop = instrument.round_price(stop_price, _STOP_ROUNDING[order_side])
        return self._send(symbol=symbol, side=order_side, size=size, order_type=_STOP, stop=stop,
                          reduce_only=True, reason=reason)

    def cancel_stops(self, symbol: str) -> None:
        """Cancel our resting stops on ``symbol`` (never someone else's, such as an operator's own stop)."""
        try:  # ``_protected``, written out: every full close cancels its stops (no context manager per close)
            self._cancel_stops(symbol)
        except StoreError as exc:
            if isinstance(exc, StoreWriteError) and exc.protected:
                raise
            raise self._store_failed(symbol, exc, stop_price=None, stop_pct=FALLBACK_STOP_PCT) from exc

    def _cancel_stops(self, symbol: str) -> None:
        for order in self.exchange.fetch_open_orders():
            ours = self.ids.is_ours(order.client_order_id)
            if order.symbol == symbol and order.order_type is _STOP and ours:
                try:
                    self.journal.record_order(self.exchange.cancel_order(order.client_order_id, symbol))
                except TransientError as exc:  # answer lost: the next stop upkeep sees what is left
                    log.warning("%s: cancel of stop %s unconfirmed (%s)", symbol, order.client_order_id, exc)
                except OrderNotFoundError:
                    # A cancel racing a fill: the stop may have triggered. Record what it became, with its fills.
                    log.info("%s: stop %s already gone (triggered or cancelled)", symbol, order.client_order_id)
                    found = self.exchange.fetch_order_by_client_id(order.client_order_id, symbol)
                    if found is not None:
                        self._record_found(found)

    # -- orders whose outcome is unknown --------------------------------------------------------
    def poll_in_doubt(self, *, give_up_after: timedelta) -> list[ExecutionResult]:
        """Look up every order whose answer was lost. Found: recorded with its fills. Still unknown
        after ``give_up_after``: its fills are asked for by client id (paged back to its intent), then the
        venue's order history (placed then cancelled unfilled: CANCELLED); no trace: recorded as never placed
        (REJECTED), and the symbol trades again (a fill found later corrects it: ``late_fill``).
        Until then the symbol gets no new order (at most one live order per symbol and intent)."""
        results: list[ExecutionResult] = []
        now = self.clock.now()
        for cid, intent in sorted(self.in_doubt.items()):
            with self._protected(intent.symbol):
                self._poll_one(cid, intent, now, give_up_after, results)
        return results

    def _poll_one(self, cid: str, intent: OrderIntent, now: datetime, give_up_after: timedelta,
                  results: list[ExecutionResult]) -> None:
        try:
            found = self.exchange.fetch_order_by_client_id(cid, intent.symbol)
        except TransientError as exc:  # still in doubt: asked again next tick
            log.warning("%s: lookup of order %s failed (%s); trying again next tick", intent.symbol, cid, exc)
            return
        if found is not None:
            del self.in_doubt[cid]
            log.warning("%s: order %s found after a lost answer: %s", intent.symbol, cid, found.status.value)
            results.append(self._record_outcome(intent, found))
        elif now - intent.ts_created >= give_up_after:
            try:
                fills = [f for f in self.exchange.fetch_fills(since=intent.ts_created)
                         if f.client_order_id == cid]
            except TransientError as exc:  # never give up without having seen the fills
                log.warning("%s: fills of order %s unavailable (%s); trying again next tick",
                            intent.symbol, cid, exc)
                return
            if fills:
                del self.in_doubt[cid]
                log.warning("%s: order %s not found by lookup, yet it has fills: recorded as filled",
                            intent.symbol, cid)
                results.append(self._record_outcome(intent, _filled_order(intent, fills, now)))
                return
            try:  # no fill: the venue's order history tells cancelled unfilled from never sent
                found = self.exchange.fetch_order_history(cid, intent.symbol, since=intent.ts_created)
            except TransientError as exc:  # its budget spent, or no answer: asked again next tick
                log.warning("%s: order history of %s unavailable (%s); trying again next tick",
                            intent.symbol, cid, exc)
                return
            del self.in_doubt[cid]
            if found is not None:
                log.warning("%s: order %s found in the order history: %s, %s filled", intent.symbol, cid,
                            found.status.value, found.filled_size)
                results.append(self._record_outcome(intent, _as_sent(intent, found)))
                return
            log.warning("%s: order %s not found %ss after it was sent, nor in the order history: recorded as "
                        "never placed", intent.symbol, cid, int(give_up_after.total_seconds()))
            self.journal.record_order(Order.from_intent(intent, status=OrderStatus.REJECTED, ts=now))
            self.given_up[cid] = (intent, Decimal(0))
            while len(self.given_up) > MAX_GIVEN_UP:
                self.given_up.popitem(last=False)

    def late_fill(self, fill: Fill) -> ExecutionResult | None:
        """``fill`` (already recorded) belongs to an order given up as never placed: move the stored order
        to PARTIALLY_FILLED or FILLED. None when ``fill`` is not of such an order."""
        if fill.client_order_id not in self.given_up:
            return None
        intent, filled = self.given_up[fill.client_order_id]
        filled = min(intent.size, filled + fill.size)
        self.given_up[fill.client_order_id] = (intent, filled)
        status = OrderStatus.FILLED if filled >= intent.size else OrderStatus.PARTIALLY_FILLED
        order = replace(Order.from_intent(intent, status=status, ts=fill.ts), filled_size=filled,
                        avg_fill_price=fill.price, exchange_order_id=fill.exchange_order_id)
        log.warning("%s: order %s, given up as never placed, filled %s: recorded as %s",
                    intent.symbol, intent.client_order_id, fill.size, status.value)
        with self._protected(intent.symbol):
            self.journal.record_order(order)
        return ExecutionResult(symbol=intent.symbol, reason=intent.reason, order=order, fills=(fill,))

    # -- the one send path ----------------------------------------------------------------------
    def _send(self, *, symbol: str, side: OrderSide, size: Decimal, order_type: OrderType, reduce_only: bool,
              reason: OrderReason | str, limit: Decimal | None = None, stop: Decimal | None = None,
              stop_pct: float = FALLBACK_STOP_PCT) -> ExecutionResult:
        # a reason outside the vocabulary is a bug: refuse before recording anything
        reason = reason if type(reason) is OrderReason else OrderReason(reason)
        instrument = self.instruments[symbol]
        if not instrument.is_tradable_size(size):
            return ExecutionResult(symbol=symbol, reason=reason, refused=(
                f"size {size} below min {instrument.min_size} or off lot {instrument.lot_size}"))
        doubt = [cid for cid, i in self.in_doubt.items() if i.symbol == symbol] if self.in_doubt else None
        if doubt:
            return ExecutionResult(symbol=symbol, reason=reason,
                                   refused=f"order {doubt[0]} on {symbol} is in doubt; no new order until it is found")
        now = self.clock.now()
        # the ids' clock is this one (the loop's): its reading just taken names the order too. Built without
        # ``type.__call__``'s keyword dict (``domain.frozen``): the same ``__init__`` and checks.
        intent = new(OrderIntent)
        OrderIntent.__init__(intent, client_order_id=self.ids.next(now=now if self.ids.clock is self.clock else None),
                             symbol=symbol, side=side, size=size,
                             order_type=order_type, reduce_only=reduce_only, reason=reason, ts_created=now,
                             limit_price=limit, stop_price=stop)
        # A store failure from here on may leave what Kraken did unrecorded: protect the position first
        # (``_protected``, written out: the one send path skips a context manager per order).
        try:
            return self._submit(intent, now)
        except StoreError as exc:
            if isinstance(exc, StoreWriteError) and exc.protected:
                raise
            raise self._store_failed(symbol, exc, stop_price=stop, stop_pct=stop_pct) from exc

    def _submit(self, intent: OrderIntent, now: datetime) -> ExecutionResult:
        symbol, reason = intent.symbol, intent.reason
        self.journal.record_intent(intent)  # before sending: a crash after this is found by client id
        try:
            order = self.exchange.create_order(intent)
        except (OutcomeUnknownError, DuplicateOrderError) as exc:
            # Never resend: the order may exist. Look it up by our id (the client falls back to fills).
            log.warning("%s: order %s outcome unknown (%s); looking it up by client id",
                        symbol, intent.client_order_id, type(exc).__name__)
            return self._look_up(intent, "outcome unknown")
        except OrderRejectedError as exc:
            # An exchange may answer an error of the wrong class for an order it placed: check before
            # recording it as never placed (a refusal stays a refusal when the id is unknown).
            log.warning("%s: order %s rejected: %s", symbol, intent.client_order_id, exc)
            try:
                found = self.exchange.fetch_order_by_client_id(intent.client_order_id, symbol)
            except TransientError:
                return self._look_up(intent, f"rejected ({exc}) but not confirmed")
            if found is not None:
                log.warning("%s: order %s was refused, yet the exchange has it (%s): recorded as found",
                            symbol, intent.client_order_id, found.status.value)
                return self._record_outcome(intent, found)
            self.journal.record_order(Order.from_intent(intent, status=OrderStatus.REJECTED, ts=now))
            self.journal.record_event(JournalEvent(ts=now, kind=EventKind.ORDER_REFUSED, symbol=symbol,
                                                   detail=f"{intent.client_order_id} ({reason}): {exc}"))
            return ExecutionResult(symbol=symbol, reason=reason, refused=str(exc))
        except TransientError as exc:
            # A rate limit or a bad nonce while sending: refused before the matching engine saw it.
            log.warning("%s: order %s not placed (%s: %s)", symbol, intent.client_order_id, type(exc).__name__, exc)
            self.journal.record_order(Order.from_intent(intent, status=OrderStatus.REJECTED, ts=now))
            return ExecutionResult(symbol=symbol, reason=reason, refused=f"not placed: {type(exc).__name__}")
        except ExchangeError as exc:  # any other answer after a send says nothing sure: look the order up
            log.warning("%s: order %s answered %s: %s; looking it up by client id", symbol, intent.client_order_id,
                        type(exc).__name__, exc)
            return self._look_up(intent, f"outcome unknown ({type(exc).__name__})")
        return self._record_outcome(intent, order)

    # -- protection first when the store fails --------------------------------------------------
    @contextmanager
    def _protected(self, symbol: str, *, stop_price: Decimal | None = None,
                   stop_pct: float = FALLBACK_STOP_PCT) -> Iterator[None]:
        """A ``StoreError`` inside the block: protect ``symbol``'s position (at ``stop_price`` when given), then
        every other instrument's (the halted loop no longer keeps their stops up), then raise the
        ``StoreWriteError`` that halts the loop."""
        try:
            yield
        except StoreError as exc:
            if isinstance(exc, StoreWriteError) and exc.protected:
                raise
            raise self._store_failed(symbol, exc, stop_price=stop_price, stop_pct=stop_pct) from exc

    def _store_failed(self, symbol: str, exc: StoreError, *, stop_price: Decimal | None,
                      stop_pct: float) -> StoreWriteError:
        """The ``StoreWriteError`` that ``exc`` (a store failure not yet protected against) halts with, once
        ``protect`` has protected ``symbol``'s position first, then the others."""
        symbols = [symbol, *sorted(s for s in self.instruments if s != symbol)]
        return self.protect(symbols, exc, stop_prices={symbol: stop_price} if stop_price is not None else None,
                            stop_pct=stop_pct)

    def protect(self, symbols: Sequence[str], failure: StoreError, *,
                stop_prices: Mapping[str, Decimal] | None = None,
                stop_pct: float = FALLBACK_STOP_PCT) -> StoreWriteError:
        """The store failed (``failure``) where the exchange may have acted: give each position the exchange
        reports on ``symbols`` a stop when ours do not cover it (``execution.protection.ensure_stop``; at its
        ``stop_prices`` entry (USD), else ``stop_pct`` from its entry price), disarm the dead man's switch (a
        halted bot no longer renews it, and it would cancel those stops), and return the error to halt with."""
        log.error("%s: the store could not record (%s): protecting the positions from what Kraken reports, "
                  "then halting", ", ".join(symbols), failure)
        standing = []
        for symbol in symbols:
            for attempt in range(1, PROTECT_ATTEMPTS + 1):  # each attempt reads the position and stops afresh
                try:
                    standing.append(ensure_stop(self.exchange, self.instruments[symbol], is_ours=self.ids.is_ours,
                                                next_id=lambda: self.ids.next(unstored=True), clock=self.clock,
                                                stop_price=(stop_prices or {}).get(symbol), stop_pct=stop_pct))
                except TransientError as exc:
                    if attempt < PROTECT_ATTEMPTS:
                        log.warning("%s: protecting the position failed (%s: %s); trying again", symbol,
                                    type(exc).__name__, exc)
                        continue
                    self._unprotected(standing, symbol, exc)
                except KrakenbotError as exc:
                    self._unprotected(standing, symbol, exc)
                break
        if self.exchange.capabilities.dead_man_switch:
            try:
                self.exchange.arm_dead_man_switch(0)
                standing.append("Kraken's dead man's switch is disarmed, so the stops stay while the bot is down")
            except KrakenbotError as exc:
                standing.append(f"the dead man's switch could not be disarmed ({type(exc).__name__}): Kraken "
                                f"cancels every order, stops included, within {self.cfg.dead_man_switch_seconds:g} s")
            log.error("%s", standing[-1])
        detail = str(failure).removesuffix(f"; {STORE_WRITE_ADVICE}")
        return StoreWriteError(f"could not record what Kraken did ({detail}); {'; '.join(standing)}; "
                               f"{STORE_WRITE_ADVICE}", protected=True)

    @staticmethod
    def _unprotected(standing: list[str], symbol: str, exc: KrakenbotError) -> None:
        standing.append(f"{symbol}: the position could not be checked or protected "
                        f"({type(exc).__name__}: {exc}); check it on Kraken NOW")
        log.critical("%s", standing[-1])

    def _look_up(self, intent: OrderIntent, why: str) -> ExecutionResult:
        """The order may exist: keep it in doubt (its symbol blocked) until a lookup by client id finds it."""
        self.in_doubt[intent.client_order_id] = intent
        try:
            found = self.exchange.fetch_order_by_client_id(intent.client_order_id, intent.symbol)
        except TransientError as exc:
            log.warning("%s: lookup of order %s failed (%s); polled every tick", intent.symbol,
                        intent.client_order_id, exc)
            found = None
        if found is None:
            return ExecutionResult(symbol=intent.symbol, reason=intent.reason,
                                   refused=f"{why}; order not found yet")
        del self.in_doubt[intent.client_order_id]
        return self._record_outcome(intent, found)

    def _record_found(self, order: Order) -> None:
        """Record an order found by lookup (state and fills), without an intent in hand."""
        self.journal.record_order(order)
        if order.filled_size > 0:
            for fill in self.exchange.fetch_fills(since=None):
                if fill.client_order_id == order.client_order_id:
                    self.journal.record_fill(fill)

    def _record_outcome(self, intent: OrderIntent, order: Order) -> ExecutionResult:
        self.journal.record_order(order)
        fills: tuple[Fill, ...] = ()
        if order.filled_size > DECIMAL_ZERO:  # its fills among those since it was sent, each recorded (no generator)
            cid, mine = order.client_order_id, []
            for fill in self.exchange.fetch_fills(since=intent.ts_created):
                if fill.client_order_id == cid:
                    self.journal.record_fill(fill)
                    mine.append(fill)
            fills = tuple(mine)
        if order.status in _ENDED_UNFILLED and order.filled_size == DECIMAL_ZERO:
            return ExecutionResult(symbol=intent.symbol, reason=intent.reason, order=order,
                                   refused="not filled within the limit")
        result = new(ExecutionResult)  # every order sent ends here: without ``type.__call__``'s keyword dict
        ExecutionResult.__init__(result, symbol=intent.symbol, reason=intent.reason, order=order, fills=fills)
        return result


def _ioc_limit(instrument: Instrument, side: OrderSide, mark: float, cap_pct: float) -> Decimal:
    """The IOC limit ``cap_pct`` through ``mark``: a buy pays at most mark x (1 + cap), rounded down to
    the tick, a sell takes at least mark x (1 - cap), rounded up; never below one tick, which stays a
    valid price when the mark has fallen under it (a buy there is still marketable)."""
    sign, rounding = _LIMIT_ROUNDING[side]
    limit = instrument.round_price(mark * (1 + sign * cap_pct), rounding)
    tick = instrument.tick_size
    return tick if tick > limit else limit  # ``max(limit, tick)``: builtins.max parses its keywords on every call


def _filled_order(intent: OrderIntent, fills: Sequence[Fill], ts: datetime) -> Order:
    """The order ``intent`` stands for, as its ``fills`` show it (lookups could not find it)."""
    size = min(intent.size, sum((f.size for f in fills), Decimal(0)))
    avg = sum((f.size * f.price for f in fills), Decimal(0)) / size
    status = OrderStatus.FILLED if size >= intent.size else OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.PARTIALLY_FILLED and intent.order_type in (OrderType.IOC, OrderType.MARKET):
        status = OrderStatus.CANCELLED  # an IOC never rests: what did not fill was cancelled
    return replace(Order.from_intent(intent, status=status, ts=ts), filled_size=size, avg_fill_price=avg,
                   exchange_order_id=fills[0].exchange_order_id)


def _as_sent(intent: OrderIntent, found: Order) -> Order:
    """``found`` (an order history's view) as the order ``intent`` sent: its type, prices and size."""
    filled = min(intent.size, found.filled_size)
    status = found.status
    if status is OrderStatus.FILLED and filled < intent.size:
        status = OrderStatus.PARTIALLY_FILLED
    return replace(Order.from_intent(intent, status=status, ts=found.ts_updated), filled_size=filled,
                   avg_fill_price=found.avg_fill_price, exchange_order_id=found.exchange_order_id)


def _round_up(size: Decimal, lot: Decimal) -> Decimal:
    lots = (size / lot).to_integral_value(ROUND_CEILING)  # positional: see Instrument.round_size
    return lots * lot

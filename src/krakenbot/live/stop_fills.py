"""A triggered stop that filled only partly: record how it ended, and protect the rest in the same tick.

Kraken turns a triggered stop-market into an immediate-or-cancel order with price protection: in a gap
with a thin book part of it finds nothing within the band and is cancelled, and the rest of the
position is left without a stop. The fast tick that polls the stop's fills therefore looks at the
position at once:

- the mark is back on the right side of the stop price: the remainder gets a new stop at the same
  price (the caller runs stop upkeep, ``LiveTrading.sync_stops``, in that tick);
- the mark is through the stop price: the stop wanted us out, so the remainder is closed with a
  reduce-only IOC (``Executor.reduce``); what a thin book leaves of it is closed again every fast tick
  while the mark stays through the stop (a stop there would trigger at once), and gets its stop once
  the mark is back.

Each case is logged at WARNING (symbol, filled and remaining sizes) and journaled as ``stop_partial``.
A stop this run placed has its stored order moved to FILLED, or CANCELLED with its real filled size (an
IoC is finished); one an earlier run placed keeps its stored state (its fills are stored all the same).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import partial

from krakenbot.domain import Fill, Order, OrderSide, OrderStatus, Position
from krakenbot.domain.errors import FatalError, InvalidTransitionError, KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.execution.executor import Executor
from krakenbot.execution.position_book import PositionBook

log = logging.getLogger("krakenbot.live.trading.market")  # the market step's logger: one name to watch


class StopRemainders:
    """Settles the fills of our stops as they are polled (module docstring), and keeps closing what a
    partly filled stop left while the mark stays through its price and the book is too thin for one close:
    every fast tick, a reduce-only close again; once the mark is back, stop upkeep places its stop.
    Holds at most one entry per traded symbol."""

    def __init__(self, *, book: PositionBook, executor: Executor, journal: Journal) -> None:
        self.book = book
        self.executor = executor
        self.journal = journal
        self._exiting: dict[str, float] = {}  # symbol -> the stop price (USD) the mark went through

    def exiting(self, symbol: str) -> bool:
        """``symbol``'s remainder is being closed because the mark is through its stop (no stop for it now)."""
        return symbol in self._exiting

    def exit_through(self, position: Position, stop_price: float, mark: float, now: datetime) -> None:
        """``position`` has no stop and the mark is already through ``stop_price`` (a stop there would trigger
        at once, or be refused): close it reduce-only now, and again each fast tick while a thin book leaves
        some (stop upkeep's case after, e.g., the dead man's switch fired during a gap)."""
        self._protect(position, stop_price, mark, "no stop of ours and the mark is through its price", now)

    @property
    def pending(self) -> bool:
        """A remainder is still being closed: ``settle`` must run every fast tick."""
        return bool(self._exiting)

    def settle(self, stop_fills: Mapping[str, Sequence[Fill]], *, marks: Mapping[str, float], now: datetime) -> bool:
        """``stop_fills`` maps each stop of ours to the fills just polled for it: record each stop as it
        ended and protect what it left; then go on closing earlier remainders. True when a position needs
        stop upkeep now. One symbol's failure (logged) never keeps the others from their protection."""
        upkeep = False
        settled = set()
        for cid, fills in sorted(stop_fills.items()):
            settled.add(fills[0].symbol)
            upkeep = self._contained(fills[0].symbol, partial(self._settle, cid, fills, marks, now)) or upkeep
        for symbol in sorted(set(self._exiting) - settled):
            upkeep = self._contained(symbol, partial(self._go_on, symbol, marks, now)) or upkeep
        return upkeep

    def _contained(self, symbol: str, step: Callable[[], bool]) -> bool:
        try:
            return step()
        except FatalError:
            raise
        except KrakenbotError as exc:  # stop upkeep re-reads everything: the remainder still gets its stop
            log.warning("%s: protecting what a stop left failed (%s: %s); stop upkeep runs", symbol,
                        type(exc).__name__, exc)
            return True

    def _settle(self, cid: str, fills: Sequence[Fill], marks: Mapping[str, float], now: datetime) -> bool:
        symbol, closing = fills[0].symbol, fills[0].side
        filled = sum((f.size for f in fills), Decimal(0))
        stop = self.book.stop_order(cid)
        if stop is not None:
            _record_stop(stop, fills, self.book, self.journal)
        position = self._position(symbol, closing)
        if position is None:
            return False  # the stop took the whole position (a reversal is stop upkeep's, at the next change)
        stop_price = float(stop.stop_price) if stop is not None and stop.stop_price is not None else \
            self.book.stop_price(symbol)
        of = f" of {stop.size}" if stop is not None else ""
        what = f"stop {cid} filled {filled}{of}, the rest cancelled by Kraken"
        return self._protect(position, stop_price, marks.get(symbol), what, now)

    def _go_on(self, symbol: str, marks: Mapping[str, float], now: datetime) -> bool:
        stop_price = self._exiting.pop(symbol)
        position = self._position(symbol, None)
        if position is None:
            return False
        return self._protect(position, stop_price, marks.get(symbol), "the close of a stop's remainder "
                             "filled only partly", now)

    def _position(self, symbol: str, closing: OrderSide | None) -> Position | None:
        """``symbol``'s position, when it is still the one a ``closing`` order reduces (any side when None)."""
        position = next((p for p in self.book.positions() if p.symbol == symbol), None)
        if position is None or (closing is not None and OrderSide.to_close(position.side) is not closing):
            return None
        return position

    def _protect(self, position: Position, stop_price: float | None, mark: float | None, what: str,
                 now: datetime) -> bool:
        """A new stop (True: stop upkeep places it) while the mark is not through ``stop_price``, else a
        reduce-only close; what that close cannot fill is closed again at the next fast tick."""
        symbol = position.symbol
        rest = self.executor.instruments[symbol].round_size(position.size)
        if stop_price is None or mark is None or (mark - stop_price) * position.side.sign > 0:
            if stop_price is not None:
                self.book.set_stop_price(symbol, stop_price)
            self._event(symbol, f"{what}; {rest} remain; mark {mark} not through the stop {stop_price}: a new "
                                f"stop for the remainder", now)
            return True
        detail = f"{what}; {rest} remain; mark {mark} through the stop {stop_price}: closing the remainder"
        result = self.executor.reduce(position, size=None, mark=mark, reason=OrderReason.STOP)
        self.book.remember(result)
        self._event(symbol, f"{detail} reduce-only: closed {result.filled_size}"
                            + (f" ({result.refused})" if result.refused else ""), now)
        if result.filled_size < rest:  # a thin book: try again next tick (a stop there would trigger at once)
            self._exiting[symbol] = stop_price
        return False

    def _event(self, symbol: str, detail: str, now: datetime) -> None:
        log.warning("%s: %s", symbol, detail)
        self.journal.record_event(JournalEvent(ts=now, kind=EventKind.STOP_PARTIAL, symbol=symbol, detail=detail))


def _record_stop(stop: Order, fills: Sequence[Fill], book: PositionBook, journal: Journal) -> None:
    """Store the stop as its fills end it: FILLED, or CANCELLED with what filled (the IoC's rest is gone)."""
    size = sum((f.size for f in fills), Decimal(0))
    total = min(stop.size, stop.filled_size + size)
    paid = sum((f.size * f.price for f in fills), Decimal(0))
    before = (stop.avg_fill_price or Decimal(0)) * stop.filled_size
    avg = (before + paid) / (stop.filled_size + size)
    status = OrderStatus.FILLED if total >= stop.size else OrderStatus.CANCELLED
    ended = replace(stop, status=status, filled_size=total, avg_fill_price=avg, ts_updated=max(f.ts for f in fills))
    try:
        journal.record_order(ended)
    except InvalidTransitionError as exc:  # stored in a state ours did not know (e.g. a cancel race): leave it
        log.warning("%s: stop %s not recorded as %s (%s)", stop.symbol, stop.client_order_id, status.value, exc)
        return
    book.stop_order_changed(ended)

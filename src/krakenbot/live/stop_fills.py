"""A triggered stop that filled only partly: record how it ended, and protect the rest in the same tick.

Kraken turns a triggered stop-market into an immediate-or-cancel order with price protection: in a gap
with a thin book part of it finds nothing within the band and is cancelled, and the rest of the
position is left without a stop. The fast tick that polls the stop's fills therefore looks at the
position at once:

- the mark is back on the right side of the stop price: the remainder gets a new stop at the same
  price (the caller runs stop upkeep, ``LiveTrading.sync_stops``, in that tick);
- the mark is through the stop price: the stop wanted us out, so the remainder is closed with a
  reduce-only IOC (``Executor.reduce``); whatever that cannot fill gets stop upkeep as well.

Each case is logged at WARNING (symbol, filled and remaining sizes) and journaled as ``stop_partial``.
The stop's stored order is moved to FILLED, or CANCELLED with its real filled size (an IoC is finished).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from krakenbot.domain import Fill, Order, OrderSide, OrderStatus
from krakenbot.domain.errors import FatalError, InvalidTransitionError, KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.execution.executor import Executor
from krakenbot.execution.position_book import PositionBook

log = logging.getLogger("krakenbot.live.trading.market")  # the market step's logger: one name to watch


def settle_stop_fills(stop_fills: Mapping[str, Sequence[Fill]], *, book: PositionBook, executor: Executor,
                      journal: Journal, marks: Mapping[str, float], now: datetime) -> bool:
    """``stop_fills`` maps each stop of ours to the fills just polled for it. Record each stop as it ended
    and protect what it left (module docstring). True when a position needs stop upkeep now. One
    symbol's failure (logged) never keeps the others from their protection."""
    upkeep = False
    for cid, fills in sorted(stop_fills.items()):
        try:
            upkeep = _settle(cid, fills, book=book, executor=executor, journal=journal, marks=marks, now=now) \
                or upkeep
        except FatalError:
            raise
        except KrakenbotError as exc:  # stop upkeep re-reads everything: the remainder still gets its stop
            log.warning("%s: protecting what stop %s left failed (%s: %s); stop upkeep runs", fills[0].symbol, cid,
                        type(exc).__name__, exc)
            upkeep = True
    return upkeep


def _settle(cid: str, fills: Sequence[Fill], *, book: PositionBook, executor: Executor, journal: Journal,
            marks: Mapping[str, float], now: datetime) -> bool:
    symbol, closing = fills[0].symbol, fills[0].side
    filled = sum((f.size for f in fills), Decimal(0))
    stop = book.stop_order(cid)
    if stop is not None:
        _record_stop(stop, fills, book, journal)
    position = next((p for p in book.positions() if p.symbol == symbol), None)
    if position is None or OrderSide.to_close(position.side) is not closing:
        return False  # the stop took the whole position (a reversal is stop upkeep's, at the next change)
    stop_price = float(stop.stop_price) if stop is not None and stop.stop_price is not None else \
        book.stop_price(symbol)
    mark = marks.get(symbol)
    rest = executor.instruments[symbol].round_size(position.size)
    of = f" of {stop.size}" if stop is not None else ""
    through = stop_price is not None and mark is not None and (mark - stop_price) * position.side.sign <= 0
    if not through:
        if stop_price is not None:
            book.set_stop_price(symbol, stop_price)
        detail = (f"stop {cid} filled {filled}{of}, the rest cancelled by Kraken; {rest} remain; mark {mark} "
                  f"not through the stop {stop_price}: a new stop for the remainder")
        log.warning("%s: %s", symbol, detail)
        journal.record_event(JournalEvent(ts=now, kind=EventKind.STOP_PARTIAL, symbol=symbol, detail=detail))
        return True
    assert mark is not None
    detail = (f"stop {cid} filled {filled}{of}, the rest cancelled by Kraken; {rest} remain; mark {mark} "
              f"through the stop {stop_price}: closing the remainder reduce-only")
    log.warning("%s: %s", symbol, detail)
    result = executor.reduce(position, size=None, mark=mark, reason=OrderReason.STOP)
    book.remember(result)
    done = f"closed {result.filled_size}" + (f" ({result.refused})" if result.refused else "")
    journal.record_event(JournalEvent(ts=now, kind=EventKind.STOP_PARTIAL, symbol=symbol, detail=f"{detail}; {done}"))
    if result.filled_size < rest:
        log.warning("%s: the close of the remainder filled %s of %s: stop upkeep protects the rest", symbol,
                    result.filled_size, rest)
        return True
    return False


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

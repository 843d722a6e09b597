"""How the loop's events reach the alerts (and the order counters of the metrics), from beside the loop.

- ``OpsJournal``: a ``Journal`` that writes through to the store first, then alerts on the event kinds an
  operator must hear about (``ALERTED_EVENTS``), counts orders by outcome, and turns a ``StoreError`` of
  the store into a ``store_write_failed`` alert (the error is re-raised: the loop protects and halts).
- ``AlertLogHandler``: a ``logging.Handler`` for ``ALERT <kind>: ...`` lines (``domain.vocabulary.alert``)
  and CRITICAL records (halts).
- ``LoopWatch``: a ``TickObserver`` on the loop's thread: repeated failed ticks, stale or refused market
  data beyond ``stale_data_seconds``, orders in doubt and their outcome, the switch to reduce-only (daily
  loss, drawdown) and the daily summary at ``daily_summary_utc``.

Alert kinds are ``EventKind`` values, or the ops kinds below (``OpsAlert``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from krakenbot.domain.errors import StoreError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.trading import AccountState, Fill, Order, OrderIntent, Position
from krakenbot.domain.vocabulary import ALERT_PREFIX, EventKind
from krakenbot.ops.alerts import AlertDispatcher

if TYPE_CHECKING:
    from krakenbot.live.trading import LiveTrading

log = logging.getLogger(__name__)


class OpsAlert(StrEnum):
    """Alert kinds that are not journal events."""

    START = "start"
    STOP = "stop"
    REFUSED = "refused_to_start"
    HALT = "halt"
    STORE_WRITE_FAILED = "store_write_failed"
    TICK_FAILURES = "tick_failures"
    STALE_DATA = "stale_data"
    ORDER_IN_DOUBT = "order_in_doubt"
    ORDER_RESOLVED = "order_resolved"
    REDUCE_ONLY = "reduce_only"
    DAILY_SUMMARY = "daily_summary"


# Journal events that are alerts: everything but the auction's routine closes and sizes, and the all-clears.
ALERTED_EVENTS = frozenset(EventKind) - {
    EventKind.CLOSE_REVERSED, EventKind.CLOSE_STALE, EventKind.CLOSE_OUTRANKED, EventKind.OPEN_SHRUNK,
    EventKind.OPEN_SKIPPED, EventKind.CANDLE_RELEASED, EventKind.CLOCK_SKEW_CLEARED, EventKind.ADOPTED,
    EventKind.STORE_REPAIRED}
# ``ALERT`` log lines of kinds that are never journaled; every other alerted kind arrives through the journal
LOG_ONLY_ALERTS = frozenset({EventKind.DEAD_MAN_SWITCH_REFRESH_FAILED})


class OrderCounter(Protocol):
    """Told each order state the journal records (the metrics count them by status)."""

    def order_recorded(self, order: Order) -> None: ...


class OpsJournal:
    """The store, with alerts on the side (see the module docstring). Every write goes to ``inner`` first;
    other attributes (the store's reads) pass through."""

    def __init__(self, inner: Journal, *, alerts: AlertDispatcher | None = None,
                 orders: OrderCounter | None = None) -> None:
        self.inner = inner
        self.alerts = alerts
        self.orders = orders
        self.last_account: AccountState | None = None  # the newest equity recorded (the daily summary's)

    def __getattr__(self, name: str) -> Any:  # the store's reads (events(), fills(), ...) for the ops side
        return getattr(self.inner, name)

    def _write(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except StoreError as exc:
            if self.alerts is not None:
                self.alerts.submit(OpsAlert.STORE_WRITE_FAILED,
                                   f"the store could not record {what} ({type(exc).__name__}: {exc}); the loop "
                                   "protects every position with a stop from Kraken's view, then halts")
            raise

    def record_intent(self, intent: OrderIntent) -> None:
        self._write(f"the intent of {intent.client_order_id}", lambda: self.inner.record_intent(intent))

    def record_order(self, order: Order) -> None:
        self._write(f"order {order.client_order_id}", lambda: self.inner.record_order(order))
        if self.orders is not None:
            self.orders.order_recorded(order)

    def record_fill(self, fill: Fill) -> bool:
        return bool(self._write(f"fill {fill.trade_id}", lambda: self.inner.record_fill(fill)))

    def record_event(self, event: JournalEvent) -> None:
        self._write(f"a {event.kind} event", lambda: self.inner.record_event(event))
        if self.alerts is not None and event.kind in ALERTED_EVENTS:
            self.alerts.submit(str(event.kind), f"{event.symbol}: {event.detail}" if event.symbol != "*"
                               else event.detail, symbol=event.symbol)

    def record_equity(self, account: AccountState, exposure_usd: float) -> None:
        self._write("equity", lambda: self.inner.record_equity(account, exposure_usd))
        self.last_account = account

    def record_positions(self, ts: datetime, positions: Iterable[Position]) -> None:
        positions = list(positions)
        self._write("positions", lambda: self.inner.record_positions(ts, positions))

    def record_plan(self, ts: datetime, summary: str, details: dict[str, Any]) -> None:
        self._write("an auction plan", lambda: self.inner.record_plan(ts, summary, details))


_SYMBOL_FIRST = re.compile(r"^(PF_[A-Z0-9]+|PI_[A-Z0-9]+|FF_[A-Z0-9_]+|[A-Z0-9]+/[A-Z0-9]+): ")


class AlertLogHandler(logging.Handler):
    """Routes ``ALERT <kind>: <detail>`` log lines (WARNING or above) and CRITICAL records (a halt) to the
    dispatcher. The symbol, when the detail starts with one (``PF_XBTUSD: ...``), keys the deduplication.
    A line of a kind the journal also records (``stop_missing``, ``dead_man_switch_fired``) is left to
    ``OpsJournal``: one alert, not a suppressed repeat."""

    def __init__(self, alerts: AlertDispatcher) -> None:
        super().__init__(logging.WARNING)
        self.alerts = alerts

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if message.startswith(ALERT_PREFIX + " "):
                kind, _, detail = message[len(ALERT_PREFIX) + 1:].partition(": ")
                if kind in ALERTED_EVENTS and kind not in LOG_ONLY_ALERTS:
                    return
                found = _SYMBOL_FIRST.match(detail)
                self.alerts.submit(kind.strip(), detail, symbol=found.group(1) if found else "*")
            elif record.levelno >= logging.CRITICAL:
                self.alerts.submit(OpsAlert.HALT, message, force=True)
        except Exception:  # a log line never fails because of its alert
            self.handleError(record)


class LoopWatch:
    """A ``TickObserver`` (on the loop's thread) alerting on what no single journal event says; see the
    module docstring. ``order_status(client_order_id)`` reads an order's stored outcome (the store's
    ``order``); ``journal`` is the ``OpsJournal`` (its newest recorded equity feeds the checks)."""

    def __init__(self, loop: LiveTrading, alerts: AlertDispatcher, *, journal: OpsJournal | None = None,
                 order_status: Callable[[str], Order | None] | None = None) -> None:
        self.loop = loop
        self.alerts = alerts
        self.cfg = alerts.cfg
        self.journal = journal
        self.order_status = order_status
        self.failed_ticks = 0
        self._stale_since: dict[str, datetime] = {}
        self._stale_alerted: set[str] = set()
        self._in_doubt: dict[str, str] = {}  # client order id -> symbol
        self._reducing = False
        self._summary_day: str | None = None  # the UTC date of the last daily summary sent

    def tick_done(self, kind: str, seconds: float, ok: bool) -> None:
        now = self.loop.now()
        self._ticks(kind, ok)
        self._stale(now)
        self._orders_in_doubt()
        if kind == "slow" and ok:
            self._trading_state()
        self._daily_summary(now)

    def _ticks(self, kind: str, ok: bool) -> None:
        if ok:
            self.failed_ticks = 0
            return
        self.failed_ticks += 1
        if self.failed_ticks == self.cfg.tick_failures:
            self.alerts.submit(OpsAlert.TICK_FAILURES, f"{self.failed_ticks} ticks in a row failed (the last a {kind} "
                               "tick; see the log): entries wait, stops stay on the exchange")

    def _stale(self, now: datetime) -> None:
        stale = self.loop.stale
        for fut in list(self._stale_since):
            if fut not in stale:
                del self._stale_since[fut]
                self._stale_alerted.discard(fut)
        for fut in sorted(stale):
            since = self._stale_since.setdefault(fut, now)
            age = (now - since).total_seconds()
            if age >= self.cfg.stale_data_seconds and fut not in self._stale_alerted:
                self._stale_alerted.add(fut)
                self.alerts.submit(OpsAlert.STALE_DATA, f"{fut}: market data stale or refused for {age:.0f}s "
                                   f"(ops.alerts.stale_data_seconds {self.cfg.stale_data_seconds:g}): entries on it "
                                   "are paused", symbol=fut)

    def _orders_in_doubt(self) -> None:
        current = {cid: intent.symbol for cid, intent in self.loop.executor.in_doubt.items()}
        for cid, symbol in sorted(current.items()):
            if cid not in self._in_doubt:
                self.alerts.submit(OpsAlert.ORDER_IN_DOUBT, f"{symbol}: order {cid} sent, its answer lost: looked "
                                   "up by client id each tick, never sent again; no new order on the symbol until "
                                   "it is known", symbol=symbol)
        for cid, symbol in sorted(self._in_doubt.items()):
            if cid not in current:
                order = self.order_status(cid) if self.order_status is not None else None
                outcome = (f"{order.status.value}, {order.filled_size} filled" if order is not None
                           else "outcome not stored")
                self.alerts.submit(OpsAlert.ORDER_RESOLVED, f"{symbol}: order {cid} (was in doubt): {outcome}",
                                   symbol=symbol)
        self._in_doubt = current

    def _trading_state(self) -> None:
        marks = self.loop.auction_step.equity_marks
        account = self.journal.last_account if self.journal is not None else None
        if marks is None or account is None:
            return
        assessment = marks.assess(account.equity_usd, self.loop.cfg.risk)
        reducing = not assessment.state.allows_entries
        if reducing and not self._reducing:
            self.alerts.submit(OpsAlert.REDUCE_ONLY, f"{assessment.reason}: only closes and reductions until the "
                               "limit resets (daily loss: the next UTC day)")
        self._reducing = reducing

    def _daily_summary(self, now: datetime) -> None:
        at = self.cfg.daily_summary_utc
        if at is None:
            return
        hour, minute = (int(x) for x in at.split(":"))
        due = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        day = due.date().isoformat()
        if self._summary_day is None:  # the first tick: today's summary is due only if its time is still ahead
            self._summary_day = day if now >= due else (due - timedelta(days=1)).date().isoformat()
        if now >= due and self._summary_day != day:
            self._summary_day = day
            self.alerts.submit(OpsAlert.DAILY_SUMMARY, daily_summary(self.loop, self.journal, now), force=True)


def daily_summary(loop: LiveTrading, journal: OpsJournal | None, now: datetime) -> str:
    """Equity, the last 24 h's PnL (from the recorded equity), positions, fees and funding, as text."""
    lines = []
    account = journal.last_account if journal is not None else None
    try:
        account = loop.book.account()
        positions = loop.book.positions()
    except Exception as exc:  # the summary goes out with what is known
        positions = []
        lines.append(f"account unavailable now ({type(exc).__name__}); figures from the store")
    if account is not None:
        lines.append(f"equity {account.equity_usd:,.2f} USD, available margin {account.available_margin_usd:,.2f}, "
                     f"used {account.initial_margin_usd:,.2f}, unsettled funding "
                     f"{account.unrealized_funding_usd:+,.2f} USD")
    inner = journal.inner if journal is not None else loop.journal
    since = now - timedelta(days=1)
    rows = getattr(inner, "equity_rows", None)
    if callable(rows):
        day = [r for r in rows() if r[0] >= since]
        if day and account is not None:
            lines.append(f"PnL 24h {account.equity_usd - day[0][1]:+,.2f} USD (equity {day[0][1]:,.2f} at "
                         f"{day[0][0]:%Y-%m-%d %H:%M} UTC)")
    fills = getattr(inner, "fills", None)
    if callable(fills):
        recent = fills(since)
        lines.append(f"fills 24h: {len(recent)}, fees {float(sum(f.fee_usd for f in recent)):,.2f} USD")
    held = ", ".join(f"{p.symbol} {p.side.value} {p.size:g} ({p.notional_usd:,.0f} USD)" for p in positions)
    lines.append(f"positions: {held or 'flat'}")
    return "\n".join(lines)

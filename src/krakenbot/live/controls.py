"""Operator commands to a running loop: pause entries, resume, reduce-only, flatten one symbol or all.

Any thread (the status API, a CLI) ``submit``s a command and gets a ``Future``; the loop's own thread
applies what is queued at the start of its next tick (``LiveTrading._guarded_tick`` calls
``apply_pending``), so a command never races the loop's orders. Each applied command is journaled
(``EventKind.OPERATOR_*``, the outcome in its detail) and logged as an ``ALERT`` line; a flatten closes
reduce-only through the executor (``LiveTrading.flatten_all``), never around it.

Modes: ``active`` (normal); ``paused`` (no new entries; closes, stops, ShockGuard and the auction's
closes go on); ``reduce_only`` (the same for our loop, which only ever increases exposure by entering:
only closes and reductions). A flattened symbol takes no new entry until ``resume``, and flatten-all
also pauses, so the next auction does not reopen what the operator closed. ``resume`` lifts all of it
(ShockGuard's and the loss limits' own pauses stay theirs). The mode is kept in memory and, through the
journal, across a restart: ``restore`` replays the journaled commands (``live.wiring.restore_operator_mode``
does it at start when the status API, the way to resume, is on).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from krakenbot.domain.errors import FatalError, KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import EventKind, OrderReason, alert
from krakenbot.execution.executor import ExecutionResult
from krakenbot.execution.position_book import PositionBook

log = logging.getLogger(__name__)

MAX_PENDING = 100  # commands waiting for the next tick at most; beyond it ``submit`` refuses


class OperatorCommand(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    REDUCE_ONLY = "reduce_only"
    FLATTEN = "flatten"


class TradingMode(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    REDUCE_ONLY = "reduce_only"


_EVENT = {OperatorCommand.PAUSE: EventKind.OPERATOR_PAUSE, OperatorCommand.RESUME: EventKind.OPERATOR_RESUME,
          OperatorCommand.REDUCE_ONLY: EventKind.OPERATOR_REDUCE_ONLY,
          OperatorCommand.FLATTEN: EventKind.OPERATOR_FLATTEN}


class ControlError(KrakenbotError):
    """A command that could not be queued or was not applied in time (the loop is stopped or stuck)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClosedPosition:
    """One reduce-only close a flatten sent: contracts filled, and why not all (``refused``)."""

    symbol: str
    filled: str
    refused: str | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlOutcome:
    """What an applied command did: ``ok`` False when it was refused or failed (``detail`` says why);
    ``mode`` the loop's mode after it; ``closes`` the flatten's orders (empty for the other commands)."""

    command: OperatorCommand
    symbol: str | None
    ok: bool
    detail: str
    mode: TradingMode
    ts: datetime
    closes: tuple[ClosedPosition, ...] = field(default=())


class ControlledLoop(Protocol):
    """What the controls need of the loop (``LiveTrading``)."""

    journal: Journal
    book: PositionBook

    @property
    def futures(self) -> tuple[str, ...]: ...

    def now(self) -> datetime: ...

    def flatten_all(self, reason: OrderReason | str, *, symbol: str | None = None) -> list[ExecutionResult]: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    command: OperatorCommand
    symbol: str | None
    source: str
    future: Future[ControlOutcome]


class OperatorControls:
    """The queue between operators and the loop, and the mode it sets (see the module docstring).

    ``submit`` and ``request`` are thread-safe; ``apply_pending`` and ``close`` run on the loop's thread.
    """

    def __init__(self, *, max_pending: int = MAX_PENDING) -> None:
        self._queue: queue.Queue[_Pending] = queue.Queue(maxsize=max_pending)
        self._lock = threading.Lock()
        self._mode = TradingMode.ACTIVE
        self._flattened: frozenset[str] = frozenset()
        self._closed: str | None = None

    # -- any thread ---------------------------------------------------------------------------------
    @property
    def mode(self) -> TradingMode:
        return self._mode

    @property
    def flattened(self) -> frozenset[str]:
        """Symbols the operator flattened: no entry on them until ``resume``."""
        return self._flattened

    def submit(self, command: OperatorCommand | str, *, symbol: str | None = None,
               source: str = "operator") -> Future[ControlOutcome]:
        """Queue ``command`` (``symbol``: flatten only that one; None: all) for the loop's next tick.

        ``source`` says who asked (journaled). Raises ``ControlError`` when the loop has stopped or the
        queue is full, ``ValueError`` for an unknown command or a symbol with any command but flatten."""
        command = OperatorCommand(command)
        if symbol is not None and command is not OperatorCommand.FLATTEN:
            raise ValueError(f"{command.value} applies to the whole loop; only flatten takes a symbol")
        future: Future[ControlOutcome] = Future()
        with self._lock:
            if self._closed is not None:
                raise ControlError(f"{command.value} not queued: {self._closed}")
            try:
                self._queue.put_nowait(_Pending(command, symbol, source, future))
            except queue.Full:
                raise ControlError(f"{command.value} not queued: {self._queue.maxsize} commands already wait "
                                   "for the loop's next tick (is the loop stuck?)") from None
        return future

    def request(self, command: OperatorCommand | str, *, symbol: str | None = None, source: str = "operator",
                timeout: float = 30.0) -> ControlOutcome:
        """``submit`` and wait up to ``timeout`` seconds for the loop to apply it. Raises ``ControlError``
        when it was not applied by then (it may still be applied at the next tick)."""
        future = self.submit(command, symbol=symbol, source=source)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise ControlError(f"{OperatorCommand(command).value} queued but not applied within {timeout:.0f}s: "
                               "the loop has not started a tick since (stuck, or halted); it applies at its "
                               "next tick if one comes") from None

    def entry_refusal(self, symbol: str) -> str | None:
        """Why an entry on ``symbol`` is refused by the operator's controls now, or None."""
        if self._mode is TradingMode.PAUSED:
            return "entries paused by the operator"
        if self._mode is TradingMode.REDUCE_ONLY:
            return "reduce-only by the operator"
        if symbol in self._flattened:
            return "flattened by the operator: no entry until resume"
        return None

    def restore(self, events: Iterable[JournalEvent]) -> str | None:
        """Set the mode and the flattened symbols as the journaled operator ``events`` (oldest first) left
        them: each command makes the ``_transition`` it made when applied. Other kinds are ignored. Returns
        what was restored, or None when that is ``active``."""
        commands = {kind: command for command, kind in _EVENT.items()}
        for event in events:
            if event.kind in commands:
                self._transition(commands[EventKind(event.kind)], None if event.symbol == "*" else event.symbol)
        if self._mode is TradingMode.ACTIVE and not self._flattened:
            return None
        flattened = f"; no entry on {', '.join(sorted(self._flattened))}" if self._flattened else ""
        return f"{self._mode.value.replace('_', '-')}{flattened}"

    # -- the loop's thread ----------------------------------------------------------------------------
    def apply_pending(self, loop: ControlledLoop) -> list[ControlOutcome]:
        """Apply every queued command in order, each journaled; answers each future. A command that
        fails (anything but a ``FatalError``, which halts the loop) answers ``ok=False``; the loop goes on."""
        outcomes: list[ControlOutcome] = []
        while True:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                return outcomes
            if not pending.future.set_running_or_notify_cancel():
                continue
            try:
                outcome = self._apply(loop, pending)
            except FatalError as exc:
                pending.future.set_exception(exc)
                raise
            except Exception as exc:  # one failed command never stops the loop
                log.exception("operator %s failed; the loop goes on", pending.command.value)
                outcome = ControlOutcome(command=pending.command, symbol=pending.symbol, ok=False,
                                         detail=f"failed: {type(exc).__name__}: {exc}", mode=self._mode,
                                         ts=loop.now())
            pending.future.set_result(outcome)
            outcomes.append(outcome)

    def close(self, why: str) -> None:
        """The loop stopped: refuse new commands and answer the queued ones with ``ControlError(why)``."""
        with self._lock:
            self._closed = why
        while True:
            try:
                pending = self._queue.get_nowait()
            except queue.Empty:
                return
            if pending.future.set_running_or_notify_cancel():
                pending.future.set_exception(ControlError(f"{pending.command.value} not applied: {why}"))

    def _apply(self, loop: ControlledLoop, pending: _Pending) -> ControlOutcome:
        command, symbol, now = pending.command, pending.symbol, loop.now()
        closes: tuple[ClosedPosition, ...] = ()
        ok = True
        if command is OperatorCommand.PAUSE:
            self._transition(command, symbol)
            detail = "entries paused until resume; closes, stops and ShockGuard go on"
        elif command is OperatorCommand.REDUCE_ONLY:
            self._transition(command, symbol)
            detail = "reduce-only until resume: only closes and reductions"
        elif command is OperatorCommand.RESUME:
            was = self._mode.value + (f", flattened {sorted(self._flattened)}" if self._flattened else "")
            self._transition(command, symbol)
            detail = f"entries resume (was {was})"
        elif symbol is not None and symbol not in loop.futures:
            ok, detail = False, f"{symbol} is not traded by this loop (traded: {', '.join(loop.futures)})"
        else:
            ok, detail, closes = self._flatten(loop, symbol)
        who = symbol or "*"
        detail = f"{detail} (by {pending.source})"
        log.warning("%s", alert(_EVENT[command], f"{who}: {detail}"))
        loop.journal.record_event(JournalEvent(ts=now, kind=_EVENT[command], symbol=who, detail=detail))
        return ControlOutcome(command=command, symbol=symbol, ok=ok, detail=detail, mode=self._mode, ts=now,
                              closes=closes)

    def _transition(self, command: OperatorCommand, symbol: str | None) -> None:
        """The mode change ``command`` makes, the same applied now or replayed from the journal (``restore``).
        A flatten-all pauses an active loop and a flattened symbol takes no entry, so the next auction does
        not reopen what the operator closed; a resume lifts everything."""
        if command is OperatorCommand.PAUSE:
            self._mode = TradingMode.PAUSED
        elif command is OperatorCommand.REDUCE_ONLY:
            self._mode = TradingMode.REDUCE_ONLY
        elif command is OperatorCommand.RESUME:
            self._mode, self._flattened = TradingMode.ACTIVE, frozenset()
        elif symbol is not None:
            self._flattened = self._flattened | {symbol}
        elif self._mode is TradingMode.ACTIVE:
            self._mode = TradingMode.PAUSED

    def _flatten(self, loop: ControlledLoop, symbol: str | None) -> tuple[bool, str, tuple[ClosedPosition, ...]]:
        self._transition(OperatorCommand.FLATTEN, symbol)
        loop.book.begin_tick()  # the positions as the exchange holds them now, not the last tick's
        results = loop.flatten_all(OrderReason.OPERATOR_STOP, symbol=symbol)
        closes = tuple(_closed(r) for r in results)
        ok = all(c.refused is None for c in closes)
        if not closes:
            detail = f"nothing to close: no position on {symbol}" if symbol else "nothing to close: flat"
        else:
            detail = "; ".join(f"{c.symbol} filled {c.filled}" + (f" ({c.refused})" if c.refused else "")
                               for c in closes)
        if symbol is None:
            detail += f"; entries {self._mode.value.replace('_', '-')} until resume"
        else:
            detail += f"; no entry on {symbol} until resume"
        return ok, detail, closes


def _closed(result: ExecutionResult) -> ClosedPosition:
    refused = result.refused
    order = result.order
    if refused is None and order is not None and order.filled_size < order.size:
        refused = f"filled {order.filled_size} of {order.size} ({order.status.value})"
    return ClosedPosition(symbol=result.symbol, filled=str(result.filled_size), refused=refused,
                          client_order_id=order.client_order_id if order is not None else None)


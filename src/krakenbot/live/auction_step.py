"""The slow step: signals -> plan -> closes -> refreshed account -> opens that spend the refreshed budget.

The auction plans with the account as it stood before the closes (counting the margin each close
should free). The closes run first (reduce-only); then the account is read again and logged as
``Auction: Margin refreshed after closes``; then the opens run in plan order, each through the
loop's ``_handle_signal`` with the budget that is left (``available_margin_override``), the size
it may take (``notional_override``: the auction's, or shrunk to what the budget pays for) and
``skip_margin_check=True`` (skip the stale pre-close account, never the budget). See
``krakenbot.portfolio.budget`` for the shrink-or-skip rules.
One symbol's failure never stops the others: a close or open that raises (anything but a
``FatalError``, store failures included) is logged and counted as refused, and the tick goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from krakenbot.config.models import AppConfig
from krakenbot.domain import AccountState, Instrument, Signal
from krakenbot.domain.errors import FatalError
from krakenbot.domain.frozen import fast_init, new
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.timeconv import from_ns
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.execution.executor import ExecutionResult, Executor
from krakenbot.execution.position_book import PositionBook
from krakenbot.live.market_step import MarketState
from krakenbot.portfolio.auction import AuctionAllocator
from krakenbot.portfolio.budget import OpenBudget, OpenFit
from krakenbot.portfolio.plan import AllocationPlan
from krakenbot.risk.shock_guard import ShockGuard
from krakenbot.risk.trading_state import EquityMarks

log = logging.getLogger("krakenbot.live.trading.auction")  # a child of the loop's logger: one name to watch

# The loop's ``_handle_signal(signal, available_margin_override, notional_override, skip_margin_check, *, account)``
OpenSignal = Callable[..., ExecutionResult]


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionReport:
    """What one auction did: the plan, the refreshed account and each execution."""

    plan: AllocationPlan
    refreshed: AccountState | None
    results: tuple[ExecutionResult, ...]


class AuctionStep:
    """One slow tick's auction over the position book (see the module docstring). Keeps the newest
    signal of each traded contract and the equity marks of the loss limits (both bounded)."""

    def __init__(self, cfg: AppConfig, *, auction: AuctionAllocator, guard: ShockGuard, book: PositionBook,
                 executor: Executor, journal: Journal, state: MarketState, instruments: Mapping[str, Instrument],
                 symbol_map: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.auction = auction
        self.guard = guard
        self.book = book
        self.executor = executor
        self.journal = journal
        self.state = state
        self.instruments = instruments
        self.symbol_map = symbol_map
        self.equity_marks: EquityMarks | None = None
        self.latest_signals: dict[str, Signal] = {}  # futures symbol -> newest signal (stale and reversed closes)

    # -- what the loop learns between auctions (a backtest's idle bars) ------------------------------
    def note_equity(self, ts_ns: np.ndarray, equity_usd: np.ndarray) -> None:
        """Move the loss limits' day-start and peak marks along an equity path: ``equity_usd[k]`` (USD) at
        ``ts_ns[k]`` (UTC nanoseconds, oldest first), as ``_mark_equity`` at each would (``EquityMarks.along``)."""
        if not len(ts_ns):
            return
        if self.equity_marks is None:
            self._mark_equity(from_ns(int(ts_ns[0])), float(equity_usd[0]))
            ts_ns, equity_usd = ts_ns[1:], equity_usd[1:]
        assert self.equity_marks is not None
        self.equity_marks = self.equity_marks.along(ts_ns, equity_usd)

    def _mark_equity(self, ts: datetime, equity_usd: float) -> EquityMarks:
        marks = (EquityMarks.start(equity_usd, ts) if self.equity_marks is None
                 else self.equity_marks.update(equity_usd, ts))
        self.equity_marks = marks
        return marks

    def note_signals(self, signals: Iterable[Signal]) -> None:
        """Remember ``signals`` as the newest word of the strategy on their contracts."""
        for sig in signals:
            if sig.symbol in self.symbol_map:
                self.latest_signals[self.symbol_map[sig.symbol]] = sig

    # -- the auction ---------------------------------------------------------------------------------
    def run(self, signals: Sequence[Signal], now: datetime, open_signal: OpenSignal) -> AuctionReport:
        """Plan, close, refresh, open. ``open_signal`` is the loop's ``_handle_signal``."""
        account = self.book.account()
        positions = self.book.positions()
        marks = self._mark_equity(now, account.equity_usd)
        entries_allowed = marks.allows_entries(account.equity_usd, self.cfg.risk)
        # Size candidates without the positions their signals reverse: those close before any open.
        reversing = {self.symbol_map[s.symbol]: s.side for s in signals if s.symbol in self.symbol_map}
        staying = [p for p in positions if reversing.get(p.symbol, p.side) is p.side]
        # The loss limits were just assessed on this account at ``now``: when they allow entries, the sizing
        # need not assess them again (it would find the same); else it refuses each signal with their reason.
        candidates, refusals = self.auction.candidates_from_signals(
            signals, self.symbol_map, account, now, instruments=self.instruments, positions=staying,
            equity_marks=None if entries_allowed else self.equity_marks)
        info = log.isEnabledFor(logging.INFO)  # asked once per auction: log arguments are built only when shown
        if info:
            log.info("Auction: %d signals, %d candidates, %d refused, %d positions held, state %s",
                     len(signals), len(candidates), len(refusals), len(positions),
                     marks.assess(account.equity_usd, self.cfg.risk).state.value)
        self.note_signals(signals)  # the strategy says nothing when a trend fades: remember its last word
        skewed = self.state.clock_skewed  # the local clock is off: no entries, no stale-signal closes
        paused = self.guard.paused_symbols(now) | self.state.entries_paused()
        plan = self.auction.plan(candidates, positions, account, now,  # ``plan`` copies what it keeps of these
                                 paused_symbols=paused.union(self.state.futures) if skewed else paused,
                                 signals_by_symbol=self.latest_signals,
                                 entries_allowed=entries_allowed, stale_closes_allowed=not skewed)
        results, unclosed = self._close(plan, now, info=info)
        if not plan.opens:
            return _report(plan, None, results)
        refreshed = self.book.account()  # the closes changed it: a fresh read
        if info:
            log.info("Auction: Margin refreshed after closes: available %.2f USD (was %.2f), equity %.2f USD, "
                     "initial margin %.2f USD, %d closes done, %d opens to go", refreshed.available_margin_usd,
                     account.available_margin_usd, refreshed.equity_usd, refreshed.initial_margin_usd,
                     len(plan.closes), len(plan.opens))
        budget = OpenBudget.refreshed(refreshed, len(self.book.positions()), self.cfg.risk,
                                      price_cap_pct=self.cfg.loop.entry_slippage_cap_pct,
                                      taker_fee_pct=self.cfg.fees.taker_fee_pct)
        last = len(plan.opens) - 1
        for k, cand in enumerate(plan.opens):
            fut = cand.futures_symbol
            fit = (OpenFit(skip="the close of the position it reverses did not fill") if fut in unclosed
                   else budget.fit(cand))
            if fit.skip is not None:
                results.append(ExecutionResult(symbol=fut, reason=OrderReason.AUCTION_OPEN, refused=fit.skip))
                self._record(now, EventKind.OPEN_SKIPPED, fut, fit.skip)
                continue
            if fit.shrunk:
                self._record(now, EventKind.OPEN_SHRUNK, fut,
                             f"notional {cand.position_notional:,.2f} -> {fit.notional_usd:,.2f} USD: margin "
                             f"{cand.margin_required:,.2f} USD planned, {budget.margin_usd:,.2f} USD left")
            try:
                result = open_signal(cand.signal, budget.margin_usd, fit.notional_usd, True, account=refreshed)
            except FatalError:
                raise
            except Exception as exc:
                result = _failed(fut, OrderReason.AUCTION_OPEN, exc)
            results.append(result)
            if result.refused and fit.shrunk:
                self._record(now, EventKind.OPEN_SKIPPED, fut, f"shrunk open refused: {result.refused}")
            filled, avg_price = result.filled_size, result.avg_price  # summed over the fills once
            if k < last and filled > 0 and avg_price is not None:  # the budget after the last open is not read
                inst = self.instruments[fut]
                spent = float(filled) * float(inst.contract_size) * avg_price / cand.leverage
                fees_usd: float = 0  # summed from 0 in fill order, as ``sum`` would (no generator)
                for fill in result.fills:
                    fees_usd += float(fill.fee_usd)
                budget = budget.spend(spent + fees_usd)
            if info:
                log.info("Auction: open %s %s notional %.2f USD -> filled %s @ %s%s", fut, cand.side.value,
                         fit.notional_usd, filled, avg_price,
                         f" ({result.refused})" if result.refused else "")
        return _report(plan, refreshed, results)

    def _close(self, plan: AllocationPlan, now: datetime, *, info: bool) -> tuple[list[ExecutionResult], set[str]]:
        """Run the plan's closes (reduce-only); returns the results and the symbols not closed in full.
        ``info``: each close is logged at INFO."""
        results: list[ExecutionResult] = []
        unclosed: set[str] = set()  # a reversal whose close did not fill in full: no open on that symbol
        for close in plan.closes:
            reason, kind = _close_words(str(close.reason))  # its str: the enum's ``.value`` costs a Python call
            symbol, position = close.symbol, close.position
            try:
                result = self.executor.reduce(position, size=None, mark=self.state.marks.get(symbol, position.price),
                                              reason=reason)
            except FatalError:
                raise
            except Exception as exc:
                result = _failed(symbol, reason, exc)
            self.book.remember(result)
            results.append(result)
            filled = result.filled_size  # summed once
            if filled < self.instruments[symbol].round_size(position.size):
                unclosed.add(symbol)
            else:
                self.book.forget(symbol)
            self._record(now, kind, symbol,
                         f"{close.detail}; filled {filled}")
            if info:
                log.info("Auction: close %s (%s) -> filled %s%s", symbol, close.reason.value, filled,
                         f" ({result.refused})" if result.refused else "")
        return results, unclosed

    def _record(self, now: datetime, kind: EventKind, symbol: str, detail: str) -> None:
        event = new(JournalEvent)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        JournalEvent.__init__(event, ts=now, kind=kind, symbol=symbol, detail=detail)
        self.journal.record_event(event)
        if kind in _WARNED_KINDS:
            log.warning("%s: %s: %s", symbol, kind.value.replace("_", " "), detail)


_WARNED_KINDS = (EventKind.OPEN_SHRUNK, EventKind.OPEN_SKIPPED)  # journaled and logged as warnings
_CLOSE_WORDS: dict[str, tuple[OrderReason, EventKind]] = {}


def _close_words(close_reason: str) -> tuple[OrderReason, EventKind]:
    """The order reason and the journal event of an auction close planned for ``close_reason``, looked up once."""
    words = _CLOSE_WORDS.get(close_reason)
    if words is None:
        words = _CLOSE_WORDS[close_reason] = (OrderReason.auction_close(close_reason),
                                              EventKind.auction_close(close_reason))
    return words


def _report(plan: AllocationPlan, refreshed: AccountState | None, results: list[ExecutionResult]) -> AuctionReport:
    """The auction's report, built without ``type.__call__``'s keyword dict (``domain.frozen``)."""
    report = new(AuctionReport)
    AuctionReport.__init__(report, plan=plan, refreshed=refreshed, results=tuple(results))
    return report


def _failed(symbol: str, reason: OrderReason, exc: Exception) -> ExecutionResult:
    """The refused result of a close or open that raised ``exc`` (anything but a ``FatalError``, which halts; a
    store failure is one): one symbol's failed order never stops the other symbols' closes, opens and stops.
    Called in the ``except`` block: the log carries the traceback; the symbol is skipped this tick."""
    log.exception("%s: %s failed (%s: %s); the other symbols go on", symbol, reason.value, type(exc).__name__, exc)
    return ExecutionResult(symbol=symbol, reason=reason, refused=f"failed: {type(exc).__name__}: {exc}")

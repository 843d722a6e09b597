"""What the status API shows of a running loop: a snapshot taken on the loop's thread after each tick.

``StatusBoard`` is a ``TickObserver`` (``LiveTrading.tick_observers``): after each tick of ``run`` it reads
the loop's views (account, positions valued at the latest marks with their liquidation buffers, why
entries pause per contract: ShockGuard, stale data, market status, clock skew, the operator) and replaces
its ``StatusSnapshot`` in one assignment, so the API's threads read a consistent, immutable picture and
never touch the loop's objects. Recent fills, events, open orders and the last auction plan are the
store's (``StoreReader``), read on the API's thread.

Conventions: money in USD; ``*_pct`` are fractions (0.05 = 5 %); ``ts`` fields UTC. A position's
``liquidation_buffer_pct`` is ShockGuard's (``risk.shock_exposure.liquidation_buffer_pct``): Kraken's
liquidation price when it reports one, else the cross-margin estimate. ``last_good_tick`` is wall-clock
time (the board's clock); readiness is its age against ``ops.api.ready_after_seconds``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from krakenbot.domain import AccountState, Clock, Fill, Order, Position, WallClock
from krakenbot.domain.journal import JournalEvent
from krakenbot.risk.shock_detect import MARKETWIDE_SYMBOL
from krakenbot.risk.shock_exposure import liquidation_buffer_pct
from krakenbot.store.rows import AuctionPlanRecord

if TYPE_CHECKING:
    from krakenbot.live.trading import LiveTrading

log = logging.getLogger(__name__)

ACCOUNT_REFRESH_SECONDS = 30.0  # when no tick read the account, the board reads it at most this often


class StoreReader(Protocol):
    """The store reads the API serves (``SqlStore`` has them)."""

    def fills(self, since: datetime | None = None) -> list[Fill]: ...

    def recent_events(self, limit: int = 100) -> list[JournalEvent]: ...

    def open_orders(self) -> list[Order]: ...

    def latest_plan(self) -> AuctionPlanRecord | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    """The account's margin picture and the loss limits' reference points (USD; ``*_pct`` fractions)."""

    ts: datetime
    equity_usd: float
    available_margin_usd: float
    initial_margin_usd: float
    maintenance_margin_usd: float
    unrealized_funding_usd: float
    peak_equity_usd: float
    drawdown_pct: float
    day_start_equity_usd: float | None
    daily_loss_pct: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionView:
    """One open position at the latest mark; ``side`` long/short, ``size`` contracts."""

    symbol: str
    side: str
    size: float
    entry_price: float
    mark_price: float
    notional_usd: float
    unrealized_pnl_usd: float
    liquidation_price: float | None
    liquidation_buffer_pct: float | None
    buffer_source: str | None
    stop_price: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractView:
    """A traded contract: its latest good mark and why entries on it pause now (empty: they may go)."""

    symbol: str
    mark: float | None
    shock_paused: bool
    entry_pauses: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusSnapshot:
    """The loop as its last tick left it (see the module docstring)."""

    ts: datetime | None  # the loop's time (Kraken's) at the snapshot; None before the first tick
    mode: str  # the operator's: active, paused, reduce_only
    flattened: tuple[str, ...]  # symbols the operator flattened (no entry until resume)
    account: AccountView | None
    positions: tuple[PositionView, ...]
    contracts: tuple[ContractView, ...]
    shock_paused_until: datetime | None
    marketwide_shock: bool
    clock_skewed: bool
    orders_in_doubt: int
    ticks: int = 0
    failed_ticks: int = 0
    consecutive_failures: int = 0
    last_tick_ok: bool | None = None
    last_good_tick: datetime | None = None  # wall clock
    notes: tuple[str, ...] = field(default=())  # what could not be read at the last snapshot

    @property
    def exposure_usd(self) -> float:
        return sum(p.notional_usd for p in self.positions)


def empty_snapshot(mode: str = "active") -> StatusSnapshot:
    return StatusSnapshot(ts=None, mode=mode, flattened=(), account=None, positions=(), contracts=(),
                          shock_paused_until=None, marketwide_shock=False, clock_skewed=False, orders_in_doubt=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Readiness:
    """Liveness is the process answering; readiness: a good tick within ``limit_seconds``."""

    ready: bool
    last_good_tick: datetime | None
    age_seconds: float | None
    limit_seconds: float
    consecutive_failures: int


class StatusBoard:
    """A ``TickObserver`` keeping the latest ``StatusSnapshot`` of ``loop`` (see the module docstring)."""

    def __init__(self, loop: LiveTrading, *, clock: Clock | None = None,
                 account_refresh_seconds: float = ACCOUNT_REFRESH_SECONDS) -> None:
        self._loop = loop
        self.clock = clock or WallClock()  # wall clock: last good tick, readiness
        self._account_refresh = account_refresh_seconds
        self._account: AccountState | None = None
        self._account_read: datetime | None = None  # wall clock of the board's own last account read
        self._snapshot = empty_snapshot(loop.controls.mode.value)
        self._ticks = self._failed = self._consecutive = 0
        self._last_good: datetime | None = None

    def snapshot(self) -> StatusSnapshot:
        """The latest snapshot (immutable; any thread)."""
        return self._snapshot

    def readiness(self, limit_seconds: float) -> Readiness:
        """Ready when the last good tick is at most ``limit_seconds`` old (wall clock)."""
        snap = self._snapshot
        age = None if snap.last_good_tick is None else (self.clock.now() - snap.last_good_tick).total_seconds()
        return Readiness(ready=age is not None and age <= limit_seconds, last_good_tick=snap.last_good_tick,
                         age_seconds=age, limit_seconds=limit_seconds, consecutive_failures=snap.consecutive_failures)

    # -- the loop's thread --------------------------------------------------------------------------
    def tick_done(self, kind: str, seconds: float, ok: bool) -> None:
        """After each tick (the loop's thread): count it and take a new snapshot."""
        wall = self.clock.now()
        self._ticks += 1
        if ok:
            self._consecutive = 0
            self._last_good = wall
        else:
            self._failed += 1
            self._consecutive += 1
        self._snapshot = self._take(wall, ok)

    def _take(self, wall: datetime, ok: bool) -> StatusSnapshot:
        loop, notes = self._loop, []
        now = loop.now()
        try:
            self._account = self._read_account(wall)
        except Exception as exc:  # the exchange may be down: the last account read stands
            notes.append(f"account: {type(exc).__name__}: {exc}")
        try:
            positions: Sequence[Position] = loop.book.positions()
        except Exception as exc:
            notes.append(f"positions: {type(exc).__name__}: {exc}")
            positions = ()
        shocked = loop.guard.paused_symbols(now)
        state = loop.market_step.state
        contracts = tuple(ContractView(
            symbol=sym, mark=loop.marks.get(sym), shock_paused=sym in shocked or MARKETWIDE_SYMBOL in shocked,
            entry_pauses=self._pauses(sym, shocked)) for sym in loop.futures)
        return StatusSnapshot(
            ts=now, mode=loop.controls.mode.value, flattened=tuple(sorted(loop.controls.flattened)),
            account=self._account_view(), positions=tuple(self._position_view(p) for p in positions),
            contracts=contracts, shock_paused_until=loop.guard.paused_until(now),
            marketwide_shock=MARKETWIDE_SYMBOL in shocked, clock_skewed=state.clock_skewed,
            orders_in_doubt=len(loop.executor.in_doubt), ticks=self._ticks, failed_ticks=self._failed,
            consecutive_failures=self._consecutive, last_tick_ok=ok, last_good_tick=self._last_good,
            notes=tuple(notes))

    def _read_account(self, wall: datetime) -> AccountState | None:
        book = self._loop.book
        if book.last_account is not None:  # this tick read it: free
            return book.last_account
        due = self._account_read is None or (wall - self._account_read).total_seconds() >= self._account_refresh
        if not due:
            return self._account
        self._account_read = wall
        return book.account()

    def _pauses(self, symbol: str, shocked: frozenset[str]) -> tuple[str, ...]:
        loop, state = self._loop, self._loop.market_step.state
        why = []
        if symbol in shocked or MARKETWIDE_SYMBOL in shocked:
            why.append("ShockGuard" + (" (market-wide)" if MARKETWIDE_SYMBOL in shocked else ""))
        if symbol in state.stale:
            why.append("stale or refused market data")
        if symbol in state.market_pauses:
            why.append(state.market_pauses[symbol])
        if state.clock_skewed:
            why.append("clock skew")
        if loop.account_watch.entries_paused:
            why.append("another process trades this account")
        operator = loop.controls.entry_refusal(symbol)
        if operator is not None:
            why.append(operator)
        return tuple(why)

    def _account_view(self) -> AccountView | None:
        acct = self._account
        if acct is None:
            return None
        marks = self._loop.auction_step.equity_marks
        peak = max(acct.equity_usd, marks.peak_equity_usd if marks is not None else acct.equity_usd)
        day_start = marks.day_start_equity_usd if marks is not None else None
        return AccountView(
            ts=acct.ts, equity_usd=acct.equity_usd, available_margin_usd=acct.available_margin_usd,
            initial_margin_usd=acct.initial_margin_usd, maintenance_margin_usd=acct.maintenance_margin_usd,
            unrealized_funding_usd=acct.unrealized_funding_usd, peak_equity_usd=peak,
            drawdown_pct=max(0.0, (peak - acct.equity_usd) / peak) if peak > 0 else 0.0,
            day_start_equity_usd=day_start,
            daily_loss_pct=(max(0.0, (day_start - acct.equity_usd) / day_start) if day_start else None))

    def _position_view(self, pos: Position) -> PositionView:
        loop, acct = self._loop, self._account
        mark = pos.price
        buffer: float | None = None
        source: str | None = None
        inst = loop.instruments.get(pos.symbol)
        if acct is not None and inst is not None and pos.notional_usd > 0:
            try:
                buffer, source = liquidation_buffer_pct(
                    side=pos.side, mark=mark, notional_usd=pos.notional_usd, equity_usd=acct.equity_usd,
                    maintenance_margin_usd=acct.maintenance_margin_usd,
                    maintenance_rate=inst.maintenance_margin_rate(pos.notional_usd),
                    liquidation_price=pos.liquidation_price)
            except ValueError:
                buffer, source = None, None
        pnl = pos.side.sign * (mark - pos.entry_price) * pos.size * pos.contract_size
        return PositionView(symbol=pos.symbol, side=pos.side.value, size=pos.size, entry_price=pos.entry_price,
                            mark_price=mark, notional_usd=pos.notional_usd, unrealized_pnl_usd=pnl,
                            liquidation_price=pos.liquidation_price,
                            liquidation_buffer_pct=buffer if buffer is None or math.isfinite(buffer) else None,
                            buffer_source=source, stop_price=loop.book.stop_price(pos.symbol))

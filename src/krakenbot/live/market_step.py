"""The fast step: tickers -> checks -> ShockGuard -> exposure reduction, and the fills that happen unasked.

Runs every few seconds live and every base candle in a backtest. One bad contract pauses entries
on that contract only; a failed ticker read pauses them all for the tick. Exposure reduction
(ShockGuard's CLOSE/TRIM) runs at most once per action and tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from krakenbot.config.models import AppConfig
from krakenbot.data.ticker_checks import check_ticker
from krakenbot.domain import Fill, Instrument, Ticker
from krakenbot.domain.errors import FatalError, KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.execution.executor import Executor
from krakenbot.execution.position_book import PositionBook
from krakenbot.live.account_watch import AccountWatch
from krakenbot.live.ports import InstrumentStatusFeed, MarketFeed, MarketListener, ShockFeed
from krakenbot.live.stop_fills import StopRemainders
from krakenbot.risk.shock_exposure import ShockActionKind
from krakenbot.risk.shock_guard import ShockGuard

log = logging.getLogger("krakenbot.live.trading.market")  # a child of the loop's logger: one name to watch
T = TypeVar("T")
_Marks = tuple[dict[str, float], dict[str, float], dict[str, float]]  # marks, index prices, funding


class TickStepsFailedError(RuntimeError):
    """Raised at the end of a fast tick whose steps all ran but some failed (named): the loop logs the
    tick as failed and runs no auction on it."""

    def __init__(self, steps: Sequence[str]) -> None:
        super().__init__(f"tick steps failed: {', '.join(steps)}")
        self.steps = tuple(steps)


def run_step(name: str, step: Callable[..., T], default: T, failed: list[str], *args: Any) -> T:
    """Run one step of a tick, ``step(*args)``; an exception other than ``FatalError`` is logged with the
    step's name, the name is appended to ``failed`` and ``default`` is returned, so the tick's other steps
    (stops, fills, ShockGuard) still run."""
    try:
        return step(*args)
    except FatalError:
        raise
    except Exception as exc:  # one failing step never takes the rest of the tick with it
        log.exception("tick step %s failed (%s: %s); the rest of the tick runs", name, type(exc).__name__, exc)
        failed.append(name)
        return default

FILLS_POLL_LOOKBACK = timedelta(hours=1)  # the first live fill poll reads this far back (fills are kept once)
STATUS_RETRY = timedelta(minutes=1)  # a failed instruments/status read is tried again this much later


@dataclass(slots=True)
class MarketState:
    """What the market step last saw: each traded contract's latest good mark (USD), the contracts
    whose ticker was refused this tick (entries paused on them), and whether the local clock is
    beyond tolerance from Kraken's (entries on every contract and stale-signal closes paused)."""

    futures: tuple[str, ...]
    marks: dict[str, float] = field(default_factory=dict)
    stale: set[str] = field(default_factory=set)
    clock_skewed: bool = False
    # contract -> why Kraken would refuse or penalise an entry there now (post-only market, extreme
    # volatility, price dislocation): entries pause; closes, stops and ShockGuard go on
    market_pauses: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stale = set(self.futures)  # paused until the first good tickers

    def tradable(self, symbol: str) -> bool:
        """A good, fresh mark is known for ``symbol`` this tick, the market takes our entries, and the
        clock can be trusted."""
        return (symbol not in self.stale and symbol not in self.market_pauses and symbol in self.marks
                and not self.clock_skewed)

    def entries_paused(self) -> set[str]:
        """Contracts whose entries pause this tick: stale tickers and market pauses."""
        return self.stale.union(self.market_pauses)


class MarketStep:
    """One fast tick's market work over the ``state`` it keeps current (see the module docstring)."""

    def __init__(self, cfg: AppConfig, *, market: MarketFeed, guard: ShockGuard, shock_feed: ShockFeed,
                 book: PositionBook, executor: Executor, journal: Journal, state: MarketState,
                 instruments: Mapping[str, Instrument], listeners: Sequence[MarketListener] = (),
                 account_watch: AccountWatch | None = None) -> None:
        self.cfg = cfg
        self.market = market
        self._serves_status = isinstance(market, InstrumentStatusFeed)  # a Protocol check: costly, asked once
        self.guard = guard
        self.shock_feed = shock_feed
        self.book = book
        self.executor = executor
        self.journal = journal
        self.state = state
        self.listeners = tuple(listeners)
        self.account_watch = account_watch  # told of every polled fill: another process's pauses entries
        self.instruments = instruments  # their margin tiers: maintenance rates by position notional
        self._stale_logged: dict[str, datetime] = {}  # per contract: bounded by the universe
        self._post_only: dict[str, str] = {}  # contract -> "post-only market", from this tick's tickers
        self._status_pauses: dict[str, str] = {}  # contract -> problem, from the latest instruments/status
        self._status_due: datetime | None = None  # when instruments/status is read next (None: at once)
        self._unconfirmed: dict[str, float] = {}  # per contract: a first mark awaiting a second consistent tick
        self._fills_since: datetime | None = None  # newest fill seen by the live fill poll
        self._seen_trade_ids: dict[str, datetime] = {}  # trade id -> ts, pruned behind _fills_since
        self._done_actions: dict[str, datetime] = {}  # shock action key -> its tick: each runs once
        self.stop_remainders = StopRemainders(book=book, executor=executor, journal=journal)  # partly filled stops
        self._max_age = timedelta(seconds=cfg.loop.stale_ticker_seconds)  # the config never changes while running
        self._quiet = timedelta(minutes=cfg.logging.candle_source_log_minutes)
        self._status_every = timedelta(minutes=cfg.loop.instrument_status_minutes)

    def fetch_tickers(self) -> Mapping[str, Ticker] | None:
        """This tick's tickers, or None when they are unavailable (logged; every symbol is then stale).
        The loop reads them before it sets the tick's time: their answer measures the clock's skew."""
        try:
            return self.market.futures_tickers()
        except KrakenbotError as exc:
            if isinstance(exc, FatalError):
                raise
            log.warning("tickers unavailable (%s: %s): entries paused this tick", type(exc).__name__, exc)
            return None

    def run(self, now: datetime, failed: list[str], tickers: Mapping[str, Ticker] | None) -> bool:
        """Checks of the ``tickers`` read this tick (None: unavailable), fills, ShockGuard, exposure
        reduction. True when something changed our positions so that their stops need upkeep now (a
        late-found fill, a shock close or trim). Each step is contained (:func:`run_step`): one that
        fails is logged, named in ``failed``, and the others run."""
        read = None if tickers is None else run_step("ticker_checks", self._read_tickers, None, failed, now, tickers)
        if read is None:
            self.state.stale = set(self.state.futures)
        else:
            marks, index, funding = read
            run_step("listeners", self._run_listeners, None, failed, marks, funding)
            run_step("shock_feed", self._detect_shocks, None, failed, now, marks, index)
        if self._serves_status:
            run_step("instrument_status", self._read_instrument_status, None, failed, now)
        self._update_market_pauses()
        upkeep = bool(self.executor.in_doubt and run_step("in_doubt", self._poll_in_doubt, False, failed))
        if read is not None and self.guard.active(now):
            upkeep = bool(run_step("exposure", self._reduce_exposure, False, failed, now)) or upkeep
        return upkeep

    def _poll_in_doubt(self) -> bool:
        upkeep = False
        for result in self.executor.poll_in_doubt(
                give_up_after=timedelta(seconds=self.cfg.loop.order_lookup_give_up_seconds)):
            self.book.remember(result)
            upkeep = upkeep or result.filled_size > 0
        return upkeep

    def _read_tickers(self, now: datetime, tickers: Mapping[str, Ticker]) -> _Marks:
        """The checked marks, index prices and funding (per unit of mark) of our contracts."""
        state = self.state
        marks: dict[str, float] = {}
        index: dict[str, float] = {}
        funding: dict[str, float] = {}
        refused: dict[str, str] = {}
        max_age = self._max_age
        for fut in state.futures:
            # state.marks holds the last good mark: a 50 % jump the index does not confirm is refused
            verdict = check_ticker(tickers.get(fut), symbol=fut, now=now, max_age=max_age,
                                   previous_mark=state.marks.get(fut), unconfirmed_mark=self._unconfirmed.get(fut))
            if verdict.mark is None:
                refused[fut] = verdict.reason or "refused"
                if verdict.candidate is not None:  # a first mark nothing confirms: the next tick may
                    self._unconfirmed[fut] = verdict.candidate
                continue
            self._unconfirmed.pop(fut, None)
            ticker = tickers[fut]
            marks[fut] = verdict.mark
            if ticker.post_only:  # Kraken refuses our IOC entries there (marketIsPostOnly)
                self._post_only[fut] = "post-only market"
            else:
                self._post_only.pop(fut, None)
            if ticker.index is not None and ticker.index > 0:
                index[fut] = ticker.index
            if ticker.funding_rate is not None:
                funding[fut] = ticker.funding_rate / verdict.mark  # Kraken's is USD/contract/hour
        stale = set(state.futures) - marks.keys() if len(marks) != len(state.futures) else set()
        quiet = self._quiet
        for fut in sorted(stale - state.stale):  # at most once per symbol per interval: quiet markets flap
            if now - self._stale_logged.get(fut, datetime.min.replace(tzinfo=now.tzinfo)) >= quiet:
                self._stale_logged[fut] = now
                log.info("%s: ticker refused (%s): entries paused", fut, refused.get(fut, "missing"))
        state.stale = stale
        state.marks.update(marks)
        return marks, index, funding

    def _read_instrument_status(self, now: datetime) -> None:
        """Kraken's instruments/status, every ``loop.instrument_status_minutes`` (at the first tick too),
        when the market feed serves it (``run`` asks only then). A failed read keeps the previous statuses
        (logged) and is tried again a minute later (sooner when the interval is shorter)."""
        every = self._status_every
        if not every:
            return
        if self._status_due is not None and now < self._status_due:
            return
        try:
            statuses = cast(InstrumentStatusFeed, self.market).instrument_status()  # ``_serves_status``
        except KrakenbotError as exc:
            if isinstance(exc, FatalError):
                raise
            self._status_due = now + min(every, STATUS_RETRY)
            log.warning("instruments/status unavailable (%s: %s): the previous statuses stand; tried again in %ss",
                        type(exc).__name__, exc, int(min(every, STATUS_RETRY).total_seconds()))
            return
        self._status_due = now + every
        self._status_pauses = {}
        for fut in self.state.futures:
            status = statuses.get(fut.upper())
            problem = status.entry_problem if status is not None else None
            if problem is not None:
                self._status_pauses[fut] = problem

    def _update_market_pauses(self) -> None:
        """This tick's market pauses (post-only, instrument status); each change logged once."""
        if not (self._status_pauses or self._post_only or self.state.market_pauses):
            return  # nothing paused before or now (the common case)
        pauses = {**self._status_pauses, **self._post_only}
        for fut in sorted(set(pauses) | set(self.state.market_pauses)):
            before, after = self.state.market_pauses.get(fut), pauses.get(fut)
            if after is not None and before != after:
                log.warning("%s: %s: entries paused; closes and stops go on", fut, after)
            elif after is None and before is not None:
                log.info("%s: %s is over: entries resume", fut, before)
        self.state.market_pauses = pauses

    def _run_listeners(self, marks: Mapping[str, float], funding: Mapping[str, float]) -> None:
        for listener in self.listeners:
            for fill in listener(marks, funding):
                self.record_unasked_fill(fill)

    def _detect_shocks(self, now: datetime, marks: Mapping[str, float], index: Mapping[str, float]) -> None:
        for event in self.shock_feed.detect(self.guard, now, marks, index):
            self.journal.record_event(JournalEvent(ts=event.ts, kind=EventKind.shock(event.kind), symbol=event.symbol,
                                                   detail=f"magnitude={event.magnitude:.6g} "
                                                          f"threshold={event.threshold:.6g}"))

    def _reduce_exposure(self, now: datetime) -> bool:
        """ShockGuard's CLOSE/TRIM on positions whose liquidation buffer is thin; each action once."""
        positions = self.book.positions()
        if not positions:
            return False
        rates = {p.symbol: self.instruments[p.symbol].maintenance_margin_rate(p.notional_usd) for p in positions
                 if p.symbol in self.instruments}  # the tier each position's notional reaches
        plan = self.guard.evaluate(positions, self.book.account(), now, maintenance_margin_rate=rates)
        by_symbol = {p.symbol: p for p in positions}
        # An action's key carries its tick's time: keys of earlier ticks can never recur.
        self._done_actions = {key: ts for key, ts in self._done_actions.items() if ts >= now}
        for action in plan.actions:
            if action.key in self._done_actions or action.symbol not in by_symbol:
                continue
            self._done_actions[action.key] = action.ts
            close = action.action is ShockActionKind.CLOSE
            size = None if close else Decimal(repr(action.reduce_size))
            result = self.executor.reduce(by_symbol[action.symbol], size=size, mark=action.mark_price,
                                          reason=OrderReason.SHOCK_CLOSE if close else OrderReason.SHOCK_TRIM)
            self.book.remember(result)
            self.journal.record_event(JournalEvent(
                ts=now, kind=EventKind.SHOCK_CLOSE if close else EventKind.SHOCK_TRIM, symbol=action.symbol,
                detail=f"{action.detail}; filled {result.filled_size}" + (f"; {result.refused}" if result.refused
                                                                          else "")))
        return bool(plan.actions)

    # -- fills nobody asked for at that moment ---------------------------------------------------
    def poll_fills(self, now: datetime) -> bool:
        """Live: record fills the exchange reports on our symbols that no order call of ours returned
        (stops, liquidations, manual trades), as they happen. True when one filled an order of ours
        given up as never placed, or a stop that filled only partly left a position (``live.stop_fills``):
        its position needs a stop now."""
        upkeep = False
        stops: dict[str, list[Fill]] = {}  # our stops' new fills: what a partly filled one left is protected now
        # Kraken's lookups lag: a fill can show up after newer ones did, so each poll reads back as far as the
        # bot trusts that lag (order_lookup_give_up_seconds) behind the newest fill seen; trade ids dedupe
        lag = timedelta(seconds=self.cfg.loop.order_lookup_give_up_seconds)
        since = self._fills_since - lag if self._fills_since is not None else now - FILLS_POLL_LOOKBACK
        for fill in self.executor.exchange.fetch_fills(since=since):
            if fill.trade_id in self._seen_trade_ids:
                continue
            if self.account_watch is not None:
                self.account_watch.saw(fill.client_order_id, symbol=fill.symbol, what="fill", now=now)
            if self.executor.ids.is_ours(fill.client_order_id) or fill.symbol in self.state.futures:
                upkeep = self.record_unasked_fill(fill, stops=stops) or upkeep
            self._seen_trade_ids[fill.trade_id] = fill.ts
            self._fills_since = max(self._fills_since or fill.ts, fill.ts)
        if self._fills_since is not None:  # older fills are never asked for again
            self._seen_trade_ids = {t: ts for t, ts in self._seen_trade_ids.items()
                                    if ts >= self._fills_since - lag}
        if stops or self.stop_remainders.pending:
            upkeep = self.stop_remainders.settle(stops, marks=self.state.marks, now=now) or upkeep
        return upkeep

    def record_unasked_fill(self, fill: Fill, *, stops: dict[str, list[Fill]] | None = None) -> bool:
        """A fill we did not just ask for: a stop, a resting order, a liquidation, or an order given up
        as never placed (True: that one's position needs a stop). A new fill of a stop of ours (or of an
        order of ours whose reason this run does not know) is added to ``stops`` (client id -> fills)."""
        if not self.journal.record_fill(fill):
            return False
        late = self.executor.late_fill(fill)  # an order given up as never placed that did fill
        if late is not None:
            self.book.remember(late)
        self.book.changed()
        reason = self.book.reason_of(fill.client_order_id)
        self.journal.record_event(JournalEvent(ts=fill.ts, kind=reason, symbol=fill.symbol,
                                               detail=f"{fill.side.value} {fill.size} @ {fill.price}"))
        log.warning("%s: %s filled %s %s @ %s", fill.symbol, reason, fill.side.value, fill.size, fill.price)
        cid = fill.client_order_id
        # ours with no reason known here: a stop an earlier run placed (every other order of ours is recorded
        # by the call that sent it, or by the in-doubt poll, before its fill can be polled)
        if stops is not None and late is None and (reason is OrderReason.STOP or (
                self.executor.ids.is_ours(cid) and reason is OrderReason.of_unasked_fill(cid))):
            stops.setdefault(cid, []).append(fill)
        return late is not None

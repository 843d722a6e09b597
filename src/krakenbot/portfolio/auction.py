"""AuctionAllocator: candidates compete with held positions for slots and margin.

Rules of ``plan`` (pure: everything it needs is an argument, ``now`` included):

1. Each held position meets its symbol's *latest* signal (the newest of the candidates for its
   futures symbol and ``signals_by_symbol``): older than ``stale_signal_minutes`` -> close
   ``stale``; opposite side -> close ``reversed`` (no minimum hold: a reversal is not churn);
   same side -> keep, scored by that signal; no signal known -> keep, scored by
   ``Position.score`` (0 when unknown).
2. Candidates, ranked by score (ties: futures symbol, then spot symbol, then the rest of the
   value, so the plan does not depend on input order), are rejected when: entries are not
   allowed (reduce-only), they have no futures contract, a better candidate already took their
   contract, ShockGuard paused them (``paused_symbols`` holds futures or spot symbols, or ``'*'``
   for all), their signal is stale or superseded, or they carry no size. A candidate on a
   contract held on the same side confirms that position (a keep).
3. The rest open while a slot is free (``max_positions``), the margin fits the budget and total
   exposure stays within ``max_total_exposure * equity``. Otherwise the weakest held position
   that has been held ``min_hold_minutes`` and whose score the candidate beats by *more than*
   ``replace_score_margin`` is closed ``outranked`` when that makes room; else the candidate is
   rejected.

Margin budget (USD) = min(available margin, ``max_margin_utilization_pct * equity`` - initial
margin) + margin the closes free. A close frees ``notional / max(position leverage, max_leverage)``
(the smaller estimate), and closes together never free more than the account's initial margin.
The plan never puts more than ``max_positions`` open, except that it does not force-close
positions already above the limit (it then opens nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from krakenbot.config.models import AuctionConfig, RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import new
from krakenbot.domain.instrument import Instrument
from krakenbot.domain.signals import CandidateSignal, Signal
from krakenbot.domain.trading import AccountState, Position
from krakenbot.portfolio.budget import margin_budget_usd
from krakenbot.portfolio.plan import (
    AllocationPlan,
    CloseReason,
    Keep,
    PlannedClose,
    Rejection,
    RejectReason,
    SignalRefusal,
    TradeValidator,
)

log = logging.getLogger(__name__)

PAUSE_ALL = "*"
# Enum members read on every plan, looked up once (an Enum class attribute costs about a call on Python 3.11)
_REVERSED, _STALE, _OUTRANKED = CloseReason.REVERSED, CloseReason.STALE, CloseReason.OUTRANKED
ACTIVE_STATE = "active"  # the trading state that allows entries (``TradingState.ACTIVE`` of the risk layer)


def rank_key(candidate: CandidateSignal) -> tuple[float, str, str, str, datetime, float, float, float]:
    """Sort key of candidates: best score first, then futures symbol, spot symbol, side and the rest (total order)."""
    return (-candidate.score, candidate.futures_symbol, candidate.symbol, candidate.side.value, candidate.signal.ts,
            candidate.position_notional, candidate.margin_required, candidate.leverage)


def _position_order(position: Position) -> tuple[str, str, datetime]:
    return position.symbol, position.side.value, position.ts_opened


@dataclass(slots=True, kw_only=True)
class _Holding:
    position: Position
    score: float
    detail: str
    candidate: CandidateSignal | None = None


@dataclass(slots=True, kw_only=True)
class _Books:
    """The plan being built (mutable scratch space, private to one ``plan`` call). Built from the account's
    budget figures (USD); the rest starts empty (``init=False``: not parameters of the generated ``__init__``)."""

    base_budget_usd: float
    initial_margin_usd: float
    exposure_cap_usd: float
    holdings: dict[str, _Holding] = field(default_factory=dict, init=False)
    closes: list[PlannedClose] = field(default_factory=list, init=False)
    outranked: set[str] = field(default_factory=set, init=False)  # symbols of the closes planned ``OUTRANKED``
    opens: list[CandidateSignal] = field(default_factory=list, init=False)
    # The closes' freed margin, the opens' margin and notional (USD): summed as each is planned, in plan order
    # (the same sums as over the lists, from 0, without a pass per question).
    closed_margin_usd: float = field(default=0, init=False)
    planned_usd: float = field(default=0, init=False)
    opened_notional_usd: float = field(default=0, init=False)
    rejected: list[Rejection] = field(default_factory=list, init=False)
    # The holdings weakest first, and what blocks each from being outranked (the same words for every
    # candidate): built once per plan, not per candidate; a close clears them.
    weakest_first: list[_Holding] | None = field(default=None, init=False)
    blocked_words: dict[tuple[str, str], str] = field(default_factory=dict, init=False)

    def freed_with(self, extra_usd: float = 0) -> float:
        """The margin (USD) the planned closes free, plus ``extra_usd``, capped at the initial margin in use
        (never below 0)."""
        freed, in_use = self.closed_margin_usd + extra_usd, self.initial_margin_usd
        cap = in_use if in_use > 0.0 else 0.0  # max(0.0, in_use) and min(freed, cap), without the builtins' calls
        return cap if cap < freed else freed

    @property
    def budget_usd(self) -> float:
        return self.budget_with(self.freed_with())

    def budget_with(self, freed_usd: float) -> float:
        """The margin budget (USD) when the closes free ``freed_usd``."""
        budget = self.base_budget_usd + freed_usd
        return budget if budget > 0.0 else 0.0

    @property
    def exposure_usd(self) -> float:
        held = sum(h.position.notional_usd for h in self.holdings.values()) if self.holdings else 0
        return held + self.opened_notional_usd

    def close(self, close: PlannedClose) -> None:
        """Plan ``close`` (its freed margin added to the sum; an outranked one noted in ``outranked``)."""
        self.closes.append(close)
        self.closed_margin_usd += close.freed_margin_usd
        if close.reason is _OUTRANKED:
            self.outranked.add(close.symbol)

    def open(self, cand: CandidateSignal) -> None:
        """Plan the open of ``cand`` (its margin and notional added to the sums)."""
        self.opens.append(cand)
        self.planned_usd += cand.margin_required
        self.opened_notional_usd += cand.position_notional


class AuctionAllocator:
    """Plans which positions to close and which candidates to open (see the module docstring)."""

    def __init__(self, risk_cfg: RiskConfig, auction_cfg: AuctionConfig, risk_manager: TradeValidator) -> None:
        self.risk_cfg = risk_cfg
        self.auction_cfg = auction_cfg
        self.risk_manager = risk_manager
        self._stale_after = timedelta(minutes=auction_cfg.stale_signal_minutes)  # the config is frozen
        self._min_hold = timedelta(minutes=auction_cfg.min_hold_minutes)
        self._warned_unmapped: set[str] = set()  # spot symbols already warned about (once each, not per tick)

    def position_margin_usd(self, position: Position) -> float:
        """Initial margin a close of ``position`` is counted to free (USD): the smaller of the estimates."""
        own, cap = position.leverage or 0.0, self.risk_cfg.max_leverage
        leverage = cap if cap > own else own  # max(own, cap) without the builtin's call
        return position.notional_usd / leverage

    def candidates_from_signals(
        self, signals: Sequence[Signal], symbol_map: Mapping[str, str], account: AccountState, now: datetime, *,
        instruments: Mapping[str, Instrument] | None = None, positions: Sequence[Position] = (),
        equity_marks: Any = None,
    ) -> tuple[tuple[CandidateSignal, ...], tuple[SignalRefusal, ...]]:
        """``build_candidates`` with this allocator's risk manager."""
        return build_candidates(signals, symbol_map, self.risk_manager, account, now, instruments=instruments,
                                positions=positions, equity_marks=equity_marks, warned=self._warned_unmapped)

    def plan(
        self,
        candidates: Sequence[CandidateSignal],
        positions: Sequence[Position],
        account: AccountState,
        now: datetime,
        *,
        paused_symbols: Collection[str] = (),
        signals_by_symbol: Mapping[str, Signal] | None = None,
        entries_allowed: bool = True,
        stale_closes_allowed: bool = True,
    ) -> AllocationPlan:
        """Plan closes and opens at ``now``.

        ``signals_by_symbol`` maps a held *futures* symbol to its latest signal (for reversed and
        stale closes when no candidate speaks for it); ``entries_allowed=False`` (reduce-only)
        rejects every candidate but still closes reversed and stale positions.
        ``stale_closes_allowed=False`` (the local clock is off from the exchange's, so a signal's age
        cannot be trusted) keeps a position whose signal looks stale (reversed ones still close). Raises
        ``ValueError`` only when ``now`` is not timezone-aware UTC.
        """
        if now.tzinfo is not UTC:  # the common case first
            ensure_utc(now, field="now")
        rcfg, acfg = self.risk_cfg, self.auction_cfg
        stale_after, paused = self._stale_after, paused_symbols
        ranked = sorted(candidates, key=rank_key) if len(candidates) > 1 else candidates  # one: no key built

        best: dict[str, CandidateSignal] = {}  # futures symbol -> its best candidate (the others are duplicates)
        for cand in ranked:
            if cand.futures_symbol and cand.futures_symbol not in best:
                best[cand.futures_symbol] = cand
        latest: dict[str, Signal] = dict(signals_by_symbol or {})
        for fut, cand in best.items():
            if fut not in latest or cand.signal.ts >= latest[fut].ts:
                latest[fut] = cand.signal

        equity = account.equity_usd
        books = _Books(
            base_budget_usd=margin_budget_usd(account, rcfg),
            initial_margin_usd=account.initial_margin_usd,
            exposure_cap_usd=rcfg.max_total_exposure * equity,
        )
        for pos in (sorted(positions, key=_position_order) if len(positions) > 1 else positions):
            sig = latest.get(pos.symbol)
            stale = sig is not None and now - sig.ts > stale_after
            if sig is not None and stale and stale_closes_allowed:
                self._close(books, pos, _STALE, f"latest signal from {sig.ts.isoformat()} is older than "
                                                           f"{acfg.stale_signal_minutes:g} min")
            elif sig is not None and sig.side is not pos.side:  # (a StrEnum formats as its value: no ``.value``)
                self._close(books, pos, _REVERSED,
                            f"latest signal is {sig.side} (score {sig.score:.2f}) at {sig.ts.isoformat()}")
            elif sig is not None:
                books.holdings[pos.symbol] = _Holding(position=pos, score=sig.score, detail=(
                    "signal looks stale but the clock is off: stale close paused" if stale
                    else "signal still on this side"))
            else:
                books.holdings[pos.symbol] = _Holding(position=pos, score=pos.score if pos.score is not None else 0.0,
                                                      detail="no signal known for this symbol")

        for cand in ranked:
            fut = cand.futures_symbol
            if not fut:
                self._reject(books, cand, RejectReason.NO_CONTRACT, f"{cand.symbol}: no futures contract mapped")
                continue
            if best[fut] is not cand:
                self._reject(books, cand, RejectReason.DUPLICATE, f"a better candidate already bid for {fut}")
                continue
            held = books.holdings.get(fut)
            if held is not None and held.position.side is cand.side:
                held.candidate, held.detail = cand, "candidate on the same side confirms it"
                continue
            if fut in books.outranked:
                self._reject(books, cand, RejectReason.NO_SLOT, f"{fut} was just closed as outranked in this plan")
            elif not entries_allowed:
                self._reject(books, cand, RejectReason.REDUCE_ONLY, "trading state is reduce-only: no new entries")
            elif PAUSE_ALL in paused or fut in paused or cand.symbol in paused:
                self._reject(books, cand, RejectReason.PAUSED, f"{fut}: entries paused (ShockGuard, stale or "
                                                               "refused data, clock skew, or market status)")
            elif now - cand.signal.ts > stale_after:
                self._reject(books, cand, RejectReason.STALE_SIGNAL, f"signal from {cand.signal.ts.isoformat()} is "
                                                                     f"older than {acfg.stale_signal_minutes:g} min")
            elif latest[fut] is not cand.signal and latest[fut].ts > cand.signal.ts:
                self._reject(books, cand, RejectReason.STALE_SIGNAL,
                             f"superseded by a newer {latest[fut].side.value} signal at {latest[fut].ts.isoformat()}")
            elif cand.position_notional <= 0 or cand.margin_required <= 0:
                self._reject(books, cand, RejectReason.NOT_SIZED, "candidate has no notional or margin")
            else:
                self._compete(books, cand, now)

        freed = books.freed_with()
        plan = new(AllocationPlan)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        AllocationPlan.__init__(
            plan, ts=now, closes=tuple(books.closes), opens=tuple(books.opens),
            keeps=tuple([Keep(position=h.position, score=h.score, detail=h.detail, candidate=h.candidate)
                         for _, h in sorted(books.holdings.items())]) if books.holdings else (),
            rejected=tuple(books.rejected), available_margin_usd=account.available_margin_usd,
            freed_margin_usd=freed, margin_budget_usd=books.budget_with(freed), planned_margin_usd=books.planned_usd,
        )
        level = logging.DEBUG if plan.is_empty else logging.INFO
        if log.isEnabledFor(level):  # the summary is built only for a log that shows it
            log.log(level, "%s", plan.summary())
        return plan

    def _close(self, books: _Books, pos: Position, reason: CloseReason, detail: str) -> None:
        books.holdings.pop(pos.symbol, None)
        books.weakest_first = None
        close = new(PlannedClose)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        PlannedClose.__init__(close, position=pos, reason=reason, detail=detail,
                              freed_margin_usd=self.position_margin_usd(pos))
        books.close(close)

    @staticmethod
    def _reject(books: _Books, cand: CandidateSignal, reason: RejectReason, detail: str) -> None:
        log.debug("%s: auction rejects candidate (%s): %s", cand.futures_symbol or cand.symbol, reason.value, detail)
        books.rejected.append(Rejection(candidate=cand, reason=reason, detail=detail))

    def _fits(self, books: _Books, cand: CandidateSignal, freed_extra_usd: float = 0.0,
              exposure_freed_usd: float = 0.0) -> RejectReason | None:
        budget = books.budget_with(books.freed_with(freed_extra_usd))
        if books.planned_usd + cand.margin_required > budget:
            return RejectReason.MARGIN
        if books.exposure_usd - exposure_freed_usd + cand.position_notional > books.exposure_cap_usd:
            return RejectReason.EXPOSURE
        return None

    def _compete(self, books: _Books, cand: CandidateSignal, now: datetime) -> None:
        acfg = self.auction_cfg
        slot_free = len(books.holdings) + len(books.opens) < self.risk_cfg.max_positions
        problem = self._fits(books, cand) if slot_free else RejectReason.NO_SLOT
        if problem is None:
            books.open(cand)
            return
        min_hold = self._min_hold
        blocked: list[str] = []
        if books.weakest_first is None:
            books.weakest_first = sorted(books.holdings.values(), key=lambda h: (h.score, h.position.symbol))
        words = books.blocked_words
        for held in books.weakest_first:
            sym = held.position.symbol
            if not cand.score > held.score + acfg.replace_score_margin:
                key = (sym, "score")
                if key not in words:
                    words[key] = f"{sym} score {held.score:.2f} not beaten by more than {acfg.replace_score_margin:g}"
                blocked.append(words[key])
                continue
            if now - held.position.ts_opened < min_hold:
                blocked.append(f"{sym} held less than {acfg.min_hold_minutes:g} min")
                continue
            freed = self.position_margin_usd(held.position)
            if self._fits(books, cand, freed, held.position.notional_usd) is not None:
                blocked.append(f"closing {sym} would not make room")
                continue
            self._close(books, held.position, _OUTRANKED,
                        f"outranked by {cand.futures_symbol} score {cand.score:.2f} vs {held.score:.2f}")
            if held.candidate is not None:  # it had confirmed the position that is now closed
                self._reject(books, held.candidate, RejectReason.OUTRANKED,
                             f"{sym} held on this side was outranked by {cand.futures_symbol}")
            books.open(cand)
            return
        need = (f"margin {cand.margin_required:,.2f} USD, budget left {books.budget_usd - books.planned_usd:,.2f}"
                if problem is RejectReason.MARGIN else
                f"notional {cand.position_notional:,.2f} USD over the exposure cap {books.exposure_cap_usd:,.2f}"
                if problem is RejectReason.EXPOSURE else f"all {self.risk_cfg.max_positions} slots taken")
        self._reject(books, cand, problem, need + ("; " + "; ".join(blocked) if blocked else ""))


def build_candidates(
    signals: Sequence[Signal], symbol_map: Mapping[str, str], validator: TradeValidator, account: AccountState,
    now: datetime, *, instruments: Mapping[str, Instrument] | None = None, positions: Sequence[Position] = (),
    equity_marks: Any = None, warned: set[str] | None = None,
) -> tuple[tuple[CandidateSignal, ...], tuple[SignalRefusal, ...]]:
    """Map spot ``signals`` to futures contracts (``symbol_map``: spot -> futures symbol) and size them.

    A signal without a contract is refused and logged ``Futures symbol not found`` once per spot
    symbol when ``warned`` (the symbols already warned about, updated here) is given, else every time.

    This is where a trade is sized, once: ``validator.validate_trade(..., skip_margin_check=True)``
    (the auction budgets margin across all candidates, so a single candidate is not refused for
    margin here), with the loss limits of ``equity_marks`` (the same trading state for every signal of one
    call: assessed with the first signal sized; when it refuses entries, every signal is refused with its
    reason, logged once for the rest). With ``instruments`` (futures symbol ->
    Instrument) sizes are rounded to the lot, carried as ``CandidateSignal.size``, and a contract
    missing from it is refused. Returns (candidates, refusals), both sorted by spot symbol.
    """
    candidates: list[CandidateSignal] = []
    refusals: list[SignalRefusal] = []
    # The trading state (check 1 of validate_trade) depends on the account, the marks and now alone, the same
    # for every signal of this call: the first sized signal learns it, the others reuse it (no marks update and
    # assessment per signal; when it refuses entries, one log line for all the signals it refuses).
    marks, state_refusal, state_refused = equity_marks, "", 0
    # one signal (the common case) needs no order, and its key is not built (an enum's ``.value`` is a Python call)
    for signal in sorted(signals, key=lambda s: (s.symbol, s.side.value, s.ts)) if len(signals) > 1 else signals:
        fut = symbol_map.get(signal.symbol, "")
        if not fut:
            if warned is None or signal.symbol not in warned:
                log.warning("%s: Futures symbol not found; signal not traded", signal.symbol)
                if warned is not None:
                    warned.add(signal.symbol)
            refusals.append(SignalRefusal(signal=signal, futures_symbol="", reason="no futures contract mapped"))
            continue
        instrument = None if instruments is None else instruments.get(fut)
        if instruments is not None and instrument is None:
            refusals.append(SignalRefusal(signal=signal, futures_symbol=fut, reason=f"no instrument known for {fut}"))
            continue
        if state_refusal:
            refusals.append(SignalRefusal(signal=signal, futures_symbol=fut, reason=state_refusal))
            state_refused += 1
            continue
        decision = validator.validate_trade(signal, account, skip_margin_check=True, instrument=instrument,
                                            positions=positions, equity_marks=marks, now=now)
        if marks is not None:
            marks = None
            if decision.trading_state != ACTIVE_STATE:
                state_refusal = decision.reason
        if not decision.approved:
            refusals.append(SignalRefusal(signal=signal, futures_symbol=fut, reason=decision.reason))
            continue
        candidate = new(CandidateSignal)  # ``domain.frozen``: the same ``__init__`` and checks, no keyword dict
        CandidateSignal.__init__(candidate, signal=signal, futures_symbol=fut, position_notional=decision.notional_usd,
                                 margin_required=decision.margin_required_usd, leverage=decision.leverage,
                                 size=decision.size)
        candidates.append(candidate)
    if state_refused:
        log.info("%d more signals refused: %s", state_refused, state_refusal)
    return tuple(candidates), tuple(refusals)

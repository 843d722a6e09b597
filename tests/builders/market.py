"""Signals, auction candidates and the loop's scripted market and signal feeds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from builders.clock import T0
from krakenbot.domain import CandidateSignal, Clock, Side, Signal, Ticker


def make_signal(symbol: str = "BTC/USD", side: Side = Side.LONG, *, score: float = 1.0, ref_price: float = 20_000.0,
                stop_distance_pct: float = 0.02, ts: datetime = T0, take_profit: float | None = None) -> Signal:
    """A spot signal formed at ``ts`` (default ``T0``); ``stop_distance_pct`` 0.02 means 2 %."""
    return Signal(symbol=symbol, side=side, score=score, ref_price=ref_price, stop_distance_pct=stop_distance_pct,
                  ts=ts, take_profit=take_profit, strategy="test")


def make_candidate(futures_symbol: str = "PF_XBTUSD", side: Side = Side.LONG, *, score: float = 1.0,
                   symbol: str | None = None, notional: float = 1_000.0, margin: float | None = None,
                   leverage: float = 3.0, ts: datetime = T0) -> CandidateSignal:
    """A sized auction candidate (USD); spot ``symbol`` defaults from the contract (PF_ETHUSD -> ETH/USD),
    ``margin`` to notional / leverage."""
    spot = symbol if symbol is not None else f"{futures_symbol.removeprefix('PF_')[:-3]}/USD"
    return CandidateSignal(signal=make_signal(spot, side, score=score, ts=ts), futures_symbol=futures_symbol,
                           position_notional=notional,
                           margin_required=notional / leverage if margin is None else margin, leverage=leverage)


class ScriptedMarket:
    """A ``MarketFeed`` that answers the tickers a test sets: ``marks`` (fresh tickers stamped at the
    clock's now), ``tickers`` (whole Ticker values that win, e.g. stale, suspended or NaN ones) and
    ``error`` (raised once by the next call)."""

    def __init__(self, clock: Clock, marks: Mapping[str, float] | None = None) -> None:
        self.clock = clock
        self.marks: dict[str, float] = dict(marks or {})
        self.tickers: dict[str, Ticker] = {}
        self.error: Exception | None = None
        self.calls = 0

    def futures_tickers(self) -> dict[str, Ticker]:
        self.calls += 1
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        now = self.clock.now()
        out = {s: Ticker(symbol=s, ts=now, mark=m, index=m if math.isfinite(m) else None,
                         bid=m * 0.9999, ask=m * 1.0001) for s, m in self.marks.items()}
        out.update(self.tickers)
        return out


class ScriptedSignals:
    """A ``SignalFeed`` that answers ``next`` (the signals a test sets), recording each ``now`` asked."""

    def __init__(self) -> None:
        self.next: list[Signal] = []
        self.asked: list[datetime] = []

    def signals(self, now: datetime, marks: Mapping[str, float] | None = None) -> list[Signal]:
        self.asked.append(now)
        return list(self.next)

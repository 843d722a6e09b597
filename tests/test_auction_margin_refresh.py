"""The auction's opens are sized from REFRESHED margin (run: ``python -m pytest tests/test_auction_margin_refresh.py``).

The sequence an operator relies on, at the policy level:

1. the auction plans with the account as it was (stale): it closes an outranked position and
   counts the margin that close frees towards its open;
2. the closes run; the account is refreshed (available margin now includes what they freed);
3. each open is re-validated with ``validate_trade(..., available_margin_override=refreshed
   available margin, notional_override=candidate.position_notional, skip_margin_check=True)``:
   it is approved with exactly the auction's notional, while the same trade checked against the
   stale margin would be refused.

The last test runs the same sequence through the trading loop itself (``LiveTrading``), which
logs ``Auction: Margin refreshed after closes`` between steps 2 and 3.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from builders.account import make_account, make_perp, make_position
from builders.clock import T0
from builders.market import make_signal
from krakenbot.config.models import AuctionConfig, RiskConfig
from krakenbot.domain import AccountState, Side
from krakenbot.portfolio.auction import AuctionAllocator
from krakenbot.portfolio.plan import AllocationPlan, CloseReason
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.risk.trading_state import EquityMarks, TradingState

RISK = RiskConfig(max_positions=1, max_leverage=3, risk_per_trade_pct=0.01, max_margin_utilization_pct=0.6)
AUCTION = AuctionConfig(replace_score_margin=0.25, min_hold_minutes=60)
ETH = make_perp("PF_ETHUSD", base="ETH", lot="0.01", max_leverage=50)


@pytest.fixture
def risk() -> RiskManager:
    return RiskManager(RISK)


@pytest.fixture
def stale_account() -> AccountState:
    # 10,000 USD equity; the BTC long (0.3 BTC at 20,000 = 6,000 notional at 3x) holds 2,000 margin,
    # the rest of the collateral is tied up elsewhere: only 800 USD is available before the close.
    return make_account(10_000, initial=2_000, available=800)


@pytest.fixture
def refreshed_account() -> AccountState:
    # after the close: the 2,000 USD of margin is free again (fees and PnL ignored for clarity)
    return make_account(10_000, initial=0.0, available=2_800, ts=T0 + timedelta(seconds=2))


def auction_plan(risk: RiskManager, account: AccountState) -> AllocationPlan:
    allocator = AuctionAllocator(RISK, AUCTION, risk)
    btc = make_position("PF_XBTUSD", Side.LONG, size=0.3, held_minutes=180)
    eth_signal = make_signal("ETH/USD", score=2.0, ref_price=1_543.21, stop_distance_pct=0.04)
    candidates, refusals = allocator.candidates_from_signals(
        [eth_signal], {"ETH/USD": "PF_ETHUSD"}, account, T0, instruments={"PF_ETHUSD": ETH}, positions=[btc])
    assert refusals == ()
    return allocator.plan(candidates, [btc], account, T0,
                          signals_by_symbol={"PF_XBTUSD": make_signal("BTC/USD", score=0.9, ts=T0)})


def test_auction_with_stale_margin_closes_outranked_position_and_counts_freed_margin(
        risk: RiskManager, stale_account: AccountState) -> None:
    plan = auction_plan(risk, stale_account)
    assert [(c.symbol, c.reason) for c in plan.closes] == [("PF_XBTUSD", CloseReason.OUTRANKED)]
    [eth] = plan.opens
    assert eth.futures_symbol == "PF_ETHUSD"
    assert eth.margin_required > stale_account.available_margin_usd  # only fits thanks to the close
    assert eth.margin_required <= stale_account.available_margin_usd + plan.freed_margin_usd


def test_open_revalidated_against_refreshed_margin_is_approved_with_exactly_the_auctions_notional(
        risk: RiskManager, stale_account: AccountState, refreshed_account: AccountState) -> None:
    [eth] = auction_plan(risk, stale_account).opens
    decision = risk.validate_trade(
        eth.signal, refreshed_account,
        available_margin_override=refreshed_account.available_margin_usd,
        notional_override=eth.position_notional,
        skip_margin_check=True,
        instrument=ETH, positions=[], now=refreshed_account.ts)
    assert decision.approved, decision.reason
    assert decision.notional_usd == eth.position_notional  # exactly, not approximately
    assert decision.margin_required_usd == eth.margin_required
    assert decision.size is not None and decision.size == ETH.round_size(decision.size)


def test_same_open_checked_against_stale_margin_without_skip_is_refused(
        risk: RiskManager, stale_account: AccountState) -> None:
    [eth] = auction_plan(risk, stale_account).opens
    decision = risk.validate_trade(
        eth.signal, stale_account,
        available_margin_override=stale_account.available_margin_usd,
        notional_override=eth.position_notional,
        instrument=ETH, positions=[], now=T0)
    assert not decision.approved
    assert "exceeds available margin" in decision.reason


def test_refreshed_margin_without_skip_also_approves_the_auctions_notional(
        risk: RiskManager, stale_account: AccountState, refreshed_account: AccountState) -> None:
    """The refreshed figure really covers the open: skipping the check hides no shortfall here."""
    [eth] = auction_plan(risk, stale_account).opens
    decision = risk.validate_trade(
        eth.signal, refreshed_account, available_margin_override=refreshed_account.available_margin_usd,
        notional_override=eth.position_notional, instrument=ETH, now=refreshed_account.ts)
    assert decision.approved and decision.notional_usd == eth.position_notional


def test_skip_margin_check_on_refreshed_open_does_not_bypass_reduce_only(
        risk: RiskManager, stale_account: AccountState, refreshed_account: AccountState) -> None:
    """If the closes realised a loss that trips the daily limit, the open is still refused."""
    [eth] = auction_plan(risk, stale_account).opens
    marks = EquityMarks(day=T0.date(), day_start_equity_usd=10_600, peak_equity_usd=10_600)
    decision = risk.validate_trade(
        eth.signal, refreshed_account, available_margin_override=refreshed_account.available_margin_usd,
        notional_override=eth.position_notional, skip_margin_check=True, instrument=ETH,
        equity_marks=marks, now=refreshed_account.ts)
    assert not decision.approved and decision.trading_state is TradingState.REDUCING


# --- the loop: LiveTrading._run_auction_allocation through slow_tick -------------------------------------
import logging  # noqa: E402
from typing import Any  # noqa: E402

from builders.exchange import RecordingPaperExchange, intent  # noqa: E402
from builders.market import ScriptedMarket, ScriptedSignals  # noqa: E402
from krakenbot.config.models import AppConfig, LoopConfig  # noqa: E402
from krakenbot.domain import OrderSide, OrderType, Signal, SimulatedClock  # noqa: E402
from krakenbot.execution.executor import ExecutionResult  # noqa: E402
from krakenbot.live.trading import LiveTrading  # noqa: E402
from krakenbot.store.journal import MemoryJournal  # noqa: E402

LOOP_RISK = RiskConfig(max_positions=1, max_leverage=3, risk_per_trade_pct=0.05, max_margin_utilization_pct=1.0,
                       max_total_exposure=5)
BTC3 = make_perp("PF_XBTUSD", base="BTC", lot="0.0001", tick="0.5", max_leverage=3)
ETH3 = make_perp("PF_ETHUSD", base="ETH", lot="0.01", tick="0.01", max_leverage=3)


class RecordingLoop(LiveTrading):
    """The real loop; it notes what each ``_handle_signal`` was given (and the account right then)."""

    handled: list[dict[str, Any]]
    journal_log: MemoryJournal

    def _handle_signal(self, signal: Signal, available_margin_override: float | None = None,
                       notional_override: float | None = None, skip_margin_check: bool = False, *,
                       account: AccountState | None = None) -> ExecutionResult:
        self.handled.append({"signal": signal, "available_margin_override": available_margin_override,
                             "notional_override": notional_override, "skip_margin_check": skip_margin_check,
                             "account_now": self.exchange.fetch_account(),
                             "intents_before": len(self.journal_log.intents)})
        return super()._handle_signal(signal, available_margin_override, notional_override, skip_margin_check,
                                      account=account)


class JournalMarks(logging.Handler):
    """Notes, for each log line, how many intents the journal held when it was written."""

    def __init__(self, journal: MemoryJournal) -> None:
        super().__init__(logging.INFO)
        self.journal = journal
        self.lines: list[tuple[str, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.getMessage(), len(self.journal.intents)))


def test_loop_refreshes_margin_between_closes_and_opens_and_hands_the_opens_the_refreshed_figures() -> None:
    clock = SimulatedClock(T0)
    journal = MemoryJournal()
    instruments = {"PF_XBTUSD": BTC3, "PF_ETHUSD": ETH3}
    exchange = RecordingPaperExchange(instruments=instruments, clock=clock, journal=journal)
    market = ScriptedMarket(clock, {"PF_XBTUSD": 40_000.0, "PF_ETHUSD": 2_000.0})
    signals = ScriptedSignals()
    loop = RecordingLoop(AppConfig(risk=LOOP_RISK, auction=AUCTION, loop=LoopConfig(fast_tick_seconds=0.01)),
                         clock=clock, market=market, signals=signals, exchange=exchange, journal=journal,
                         instruments=instruments, symbol_map={"BTC/USD": "PF_XBTUSD", "ETH/USD": "PF_ETHUSD"},
                         market_listeners=[exchange.update_market], instance_id="refresh")
    loop.handled, loop.journal_log = [], journal
    loop.fast_tick()
    # a BTC long from before (20,000 USD at 3x holds ~6,667 of the 10,000 USD), held two hours
    exchange.create_order(intent("manual-1", OrderSide.BUY, "0.5", order_type=OrderType.MARKET))
    clock.advance(timedelta(hours=2))
    loop.fast_tick()
    stale = exchange.fetch_account()
    signals.next = [make_signal("BTC/USD", score=0.9, ref_price=40_000.0, ts=clock.now()),
                    make_signal("ETH/USD", score=2.0, ref_price=2_000.0, stop_distance_pct=0.04, ts=clock.now())]
    marks = JournalMarks(journal)
    trading_log = logging.getLogger("krakenbot.live.trading")
    trading_log.addHandler(marks)
    old_level = trading_log.level
    trading_log.setLevel(logging.INFO)
    try:
        report = loop.slow_tick()
    finally:
        trading_log.removeHandler(marks)
        trading_log.setLevel(old_level)

    [close] = report.plan.closes
    [cand] = report.plan.opens
    assert (close.symbol, cand.futures_symbol) == ("PF_XBTUSD", "PF_ETHUSD")
    assert cand.margin_required > stale.available_margin_usd  # the stale figure could not pay for it
    # _handle_signal got the refreshed margin, the auction's notional and skip_margin_check
    [handled] = loop.handled
    assert report.refreshed is not None
    assert handled["signal"] == cand.signal
    assert handled["available_margin_override"] == report.refreshed.available_margin_usd
    assert handled["available_margin_override"] == handled["account_now"].available_margin_usd
    assert handled["available_margin_override"] > stale.available_margin_usd + 0.9 * close.freed_margin_usd
    assert handled["notional_override"] == cand.position_notional
    assert handled["skip_margin_check"] is True
    # the refresh line comes after the close was sent and before the open was
    close_ids = [i.client_order_id for i in journal.intents if i.reason.startswith("auction_close")]
    open_ids = [i.client_order_id for i in journal.intents if i.reason == "auction_open"]
    assert close_ids and open_ids
    first_open = min(journal.intents.index(i) for i in journal.intents if i.reason == "auction_open")
    last_close = max(journal.intents.index(i) for i in journal.intents if i.reason.startswith("auction_close"))
    [(line, intents_then)] = [(m, n) for m, n in marks.lines if m.startswith("Auction: Margin refreshed after closes")]
    assert last_close < intents_then <= first_open
    assert handled["intents_before"] == intents_then
    assert "1 closes done, 1 opens to go" in line
    eth = next(p for p in exchange.fetch_positions() if p.symbol == "PF_ETHUSD")
    assert 0 <= cand.position_notional - eth.size * 2_000.0 < float(ETH3.lot_size) * 2_000.0

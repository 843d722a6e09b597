"""The auction's opens are sized from REFRESHED margin (run: ``python -m pytest tests/test_auction_margin_refresh.py``).

The sequence an operator relies on, at the policy level:

1. the auction plans with the account as it was (stale): it closes an outranked position and
   counts the margin that close frees towards its open;
2. the closes run; the account is refreshed (available margin now includes what they freed);
3. each open is re-validated with ``validate_trade(..., available_margin_override=refreshed
   available margin, notional_override=candidate.position_notional, skip_margin_check=True)``:
   it is approved with exactly the auction's notional, while the same trade checked against the
   stale margin would be refused.

This file will grow the loop-level test once the trading loop exists (a later issue): the loop
logs ``Auction: Margin refreshed after closes`` between steps 2 and 3.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from krakenbot.config.models import AuctionConfig, RiskConfig
from krakenbot.domain import AccountState, Side
from krakenbot.portfolio.auction import AuctionAllocator
from krakenbot.portfolio.plan import AllocationPlan, CloseReason
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.risk.trading_state import EquityMarks, TradingState
from stubs import T0, make_account, make_perp, make_position, make_signal

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

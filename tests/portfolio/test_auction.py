"""AuctionAllocator.plan: rules pinned one by one, trader scenarios, and Hypothesis invariants."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.account import make_account, make_perp, make_position
from builders.clock import T0
from builders.market import make_candidate, make_signal
from krakenbot.config.models import AuctionConfig, RiskConfig
from krakenbot.domain import AccountState, CandidateSignal, Position, Side
from krakenbot.portfolio.auction import AuctionAllocator, build_candidates
from krakenbot.portfolio.plan import AllocationPlan, CloseReason, RejectReason
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.risk.trading_state import EquityMarks

RISK = RiskConfig(max_positions=3, max_leverage=3, max_total_exposure=3, max_margin_utilization_pct=0.6)
AUCTION = AuctionConfig(replace_score_margin=0.25, min_hold_minutes=60, stale_signal_minutes=240)


def allocator(**risk: Any) -> AuctionAllocator:
    auction = {k: risk.pop(k) for k in list(risk) if k in AuctionConfig.model_fields}
    risk_cfg = RISK.model_copy(update=risk)
    return AuctionAllocator(risk_cfg, AUCTION.model_copy(update=auction), RiskManager(risk_cfg))


def plan(candidates: list[CandidateSignal], positions: list[Position] | None = None,
         account: AccountState | None = None, alloc: AuctionAllocator | None = None, **kwargs: Any) -> AllocationPlan:
    return (alloc or allocator()).plan(candidates, positions or [], account or make_account(10_000), T0, **kwargs)


def opened(p: AllocationPlan) -> list[str]:
    return [c.futures_symbol for c in p.opens]


def closed(p: AllocationPlan) -> dict[str, CloseReason]:
    return {c.symbol: c.reason for c in p.closes}


def rejected(p: AllocationPlan) -> dict[str, RejectReason]:
    return {r.candidate.futures_symbol or r.candidate.symbol: r.reason for r in p.rejected}


# --- slots and ranking --------------------------------------------------------------------

def test_plan_opens_best_scores_up_to_max_positions_and_rejects_the_rest_for_slots() -> None:
    cands = [make_candidate(f"PF_{s}USD", score=x) for s, x in (("ADA", 1.0), ("BTC", 3.0), ("ETH", 2.0), ("SOL", 4.0))]
    p = plan(cands, alloc=allocator(max_positions=2))
    assert opened(p) == ["PF_SOLUSD", "PF_BTCUSD"]
    assert rejected(p) == {"PF_ETHUSD": RejectReason.NO_SLOT, "PF_ADAUSD": RejectReason.NO_SLOT}


def test_plan_counts_held_positions_against_max_positions() -> None:
    held = [make_position("PF_XBTUSD", score=5.0), make_position("PF_ETHUSD", size=1, entry_price=1_500, score=5.0)]
    p = plan([make_candidate("PF_SOLUSD", score=2.0), make_candidate("PF_ADAUSD", score=1.0)], held,
             make_account(10_000, initial=1_200), alloc=allocator(max_positions=3))
    assert opened(p) == ["PF_SOLUSD"] and rejected(p) == {"PF_ADAUSD": RejectReason.NO_SLOT}


def test_plan_breaks_score_ties_by_futures_symbol() -> None:
    cands = [make_candidate("PF_SOLUSD", score=2.0), make_candidate("PF_ADAUSD", score=2.0)]
    assert opened(plan(cands, alloc=allocator(max_positions=1))) == ["PF_ADAUSD"]
    assert opened(plan(cands[::-1], alloc=allocator(max_positions=1))) == ["PF_ADAUSD"]


def test_plan_rejects_a_second_candidate_for_the_same_contract() -> None:
    cands = [make_candidate("PF_XBTUSD", symbol="BTC/USDT", score=1.0), make_candidate("PF_XBTUSD", score=2.0)]
    p = plan(cands)
    assert [o.symbol for o in p.opens] == ["XBT/USD"]
    assert [(r.candidate.symbol, r.reason) for r in p.rejected] == [("BTC/USDT", RejectReason.DUPLICATE)]


# --- reversed, stale, keep ----------------------------------------------------------------

def test_plan_reversed_candidate_closes_the_held_position_then_opens_the_other_side() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    p = plan([make_candidate("PF_XBTUSD", Side.SHORT, score=1.5)], held, make_account(10_000, initial=700))
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED}
    assert [(o.futures_symbol, o.side) for o in p.opens] == [("PF_XBTUSD", Side.SHORT)]


def test_plan_reversed_latest_signal_closes_even_without_a_candidate() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    latest = {"PF_XBTUSD": make_signal(side=Side.SHORT, ts=T0 - timedelta(minutes=30))}
    p = plan([], held, signals_by_symbol=latest)
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED} and not p.opens
    assert p.closes[0].detail.startswith("latest signal is short (score ")  # the side's value, not Side.SHORT


def test_plan_reversal_closes_even_a_young_position() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG, held_minutes=5)]
    p = plan([make_candidate("PF_XBTUSD", Side.SHORT)], held)
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED}


def test_plan_stale_latest_signal_closes_the_position() -> None:
    held = [make_position("PF_XBTUSD")]
    latest = {"PF_XBTUSD": make_signal(ts=T0 - timedelta(minutes=241))}
    assert closed(plan([], held, signals_by_symbol=latest)) == {"PF_XBTUSD": CloseReason.STALE}
    fresh = {"PF_XBTUSD": make_signal(ts=T0 - timedelta(minutes=240))}
    assert closed(plan([], held, signals_by_symbol=fresh)) == {}


def test_plan_stale_closes_not_allowed_keeps_a_stale_position_but_still_closes_a_reversed_one() -> None:
    """While the local clock is off from the exchange's, a signal's age cannot be trusted (issue 11 item 5)."""
    held = [make_position("PF_XBTUSD"), make_position("PF_ETHUSD", entry_price=2_000.0)]
    latest = {"PF_XBTUSD": make_signal(ts=T0 - timedelta(hours=5)),
              "PF_ETHUSD": make_signal("ETH/USD", Side.SHORT, ts=T0 - timedelta(minutes=5))}
    p = plan([], held, signals_by_symbol=latest, stale_closes_allowed=False)
    assert closed(p) == {"PF_ETHUSD": CloseReason.REVERSED}
    [keep] = p.keeps
    assert keep.symbol == "PF_XBTUSD" and "stale close paused" in keep.detail
    assert closed(plan([], held, signals_by_symbol=latest)) == {"PF_XBTUSD": CloseReason.STALE,
                                                                "PF_ETHUSD": CloseReason.REVERSED}


def test_plan_old_opposite_signal_closes_as_stale_not_reversed() -> None:
    latest = {"PF_XBTUSD": make_signal(side=Side.SHORT, ts=T0 - timedelta(minutes=600))}
    assert closed(plan([], [make_position("PF_XBTUSD")], signals_by_symbol=latest)) == {"PF_XBTUSD": CloseReason.STALE}


def test_plan_position_with_no_known_signal_is_kept() -> None:
    p = plan([], [make_position("PF_XBTUSD", score=0.7)], signals_by_symbol={})
    assert [(k.symbol, k.score) for k in p.keeps] == [("PF_XBTUSD", 0.7)] and not p.closes


def test_plan_same_side_candidate_keeps_the_position_and_is_not_opened_again() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    cand = make_candidate("PF_XBTUSD", Side.LONG, score=2.0)
    p = plan([cand], held)
    assert not p.opens and not p.closes and not p.rejected
    assert [(k.symbol, k.candidate, k.score) for k in p.keeps] == [("PF_XBTUSD", cand, 2.0)]


def test_plan_older_candidate_superseded_by_newer_opposite_signal_is_not_opened() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    cand = make_candidate("PF_XBTUSD", Side.LONG, ts=T0 - timedelta(minutes=60))
    latest = {"PF_XBTUSD": make_signal(side=Side.SHORT, ts=T0)}
    p = plan([cand], held, signals_by_symbol=latest)
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED}
    assert rejected(p) == {"PF_XBTUSD": RejectReason.STALE_SIGNAL}


def test_plan_rejects_a_candidate_whose_own_signal_is_stale() -> None:
    p = plan([make_candidate("PF_ETHUSD", ts=T0 - timedelta(minutes=300))])
    assert rejected(p) == {"PF_ETHUSD": RejectReason.STALE_SIGNAL}


# --- outranked: score margin and minimum hold ----------------------------------------------

def full_book(held_minutes: float = 120, score: float = 1.0) -> list[Position]:
    return [make_position("PF_XBTUSD", score=score, held_minutes=held_minutes)]


def test_plan_outranks_a_held_position_beaten_by_more_than_the_margin_after_min_hold() -> None:
    p = plan([make_candidate("PF_ETHUSD", score=1.3)], full_book(), make_account(10_000, initial=700),
             alloc=allocator(max_positions=1), signals_by_symbol={})
    assert closed(p) == {"PF_XBTUSD": CloseReason.OUTRANKED}
    assert opened(p) == ["PF_ETHUSD"] and not p.keeps


def test_plan_does_not_outrank_a_position_held_less_than_min_hold() -> None:
    p = plan([make_candidate("PF_ETHUSD", score=5.0)], full_book(held_minutes=59), make_account(10_000, initial=700),
             alloc=allocator(max_positions=1), signals_by_symbol={})
    assert not p.closes and not p.opens
    assert rejected(p) == {"PF_ETHUSD": RejectReason.NO_SLOT}
    assert "held less than 60 min" in p.rejected[0].detail


def test_plan_does_not_outrank_when_score_beats_only_by_the_margin_exactly() -> None:
    alloc = allocator(max_positions=1)
    tie = plan([make_candidate("PF_ETHUSD", score=1.25)], full_book(), alloc=alloc, signals_by_symbol={})
    assert not tie.closes and rejected(tie) == {"PF_ETHUSD": RejectReason.NO_SLOT}
    beat = plan([make_candidate("PF_ETHUSD", score=1.2501)], full_book(), alloc=alloc, signals_by_symbol={})
    assert closed(beat) == {"PF_XBTUSD": CloseReason.OUTRANKED}


def test_plan_outranks_the_weakest_eligible_position_first() -> None:
    held = [make_position("PF_XBTUSD", score=1.0), make_position("PF_ETHUSD", size=1, entry_price=2_000, score=0.5),
            make_position("PF_SOLUSD", size=100, entry_price=20, score=0.2, held_minutes=10)]
    p = plan([make_candidate("PF_ADAUSD", score=3.0)], held, make_account(10_000, initial=2_000),
             alloc=allocator(max_positions=3), signals_by_symbol={})
    assert closed(p) == {"PF_ETHUSD": CloseReason.OUTRANKED}  # SOL is weaker but too young


def test_plan_outranks_to_free_margin_when_a_slot_is_free_but_the_budget_is_not() -> None:
    held = [make_position("PF_XBTUSD", size=0.45, score=0.5)]  # 9,000 notional, 3,000 margin
    account = make_account(10_000, initial=3_000, available=7_000)  # budget min(7,000, 6,000-3,000) = 3,000
    p = plan([make_candidate("PF_ETHUSD", score=2.0, notional=12_000)], held, account, signals_by_symbol={})
    assert closed(p) == {"PF_XBTUSD": CloseReason.OUTRANKED} and opened(p) == ["PF_ETHUSD"]
    assert p.planned_margin_usd == pytest.approx(4_000) and p.margin_budget_usd == pytest.approx(6_000)


def test_plan_confirming_candidate_of_an_outranked_position_is_reported_rejected() -> None:
    held = [make_position("PF_XBTUSD", score=0.2)]
    confirming = make_candidate("PF_XBTUSD", score=3.0, ts=T0 - timedelta(minutes=60))
    newer = {"PF_XBTUSD": make_signal(score=0.2, ts=T0)}  # the newest signal scores the position 0.2
    p = plan([confirming, make_candidate("PF_ETHUSD", score=1.0)], held, make_account(10_000, initial=700),
             alloc=allocator(max_positions=1), signals_by_symbol=newer)
    assert closed(p) == {"PF_XBTUSD": CloseReason.OUTRANKED} and opened(p) == ["PF_ETHUSD"]
    assert rejected(p) == {"PF_XBTUSD": RejectReason.OUTRANKED}


def test_plan_position_outranked_in_this_plan_is_not_reopened_by_its_own_candidate() -> None:
    held = [make_position("PF_XBTUSD", score=1.0)]
    cands = [make_candidate("PF_ETHUSD", score=3.0), make_candidate("PF_XBTUSD", score=1.0)]
    p = plan(cands, held, make_account(10_000, initial=700), alloc=allocator(max_positions=1))
    assert closed(p) == {"PF_XBTUSD": CloseReason.OUTRANKED} and opened(p) == ["PF_ETHUSD"]
    assert rejected(p) == {"PF_XBTUSD": RejectReason.NO_SLOT}


# --- margin, exposure ----------------------------------------------------------------------

def test_plan_stops_at_the_margin_budget_but_fits_a_smaller_lower_ranked_candidate() -> None:
    cands = [make_candidate("PF_AUSD", score=3.0, notional=7_500), make_candidate("PF_BUSD", score=2.0, notional=7_500),
             make_candidate("PF_CUSD", score=1.5, notional=7_500), make_candidate("PF_DUSD", score=1.0, notional=1_500)]
    p = plan(cands, alloc=allocator(max_positions=5))  # budget 6,000; 2,500 margin each, then 500
    assert opened(p) == ["PF_AUSD", "PF_BUSD", "PF_DUSD"]
    assert rejected(p) == {"PF_CUSD": RejectReason.MARGIN}
    assert p.planned_margin_usd == pytest.approx(5_500) and p.margin_budget_usd == pytest.approx(6_000)


def test_plan_counts_margin_freed_by_closes_in_the_budget() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG, size=0.3)]  # 6,000 notional frees 2,000 margin
    account = make_account(10_000, initial=2_000, available=500)
    p = plan([make_candidate("PF_ETHUSD", score=2.0, notional=6_000)], held, account,
             signals_by_symbol={"PF_XBTUSD": make_signal(side=Side.SHORT)})
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED} and opened(p) == ["PF_ETHUSD"]
    assert p.freed_margin_usd == pytest.approx(2_000) and p.margin_budget_usd == pytest.approx(2_500)


def test_plan_freed_margin_estimate_uses_the_higher_leverage_so_it_never_overstates() -> None:
    alloc = allocator()
    assert alloc.position_margin_usd(make_position(size=0.3, leverage=10)) == pytest.approx(600)
    assert alloc.position_margin_usd(make_position(size=0.3, leverage=1)) == pytest.approx(2_000)


def test_plan_budget_respects_max_margin_utilization() -> None:
    account = make_account(10_000, initial=5_000, available=5_000)  # only 1,000 left under 60 %
    p = plan([make_candidate("PF_ETHUSD", notional=3_300), make_candidate("PF_SOLUSD", score=0.5, notional=2_700)],
             [make_position("PF_XBTUSD", score=9)], account)
    assert opened(p) == ["PF_SOLUSD"] and rejected(p) == {"PF_ETHUSD": RejectReason.MARGIN}


def test_plan_respects_total_exposure_across_planned_opens() -> None:
    cands = [make_candidate("PF_AUSD", score=2.0, notional=20_000, leverage=10),
             make_candidate("PF_BUSD", score=1.0, notional=20_000, leverage=10)]
    p = plan(cands)  # cap 30,000
    assert opened(p) == ["PF_AUSD"] and rejected(p) == {"PF_BUSD": RejectReason.EXPOSURE}


def test_plan_rejects_unsized_candidates() -> None:
    assert rejected(plan([make_candidate("PF_ETHUSD", notional=0.0)])) == {"PF_ETHUSD": RejectReason.NOT_SIZED}


# --- paused, no contract, reduce-only --------------------------------------------------------

@pytest.mark.parametrize("paused", [{"PF_ETHUSD"}, {"ETH/USD"}, {"*"}])
def test_plan_never_opens_a_symbol_shockguard_paused(paused: set[str]) -> None:
    p = plan([make_candidate("PF_ETHUSD", score=9.0)], paused_symbols=paused)
    assert not p.opens and rejected(p) == {"PF_ETHUSD": RejectReason.PAUSED}


def test_plan_pause_of_one_symbol_leaves_others_open() -> None:
    p = plan([make_candidate("PF_ETHUSD", score=9.0), make_candidate("PF_SOLUSD")], paused_symbols={"PF_ETHUSD"})
    assert opened(p) == ["PF_SOLUSD"]


def test_plan_paused_symbol_held_on_the_same_side_is_still_kept() -> None:
    p = plan([make_candidate("PF_XBTUSD")], [make_position("PF_XBTUSD")], paused_symbols={"*"})
    assert [k.symbol for k in p.keeps] == ["PF_XBTUSD"] and not p.closes


def test_plan_never_opens_a_candidate_without_futures_contract() -> None:
    p = plan([make_candidate("", symbol="LUNA/USD", score=9.0)])
    assert not p.opens and rejected(p) == {"LUNA/USD": RejectReason.NO_CONTRACT}


def test_plan_reduce_only_rejects_every_entry_but_still_closes_reversals() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    p = plan([make_candidate("PF_XBTUSD", Side.SHORT), make_candidate("PF_ETHUSD")], held, entries_allowed=False)
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED} and not p.opens
    assert set(rejected(p).values()) == {RejectReason.REDUCE_ONLY}


# --- candidates from signals -----------------------------------------------------------------

def test_build_candidates_maps_sizes_and_refuses_unmapped_signals() -> None:
    signals = [make_signal("BTC/USD", stop_distance_pct=0.02, ref_price=20_000.5),
               make_signal("LUNA/USD", ref_price=1.0), make_signal("ETH/USD", ref_price=1_500)]
    starved = make_account(10_000, available=0.0)  # the auction budgets margin, not the builder
    cands, refusals = build_candidates(signals, {"BTC/USD": "PF_XBTUSD", "ETH/USD": "PF_ETHUSD"},
                                       RiskManager(RISK), starved, T0, instruments={"PF_XBTUSD": make_perp()})
    assert [c.futures_symbol for c in cands] == ["PF_XBTUSD"]
    [btc] = cands
    assert btc.position_notional == pytest.approx(float(Decimal("0.2499") * Decimal("20000.5")))
    assert btc.margin_required == pytest.approx(btc.position_notional / 3) and btc.leverage == 3
    assert [(r.signal.symbol, r.reason) for r in refusals] == [("ETH/USD", "no instrument known for PF_ETHUSD"),
                                                               ("LUNA/USD", "no futures contract mapped")]


def test_build_candidates_passes_on_the_risk_managers_refusal() -> None:
    held = [make_position("PF_ETHUSD", size=20, entry_price=1_500)]  # exposure cap used up
    cands, refusals = AuctionAllocator(RISK, AUCTION, RiskManager(RISK)).candidates_from_signals(
        [make_signal("BTC/USD")], {"BTC/USD": "PF_XBTUSD"}, make_account(10_000), T0, positions=held)
    assert cands == () and "total exposure" in refusals[0].reason


@pytest.mark.parametrize("equity", [7_000.0, 10_000.0])  # below and above the drawdown limit from a 10,000 peak
def test_build_candidates_gives_each_signal_the_decision_validate_trade_gives_it_alone(equity: float) -> None:
    marks = EquityMarks.start(10_000.0, T0)
    signals = [make_signal("BTC/USD", stop_distance_pct=0.02, ref_price=20_000.5),
               make_signal("ETH/USD", ref_price=1_500), make_signal("SOL/USD", ref_price=150)]
    symbol_map = {"BTC/USD": "PF_XBTUSD", "ETH/USD": "PF_ETHUSD", "SOL/USD": "PF_SOLUSD"}
    account = make_account(equity)
    manager = RiskManager(RISK)
    cands, refusals = build_candidates(signals, symbol_map, manager, account, T0, equity_marks=marks)
    alone = {s.symbol: manager.validate_trade(s, account, skip_margin_check=True, equity_marks=marks, now=T0)
             for s in signals}
    assert {c.symbol: (c.position_notional, c.margin_required) for c in cands} == {
        sym: (d.notional_usd, d.margin_required_usd) for sym, d in alone.items() if d.approved}
    assert {r.signal.symbol: r.reason for r in refusals} == {
        sym: d.reason for sym, d in alone.items() if not d.approved}
    assert bool(refusals) == (equity < 10_000.0)  # the drawdown refuses every signal with its reason


def test_plan_summary_names_every_decision() -> None:
    held = [make_position("PF_XBTUSD", Side.LONG)]
    p = plan([make_candidate("PF_XBTUSD", Side.SHORT, score=1.5), make_candidate("", symbol="LUNA/USD")], held)
    text = p.summary()
    assert text.startswith("Auction: 1 close, 1 open, 0 keep, 1 rejected")
    assert "close PF_XBTUSD (reversed)" in text and "open PF_XBTUSD short" in text
    assert "reject LUNA/USD (no_contract)" in text


# --- trader scenarios --------------------------------------------------------------------------

def test_scenario_stronger_eth_breakout_replaces_tired_btc_long_after_three_hours() -> None:
    """Max one position. We have been long BTC for 3 h on a score that has faded to 0.8; ETH breaks out
    with 1.9 (beats 0.8 by more than 0.25). BTC is closed as outranked and ETH opened with the margin
    BTC frees: available was only 1,200 USD but the close frees 1,333 USD."""
    btc = make_position("PF_XBTUSD", Side.LONG, size=0.2, held_minutes=180)
    latest = {"PF_XBTUSD": make_signal("BTC/USD", score=0.8, ts=T0)}
    account = make_account(10_000, initial=1_333.33, available=1_200)
    eth = make_candidate("PF_ETHUSD", score=1.9, notional=6_000)
    p = plan([eth], [btc], account, alloc=allocator(max_positions=1), signals_by_symbol=latest)
    assert closed(p) == {"PF_XBTUSD": CloseReason.OUTRANKED} and p.opens == (eth,)
    assert p.planned_margin_usd == pytest.approx(2_000) and 1_200 + p.freed_margin_usd >= 2_000


def test_scenario_fresh_sol_long_cannot_be_churned_by_a_slightly_better_signal() -> None:
    """We opened SOL 20 minutes ago at score 1.5. A 2.5 AVAX signal arrives: better by a whole point,
    but SOL has not been held an hour yet, so nothing changes this candle."""
    sol = make_position("PF_SOLUSD", size=100, entry_price=20, held_minutes=20)
    p = plan([make_candidate("PF_AVAXUSD", score=2.5)], [sol], make_account(10_000, initial=667),
             alloc=allocator(max_positions=1), signals_by_symbol={"PF_SOLUSD": make_signal("SOL/USD", score=1.5)})
    assert not p.closes and not p.opens and [k.symbol for k in p.keeps] == ["PF_SOLUSD"]


def test_scenario_market_wide_shock_pauses_every_entry_while_held_trends_ride_on() -> None:
    """ShockGuard saw three symbols crash within a minute and paused everything ('*'). The best setups
    of the day are on the table, yet nothing is opened; our BTC long, still signalling long, is kept."""
    cands = [make_candidate("PF_ETHUSD", score=4.0), make_candidate("PF_XBTUSD", score=2.0)]
    p = plan(cands, [make_position("PF_XBTUSD")], make_account(10_000, initial=667), paused_symbols={"*"})
    assert not p.opens and not p.closes and [k.symbol for k in p.keeps] == ["PF_XBTUSD"]
    assert rejected(p) == {"PF_ETHUSD": RejectReason.PAUSED}


def test_scenario_trend_flip_on_btc_closes_long_and_goes_short_the_same_candle() -> None:
    """The 1 h candle closes with BTC's fast EMA under the slow one: the strategy now says short.
    The long is closed as reversed (no minimum hold for a reversal) and the short opened."""
    long_btc = make_position("PF_XBTUSD", Side.LONG, size=0.25, held_minutes=30)
    short = make_candidate("PF_XBTUSD", Side.SHORT, score=1.1, notional=4_000)
    p = plan([short], [long_btc], make_account(10_000, initial=1_667, available=8_333))
    assert closed(p) == {"PF_XBTUSD": CloseReason.REVERSED} and p.opens == (short,)


# --- invariants --------------------------------------------------------------------------------

POOL = ["PF_AUSD", "PF_BUSD", "PF_CUSD", "PF_DUSD", "PF_EUSD", "PF_FUSD"]
SCORES = st.sampled_from([0.0, 0.5, 1.0, 1.25, 1.5, 2.0, 3.0])
MINUTES = st.sampled_from([0, 30, 59, 60, 120, 239, 241, 600])


@st.composite
def candidate_st(draw: st.DrawFn) -> CandidateSignal:
    fut = draw(st.sampled_from([*POOL, ""]))
    quote = draw(st.sampled_from(["USD", "USDT"]))  # two spot pairs may map to one contract
    spot = draw(st.sampled_from(["A/USD", "B/USD", "Z/USD"])) if not fut else f"{fut[3]}/{quote}"
    return make_candidate(fut, draw(st.sampled_from(Side)), symbol=spot, score=draw(SCORES),
                          notional=draw(st.sampled_from([0.0, 500.0, 2_000.0, 6_000.0, 15_000.0])),
                          leverage=draw(st.sampled_from([1.0, 3.0, 5.0])), ts=T0 - timedelta(minutes=draw(MINUTES)))


@st.composite
def position_st(draw: st.DrawFn, symbol: str) -> Position:
    return make_position(symbol, draw(st.sampled_from(Side)), size=draw(st.sampled_from([0.01, 0.1, 0.5])),
                         held_minutes=draw(MINUTES), leverage=draw(st.sampled_from([None, 1.0, 3.0, 10.0])),
                         score=draw(st.one_of(st.none(), SCORES)))


@st.composite
def world(draw: st.DrawFn) -> dict[str, Any]:
    held = draw(st.lists(st.sampled_from(POOL), unique=True, max_size=5))
    positions = [draw(position_st(s)) for s in held]
    equity = draw(st.sampled_from([2_000.0, 10_000.0, 50_000.0]))
    initial = draw(st.floats(0, equity))
    latest = draw(st.one_of(st.none(), st.dictionaries(
        st.sampled_from(POOL), st.builds(lambda side, score, m: make_signal(side=side, score=score,
                                                                            ts=T0 - timedelta(minutes=m)),
                                         st.sampled_from(Side), SCORES, MINUTES), max_size=4)))
    return {
        "candidates": draw(st.lists(candidate_st(), max_size=10)),
        "positions": positions,
        "account": make_account(equity, initial=initial, available=draw(st.floats(-1_000, equity))),
        "paused": draw(st.sets(st.sampled_from([*POOL, "*", "A/USD"]), max_size=2)),
        "latest": latest,
        "alloc": allocator(max_positions=draw(st.integers(1, 4)),
                           replace_score_margin=draw(st.sampled_from([0.0, 0.25, 1.0])),
                           min_hold_minutes=draw(st.sampled_from([0.0, 60.0]))),
    }


def run(w: dict[str, Any], candidates: list[CandidateSignal] | None = None,
        positions: list[Position] | None = None) -> AllocationPlan:
    return w["alloc"].plan(w["candidates"] if candidates is None else candidates,
                           w["positions"] if positions is None else positions, w["account"], T0,
                           paused_symbols=w["paused"], signals_by_symbol=w["latest"])


@settings(max_examples=600, deadline=None)
@given(w=world())
def test_plan_invariants_hold_for_any_book(w: dict[str, Any]) -> None:
    p = run(w)
    alloc: AuctionAllocator = w["alloc"]
    account: AccountState = w["account"]
    held_after = len(p.keeps) + len(p.opens)
    # never more than max_positions open after the plan; a book already over it (max_positions lowered)
    # is not force-closed, and only shrinks or swaps one-for-one
    forced = sum(c.reason is not CloseReason.OUTRANKED for c in p.closes)
    assert held_after <= max(alloc.risk_cfg.max_positions, len(w["positions"]) - forced)
    if len(w["positions"]) <= alloc.risk_cfg.max_positions:
        assert held_after <= alloc.risk_cfg.max_positions
    # never more margin than available + freed, nor beyond the utilization cap
    planned = sum(o.margin_required for o in p.opens)
    assert planned == pytest.approx(p.planned_margin_usd)
    freed = sum(c.freed_margin_usd for c in p.closes)
    assert planned <= p.margin_budget_usd + 1e-6
    if p.opens:
        assert planned <= account.available_margin_usd + freed + 1e-6
        assert account.initial_margin_usd - p.freed_margin_usd + planned <= (
            alloc.risk_cfg.max_margin_utilization_pct * account.equity_usd + 1e-6)
    # never a paused or contract-less open, never two opens on one contract or on a kept one
    for o in p.opens:
        assert o.futures_symbol and "*" not in w["paused"]
        assert o.futures_symbol not in w["paused"] and o.symbol not in w["paused"]
    open_syms = [o.futures_symbol for o in p.opens]
    assert len(open_syms) == len(set(open_syms)) and not set(open_syms) & {k.symbol for k in p.keeps}
    # every candidate and every position is accounted for exactly once
    seen = Counter(id(c) for c in [*p.opens, *(r.candidate for r in p.rejected),
                                   *(k.candidate for k in p.keeps if k.candidate is not None)])
    assert seen == Counter(id(c) for c in w["candidates"])
    assert Counter(id(x) for x in [*(c.position for c in p.closes), *(k.position for k in p.keeps)]) == Counter(
        id(x) for x in w["positions"])
    # an outranked close only for a position held min_hold, beaten by more than the margin
    for c in p.closes:
        if c.reason is CloseReason.OUTRANKED:
            assert T0 - c.position.ts_opened >= timedelta(minutes=alloc.auction_cfg.min_hold_minutes)
            assert p.opens


@settings(max_examples=200, deadline=None)
@given(w=world(), data=st.data())
def test_plan_is_deterministic_under_input_permutation(w: dict[str, Any], data: st.DataObject) -> None:
    shuffled_c = data.draw(st.permutations(w["candidates"]))
    shuffled_p = data.draw(st.permutations(w["positions"]))
    assert run(w, list(shuffled_c), list(shuffled_p)) == run(w)


def test_candidates_from_signals_warns_futures_symbol_not_found_once_per_spot_symbol(
        caplog: pytest.LogCaptureFixture) -> None:
    auction = allocator()
    unmapped = make_signal("DOGE/USD")
    for _ in range(3):  # three slow ticks with the same unmapped signal
        with caplog.at_level("WARNING", logger="krakenbot.portfolio.auction"):
            candidates, refusals = auction.candidates_from_signals([unmapped], {}, make_account(10_000), T0)
        assert candidates == () and [r.reason for r in refusals] == ["no futures contract mapped"]
    warned = [r.getMessage() for r in caplog.records if "Futures symbol not found" in r.getMessage()]
    assert warned == ["DOGE/USD: Futures symbol not found; signal not traded"]

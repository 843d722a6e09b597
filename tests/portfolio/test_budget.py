"""OpenBudget: the refreshed margin and free slots, and how one planned open fits them (as is, shrunk, skipped)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.account import make_account
from builders.market import make_candidate
from krakenbot.config.models import RiskConfig
from krakenbot.portfolio.budget import OpenBudget


# -- refreshed ---------------------------------------------------------------------------------------------
def test_refreshed_takes_available_margin_when_the_utilisation_cap_leaves_more() -> None:
    cfg = RiskConfig(max_margin_utilization_pct=0.6, max_positions=5)
    account = make_account(10_000.0, available=2_000.0, initial=1_000.0)  # cap room: 6,000 - 1,000 = 5,000
    budget = OpenBudget.refreshed(account, 2, cfg, price_cap_pct=0.01, taker_fee_pct=0.0005)
    assert budget == OpenBudget(margin_usd=2_000.0, slots=3, price_cap_pct=0.01, taker_fee_pct=0.0005)


def test_refreshed_takes_the_utilisation_cap_less_initial_margin_when_it_is_smaller() -> None:
    cfg = RiskConfig(max_margin_utilization_pct=0.5, max_positions=3)
    account = make_account(10_000.0, initial=4_000.0)  # available 6,000; cap room 5,000 - 4,000 = 1,000
    budget = OpenBudget.refreshed(account, 3, cfg)
    assert budget.margin_usd == pytest.approx(1_000.0)
    assert budget.slots == 0


def test_refreshed_over_the_cap_is_a_negative_budget_and_fits_nothing() -> None:
    cfg = RiskConfig(max_margin_utilization_pct=0.3, max_positions=5)
    budget = OpenBudget.refreshed(make_account(10_000.0, initial=4_000.0), 1, cfg)
    assert budget.margin_usd == pytest.approx(-1_000.0)
    fit = budget.fit(make_candidate(notional=10.0))
    assert fit.skip is not None and "no margin left" in fit.skip and fit.notional_usd == 0


# -- fit -----------------------------------------------------------------------------------------------------
def test_cost_counts_the_worst_fill_price_and_the_taker_fee() -> None:
    budget = OpenBudget(margin_usd=1_000.0, slots=1, price_cap_pct=0.05, taker_fee_pct=0.001)
    assert budget.cost_usd(3_000.0, 3.0) == pytest.approx(3_150.0 / 3 + 3_150.0 * 0.001)


def test_open_whose_worst_cost_fits_is_sent_with_the_auction_notional_unchanged() -> None:
    budget = OpenBudget(margin_usd=1_100.0, slots=1, price_cap_pct=0.05, taker_fee_pct=0.001)
    cand = make_candidate(notional=3_000.0, leverage=3.0)  # worst cost 1,053.15 USD
    fit = budget.fit(cand)
    assert (fit.notional_usd, fit.shrunk, fit.skip) == (cand.position_notional, False, None)


def test_open_that_fits_only_at_the_mark_is_shrunk_because_of_the_price_cap_and_fee() -> None:
    budget = OpenBudget(margin_usd=1_000.0, slots=1, price_cap_pct=0.05, taker_fee_pct=0.001)
    cand = make_candidate(notional=3_000.0, leverage=3.0)  # margin_required 1,000: fits only at the mark
    fit = budget.fit(cand)
    assert fit.shrunk and fit.skip is None
    assert fit.notional_usd < 3_000.0
    assert budget.cost_usd(fit.notional_usd, 3.0) <= 1_000.0
    assert budget.cost_usd(fit.notional_usd, 3.0) == pytest.approx(1_000.0, rel=1e-8)  # all of it, less headroom


@pytest.mark.parametrize("margin", [0.0, -0.01, -500.0, math.nan])
def test_no_margin_left_skips_with_the_reason(margin: float) -> None:
    fit = OpenBudget(margin_usd=margin, slots=2).fit(make_candidate(notional=100.0))
    assert fit.skip is not None and fit.skip.startswith("no margin left")
    assert fit.notional_usd == 0 and not fit.shrunk


@pytest.mark.parametrize("slots", [0, -1])
def test_no_free_slot_skips_with_the_reason_whatever_the_margin(slots: int) -> None:
    fit = OpenBudget(margin_usd=1e9, slots=slots).fit(make_candidate(notional=100.0))
    assert fit.skip is not None and "max_positions" in fit.skip
    assert fit.notional_usd == 0


positive = st.floats(min_value=1e-6, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=500, deadline=None)
@given(margin=positive, notional=positive, leverage=st.floats(min_value=0.01, max_value=100.0),
       price_cap=st.floats(min_value=0.0, max_value=1.0), fee=st.floats(min_value=0.0, max_value=0.05),
       slots=st.integers(min_value=1, max_value=100))
def test_what_fit_sends_never_costs_more_than_the_budget(margin: float, notional: float, leverage: float,
                                                         price_cap: float, fee: float, slots: int) -> None:
    budget = OpenBudget(margin_usd=margin, slots=slots, price_cap_pct=price_cap, taker_fee_pct=fee)
    cand = make_candidate(notional=notional, leverage=leverage)
    fit = budget.fit(cand)
    assert fit.skip is None
    assert budget.cost_usd(fit.notional_usd, leverage) <= margin
    if fit.shrunk:
        assert 0 < fit.notional_usd < notional
        assert budget.cost_usd(notional, leverage) > margin
    else:
        assert fit.notional_usd == notional


# -- spend ---------------------------------------------------------------------------------------------------
def test_spend_lowers_the_margin_and_takes_a_slot_keeping_the_worst_case_terms() -> None:
    budget = OpenBudget(margin_usd=1_000.0, slots=2, price_cap_pct=0.05, taker_fee_pct=0.001)
    after = budget.spend(400.0)
    assert after == OpenBudget(margin_usd=600.0, slots=1, price_cap_pct=0.05, taker_fee_pct=0.001)
    assert budget.margin_usd == 1_000.0 and budget.slots == 2  # a value: the old budget is unchanged
    last = after.spend(600.0)
    assert last.slots == 0 and last.margin_usd == 0
    assert last.fit(make_candidate(notional=10.0)).skip is not None

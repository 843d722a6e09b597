"""RiskManager.validate_trade: sizing, caps, margin, skip_margin_check and the loss limits."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from builders.account import make_account, make_perp, make_position
from builders.clock import T0
from builders.market import make_signal
from krakenbot.config.models import RiskConfig
from krakenbot.domain import Side, to_decimal
from krakenbot.domain.vocabulary import CapReason
from krakenbot.risk.risk_manager import RiskManager, TradeDecision
from krakenbot.risk.trading_state import EquityMarks, TradingState

CFG = RiskConfig(risk_per_trade_pct=0.01, max_leverage=3, max_position_notional_usd=50_000, max_total_exposure=3,
                 max_margin_utilization_pct=0.6, min_notional_usd=10)


def decide(cfg: RiskConfig = CFG, **kwargs: object) -> TradeDecision:
    signal = kwargs.pop("signal", make_signal(stop_distance_pct=0.02))
    account = kwargs.pop("account", make_account(10_000))
    return RiskManager(cfg).validate_trade(signal, account, now=T0, **kwargs)  # type: ignore[arg-type]


# --- sizing -------------------------------------------------------------------------------

def test_validate_trade_sizes_notional_from_risk_per_trade_and_stop_distance() -> None:
    d = decide()
    assert d.approved and d.reason == "approved"
    assert d.notional_usd == pytest.approx(10_000 * 0.01 / 0.02)  # 5,000 USD: a 2 % stop loses 100 USD
    assert d.leverage == 3 and d.margin_required_usd == pytest.approx(5_000 / 3)
    assert d.capped_by is CapReason.RISK_PER_TRADE and d.size is None


def test_validate_trade_rounds_size_down_to_the_lot_with_an_instrument() -> None:
    d = decide(signal=make_signal(ref_price=23_456.7, stop_distance_pct=0.03), instrument=make_perp(lot="0.001"))
    raw = Decimal(10_000 * 0.01 / 0.03) / Decimal("23456.7")
    assert d.approved and d.size == Decimal("0.142")
    assert d.size <= raw < d.size + Decimal("0.001")
    assert d.notional_usd == pytest.approx(0.142 * 23_456.7)


def test_validate_trade_notional_override_sizes_the_trade() -> None:
    d = decide(notional_override=1_234.5, instrument=make_perp(lot="0.0001"))
    assert d.approved and d.capped_by is CapReason.NOTIONAL_OVERRIDE
    assert d.size == Decimal("0.0617")  # 1,234.5 / 20,000 = 0.061725 -> 0.0617
    assert d.notional_usd == pytest.approx(1_234.0)


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan"), float("inf")])
def test_validate_trade_refuses_unusable_notional_override(bad: float) -> None:
    d = decide(notional_override=bad)
    assert not d.approved and "notional_override" in d.reason


# --- caps ---------------------------------------------------------------------------------

FULL_MARGIN = CFG.model_copy(update={"max_margin_utilization_pct": 1.0})


def test_validate_trade_caps_notional_at_config_leverage_times_equity() -> None:
    d = decide(FULL_MARGIN, signal=make_signal(stop_distance_pct=0.001))  # risk sizing would say 100,000
    assert d.approved and d.capped_by is CapReason.LEVERAGE and d.notional_usd == pytest.approx(30_000)


def test_validate_trade_caps_one_positions_margin_at_max_margin_utilization() -> None:
    d = decide(signal=make_signal(stop_distance_pct=0.001))  # 60 % of 10,000 equity at 3x
    assert d.approved and d.capped_by is CapReason.MARGIN_UTILIZATION and d.notional_usd == pytest.approx(18_000)
    assert d.margin_required_usd == pytest.approx(6_000)


def test_validate_trade_caps_leverage_at_the_instruments_maximum() -> None:
    d = decide(FULL_MARGIN, signal=make_signal(stop_distance_pct=0.001), instrument=make_perp(max_leverage=2))
    assert d.approved and d.leverage == 2 and d.capped_by is CapReason.LEVERAGE
    assert d.notional_usd == pytest.approx(20_000)
    assert d.margin_required_usd == pytest.approx(10_000)


def test_validate_trade_caps_at_max_position_notional() -> None:
    cfg = CFG.model_copy(update={"max_position_notional_usd": 2_000.0})
    d = decide(cfg)
    assert d.approved and d.capped_by is CapReason.MAX_POSITION_NOTIONAL and d.notional_usd == pytest.approx(2_000)


def test_validate_trade_caps_at_room_left_under_total_exposure_including_open_positions() -> None:
    held = [make_position("PF_ETHUSD", size=10, entry_price=1_400)]  # 14,000 of a 30,000 cap
    d = decide(FULL_MARGIN, signal=make_signal(stop_distance_pct=0.001), positions=held)
    assert d.approved and d.capped_by is CapReason.TOTAL_EXPOSURE and d.notional_usd == pytest.approx(16_000)


def test_validate_trade_refuses_when_total_exposure_is_used_up() -> None:
    held = [make_position("PF_ETHUSD", size=20, entry_price=1_500)]  # 30,000 = 3 x equity
    d = decide(positions=held)
    assert not d.approved and "total exposure" in d.reason


def test_validate_trade_refuses_below_min_notional() -> None:
    d = decide(CFG.model_copy(update={"min_notional_usd": 6_000.0}))
    assert not d.approved and "min_notional_usd" in d.reason and d.notional_usd == pytest.approx(5_000)


def test_validate_trade_refuses_below_instrument_min_size() -> None:
    d = decide(notional_override=30.0, instrument=make_perp(lot="0.001", min_size="0.01"))  # 0.001 < 0.01 BTC
    assert not d.approved and "minimum" in d.reason and d.size == Decimal("0.001")


def test_validate_trade_refuses_when_equity_is_not_positive() -> None:
    d = decide(account=make_account(-50.0, available=0.0))
    assert not d.approved and "equity" in d.reason


# --- margin -------------------------------------------------------------------------------

def test_validate_trade_refuses_when_margin_exceeds_available_margin() -> None:
    d = decide(account=make_account(10_000, available=1_000))  # needs 1,666.67
    assert not d.approved and "available margin" in d.reason
    assert d.margin_required_usd == pytest.approx(5_000 / 3)


def test_validate_trade_uses_available_margin_override_instead_of_account_figure() -> None:
    stale = make_account(10_000, available=1_000)
    assert decide(account=stale, available_margin_override=2_000).approved
    assert not decide(account=make_account(10_000), available_margin_override=1_000).approved


def test_validate_trade_refuses_beyond_max_margin_utilization() -> None:
    account = make_account(10_000, initial=5_000, available=5_000)  # 5,000 + 1,667 > 60 % of 10,000
    d = decide(account=account)
    assert not d.approved and "max_margin_utilization_pct" in d.reason


def test_validate_trade_skip_margin_check_ignores_short_available_margin_and_utilization() -> None:
    starved = make_account(10_000, initial=5_900, available=10)
    assert not decide(account=starved).approved
    d = decide(account=starved, skip_margin_check=True)
    assert d.approved and d.notional_usd == pytest.approx(5_000)


@pytest.mark.parametrize("budget", [0.0, -1.0, 1_000.0, float("nan")])
def test_validate_trade_skip_margin_check_still_holds_the_open_to_the_refreshed_budget(budget: float) -> None:
    """``skip_margin_check`` skips the check against the stale account, never the budget passed as override."""
    d = decide(account=make_account(10_000, initial=5_900, available=10), skip_margin_check=True,
               available_margin_override=budget)
    assert not d.approved and "exceeds available margin" in d.reason  # 5,000 USD at 3x needs 1,667 USD


def test_validate_trade_skip_margin_check_approves_what_the_refreshed_budget_pays_for() -> None:
    d = decide(account=make_account(10_000, initial=5_900, available=10), skip_margin_check=True,
               available_margin_override=1_667.0)
    assert d.approved and d.margin_required_usd == pytest.approx(5_000 / 3)


SKIP_DOES_NOT_BYPASS = {
    "reduce_only": {"equity_marks": EquityMarks(day=T0.date(), day_start_equity_usd=11_000, peak_equity_usd=11_000)},
    "equity": {"account": make_account(0.0, available=0.0)},
    "exposure": {"positions": [make_position("PF_ETHUSD", size=20, entry_price=1_500)]},
    "min_notional": {"notional_override": 5.0},
    "min_size": {"notional_override": 30.0, "instrument": make_perp(lot="0.001", min_size="0.01")},
    "override": {"notional_override": float("nan")},
}


@pytest.mark.parametrize("case", sorted(SKIP_DOES_NOT_BYPASS))
def test_validate_trade_skip_margin_check_still_runs_every_other_check(case: str) -> None:
    kwargs = dict(SKIP_DOES_NOT_BYPASS[case])
    without = decide(**kwargs)
    with_skip = decide(skip_margin_check=True, **kwargs)
    assert not without.approved and not with_skip.approved
    assert with_skip.reason == without.reason


# --- loss limits ---------------------------------------------------------------------------

def test_validate_trade_daily_loss_limit_switches_to_reduce_only() -> None:
    marks = EquityMarks(day=T0.date(), day_start_equity_usd=10_600, peak_equity_usd=10_600)  # -5.66 % today
    d = decide(equity_marks=marks)
    assert not d.approved and d.trading_state is TradingState.REDUCING and "daily loss" in d.reason


def test_validate_trade_max_drawdown_switches_to_reduce_only() -> None:
    marks = EquityMarks(day=T0.date(), day_start_equity_usd=10_000, peak_equity_usd=12_600)  # -20.6 % from peak
    d = decide(equity_marks=marks)
    assert not d.approved and d.trading_state is TradingState.REDUCING and "drawdown" in d.reason


def test_validate_trade_yesterdays_loss_does_not_count_against_today() -> None:
    marks = EquityMarks(day=T0.date() - timedelta(days=1), day_start_equity_usd=10_600, peak_equity_usd=10_600)
    d = decide(equity_marks=marks)  # a new UTC day starts at today's equity
    assert d.approved and d.trading_state is TradingState.ACTIVE


def test_validate_trade_within_loss_limits_is_active() -> None:
    marks = EquityMarks(day=T0.date(), day_start_equity_usd=10_400, peak_equity_usd=12_400)  # -3.8 %, -19.4 %
    d = decide(equity_marks=marks)
    assert d.approved and d.trading_state is TradingState.ACTIVE


def test_validate_trade_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="UTC"):
        RiskManager(CFG).validate_trade(make_signal(), make_account(), now=T0.replace(tzinfo=None))


# --- properties ----------------------------------------------------------------------------

LOTS = st.sampled_from(["1", "0.1", "0.01", "0.001", "0.0001", "0.00001"])


@settings(max_examples=300, deadline=None)
@given(equity=st.floats(100, 1e7), stop=st.floats(0.001, 0.5), price=st.floats(0.0001, 1e5), lot=LOTS,
       override=st.one_of(st.none(), st.floats(1, 1e6)))
def test_sizes_are_lot_multiples_never_above_the_unrounded_size(equity: float, stop: float, price: float, lot: str,
                                                               override: float | None) -> None:
    manager = RiskManager(CFG.model_copy(update={"min_notional_usd": 0.01}))
    signal = make_signal(ref_price=price, stop_distance_pct=stop)
    account = make_account(equity)
    instrument = make_perp(lot=lot, max_leverage=50)
    unrounded = manager.validate_trade(signal, account, notional_override=override, skip_margin_check=True, now=T0)
    rounded = manager.validate_trade(signal, account, notional_override=override, skip_margin_check=True,
                                     instrument=instrument, now=T0)
    assume(rounded.size is not None and rounded.size > 0)
    assert rounded.size % Decimal(lot) == 0
    unrounded_size = Decimal(unrounded.notional_usd) / to_decimal(price)
    assert rounded.size <= unrounded_size < rounded.size + Decimal(lot)
    assert rounded.notional_usd <= unrounded.notional_usd * (1 + 1e-12)


@settings(max_examples=300, deadline=None)
@given(equity=st.floats(100, 1e7), stop=st.floats(0.001, 0.5), price=st.floats(0.01, 1e5), lot=LOTS)
def test_approved_notional_fed_back_as_override_gives_the_same_size(equity: float, stop: float, price: float,
                                                                      lot: str) -> None:
    """The auction's notional (a rounded decision) survives the executor's re-validation unchanged."""
    manager = RiskManager(CFG)
    signal = make_signal(ref_price=price, stop_distance_pct=stop)
    account = make_account(equity)
    instrument = make_perp(lot=lot)
    first = manager.validate_trade(signal, account, instrument=instrument, skip_margin_check=True, now=T0)
    assume(first.approved)
    again = manager.validate_trade(signal, account, instrument=instrument, notional_override=first.notional_usd,
                                   skip_margin_check=True, now=T0)
    assert again.approved and again.size == first.size and again.notional_usd == first.notional_usd
    fresh = RiskManager(CFG).validate_trade(signal, account, instrument=instrument, skip_margin_check=True,
                                            notional_override=first.notional_usd, now=T0)
    assert (fresh.size, fresh.notional_usd) == (again.size, again.notional_usd)  # computed, not remembered


@settings(max_examples=300, deadline=None)
@given(equity=st.floats(100, 1e9), price=st.floats(1e-6, 1e6), lot=LOTS, override=st.floats(0.01, 1e8))
def test_a_remembered_lot_sizing_answers_as_a_fresh_manager_would(equity: float, price: float, lot: str,
                                                                  override: float) -> None:
    """The manager keeps its last sizing for the notional it gave back: the same answer as computing it."""
    cfg = CFG.model_copy(update={"min_notional_usd": 0.01})
    kept = RiskManager(cfg)
    signal, account, instrument = make_signal(ref_price=price, stop_distance_pct=0.02), make_account(equity), \
        make_perp(lot=lot, max_leverage=50)
    first = kept.validate_trade(signal, account, notional_override=override, skip_margin_check=True,
                                instrument=instrument, now=T0)
    assume(first.size is not None and first.size > 0)
    for notional in (override, first.notional_usd):
        again = kept.validate_trade(signal, account, notional_override=notional, skip_margin_check=True,
                                    instrument=instrument, now=T0)
        fresh = RiskManager(cfg).validate_trade(signal, account, notional_override=notional, skip_margin_check=True,
                                                instrument=instrument, now=T0)
        assert (again.size, again.notional_usd, again.approved) == (fresh.size, fresh.notional_usd, fresh.approved)


@settings(max_examples=200, deadline=None)
@given(equity=st.floats(-1e4, 1e7), available=st.floats(-1e4, 1e7), initial=st.floats(0, 1e7),
       stop=st.floats(0.0001, 0.99), side=st.sampled_from(Side), skip=st.booleans(),
       override=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       margin_override=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_validate_trade_never_raises_for_a_refusal(equity: float, available: float, initial: float, stop: float,
                                                   side: Side, skip: bool, override: float | None,
                                                   margin_override: float | None) -> None:
    d = RiskManager(CFG).validate_trade(
        make_signal(side=side, stop_distance_pct=stop), make_account(equity, available=available, initial=initial),
        margin_override, override, skip, instrument=make_perp(), now=T0)
    assert isinstance(d.approved, bool) and d.reason
    if d.approved:
        assert 0 < d.notional_usd <= min(3 * equity, 50_000) * (1 + 1e-9)
        assert d.margin_required_usd == pytest.approx(d.notional_usd / d.leverage)

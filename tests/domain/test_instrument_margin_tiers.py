"""Margin tiers by position notional (Kraken's ``marginLevels``)."""

from decimal import Decimal

import pytest

from krakenbot.domain import Instrument, InstrumentKind, MarginTier

# PF_THETAUSD as Kraken listed it on 2026-08-08: 5 % / 2.5 % up to 25k USD, then 10 %, 20 %, 30 %, 50 %
THETA_TIERS = (MarginTier(from_notional_usd=0, initial=0.05, maintenance=0.025),
               MarginTier(from_notional_usd=25_000, initial=0.1, maintenance=0.05),
               MarginTier(from_notional_usd=250_000, initial=0.2, maintenance=0.1),
               MarginTier(from_notional_usd=1_000_000, initial=0.3, maintenance=0.15),
               MarginTier(from_notional_usd=3_000_000, initial=0.5, maintenance=0.25))


def theta(tiers: tuple[MarginTier, ...] = THETA_TIERS) -> Instrument:
    return Instrument(symbol="PF_THETAUSD", kind=InstrumentKind.FUTURES, base="THETA", quote="USD",
                      tick_size=Decimal("0.0001"), lot_size=Decimal(1), min_size=Decimal(1), max_leverage=20,
                      margin_tiers=tiers)


@pytest.mark.parametrize(("notional", "initial", "maintenance"), [
    (0, 0.05, 0.025), (24_999.99, 0.05, 0.025), (25_000, 0.1, 0.05), (-30_000, 0.1, 0.05),
    (249_999, 0.1, 0.05), (250_000, 0.2, 0.1), (2_000_000, 0.3, 0.15), (1e12, 0.5, 0.25)])
def test_margin_rates_are_the_tier_the_notional_reaches(notional, initial, maintenance):
    inst = theta()
    assert inst.initial_margin_rate(notional) == initial
    assert inst.maintenance_margin_rate(notional) == maintenance
    assert inst.leverage_at(notional) == pytest.approx(1 / initial)


def test_without_tiers_first_tier_is_max_leverage_with_half_maintenance():
    inst = theta(())
    assert inst.initial_margin_rate(1e9) == pytest.approx(0.05)
    assert inst.maintenance_margin_rate(1e9) == pytest.approx(0.025)
    assert inst.maintenance_margin_rate() == pytest.approx(0.025)


def test_tiers_must_ascend():
    with pytest.raises(ValueError, match="ascend"):
        theta((THETA_TIERS[1], THETA_TIERS[0]))


@pytest.mark.parametrize(("initial", "maintenance"), [(0.0, 0.0), (0.05, 0.06), (1.5, 0.5), (float("nan"), 0.01)])
def test_margin_tier_rejects_impossible_rates(initial, maintenance):
    with pytest.raises(ValueError):
        MarginTier(from_notional_usd=0, initial=initial, maintenance=maintenance)

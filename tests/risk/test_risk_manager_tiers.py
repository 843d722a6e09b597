"""RiskManager sizing on a contract whose margin tier rises with the position's notional."""

from __future__ import annotations

from dataclasses import replace

import pytest

from builders.account import make_account, make_perp
from builders.clock import T0
from builders.market import make_signal
from krakenbot.config.models import RiskConfig
from krakenbot.domain.vocabulary import CapReason
from krakenbot.exchange.kraken.parse import margin_tiers
from krakenbot.risk.risk_manager import RiskManager
from krakenbot.testing.fake_kraken_instruments import real_instruments

# Large risk and a 20x config cap: the 5 % first tier of PF_THETAUSD (to 25k USD) would allow 20x
CFG = RiskConfig(risk_per_trade_pct=0.1, max_leverage=20, max_position_notional_usd=1e7, max_total_exposure=50,
                 max_margin_utilization_pct=0.9, min_notional_usd=10)


def theta():
    return replace(make_perp("PF_THETAUSD", base="THETA", lot="1", tick="0.0001", max_leverage=20),
                   margin_tiers=margin_tiers(real_instruments()["PF_THETAUSD"]))


def test_size_above_the_first_tier_is_capped_at_that_tiers_leverage() -> None:
    signal = make_signal("THETA/USD", ref_price=1.0, stop_distance_pct=0.005)  # risk notional 200k USD
    d = RiskManager(CFG).validate_trade(signal, make_account(10_000), instrument=theta(), now=T0)
    # 20x would allow 180k (90 % of equity as margin), but 180k is in the 10 % tier: 10x, so 90k
    assert d.approved and d.leverage == pytest.approx(10)
    assert d.notional_usd == pytest.approx(90_000) and d.capped_by is CapReason.MARGIN_UTILIZATION
    assert d.margin_required_usd == pytest.approx(9_000)  # what Kraken charges: 10 % of 90k


def test_size_within_the_first_tier_keeps_its_leverage() -> None:
    signal = make_signal("THETA/USD", ref_price=1.0, stop_distance_pct=0.05)  # 20k USD
    d = RiskManager(CFG).validate_trade(signal, make_account(10_000), instrument=theta(), now=T0)
    assert d.approved and d.leverage == pytest.approx(20) and d.notional_usd == pytest.approx(20_000)

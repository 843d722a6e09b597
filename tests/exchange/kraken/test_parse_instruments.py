"""Kraken's recorded ``instruments`` and ``instruments/status`` payloads -> tiers and statuses."""

import json

import pytest

from krakenbot.domain.errors import MarketDataError
from krakenbot.exchange.kraken.parse import instrument_statuses, margin_tiers
from krakenbot.exchange.kraken.symbols import futures_ticker_from_raw
from krakenbot.testing.fake_kraken_instruments import STATUS_FILE, real_instruments


def test_real_xbt_schedule_is_eight_tiers_from_one_percent():
    tiers = margin_tiers(real_instruments()["PF_XBTUSD"])
    assert len(tiers) == 8
    assert (tiers[0].from_notional_usd, tiers[0].initial, tiers[0].maintenance) == (0.0, 0.01, 0.005)
    assert (tiers[1].from_notional_usd, tiers[1].initial, tiers[1].maintenance) == (1_000_000.0, 0.02, 0.01)
    assert tiers[-1].initial == 0.5


def test_real_theta_schedule_leaves_five_percent_at_25k_usd():
    tiers = margin_tiers(real_instruments()["PF_THETAUSD"])
    assert [(t.from_notional_usd, t.initial) for t in tiers[:2]] == [(0.0, 0.05), (25_000.0, 0.1)]


def test_inverse_contract_tiers_start_in_contracts():
    tiers = margin_tiers(real_instruments()["PI_XBTUSD"])
    assert tiers and tiers[0].from_notional_usd == 0.0


def test_an_unreadable_level_drops_the_schedule():
    good = {"numNonContractUnits": 0, "initialMargin": 0.02, "maintenanceMargin": 0.01}
    info = {"symbol": "PF_X", "marginLevels": [good, {"numNonContractUnits": 5, "initialMargin": "x"}]}
    assert margin_tiers(info) == ()


def test_recorded_instrument_status_is_calm_and_keyed_by_contract():
    statuses = instrument_statuses(json.loads(STATUS_FILE.read_text()))
    assert statuses["PF_XBTUSD"].entry_problem is None
    assert statuses["PF_THETAUSD"].initial_margin_multiplier == 1.0


@pytest.mark.parametrize(("row", "problem"), [
    ({"experiencingExtremeVolatility": True, "extremeVolatilityInitialMarginMultiplier": 2}, "extreme volatility"),
    ({"extremeVolatilityInitialMarginMultiplier": 1.5}, "initial margin x1.5"),
    ({"experiencingDislocation": True, "priceDislocationDirection": "ABOVE_UPPER_BOUND"}, "price dislocation"),
    ({"experiencingExtremeVolatility": "yes"}, None),  # only a JSON true counts
])
def test_instrument_status_problems(row, problem):
    status = instrument_statuses({"instrumentStatus": [{"tradeable": "pf_thetausd", **row}]})["PF_THETAUSD"]
    if problem is None:
        assert status.entry_problem is None
    else:
        assert status.entry_problem is not None and status.entry_problem.startswith(problem)


def test_instrument_status_without_a_list_is_market_data_error():
    with pytest.raises(MarketDataError):
        instrument_statuses({"result": "error"})


@pytest.mark.parametrize(("raw", "post_only"), [(True, True), (False, False), ("true", True), (None, False)])
def test_ticker_post_only_is_read(raw, post_only):
    ticker = futures_ticker_from_raw({"symbol": "PF_NEWUSD", "markPrice": 1.0, "lastTime": "2026-08-08T14:39:20.079Z",
                                      "postOnly": raw})
    assert ticker is not None and ticker.post_only is post_only

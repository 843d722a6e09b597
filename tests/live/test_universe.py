"""Universe discovery and FuturesMapping invariants.

The mapping table itself lives in tests/test_futures_ticker_normalization.py.
"""

import pytest

from builders.kraken import futures_ticker_raw, futures_tickers_body
from krakenbot.config.models import UniverseConfig
from krakenbot.exchange.kraken.symbols import parse_futures_tickers_payload
from krakenbot.live.universe import FuturesMapping, discover_universe

TICKERS = parse_futures_tickers_payload(futures_tickers_body(
    futures_ticker_raw("PF_XBTUSD", mark=60_000.0, volume_quote=900e6),
    futures_ticker_raw("PI_XBTUSD", mark=60_000.0, volume_quote=50e6),
    futures_ticker_raw("PF_ETHUSD", mark=3_000.0, volume_quote=400e6),
    futures_ticker_raw("PF_THETAUSD", mark=1.2, volume_quote=200_000.0),  # thin
    futures_ticker_raw("PF_LUNA2USD", mark=0.5, volume_quote=3e6),
    futures_ticker_raw("PF_SOLUSD", mark=150.0, volume_quote=80e6, suspended=True),
    futures_ticker_raw("PI_LTCUSD", mark=80.0, volume_quote=20e6),
    futures_ticker_raw("PF_DOTUSD", mark=5.0, vol24h=None),  # no volume reported
))
SPOT = ["BTC/USD", "XBT/USD", "ETH/USD", "THETA/USD", "LUNA2/USD", "SOL/USD", "LTC/USD", "DOT/USD", "ADA/USD",
        "ETH/EUR", "LUNA/USD"]


@pytest.mark.parametrize(("cfg", "expected"), [
    (UniverseConfig(), ["PF_XBTUSD", "PF_ETHUSD", "PF_LUNA2USD"]),  # 1M USD minimum; sorted by volume
    (UniverseConfig(min_volume_24h_usd=0), ["PF_XBTUSD", "PF_ETHUSD", "PF_LUNA2USD", "PF_THETAUSD", "PF_DOTUSD"]),
    (UniverseConfig(allow=["XBT", "LUNA2"]), ["PF_XBTUSD", "PF_LUNA2USD"]),  # XBT allows BTC
    (UniverseConfig(deny=["btc"]), ["PF_ETHUSD", "PF_LUNA2USD"]),
    (UniverseConfig(min_volume_24h_usd=500e6), ["PF_XBTUSD"]),
])
def test_discover_universe_filters_and_orders(cfg, expected):
    assert [m.futures for m in discover_universe(TICKERS, SPOT, cfg)] == expected


def test_discover_universe_one_mapping_per_contract_first_spelling_wins():
    found = discover_universe(TICKERS, ["XBT/USD", "BTC/USD", "XXBTZUSD"], UniverseConfig())
    assert [(m.spot, m.futures) for m in found] == [("XBT/USD", "PF_XBTUSD")]


def test_discover_universe_override_can_add_an_ambiguous_pair():
    cfg = UniverseConfig(futures_overrides={"LUNA/USD": "PF_LUNA2USD"})
    found = discover_universe(TICKERS, ["LUNA/USD"], cfg)
    assert [(m.spot, m.futures, m.from_override) for m in found] == [("LUNA/USD", "PF_LUNA2USD", True)]


def test_discover_universe_never_returns_unusable_contracts():
    found = discover_universe(TICKERS, SPOT, UniverseConfig(min_volume_24h_usd=0))
    assert all(m.ok and m.futures and m.futures.startswith("PF_") for m in found)
    assert "PF_SOLUSD" not in {m.futures for m in found}


def test_futures_mapping_without_contract_needs_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        FuturesMapping(spot="BTC/USD", futures=None)
    with pytest.raises(ValueError, match="multiplier"):
        FuturesMapping(spot="BTC/USD", futures="PF_XBTUSD", multiplier=0)

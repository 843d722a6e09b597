"""``symbols.resolve_spot_pair``: Krakenbot's spot pair -> ccxt's symbol, on Kraken's own names (pure, table-driven)."""

from __future__ import annotations

import pytest

from krakenbot.exchange.kraken.symbols import SpotMarketName, parse_spot_pair, resolve_spot_pair

# How ccxt 4.5.90 lists Kraken's spot markets: (ccxt symbol, Kraken pair id, Kraken altname)
MARKETS = [SpotMarketName(unified=u, market_id=i, altname=a) for u, i, a in (
    ("BTC/USD", "XXBTZUSD", "XBTUSD"), ("ETH/USD", "XETHZUSD", "ETHUSD"), ("THETA/USD", "THETAUSD", "THETAUSD"),
    ("LUNA/USD", "LUNA2USD", "LUNA2USD"), ("LUNC/USD", "LUNAUSD", "LUNAUSD"), ("DOGE/USD", "XDGUSD", "XDGUSD"),
    ("BTC/USDT", "XBTUSDT", "XBTUSDT"))]


@pytest.mark.parametrize(("pair", "unified"), [
    ("LUNA2/USD", "LUNA/USD"), ("luna2-usd", "LUNA/USD"), ("LUNA2USD", "LUNA/USD"),
    ("LUNC/USD", "LUNC/USD"), ("LUNAUSD", "LUNC/USD"),
    ("BTC/USD", "BTC/USD"), ("XBT/USD", "BTC/USD"), ("XBTUSD", "BTC/USD"), ("XXBTZUSD", "BTC/USD"),
    ("BTC/USDT", "BTC/USDT"), ("THETA/USD", "THETA/USD"), ("DOGE/USD", "DOGE/USD"), ("XDG/USD", "DOGE/USD"),
])
def test_resolves_on_krakens_names(pair: str, unified: str) -> None:
    assert resolve_spot_pair(pair, MARKETS) == (unified, None)


@pytest.mark.parametrize(("pair", "why"), [
    ("LUNA/USD", "LUNA2/USD or LUNC/USD"),  # ccxt's LUNA is Kraken's LUNA2: never guessed
    ("FOO/USD", "Kraken lists no spot market FOO/USD"),
    ("PF_XBTUSD", "not a spot pair"),
])
def test_refuses_with_the_reason(pair: str, why: str) -> None:
    unified, reason = resolve_spot_pair(pair, MARKETS)
    assert unified is None and reason is not None and why in reason


@pytest.mark.parametrize(("kraken_id", "base", "quote"), [
    ("USDTZUSD", "USDT", "USD"),  # Kraken's pair id of USDT/USD (altname USDTUSD): a Z-prefixed quote
    ("USDTUSD", "USDT", "USD"),
    ("XTZUSD", "XTZ", "USD"),  # Tezos: ends in ZUSD but is XTZ + USD
    ("XXBTZUSD", "BTC", "USD"),
])
def test_kraken_pair_ids_with_a_z_prefixed_quote_split_where_kraken_means(kraken_id, base, quote):
    parsed = parse_spot_pair(kraken_id)
    assert parsed is not None and (parsed.base, parsed.quote) == (base, quote)

"""Fixed point for symbol handling, run by operators: ``python -m pytest tests/test_futures_ticker_normalization.py``.

Futures tickers are built in the shape of Kraken's /derivatives/api/v3/tickers body; every case is a
table row so a new contract is one line.
"""

import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from builders.kraken import futures_ticker_raw, futures_tickers_body
from krakenbot.config.models import ExchangeConfig
from krakenbot.domain.errors import MarketDataError
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.exchange.kraken.symbols import (
    FuturesTickers,
    futures_ticker_from_raw,
    parse_futures_symbol,
    parse_futures_tickers_payload,
    parse_spot_pair,
    unified_symbol_for,
)
from krakenbot.live.universe import FuturesAdapter
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_market import default_contracts

# Inverse and dated contracts first, so preference never depends on payload order.
PAYLOAD = futures_tickers_body(
    futures_ticker_raw("PI_XBTUSD", mark=60_010.0),
    futures_ticker_raw("FF_XBTUSD_260626", mark=61_000.0),
    futures_ticker_raw("PF_XBTUSD", mark=60_000.0, volume_quote=900e6),
    futures_ticker_raw("PI_ETHUSD", mark=3_001.0),
    futures_ticker_raw("PF_ETHUSD", mark=3_000.0),
    futures_ticker_raw("PI_THETAUSD", mark=1.21),
    futures_ticker_raw("PF_THETAUSD", mark=1.2),
    futures_ticker_raw("PF_LUNA2USD", mark=0.5),
    futures_ticker_raw("PF_1MBABYDOGEUSD", mark=0.0012),  # one contract = 1,000,000 BABYDOGE
    futures_ticker_raw("PF_1INCHUSD", mark=0.3),  # a name starting with a digit, not a multiplier
    futures_ticker_raw("PF_DOGEUSD", mark=0.1),
    futures_ticker_raw("PF_SUSPUSD", mark=2.0, suspended=True),
    futures_ticker_raw("PI_INVONLYUSD", mark=3.0),
    futures_ticker_raw("FF_DATEDUSD_260626", mark=4.0),
    futures_ticker_raw("PF_HALTEDUSD", mark=5.0, suspended=True),
    futures_ticker_raw("PI_HALTEDUSD", mark=5.0),
    {"symbol": "in_xbtusd", "last": 60_005.0, "lastTime": "2026-01-15T11:59:59.000Z"},
)


@pytest.fixture(scope="module")
def tickers() -> FuturesTickers:
    return parse_futures_tickers_payload(PAYLOAD)


# --- the same ticker under all four key forms -----------------------------------------------------

KEY_FORMS = [
    # raw id,            PF_ form,             CCXT unified,            BASE/USD,          more spellings
    ("PF_XBTUSD", "PF_BTCUSD", "BTC/USD:USD", "BTC/USD", ["XBT/USD", "xbt/usd", "XBT/USD:USD", "pf_xbtusd"]),
    ("PF_ETHUSD", "PF_ETHUSD", "ETH/USD:USD", "ETH/USD", ["eth/usd:usd"]),
    ("PF_THETAUSD", "PF_THETAUSD", "THETA/USD:USD", "THETA/USD", []),
    ("PF_LUNA2USD", "PF_LUNA2USD", "LUNA2/USD:USD", "LUNA2/USD", []),
    ("PF_1MBABYDOGEUSD", "PF_1MBABYDOGEUSD", "1MBABYDOGE/USD:USD", "1MBABYDOGE/USD", []),
    ("PF_DOGEUSD", "PF_XDGUSD", "DOGE/USD:USD", "DOGE/USD", ["XDG/USD"]),
]


@pytest.mark.parametrize(("raw", "pf_form", "unified", "base_usd", "more"), KEY_FORMS, ids=[r[0] for r in KEY_FORMS])
def test_futures_tickers_every_key_form_finds_the_same_contract(tickers, raw, pf_form, unified, base_usd, more):
    expected = tickers[raw]
    assert expected.symbol == raw
    assert expected.unified_symbol == unified
    for key in (pf_form, unified, base_usd, *more):
        assert key in tickers, key
        assert tickers[key] is expected, key


@pytest.mark.parametrize(("key", "symbol"), [
    ("PI_THETAUSD", "PI_THETAUSD"),  # raw ids always resolve to themselves
    ("PI_XBTUSD", "PI_XBTUSD"),
    ("BTC/USD:BTC", "PI_XBTUSD"),  # the inverse contract's own unified symbol
    ("BTC/USD:USD-260626", "FF_XBTUSD_260626"),
    ("FF_XBTUSD_260626", "FF_XBTUSD_260626"),
    ("THETA/USD", "PF_THETAUSD"),  # shared key: the linear perpetual wins over PI_
    ("BTC/USD", "PF_XBTUSD"),  # ... and over dated
    ("IN_XBTUSD", "in_xbtusd"),  # an index answers only to its id
])
def test_futures_tickers_shared_and_raw_keys_resolve_to_the_preferred_contract(tickers, key, symbol):
    assert tickers[key].symbol == symbol


def test_futures_tickers_inverse_only_asset_still_reachable_under_all_forms():
    only_inverse = parse_futures_tickers_payload(futures_tickers_body(futures_ticker_raw("PI_THETAUSD")))
    for key in ("PI_THETAUSD", "PF_THETAUSD", "THETA/USD:USD", "THETA/USD:THETA", "THETA/USD"):
        assert only_inverse[key].symbol == "PI_THETAUSD", key


def test_futures_tickers_candidates_list_preferred_first_and_contracts_are_unique(tickers):
    assert [t.symbol for t in tickers.candidates("BTC/USD")] == ["PF_XBTUSD", "PI_XBTUSD", "FF_XBTUSD_260626"]
    assert [t.symbol for t in tickers.candidates("PI_XBTUSD")] == ["PI_XBTUSD"]
    assert len(tickers.contracts) == len(PAYLOAD["tickers"])
    assert tickers.candidates("NOPE/USD") == []
    keys = list(tickers)
    assert len(keys) == len(tickers) == len(set(keys))
    assert all(tickers[k].symbol.upper() in tickers.contracts for k in keys)


@pytest.mark.parametrize("key", ["LUNA/USD", "LUNA/USD:USD", "BABYDOGE/USD", "INCH/USD", "NOPE/USD", ""])
def test_futures_tickers_unknown_or_unsafe_keys_are_absent(tickers, key):
    # LUNA is not LUNA2; a multiplied contract is not keyed under its underlying (prices differ 1e6x).
    assert key not in tickers
    with pytest.raises(KeyError):
        tickers[key]


# --- ids and unified symbols -----------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "unified", "asset", "multiplier"), [
    ("PF_XBTUSD", "BTC/USD:USD", "BTC", 1),
    ("PI_XBTUSD", "BTC/USD:BTC", "BTC", 1),
    ("FF_XBTUSD_260626", "BTC/USD:USD-260626", "BTC", 1),
    ("PF_LUNA2USD", "LUNA2/USD:USD", "LUNA2", 1),
    ("PF_LUNAUSD", "LUNA/USD:USD", "LUNA", 1),  # ambiguous name: never LUNA2, never matched to a spot pair
    ("PF_THETAUSD", "THETA/USD:USD", "THETA", 1),
    ("PF_1MBABYDOGEUSD", "1MBABYDOGE/USD:USD", "BABYDOGE", 1_000_000),
    ("PF_1000SHIBUSD", "1000SHIB/USD:USD", "SHIB", 1000),
    ("PF_1INCHUSD", "1INCH/USD:USD", "1INCH", 1),
    ("PF_2ZUSD", "2Z/USD:USD", "2Z", 1),
    ("pf_xbtusd", "BTC/USD:USD", "BTC", 1),
])
def test_parse_futures_symbol_mirrors_ccxt_and_finds_multiplier(raw, unified, asset, multiplier):
    contract = parse_futures_symbol(raw)
    assert contract is not None
    assert unified_symbol_for(raw) == unified
    assert (contract.asset, contract.multiplier) == (asset, multiplier)


@pytest.mark.parametrize("raw", ["XBTUSD", "PF_", "ZZ_XBTUSD", "PF_XBTUSD_260626", "FF_XBTUSD", "BTC/USD", ""])
def test_unified_symbol_for_non_contract_is_none(raw):
    assert unified_symbol_for(raw) is None


@pytest.mark.parametrize(("pair", "base", "quote"), [
    ("BTC/USD", "BTC", "USD"), ("XBT/USD", "BTC", "USD"), ("XXBTZUSD", "BTC", "USD"), ("XBTUSD", "BTC", "USD"),
    ("btc-usd", "BTC", "USD"), ("XBTUSDT", "BTC", "USDT"), ("XTZUSD", "XTZ", "USD"), ("XETHXXBT", "ETH", "BTC"),
    ("XDGUSD", "DOGE", "USD"), ("LUNA2/USD", "LUNA2", "USD"), ("LUNA2USD", "LUNA2", "USD"),
    ("LUNAUSD", "LUNC", "USD"), ("LUNC/USD", "LUNC", "USD"), ("1INCH/USD", "1INCH", "USD"),
])
def test_parse_spot_pair_canonical_base_and_quote(pair, base, quote):
    parsed = parse_spot_pair(pair)
    assert parsed is not None and (parsed.base, parsed.quote) == (base, quote)
    assert parsed.ambiguous is None


def test_parse_spot_pair_slash_luna_is_ambiguous_and_futures_symbols_are_not_pairs():
    luna = parse_spot_pair("LUNA/USD")
    assert luna is not None and luna.ambiguous and "LUNA2" in luna.ambiguous
    assert parse_spot_pair("PF_XBTUSD") is None
    assert parse_spot_pair("BTC/USD:USD") is None


# --- one raw ticker --------------------------------------------------------------------------------

def test_futures_ticker_from_raw_maps_kraken_fields():
    raw = futures_ticker_raw("PF_XBTUSD", mark=60_000.5, bid=59_999.0, ask=60_001.0, last=60_000.0, index=59_990.0,
                             vol24h=1234.5, volume_quote=7.4e7, open_interest=321.0, funding_rate=-0.75)
    ticker = futures_ticker_from_raw(raw)
    assert ticker is not None
    assert (ticker.symbol, ticker.unified_symbol) == ("PF_XBTUSD", "BTC/USD:USD")
    assert (ticker.bid, ticker.ask, ticker.last, ticker.mark, ticker.index) == (59_999.0, 60_001.0, 60_000.0,
                                                                                 60_000.5, 59_990.0)
    assert (ticker.volume_24h, ticker.volume_24h_usd, ticker.open_interest) == (1234.5, 7.4e7, 321.0)
    assert ticker.funding_rate == -0.75  # negative funding is real, kept
    assert ticker.ts.isoformat() == "2026-01-15T11:59:30+00:00"
    assert ticker.suspended is False


@pytest.mark.parametrize("bad", [math.nan, 0, -1.0, "NaN", "abc", None, math.inf])
def test_futures_ticker_from_raw_bad_prices_become_none(bad):
    raw = futures_ticker_raw("PF_ETHUSD", mark=3000.0)
    raw.update(markPrice=bad, bid=bad, ask=bad, last=bad, indexPrice=bad)
    ticker = futures_ticker_from_raw(raw)
    assert ticker is not None
    assert (ticker.mark, ticker.bid, ticker.ask, ticker.last, ticker.index) == (None,) * 5
    assert not ticker.has_good_mark


def test_futures_ticker_from_raw_strings_flags_and_missing_parts():
    raw = {"symbol": "PF_ETHUSD", "markPrice": "3000.5", "vol24h": "0", "openInterest": "-3",
           "suspended": "true", "lastTime": "2026-01-15T11:00:00Z"}
    ticker = futures_ticker_from_raw(raw, unified_symbol="ETH/USD:USD")
    assert ticker is not None
    assert (ticker.mark, ticker.volume_24h, ticker.open_interest, ticker.suspended) == (3000.5, 0.0, None, True)
    assert futures_ticker_from_raw({"markPrice": 1.0, "lastTime": "2026-01-15T11:00:00Z"}) is None
    assert futures_ticker_from_raw({"symbol": "PF_ETHUSD", "markPrice": 1.0}) is None  # no time at all
    with_fallback = parse_futures_tickers_payload(futures_tickers_body(futures_ticker_raw("PF_ETHUSD", last_time=None)))
    assert with_fallback["ETH/USD"].ts.isoformat() == "2026-01-15T12:00:00+00:00"  # serverTime


@pytest.mark.parametrize(("body", "message"), [
    ([], "must be a JSON object"),
    ({"result": "error", "error": "apiLimitExceeded"}, "apiLimitExceeded"),
    ({"result": "success", "serverTime": "2026-01-15T12:00:00Z"}, "no 'tickers' list"),
    ({"result": "success", "tickers": {"PF_XBTUSD": {}}}, "no 'tickers' list"),
])
def test_parse_futures_tickers_payload_rejects_non_ticker_bodies(body, message):
    with pytest.raises(MarketDataError, match=message):
        parse_futures_tickers_payload(body)


# --- spot -> futures mapping -----------------------------------------------------------------------

MAPPINGS = [
    # spot pair,        futures,              multiplier, reason contains
    ("BTC/USD", "PF_XBTUSD", 1, None),
    ("XBT/USD", "PF_XBTUSD", 1, None),
    ("XXBTZUSD", "PF_XBTUSD", 1, None),
    ("XBTUSD", "PF_XBTUSD", 1, None),
    ("ETH/USD", "PF_ETHUSD", 1, None),
    ("THETA/USD", "PF_THETAUSD", 1, None),  # PF_ over PI_, whatever the payload order
    ("LUNA2/USD", "PF_LUNA2USD", 1, None),
    ("LUNA/USD", None, 1, "ambiguous"),  # never LUNA2 by accident
    ("LUNC/USD", None, 1, "no futures contract on LUNC"),
    ("BABYDOGE/USD", "PF_1MBABYDOGEUSD", 1_000_000, None),
    ("1INCH/USD", "PF_1INCHUSD", 1, None),
    ("DOGE/USD", "PF_DOGEUSD", 1, None),
    ("XDGUSD", "PF_DOGEUSD", 1, None),
    ("SUSP/USD", None, 1, "PF_SUSPUSD (suspended)"),
    ("HALTED/USD", None, 1, "PF_HALTEDUSD (suspended), PI_HALTEDUSD (inverse perpetual)"),  # never the live PI_
    ("INVONLY/USD", None, 1, "PI_INVONLYUSD (inverse perpetual)"),
    ("DATED/USD", None, 1, "FF_DATEDUSD_260626 (dated linear future)"),
    ("NOPE/USD", None, 1, "no futures contract on NOPE"),
    ("BTC/EUR", None, 1, "quote EUR"),
    ("PF_XBTUSD", None, 1, "not a spot pair"),
]


@pytest.mark.parametrize(("spot", "futures", "multiplier", "reason"), MAPPINGS, ids=[m[0] for m in MAPPINGS])
def test_map_spot_to_futures_table(tickers, spot, futures, multiplier, reason):
    mapping = FuturesAdapter().map_spot_to_futures(spot, tickers)
    assert mapping.spot == spot
    assert mapping.futures == futures
    assert mapping.ok is (futures is not None)
    if futures is None:
        assert mapping.unified is None
        assert reason in (mapping.reason or "")
    else:
        assert mapping.reason is None
        assert mapping.unified == tickers[futures].unified_symbol
        assert mapping.multiplier == multiplier


@pytest.mark.parametrize(("spot", "futures"), [
    ("LUNA2/USD", "PF_LUNA2USD"), ("LUNA2USD", "PF_LUNA2USD"),
    ("LUNA/USD", None), ("LUNC/USD", None), ("LUNAUSD", None), ("luna/usd", None),
])
def test_map_spot_to_futures_terra_classic_and_terra_2_never_cross(spot, futures):
    both = parse_futures_tickers_payload(futures_tickers_body(futures_ticker_raw("PF_LUNA2USD", mark=0.5),
                                                              futures_ticker_raw("PF_LUNAUSD", mark=0.0001)))
    assert FuturesAdapter().map_spot_to_futures(spot, both).futures == futures
    assert "LUNA/USD" not in both and both["LUNA2/USD"].symbol == "PF_LUNA2USD"


def test_map_spot_to_futures_multiplier_relates_contract_and_spot_prices():
    spot_price = 1.2e-9
    body = futures_tickers_body(futures_ticker_raw("PF_1MBABYDOGEUSD", mark=spot_price * 1_000_000))
    mapping = FuturesAdapter().map_spot_to_futures("BABYDOGE/USD", parse_futures_tickers_payload(body))
    assert mapping.ticker is not None and mapping.ticker.mark is not None
    assert mapping.ticker.mark == pytest.approx(mapping.multiplier * spot_price)


@pytest.mark.parametrize(("listed", "expected"), [
    (["PF_1000SHIBUSD", "PF_SHIBUSD"], "PF_SHIBUSD"),  # the unmultiplied contract is preferred
    (["PF_1000SHIBUSD"], "PF_1000SHIBUSD"),
])
def test_map_spot_to_futures_prefers_unmultiplied_contract(listed, expected):
    body = futures_tickers_body(*(futures_ticker_raw(s) for s in listed))
    mapping = FuturesAdapter().map_spot_to_futures("SHIB/USD", parse_futures_tickers_payload(body))
    assert mapping.futures == expected
    assert mapping.multiplier == (1000 if expected == "PF_1000SHIBUSD" else 1)


@pytest.mark.parametrize(("overrides", "spot", "futures", "ok", "reason"), [
    ({"LUNA/USD": "PF_LUNA2USD"}, "LUNA/USD", "PF_LUNA2USD", True, None),
    ({"BTC/USD": "PF_ETHUSD"}, "BTC/USD", "PF_ETHUSD", True, None),  # the override wins over discovery
    ({"XBT/USD": "PF_ETHUSD"}, "BTC/USD", "PF_ETHUSD", True, None),  # same pair, other spelling
    ({"btc/usd": "pf_ethusd"}, "BTC/USD", "PF_ETHUSD", True, None),
    ({"BTC/USD": "PF_NOPEUSD"}, "BTC/USD", "PF_NOPEUSD", False, "not in the futures tickers"),
    ({"BTC/USD": "PI_XBTUSD"}, "BTC/USD", "PI_XBTUSD", False, "inverse perpetual"),
    ({"SUSP/USD": "PF_SUSPUSD"}, "SUSP/USD", "PF_SUSPUSD", False, "suspended"),
])
def test_map_spot_to_futures_override_wins_and_is_reported(tickers, overrides, spot, futures, ok, reason):
    mapping = FuturesAdapter(overrides).map_spot_to_futures(spot, tickers)
    assert mapping.from_override
    assert mapping.futures == futures
    assert mapping.ok is ok
    if reason:
        assert reason in (mapping.reason or "")


def test_map_spot_to_futures_logs_not_found_once_per_symbol_per_adapter(tickers, caplog):
    adapter = FuturesAdapter({"OVR/USD": "PF_GONEUSD"})
    with caplog.at_level(logging.WARNING, logger="krakenbot.live.universe"):
        for _ in range(5):
            for spot in ("NOPE/USD", "SUSP/USD", "OVR/USD", "BTC/USD"):
                adapter.map_spot_to_futures(spot, tickers)
    found = [r for r in caplog.records if "Futures symbol not found" in r.getMessage()]
    assert sorted(r.args[0] for r in found) == ["NOPE/USD", "OVR/USD", "SUSP/USD"]  # type: ignore[index]
    assert all(r.getMessage().startswith(r.args[0]) for r in found)  # type: ignore[index]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="krakenbot.live.universe"):
        FuturesAdapter().map_spot_to_futures("NOPE/USD", tickers)  # a new adapter warns again
    assert ["Futures symbol not found" in r.getMessage() for r in caplog.records] == [True]


# --- through the real client: KrakenClient over ccxt against the loopback Kraken ------------------

TICKERS_PATH = "/derivatives/api/v3/tickers"


def loopback_client(fake: FakeKraken) -> KrakenClient:
    config = ExchangeConfig(spot_base_url=fake.spot_url, futures_base_url=fake.futures_url)
    return KrakenClient(config, enable_rate_limit=False)


@pytest.fixture(scope="module")
def loopback() -> Iterator[FakeKraken]:
    with FakeKraken() as fake:
        fake.set_ticker("PF_THETAUSD", markPrice=1.2345)  # distinct from PI_THETAUSD's and the catalogue's
        yield fake


@pytest.fixture(scope="module")
def served(loopback: FakeKraken) -> tuple[FuturesTickers, dict[str, float]]:
    """The client's tickers, and the mark of each contract in the body the fake answered them from."""
    loopback.clear_requests()
    tickers = loopback_client(loopback).get_futures_tickers_bulk()
    marks = {t["symbol"]: t["markPrice"] for t in loopback.tickers_payload()["tickers"] if "markPrice" in t}
    return tickers, marks


def test_get_futures_tickers_bulk_one_tickers_request_through_ccxt(loopback):
    client = loopback_client(loopback)
    loopback.clear_requests()
    client.get_futures_tickers_bulk()
    assert [r.path for r in loopback.requests_to("/tickers")] == [TICKERS_PATH]  # plus ccxt's one market load
    loopback.clear_requests()
    client.get_futures_tickers_bulk()
    assert [r.path for r in loopback.requests] == [TICKERS_PATH]  # markets loaded: the tickers request alone


def test_get_futures_tickers_bulk_every_key_form_finds_the_same_contract(served):
    tickers, marks = served
    theta = tickers["PF_THETAUSD"]
    assert (theta.symbol, theta.unified_symbol) == ("PF_THETAUSD", "THETA/USD:USD")
    for key in ("THETA/USD:USD", "THETA/USD", "pf_thetausd"):
        assert tickers[key] is theta, key
    inverse = tickers["PI_THETAUSD"]  # the raw id of the inverse contract the fake also lists
    assert (inverse.symbol, inverse.unified_symbol) == ("PI_THETAUSD", "THETA/USD:THETA")
    assert tickers["THETA/USD:THETA"] is inverse
    assert (theta.mark, inverse.mark) == (marks["PF_THETAUSD"], marks["PI_THETAUSD"]) == (1.2345, 1.851)


@pytest.mark.parametrize(("spot", "futures"), [
    ("BTC/USD", "PF_XBTUSD"), ("XBT/USD", "PF_XBTUSD"), ("XBTUSD", "PF_XBTUSD"), ("XXBTZUSD", "PF_XBTUSD"),
    ("LUNA2/USD", "PF_LUNA2USD"), ("THETA/USD", "PF_THETAUSD"), ("ETH/USD", "PF_ETHUSD"),
])
def test_get_futures_tickers_bulk_maps_spot_pairs_to_the_linear_perpetual(served, spot, futures):
    tickers, marks = served
    mapping = FuturesAdapter().map_spot_to_futures(spot, tickers)
    assert (mapping.futures, mapping.reason) == (futures, None)
    assert mapping.ticker is tickers[futures]
    assert mapping.ticker.mark == marks[futures]


def test_get_futures_tickers_bulk_keys_btc_and_xbt_and_never_luna_as_luna2(served):
    tickers, _ = served
    btc = tickers["PF_XBTUSD"]
    for key in ("PF_BTCUSD", "BTC/USD:USD", "BTC/USD", "XBT/USD", "XBT/USD:USD"):
        assert tickers[key] is btc, key
    assert tickers["LUNA2/USD"] is tickers["PF_LUNA2USD"] is tickers["LUNA2/USD:USD"]
    assert "LUNA/USD" not in tickers
    assert FuturesAdapter().map_spot_to_futures("LUNA/USD", tickers).futures is None


def test_get_futures_tickers_bulk_marks_equal_what_the_fake_served(served):
    tickers, marks = served
    contracts = {symbol for symbol in tickers.contracts if not symbol.startswith(("IN_", "RR_"))}
    assert contracts == set(marks)
    for symbol, mark in marks.items():
        assert tickers[symbol].mark == mark, symbol
    assert tickers["PF_FTMUSD"].suspended is True


def test_get_futures_tickers_bulk_inverse_only_asset_reachable_under_all_forms():
    only_inverse = [c for c in default_contracts(datetime.now(UTC)) if c.symbol == "PI_THETAUSD"]
    with FakeKraken(contracts=only_inverse) as fake:
        tickers = loopback_client(fake).get_futures_tickers_bulk()
        assert len(fake.requests_to("/tickers")) == 1
        served_mark = fake.tickers_payload()["tickers"][0]["markPrice"]
    theta = tickers["PI_THETAUSD"]
    for key in ("PF_THETAUSD", "THETA/USD:USD", "THETA/USD:THETA", "THETA/USD"):
        assert tickers[key] is theta, key
    assert theta.mark == served_mark
    assert FuturesAdapter().map_spot_to_futures("THETA/USD", tickers).futures is None  # never the inverse contract

"""The tickers parser of ``get_futures_tickers_bulk`` on Kraken's real 300-contract answer (issue 14).

Golden equivalence: the client's own parser (Kraken's raw tickers, no ccxt unified ticker per contract)
gives the same ``Ticker`` values as the path it replaced (ccxt's ``parse_tickers``, then each ``info``);
and the normalised mapping answers every key (raw id, PF_ form, CCXT unified, BASE/USD, XBT/BTC) with the
same contracts, in the same preference order, as recorded from the code before the change
(``tests/data/kraken-futures/tickers-2026-08-08T1445Z-keys.json``).
"""

from __future__ import annotations

import json
import logging
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from krakenbot.domain import SimulatedClock, Ticker
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.exchange.kraken.symbols import FuturesTickers, futures_tickers_from_raws, parse_futures_symbol
from krakenbot.live.universe import FuturesAdapter
from krakenbot.testing.kraken_replay import recorded_tickers_body, replay_client

GOLDEN_KEYS = Path(__file__).resolve().parents[2] / "data" / "kraken-futures" / "tickers-2026-08-08T1445Z-keys.json"


def server_clock(body: dict[str, Any]) -> SimulatedClock:
    return SimulatedClock(datetime.fromisoformat(body["serverTime"].replace("Z", "+00:00")))


def ccxt_path(client: KrakenClient, body: dict[str, Any]) -> tuple[list[Ticker], dict[str, str]]:
    """The parsing path ``get_futures_tickers_bulk`` took before issue 14: ccxt's unified tickers first."""
    parsed = client.futures.parse_tickers(client.futures.safe_list(body, "tickers"))
    return futures_tickers_from_raws(((t.get("info") or {}), u if "/" in u else None) for u, t in parsed.items())


@pytest.fixture(scope="module")
def replay() -> tuple[KrakenClient, dict[str, Any]]:
    body = recorded_tickers_body()
    return replay_client(body, server_clock(body)), body


def test_fast_parser_gives_the_tickers_of_the_ccxt_path_on_the_recorded_answer(replay):
    client, body = replay
    fast, fast_dropped = client._tickers_from_raws(body["tickers"])
    old, old_dropped = ccxt_path(client, body)
    assert len(body["tickers"]) == 300
    assert len(fast) == len(old) == 275  # 25 contracts carry no lastTime: dropped by both
    assert fast_dropped == old_dropped
    by_symbol = {t.symbol: t for t in old}
    for ticker in fast:
        expected = by_symbol[ticker.symbol]
        for field in Ticker.__slots__:  # every field, those the loop reads among them
            assert getattr(ticker, field) == getattr(expected, field), (ticker.symbol, field)
    assert [t.symbol for t in fast] == [t.symbol for t in old]


def test_bulk_keys_and_preference_equal_the_recorded_mapping(replay):
    client, _ = replay
    tickers = client.get_futures_tickers_bulk()
    golden = json.loads(GOLDEN_KEYS.read_text(encoding="utf-8"))
    assert sorted(tickers) == sorted(golden["keys"])
    assert len(tickers) == len(golden["keys"]) == 820
    for key, symbols in golden["keys"].items():
        assert [t.symbol for t in tickers.candidates(key)] == symbols, key
        assert tickers[key].symbol == symbols[0], key
        assert tickers[key.lower()] is tickers[key], key
    for asset, symbols in golden["for_asset"].items():
        assert [t.symbol for t in tickers.for_asset(asset)] == symbols, asset


@pytest.mark.parametrize(("keys", "symbol"), [
    (("PF_XBTUSD", "PF_BTCUSD", "BTC/USD:USD", "BTC/USD", "XBT/USD", "XBT/USD:USD", "pf_xbtusd"), "PF_XBTUSD"),
    (("PI_XBTUSD", "BTC/USD:BTC"), "PI_XBTUSD"),
    (("PF_THETAUSD", "THETA/USD:USD", "THETA/USD"), "PF_THETAUSD"),
    (("PF_LUNA2USD", "LUNA2/USD:USD", "LUNA2/USD"), "PF_LUNA2USD"),
    (("PF_ETHUSD", "ETH/USD:USD", "ETH/USD"), "PF_ETHUSD"),
])
def test_bulk_every_key_form_finds_the_same_ticker_object(replay, keys, symbol):
    client, body = replay
    tickers = client.get_futures_tickers_bulk()
    raw = next(t for t in body["tickers"] if t["symbol"] == symbol)
    ticker = tickers[symbol]
    assert (ticker.mark, ticker.index, ticker.funding_rate) == (raw["markPrice"], raw["indexPrice"], raw["fundingRate"])
    for key in keys:
        assert tickers[key] is ticker, key
    assert "LUNA/USD" not in tickers


def test_bulk_drops_bad_contracts_once_logged_and_keeps_the_others(caplog):
    body = recorded_tickers_body()
    theta = next(t for t in body["tickers"] if t["symbol"] == "PF_THETAUSD")
    theta.update(markPrice=math.nan, bid=0, ask=-1.0, indexPrice="NaN")
    eth = next(t for t in body["tickers"] if t["symbol"] == "PF_ETHUSD")
    eth["lastTime"] = "0001-01-01T00:00:00+01:00"  # before year 1 in UTC
    body["tickers"] += ["not a ticker", {"symbol": ["PF_XBTUSD"], "lastTime": theta["lastTime"]}, {"markPrice": 1.0}]
    clock = server_clock(body)
    client = replay_client(body, clock)
    with caplog.at_level(logging.WARNING, logger="krakenbot.exchange.kraken.client"):
        for _ in range(3):
            tickers = client.get_futures_tickers_bulk()
            clock.advance(timedelta(seconds=5))
    assert "PF_ETHUSD" not in tickers and "ETH/USD" in tickers  # a dated ETH contract still answers ETH/USD
    assert tickers["ETH/USD"].symbol.startswith("FF_ETHUSD_")
    assert (tickers["PF_THETAUSD"].mark, tickers["PF_THETAUSD"].bid, tickers["PF_THETAUSD"].index) == (None,) * 3
    assert len(tickers.contracts) == 274
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 25 + 4  # each once, not once per tick
    assert any("PF_ETHUSD dropped (lastTime" in m for m in dropped)
    assert any("#300 dropped (not an object (str))" in m for m in dropped)
    mapping = FuturesAdapter().map_spot_to_futures("ETH/USD", tickers)
    assert mapping.futures is None and "dated" in (mapping.reason or "")


def test_parse_futures_symbol_is_the_same_value_when_asked_twice():
    first = parse_futures_symbol("PF_XBTUSD")
    assert first is not None and parse_futures_symbol(" pf_xbtusd ") is not None
    assert parse_futures_symbol("PF_XBTUSD") == first
    assert isinstance(FuturesTickers([]), FuturesTickers) and len(FuturesTickers([])) == 0


def test_bulk_builds_no_ccxt_unified_ticker_per_contract():
    body = recorded_tickers_body()
    client = replay_client(body, server_clock(body))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("ccxt's per-contract ticker parse was called")

    client.futures.parse_ticker = refuse
    client.futures.parse_tickers = refuse
    tickers = client.get_futures_tickers_bulk()
    assert tickers["BTC/USD"].symbol == "PF_XBTUSD" and len(tickers.contracts) == 275
    assert client.server_time() is not None  # the answer's serverTime is still read

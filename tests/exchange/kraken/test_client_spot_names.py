"""Spot pairs in Krakenbot's spelling reach Kraken's own markets, end to end (real ccxt -> loopback Kraken).

ccxt 4.5.90 renames Kraken's spot LUNA2USD to ``LUNA/USD``, the old LUNAUSD (Terra Classic) to ``LUNC/USD``,
XXBTZUSD to ``BTC/USD`` and XDGUSD to ``DOGE/USD``; Krakenbot writes ``LUNA2/USD``, ``LUNC/USD``, ``BTC/USD``
(or ``XBT/USD``). Covered for LUNA2, THETA and XBT/BTC: spot candles, spot trades, the futures contract and
the futures tickers.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.data.candles import CandleManager
from krakenbot.domain import SimulatedClock
from krakenbot.domain.errors import MarketDataError
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken

NOW = datetime(2026, 1, 15, 12, 0, 30, tzinfo=UTC)
CASES = [  # Krakenbot's spot pair, Kraken's pair id (what must be asked for), its perpetual, a tickers key
    ("LUNA2/USD", "LUNA2USD", "PF_LUNA2USD", "LUNA2/USD"),
    ("THETA/USD", "THETAUSD", "PF_THETAUSD", "THETA/USD"),
    ("BTC/USD", "XXBTZUSD", "PF_XBTUSD", "BTC/USD"),
    ("XBT/USD", "XXBTZUSD", "PF_XBTUSD", "XBT/USD"),
]


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(clock=lambda: NOW, credentials=None) as fk:
        yield fk


def client_of(fk: FakeKraken, clock: SimulatedClock | None = None) -> KrakenClient:
    cfg = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url)
    return KrakenClient(cfg, sleep=lambda _s: None, rng=random.Random(1), clock=clock, enable_rate_limit=False)


@pytest.mark.parametrize(("pair", "pair_id", "contract", "key"), CASES)
def test_spot_candles_trades_contract_and_tickers_of_each_pair(fake: FakeKraken, pair: str, pair_id: str,
                                                               contract: str, key: str) -> None:
    client = client_of(fake)
    candles = client.fetch_spot_ohlcv(pair, "1h", NOW - timedelta(hours=5))
    assert len(candles) == 5 and candles[-1].ts == NOW.replace(minute=0, second=0)
    assert {r.param("pair") for r in fake.requests_to("/0/public/OHLC")} == {pair_id}
    trades = client.fetch_spot_trades(pair, int((NOW - timedelta(minutes=5)).timestamp()) * 10**9)
    assert trades.rows and fake.requests_to("/0/public/Trades")[-1].param("pair") == pair_id
    spot_price = candles[-1].close
    assert all(abs(price / spot_price - 1) < 0.05 for _, price, _ in trades.rows)  # the same market's prices
    assert contract in client.load_futures_instruments()
    futures = client.fetch_futures_ohlcv(contract, "1h", NOW - timedelta(hours=5))
    assert futures and fake.requests_to(f"/api/charts/v1/trade/{contract}/1h")
    tickers = client.get_futures_tickers_bulk()
    assert tickers[key].symbol == contract and tickers[contract].mark is not None


def test_old_luna_is_lunc_and_a_bare_luna_slash_pair_is_refused_as_ambiguous(fake: FakeKraken) -> None:
    client = client_of(fake)
    assert client.fetch_spot_ohlcv("LUNC/USD", "1h", NOW - timedelta(hours=2))
    assert fake.requests_to("/0/public/OHLC")[-1].param("pair") == "LUNAUSD"
    with pytest.raises(MarketDataError, match="LUNA2/USD or LUNC/USD"):
        client.fetch_spot_ohlcv("LUNA/USD", "1h", NOW - timedelta(hours=2))


def test_an_unknown_spot_pair_is_market_data_unavailable_not_an_order_rejection(fake: FakeKraken) -> None:
    client = client_of(fake)
    with pytest.raises(MarketDataError, match="FOO/USD"):
        client.fetch_spot_ohlcv("FOO/USD", "1h", NOW - timedelta(hours=2))
    with pytest.raises(MarketDataError, match="FOO/USD"):
        client.fetch_spot_trades("FOO/USD", 0)
    assert fake.requests_to("/0/public/OHLC") == []  # refused before asking Kraken


def test_candle_manager_reads_luna2_from_spot_without_falling_back(fake: FakeKraken, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    clock = SimulatedClock(NOW)
    manager = CandleManager(client_of(fake, clock), tmp_path / "cache", history_candles=48)
    with caplog.at_level(logging.WARNING):
        series = manager.get_candles("LUNA2/USD", "1h", NOW, futures_symbol="PF_LUNA2USD")
    assert series.source == "spot" and series.market == "LUNA2/USD" and not series.stale
    assert len(series.frame) == 48 and series.problem is None
    assert fake.requests_to("/api/charts/") == []  # no futures fallback asked for
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

"""CandleManager with the real KrakenClient (real ccxt) against the loopback Kraken.

Spot candles are Kraken's recorded XBT/USD hourly series (``kraken/XBTUSD-60m.parquet``,
2023-01-01 00:00 to 2023-02-15 23:00 UTC, 1,104 candles, no gaps). The loopback server's request
log shows what the manager asked for. Futures candles (no recording) are the server's seeded
synthetic series.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.data.candles import CandleManager
from krakenbot.domain import SimulatedClock
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken

DATA = Path(__file__).parent / "kraken"
H = timedelta(hours=1)
RECORDED_LAST = datetime(2023, 2, 15, 23, tzinfo=UTC)  # open time of the last recorded candle


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime(2023, 2, 14, 0, 30, tzinfo=UTC))


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(data_dir=DATA, clock=clock.now,
                    credentials={"loopback-key": base64.b64encode(b"loopback").decode()}) as fk:
        yield fk


def client_for(fk: FakeKraken, clock: SimulatedClock) -> KrakenClient:
    config = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url)
    return KrakenClient(config, api_key="loopback-key", api_secret=base64.b64encode(b"loopback").decode(),
                        sleep=lambda _seconds: None, clock=clock, enable_rate_limit=False)


def recorded(since: datetime, until: datetime) -> pd.DataFrame:
    frame = pd.read_parquet(DATA / "XBTUSD-60m.parquet")
    ts = pd.to_datetime(frame["ts"], utc=True)
    return frame[(ts >= pd.Timestamp(since)) & (ts <= pd.Timestamp(until))].reset_index(drop=True)


def ohlc_sinces(fk: FakeKraken) -> list[datetime]:
    return [datetime.fromtimestamp(int(r.param("since") or 0), tz=UTC) for r in fk.requests_to("/0/public/OHLC")]


def test_restart_reads_the_cache_and_asks_kraken_for_nothing_old(fake: FakeKraken, clock: SimulatedClock,
                                                                 tmp_path: Path) -> None:
    now = clock.now()
    first = CandleManager(client_for(fake, clock), tmp_path / "cache", history_candles=700)
    fetched = first.get_candles("BTC/USD", "1h", now)
    last_closed = datetime(2023, 2, 13, 23, tzinfo=UTC)
    assert fetched.source == "spot" and not fetched.stale and fetched.ts_last == last_closed
    assert len(fetched.frame) == 700 and fetched.gaps == ()
    expected = recorded(last_closed - 699 * H, last_closed)
    assert list(fetched.frame["close"]) == list(expected["close"])
    assert fake.requests_to("/0/public/OHLC")  # 700 candles: within Kraken's 720-candle reach

    fake.clear_requests()
    restarted = CandleManager(client_for(fake, clock), tmp_path / "cache", history_candles=700)
    again = restarted.get_candles("BTC/USD", "1h", now)
    assert fake.requests_to("/0/public/OHLC") == []  # no newer candle has closed: nothing asked
    pd.testing.assert_frame_equal(again.frame, fetched.frame)
    assert again.ts_last == fetched.ts_last and again.source == "spot"


def test_restart_later_asks_only_for_candles_after_the_cached_ones(fake: FakeKraken, clock: SimulatedClock,
                                                                   tmp_path: Path) -> None:
    CandleManager(client_for(fake, clock), tmp_path / "cache", history_candles=700).get_candles(
        "BTC/USD", "1h", clock.now())
    cached_last = datetime(2023, 2, 13, 23, tzinfo=UTC)
    fake.clear_requests()
    now = clock.set(datetime(2023, 2, 15, 6, 5, tzinfo=UTC))
    later = CandleManager(client_for(fake, clock), tmp_path / "cache", history_candles=700).get_candles(
        "BTC/USD", "1h", now)
    sinces = ohlc_sinces(fake)
    assert sinces and min(sinces) >= cached_last  # Kraken's since is exclusive: candles after it
    assert len(sinces) == 1  # one request: Kraken's answer already holds every candle it still serves
    assert later.ts_last == datetime(2023, 2, 15, 5, tzinfo=UTC) and later.gaps == ()
    expected = recorded(cached_last - 699 * H, datetime(2023, 2, 15, 5, tzinfo=UTC))
    assert [t.to_pydatetime() for t in later.frame["ts"]] == [t.to_pydatetime() for t in expected["ts"]]
    assert list(later.frame["close"]) == list(expected["close"])


def test_stale_spot_falls_back_to_futures_candles_and_says_so_once(fake: FakeKraken, clock: SimulatedClock,
                                                                   tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    # The spot recording stops at 2023-02-15 23:00: two days later spot is stale, futures are not.
    now = clock.set(datetime(2023, 2, 17, 12, 10, tzinfo=UTC))
    manager = CandleManager(client_for(fake, clock), tmp_path / "cache", history_candles=200)
    with caplog.at_level(logging.INFO, logger="krakenbot.data.candles"):
        series = manager.get_candles("BTC/USD", "1h", now, futures_symbol="PF_XBTUSD")
        clock.advance(timedelta(minutes=20))
        again = manager.get_candles("BTC/USD", "1h", clock.now(), futures_symbol="PF_XBTUSD")
    assert series.source == again.source == "futures_fallback" and series.market == "PF_XBTUSD"
    assert not series.stale and series.ts_last == datetime(2023, 2, 17, 11, tzinfo=UTC)
    assert len(series.frame) == 200 and series.gaps == ()
    assert fake.requests_to("/0/public/OHLC") and fake.requests_to("/api/charts/v1/trade/PF_XBTUSD/1h")
    assert max(ohlc_sinces(fake)) <= RECORDED_LAST  # spot was asked first, and had nothing newer
    fallback_lines = [r for r in caplog.records if "futures_fallback" in r.getMessage()]
    assert len(fallback_lines) == 1
    assert fallback_lines[0].levelno == logging.WARNING and fallback_lines[0].getMessage().startswith("BTC/USD:")
    assert "PF_XBTUSD" in fallback_lines[0].getMessage()

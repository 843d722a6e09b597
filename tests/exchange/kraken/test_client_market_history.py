"""KrakenClient's history reads against the loopback Kraken, through the real ccxt classes: spot trades paged by
Kraken's ``last`` cursor (candles rebuilt from them equal the OHLC endpoint's), futures trade/mark/index charts,
historical funding rates with their gaps, and the fault injection on each of those paths."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import SimulatedClock
from krakenbot.domain.errors import RateLimitError, TransientError
from krakenbot.domain.market import FundingRecord, TradePage
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_market import Bar

NOW = datetime(2026, 1, 15, 12, 0, 30, tzinfo=UTC)
NOW_MIN = int(NOW.timestamp()) // 60 * 60  # open of the forming minute
FUTURES_DATA = Path(__file__).resolve().parents[2] / "data" / "kraken-futures"


def luna2_minutes() -> list[Bar]:
    """1,500 one-minute LUNA2USD candles up to the forming one, every 7th minute without trades (absent)."""
    bars = []
    for i in range(1500):
        ts = NOW_MIN - (1499 - i) * 60
        if i % 7 == 3:
            continue
        base = 0.45 + 0.0001 * (i % 37)
        o, c = round(base, 4), round(base + 0.0001 * ((i % 5) - 2), 4)
        bars.append(Bar(ts_s=ts, open=o, high=round(max(o, c) + 0.0002, 4), low=round(min(o, c) - 0.0001, 4),
                        close=c, volume=round(100 + 13.37 * (i % 11) + 0.00000003 * i, 8)))
    return bars


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(clock=lambda: NOW, credentials=None) as fk:
        fk.record_candles("LUNA2USD", 1, luna2_minutes())
        yield fk


def client_of(fk: FakeKraken, sleeps: list[float] | None = None, **config: object) -> KrakenClient:
    cfg = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url, **config)
    return KrakenClient(cfg, sleep=(sleeps if sleeps is not None else []).append, rng=random.Random(1),
                        enable_rate_limit=False)


def rebuild(rows: list[tuple[int, float, float]], step_s: int, until_s: int) -> dict[int, tuple[float, ...]]:
    """Candles (open time s -> o, h, l, c, v) of the buckets that closed by ``until_s``, from trades."""
    candles: dict[int, list[float]] = {}
    for ns, price, volume in rows:
        ts = ns // 10**9 // step_s * step_s
        if ts + step_s > until_s:
            continue
        c = candles.get(ts)
        if c is None:
            candles[ts] = [price, price, price, price, volume]
        else:
            c[1], c[2], c[3], c[4] = max(c[1], price), min(c[2], price), price, c[4] + volume
    return {ts: tuple(c) for ts, c in candles.items()}


def all_trades(client: KrakenClient, pair: str, since: int) -> tuple[list[tuple[int, float, float]], list[TradePage]]:
    rows: list[tuple[int, float, float]] = []
    pages: list[TradePage] = []
    cursor = since
    for _ in range(50):
        page = client.fetch_spot_trades(pair, cursor)
        pages.append(page)
        if not page.rows:
            break
        assert page.last == page.rows[-1][0]  # Kraken's cursor is the newest trade's time
        rows += page.rows
        cursor = page.last
    return rows, pages


def test_trades_rebuild_exactly_the_ohlc_candles_with_empty_minutes_absent(fake: FakeKraken) -> None:
    client = client_of(fake)
    since_dt = datetime.fromtimestamp(NOW_MIN - 700 * 60, tz=UTC)
    ohlc = {int(c.ts.timestamp()): c for c in client.fetch_spot_ohlcv("LUNA2/USD", "1m", since_dt)
            if c.ts.timestamp() + 60 <= NOW.timestamp()}
    rows, pages = all_trades(client, "LUNA2/USD", (NOW_MIN - 700 * 60) * 10**9)
    assert len(pages) >= 3 and all(len(p.rows) <= 1000 for p in pages)  # paged by Kraken's cursor
    assert len({r[0] for r in rows}) == len(rows) and rows == sorted(rows)  # no trade twice, oldest first
    rebuilt = rebuild(rows, 60, int(NOW.timestamp()))
    assert sorted(rebuilt) == sorted(ohlc) and len(ohlc) < 700  # the same minutes: empty ones absent in both
    for ts, candle in ohlc.items():
        o, h, lo, c, v = rebuilt[ts]
        assert (o, h, lo, c) == (candle.open, candle.high, candle.low, candle.close)  # prices exact
        assert v == pytest.approx(candle.volume, rel=1e-14)  # float sum of decimal-exact parts
    assert all(p.last > 0 for p in pages) and pages[-1].rows == () and pages[-1].last == rows[-1][0]


def test_trades_of_the_synthetic_series_rebuild_its_one_minute_ohlc(fake: FakeKraken) -> None:
    # No recording for ETHUSD: the trades derive from its synthetic 1-minute series, which is what OHLC serves
    client = client_of(fake)
    rows, _ = all_trades(client, "ETH/USD", (NOW_MIN - 1500) * 10**9)
    ohlc = {int(c.ts.timestamp()): c for c in client.fetch_spot_ohlcv(
        "ETH/USD", "1m", datetime.fromtimestamp(NOW_MIN - 1500, tz=UTC)) if c.ts.timestamp() + 60 <= NOW.timestamp()}
    rebuilt = rebuild(rows, 60, int(NOW.timestamp()))
    assert set(rebuilt) == set(ohlc) and len(ohlc) == 25
    assert all(rebuilt[ts][:4] == (c.open, c.high, c.low, c.close) for ts, c in ohlc.items())


def test_trades_cursor_accepts_seconds_and_nanoseconds_and_is_exclusive(fake: FakeKraken) -> None:
    client = client_of(fake)
    start_s = NOW_MIN - 10 * 60
    by_seconds = client.fetch_spot_trades("LUNA2/USD", start_s)
    by_ns = client.fetch_spot_trades("LUNA2/USD", start_s * 10**9)
    assert by_seconds == by_ns and by_ns.rows[0][0] > start_s * 10**9
    after = client.fetch_spot_trades("LUNA2/USD", by_ns.rows[2][0])
    assert after.rows[0] == by_ns.rows[3]  # the trade at the cursor is not answered again
    assert all(ns <= int(NOW.timestamp()) * 10**9 for ns, _, _ in by_ns.rows)  # nothing after the server's now
    [request] = fake.requests_to("/0/public/Trades")[-1:]
    assert request.param("pair") == "LUNA2USD" and request.param("since") == str(by_ns.rows[2][0])


def test_trades_raw_answer_is_krakens_shape_with_decimal_exact_volumes(fake: FakeKraken) -> None:
    import json
    import urllib.request

    since = (NOW_MIN - 3 * 60) * 10**9
    with urllib.request.urlopen(f"{fake.url}/0/public/Trades?pair=LUNA2USD&since={since}", timeout=5) as resp:
        body = json.loads(resp.read())
    rows = body["result"]["LUNA2USD"]
    assert body["error"] == [] and isinstance(body["result"]["last"], str)
    assert all(len(r) == 7 and r[3] in ("b", "s") and r[4] in ("l", "m") and r[5] == "" for r in rows)
    bars = {b.ts_s: b for b in luna2_minutes()}
    by_minute: dict[int, Decimal] = {}
    for r in rows:
        minute = int(Decimal(str(r[2]))) // 60 * 60
        by_minute[minute] = by_minute.get(minute, Decimal(0)) + Decimal(r[1])
    closed = [m for m in by_minute if m + 60 <= int(NOW.timestamp())]
    assert closed and all(by_minute[m] == Decimal(repr(bars[m].volume)) for m in closed)


def test_futures_charts_trade_mark_and_index_prices(fake: FakeKraken) -> None:
    client = client_of(fake)
    since = NOW - timedelta(hours=5)
    for price, kraken_name in (("trade", "trade"), ("mark", "mark"), ("index", "spot")):
        candles = client.fetch_futures_ohlcv("PF_LUNA2USD", "1h", since, NOW, price=price)
        assert candles and candles[0].ts >= since
        assert fake.requests_to(f"/api/charts/v1/{kraken_name}/PF_LUNA2USD/1h")


def test_funding_history_keeps_krakens_missed_hours_as_gaps_and_both_units() -> None:
    now = datetime(2025, 10, 20, tzinfo=UTC)
    with FakeKraken(data_dir=FUTURES_DATA, clock=lambda: now, credentials=None) as fk:
        hours = [datetime(2025, 10, 10, h, tzinfo=UTC) for h in (18, 19, 21, 22)]  # 20:00 missed by Kraken
        fk.record_funding("PF_ETHUSD", [(hours[3], -5.49e-4, -2.1), (hours[0], 1.0e-5, 0.04),
                                        (hours[1], 1.2e-5, None), (hours[2], 2.0e-5, 0.08)])
        client = client_of(fk)
        eth = client.fetch_funding_history("PF_ETHUSD")
        assert eth == [FundingRecord(ts=hours[0], relative=1.0e-5, absolute=0.04),
                       FundingRecord(ts=hours[1], relative=1.2e-5, absolute=None),
                       FundingRecord(ts=hours[2], relative=2.0e-5, absolute=0.08),
                       FundingRecord(ts=hours[3], relative=-5.49e-4, absolute=-2.1)]
        # the data folder's recorded file (Krakenbot's layout), the ccxt path Kraken answers
        xbt = client.fetch_funding_history("BTC/USD:USD")
        assert fk.requests_to("/historicalfundingrates")
        assert len(xbt) == 250 and xbt[0].ts == datetime(2025, 10, 8, 18, tzinfo=UTC)
        assert all(b.ts - a.ts >= timedelta(hours=1) for a, b in itertools.pairwise(xbt))
        worst = min(xbt, key=lambda r: r.relative)
        assert worst.ts == datetime(2025, 10, 10, 22, tzinfo=UTC)
        assert worst.relative == pytest.approx(-1.77e-4, rel=0.01)
        assert worst.absolute is not None and 100_000 < worst.absolute / worst.relative < 130_000  # USD/contract/h


def test_funding_history_answers_only_krakens_rolling_year(fake: FakeKraken) -> None:
    records = client_of(fake).fetch_funding_history("PF_XBTUSD")  # synthetic: the contract's current rate
    assert records[-1].ts == NOW.replace(minute=0, second=0)
    assert NOW - records[0].ts <= timedelta(days=365) and len(records) == 365 * 24
    assert records[0].absolute == pytest.approx(records[0].relative * 97_000.0)


PATHS = {
    "trades": ("/0/public/Trades", lambda c: c.fetch_spot_trades("LUNA2/USD", (NOW_MIN - 120) * 10**9)),
    "ohlc": ("/0/public/OHLC", lambda c: c.fetch_spot_ohlcv("LUNA2/USD", "1m", NOW - timedelta(minutes=30))),
    "trade charts": ("/charts/v1/trade/", lambda c: c.fetch_futures_ohlcv("PF_XBTUSD", "1h", NOW - timedelta(hours=3))),
    "mark charts": ("/charts/v1/mark/", lambda c: c.fetch_futures_ohlcv("PF_XBTUSD", "1h", NOW - timedelta(hours=3),
                                                                       price="mark")),
    "index charts": ("/charts/v1/spot/", lambda c: c.fetch_futures_ohlcv("PF_XBTUSD", "1h", NOW - timedelta(hours=3),
                                                                        price="index")),
    "funding": ("/historicalfundingrates", lambda c: c.fetch_funding_history("PF_XBTUSD")),
}


@pytest.mark.parametrize("name", list(PATHS))
def test_faults_on_each_history_path_are_retried_then_reported(fake: FakeKraken, name: str) -> None:
    path, read = PATHS[name]
    sleeps: list[float] = []
    client = client_of(fake, sleeps, max_retries=3)
    client.load_spot_instruments()
    client.load_futures_instruments()
    expected = read(client)
    assert expected
    # a 429, a dropped connection and a truncated body, then the answer: the same result, after backing off
    fake.inject("status", path=path, status=429)
    fake.inject("drop", path=path)
    fake.inject("malformed", path=path)
    assert read(client) == expected and len(sleeps) == 3
    # a delayed answer still arrives
    fake.inject("delay", path=path, delay_seconds=0.2)
    assert read(client) == expected
    # more malformed pages than retries: reported, never returned half-read
    fake.inject("malformed", path=path, times=4)
    with pytest.raises(TransientError):
        read(client)
    fake.inject("status", path=path, status=429, times=4)
    with pytest.raises(RateLimitError):
        read(client)
    fake.clear_faults()
    assert read(client) == expected


def test_hourly_ohlc_of_a_one_minute_recording_aggregates_it_and_matches_the_trades(fake: FakeKraken) -> None:
    client = client_of(fake)
    since = datetime.fromtimestamp(NOW_MIN - 20 * 3600, tz=UTC).replace(minute=0)
    hourly = {int(c.ts.timestamp()): c for c in client.fetch_spot_ohlcv("LUNA2/USD", "1h", since)
              if c.ts.timestamp() + 3600 <= NOW.timestamp()}
    rows, _ = all_trades(client, "LUNA2/USD", int(since.timestamp()) * 10**9)
    rebuilt = rebuild(rows, 3600, int(NOW.timestamp()))
    assert sorted(rebuilt) == sorted(hourly) and len(hourly) == 20
    for ts, candle in hourly.items():
        assert rebuilt[ts][:4] == (candle.open, candle.high, candle.low, candle.close)
        assert rebuilt[ts][4] == pytest.approx(candle.volume, rel=1e-12)


def test_spot_public_rate_limit_answers_too_many_requests_and_the_client_backs_off() -> None:
    clock = SimulatedClock(NOW)
    with FakeKraken(clock=clock.now, credentials=None) as fk:
        fk.record_candles("LUNA2USD", 1, luna2_minutes())
        limits = fk.limit_spot_public(burst=3, per_second=1.0)
        sleeps: list[float] = []

        def sleep(seconds: float) -> None:  # the client's back-off passes on the server's clock
            sleeps.append(seconds)
            clock.advance(timedelta(seconds=seconds))

        cfg = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url)
        client = KrakenClient(cfg, sleep=sleep, rng=random.Random(1), enable_rate_limit=False)
        rows, pages = all_trades(client, "LUNA2/USD", (NOW_MIN - 700 * 60) * 10**9)
        assert limits.refused >= 1 and sleeps  # a burst of pages tripped Kraken's limit ...
        assert len(pages) >= 3 and len({r[0] for r in rows}) == len(rows)  # ... and paging went on, nothing lost
        other_pair = client.fetch_spot_trades("ETH/USD", (NOW_MIN - 60) * 10**9)  # its own per-pair budget
        assert other_pair.rows

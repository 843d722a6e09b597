"""KrakenClient against the loopback Kraken, through the real ccxt classes (no mocks)."""

from __future__ import annotations

import base64
import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import OrderIntent, OrderSide, OrderStatus, OrderType, Side, SimulatedClock
from krakenbot.domain.errors import (
    DuplicateOrderError,
    InsufficientMarginError,
    OrderNotFoundError,
    OrderRejectedError,
    OutcomeUnknownError,
    RateLimitError,
    TransientError,
)
from krakenbot.domain.market import SPOT_OHLC_REACH
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken

DATA = Path(__file__).resolve().parents[2] / "data" / "kraken"
SECRET = base64.b64encode(b"loopback-secret").decode()


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(data_dir=DATA, credentials={"loopback-key": SECRET}) as fk:
        yield fk


def make_client(fk: FakeKraken, sleeps: list[float] | None = None, **config: object) -> KrakenClient:
    cfg = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url, **config)
    recorded = sleeps if sleeps is not None else []
    return KrakenClient(cfg, api_key="loopback-key", api_secret=SECRET, sleep=recorded.append,
                        rng=random.Random(1), enable_rate_limit=False)


def intent(cid: str, side: OrderSide, size: str, *, order_type: OrderType = OrderType.IOC,
           limit: str | None = None, stop: str | None = None, reduce_only: bool = False,
           symbol: str = "PF_XBTUSD") -> OrderIntent:
    return OrderIntent(client_order_id=cid, symbol=symbol, side=side, size=Decimal(size), order_type=order_type,
                       reduce_only=reduce_only, reason="test", ts_created=datetime.now(UTC),
                       limit_price=None if limit is None else Decimal(limit),
                       stop_price=None if stop is None else Decimal(stop))


def test_get_futures_tickers_bulk_one_request_reaches_every_key_form(fake: FakeKraken) -> None:
    client = make_client(fake)
    client.load_futures_instruments()
    fake.clear_requests()
    tickers = client.get_futures_tickers_bulk()
    assert [r.path for r in fake.requests] == ["/derivatives/api/v3/tickers"]
    btc = tickers["PF_XBTUSD"]
    assert btc.mark == 97_000.0 and btc.bid is not None and btc.ask is not None and btc.index is not None
    assert btc.funding_rate is not None and btc.open_interest == 1_950.0 and btc.volume_24h == 8_300.0
    assert tickers["BTC/USD:USD"] is btc and tickers["BTC/USD"] is btc and tickers["XBT/USD"] is btc
    assert tickers["PI_THETAUSD"].symbol == "PI_THETAUSD"
    assert tickers["PF_FTMUSD"].suspended is True


def test_tickers_answer_measures_the_clock_skew_without_an_extra_request() -> None:
    server_now = datetime(2026, 1, 15, 12, 0, 0, 250_000, tzinfo=UTC)
    with FakeKraken(data_dir=DATA, clock=lambda: server_now, credentials={"loopback-key": SECRET}) as fk:
        local = SimulatedClock(server_now + timedelta(hours=5))
        cfg = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url)
        client = KrakenClient(cfg, rng=random.Random(1), clock=local, enable_rate_limit=False)
        assert client.server_time() is None
        client.load_futures_instruments()
        fk.clear_requests()
        client.get_futures_tickers_bulk()
        assert [r.path for r in fk.requests] == ["/derivatives/api/v3/tickers"]
    measured = client.server_time()
    assert measured is not None and measured.server_ts == server_now  # Kraken's milliseconds kept
    assert measured.skew == timedelta(hours=5)


def test_load_instruments_carry_tick_lot_and_margin_schedule_leverage(fake: FakeKraken) -> None:
    client = make_client(fake)
    futures = client.load_futures_instruments()
    xbt = futures["PF_XBTUSD"]
    assert (xbt.tick_size, xbt.lot_size, xbt.min_size, xbt.contract_size) == (
        Decimal(1), Decimal("0.0001"), Decimal("0.0001"), Decimal(1))
    # the loopback serves Kraken's recorded marginLevels: PF_XBTUSD 1 % up to 1M USD, then 2 %
    assert xbt.max_leverage == 100.0 and xbt.unified_symbol == "BTC/USD:USD"
    assert (xbt.initial_margin_rate(999_999), xbt.initial_margin_rate(1_000_000)) == (0.01, 0.02)
    assert futures["PF_SHIBUSD"].lot_size == Decimal(1000)
    assert futures["PF_THETAUSD"].max_leverage == 20.0
    assert futures["PF_THETAUSD"].maintenance_margin_rate(25_000) == 0.05
    assert "in_xbtusd" not in futures
    spot = client.load_spot_instruments()
    assert spot["BTC/USD"].tick_size == Decimal("0.1") and spot["BTC/USD"].min_size == Decimal("0.00005")


def test_fetch_spot_ohlcv_returns_only_krakens_newest_720_candles_whatever_since() -> None:
    # Kraken's OHLC answers the newest 720 candles (the forming one included) and ignores an older since:
    # asked from 2023-01-01, an hour after the recording's last candle opened, only the last 720 come back.
    now = datetime(2023, 2, 15, 23, 30, tzinfo=UTC)
    with FakeKraken(data_dir=DATA, clock=lambda: now, credentials={"loopback-key": SECRET}) as fk:
        client = make_client(fk)
        candles = client.fetch_spot_ohlcv("BTC/USD", "1h", datetime(2023, 1, 1, tzinfo=UTC), now)
        recorded = pd.read_parquet(DATA / "XBTUSD-60m.parquet").iloc[-SPOT_OHLC_REACH:]
        assert len(candles) == SPOT_OHLC_REACH == 720
        assert candles[0].ts == datetime(2023, 1, 17, tzinfo=UTC)  # 23:00 on 15 Feb minus 719 hours
        assert [c.ts for c in candles] == [ts.to_pydatetime() for ts in recorded["ts"]]
        assert [c.close for c in candles] == list(recorded["close"])
        sinces = [int(r.param("since") or 0) for r in fk.requests_to("/0/public/OHLC")]
        assert sinces[0] <= int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())  # older than the reach: ignored
        assert sinces == sorted(sinces) and len(set(sinces)) == len(sinces)  # never the same page twice
        # a since inside the window trims it (exclusive, as Kraken polls with it)
        fk.clear_requests()
        recent = client.fetch_spot_ohlcv("XBT/USD", "1h", datetime(2023, 2, 15, 20, tzinfo=UTC))
        assert [c.ts.hour for c in recent] == [20, 21, 22, 23]


def test_fetch_spot_ohlcv_synthetic_series_is_contiguous_within_the_reach(fake: FakeKraken) -> None:
    client = make_client(fake)
    since = (datetime.now(UTC) - timedelta(hours=700)).replace(minute=0, second=0, microsecond=0)
    candles = client.fetch_spot_ohlcv("ETH/USD", "1h", since)
    steps = {b.ts - a.ts for a, b in itertools.pairwise(candles)}
    assert steps == {timedelta(hours=1)} and candles[0].ts == since and len(candles) >= 700
    # from further back than the reach: the same newest 720, nothing older
    older = client.fetch_spot_ohlcv("ETH/USD", "1h", since - timedelta(hours=800))
    assert len(older) == SPOT_OHLC_REACH and older[-1].ts == candles[-1].ts
    assert {b.ts - a.ts for a, b in itertools.pairwise(older)} == {timedelta(hours=1)}


def test_fetch_futures_ohlcv_mark_pages_2000_per_window(fake: FakeKraken) -> None:
    client = make_client(fake)
    since = (datetime.now(UTC) - timedelta(minutes=2500)).replace(second=0, microsecond=0)
    candles = client.fetch_futures_ohlcv("PF_ETHUSD", "1m", since, price="mark")
    assert candles[0].ts == since and len(candles) >= 2500
    assert {b.ts - a.ts for a, b in itertools.pairwise(candles)} == {timedelta(minutes=1)}
    charts = fake.requests_to("/api/charts/v1/mark/PF_ETHUSD/1m")
    assert len(charts) == 2


def test_fetch_account_reads_flex_margin_figures(fake: FakeKraken) -> None:
    client = make_client(fake)
    account = client.fetch_account()
    assert account.equity_usd == 10_000.0 and account.available_margin_usd == 10_000.0
    assert account.initial_margin_usd == 0.0
    client.create_order(intent("open-1", OrderSide.BUY, "0.01", limit="98000"))
    after = client.fetch_account()
    assert after.initial_margin_usd == pytest.approx(0.01 * 97_000 * 0.01)  # Kraken's first tier: 1 % / 0.5 %
    assert after.maintenance_margin_usd == pytest.approx(0.01 * 97_000 * 0.005)
    assert after.equity_usd == pytest.approx(10_000 - 0.01 * 97_000 * 0.0005)  # taker fee paid


def test_order_round_trip_with_client_order_id(fake: FakeKraken) -> None:
    client = make_client(fake)
    opened = client.create_order(intent("rt-open", OrderSide.BUY, "0.01", limit="97500"))
    assert opened.status is OrderStatus.FILLED and opened.filled_size == Decimal("0.01")
    assert opened.client_order_id == "rt-open" and opened.symbol == "PF_XBTUSD"
    sent = fake.requests_to("/sendorder")[-1]
    assert sent.param("cliOrdId") == "rt-open" and sent.param("orderType") == "ioc"
    assert sent.param("size") == "0.01" and sent.param("limitPrice") == "97500"
    positions = client.fetch_positions()
    assert [(p.symbol, p.side, p.size, p.entry_price) for p in positions] == [("PF_XBTUSD", Side.LONG, 0.01, 97_000.0)]

    closed = client.create_order(intent("rt-close", OrderSide.SELL, "0.01", limit="96500", reduce_only=True))
    assert closed.status is OrderStatus.FILLED and closed.reduce_only is True
    assert fake.requests_to("/sendorder")[-1].param("reduceOnly") == "true"
    assert client.fetch_positions() == []

    looked_up = client.fetch_order_by_client_id("rt-open", "BTC/USD:USD")
    assert looked_up is not None and looked_up.status is OrderStatus.FILLED and looked_up.filled_size == Decimal("0.01")
    fills = client.fetch_fills(since=datetime.now(UTC) - timedelta(minutes=5))
    assert [(f.client_order_id, f.side) for f in fills] == [("rt-open", OrderSide.BUY), ("rt-close", OrderSide.SELL)]

    with pytest.raises(DuplicateOrderError):
        client.create_order(intent("rt-open", OrderSide.BUY, "0.01", limit="97500"))


def test_read_retried_through_a_429_burst(fake: FakeKraken) -> None:
    sleeps: list[float] = []
    client = make_client(fake, sleeps, max_retries=4, retry_base_delay_seconds=0.5)
    client.load_futures_instruments()
    fake.inject("status", path="/openpositions", status=429, times=3)
    assert client.fetch_positions() == []
    assert len(fake.requests_to("/openpositions")) == 4
    assert len(sleeps) == 3 and sleeps[0] < sleeps[2]
    assert all(s >= 0.5 for s in sleeps)  # rate limits back off at least the base delay, doubled


def test_read_gives_up_after_max_retries_with_rate_limit_error(fake: FakeKraken) -> None:
    client = make_client(fake, max_retries=2)
    client.load_futures_instruments()
    fake.inject("status", path="/tickers", status=429, times=5)
    with pytest.raises(RateLimitError):
        client.get_futures_tickers_bulk()
    assert len(fake.requests_to("/tickers")) == 3


def test_read_retried_after_gateway_error_and_garbled_body(fake: FakeKraken) -> None:
    client = make_client(fake)
    fake.inject("status", path="/accounts", status=502)
    fake.inject("malformed", path="/accounts")
    assert client.fetch_account().equity_usd == 10_000.0
    assert len(fake.requests_to("/accounts")) == 3


def test_create_order_dropped_after_accept_is_outcome_unknown_then_found_by_client_id(fake: FakeKraken) -> None:
    client = make_client(fake)
    client.load_futures_instruments()
    fake.inject("accept_then_drop", path="/sendorder")
    with pytest.raises(OutcomeUnknownError):
        client.create_order(intent("lost-1", OrderSide.BUY, "0.01", limit="98000"))
    assert len(fake.requests_to("/sendorder")) == 1  # never resent
    found = client.fetch_order_by_client_id("lost-1", "PF_XBTUSD")
    assert found is not None and found.status is OrderStatus.FILLED and found.filled_size == Decimal("0.01")


def test_create_order_timeout_after_accept_is_outcome_unknown(fake: FakeKraken) -> None:
    client = make_client(fake, timeout_seconds=0.2)
    client.load_futures_instruments()
    fake.inject("accept_then_hang", path="/sendorder", delay_seconds=0.6)
    with pytest.raises(OutcomeUnknownError):
        client.create_order(intent("slow-1", OrderSide.BUY, "0.01", limit="98000"))
    assert len(fake.requests_to("/sendorder")) == 1
    found = client.fetch_order_by_client_id("slow-1", "PF_XBTUSD")
    assert found is not None and found.status is OrderStatus.FILLED


def test_create_order_gateway_error_is_outcome_unknown_and_not_retried(fake: FakeKraken) -> None:
    sleeps: list[float] = []
    client = make_client(fake, sleeps)
    client.load_futures_instruments()
    fake.inject("status", path="/sendorder", status=503, times=3)
    with pytest.raises(OutcomeUnknownError):
        client.create_order(intent("gw-1", OrderSide.BUY, "0.01", limit="98000"))
    assert len(fake.requests_to("/sendorder")) == 1 and sleeps == []


def test_lookup_falls_back_to_fills_when_orders_status_forgot_the_order() -> None:
    with FakeKraken(closed_order_retention_seconds=0, credentials={"loopback-key": SECRET}) as fk:
        client = make_client(fk)
        client.create_order(intent("old-1", OrderSide.SELL, "0.01", limit="96000"))
        found = client.fetch_order_by_client_id("old-1", "PF_XBTUSD")
        assert found is not None and found.status is OrderStatus.FILLED and found.avg_fill_price == Decimal(97000)
        assert client.fetch_order_by_client_id("never-sent", "PF_XBTUSD") is None


def test_suspended_market_is_a_rejection_not_a_transient_error(fake: FakeKraken) -> None:
    client = make_client(fake)
    fake.suspend("PF_ETHUSD")
    with pytest.raises(OrderRejectedError) as info:
        client.create_order(intent("susp-1", OrderSide.BUY, "0.1", order_type=OrderType.MARKET, symbol="PF_ETHUSD"))
    assert not isinstance(info.value, TransientError)
    assert client.get_futures_tickers_bulk()["PF_ETHUSD"].suspended is True


def test_insufficient_margin_is_a_rejection_and_non_marketable_ioc_comes_back_cancelled(fake: FakeKraken) -> None:
    client = make_client(fake)
    with pytest.raises(InsufficientMarginError):
        # 1.94M USD: Kraken's 2 % tier (from 1M USD), 38.8k USD of margin on 10k
        client.create_order(intent("big-1", OrderSide.BUY, "20", order_type=OrderType.MARKET))
    far = client.create_order(intent("far-1", OrderSide.BUY, "0.01", limit="90000"))
    assert far.status is OrderStatus.CANCELLED and far.filled_size == 0 and far.client_order_id == "far-1"
    assert len(fake.requests_to("/sendorder")) == 2  # Kraken answered iocWouldNotExecute: it was sent
    assert client.fetch_positions() == [] and client.fetch_fills() == []


def test_off_lot_size_and_off_tick_price_are_refused_before_ccxt_rounds_them(fake: FakeKraken) -> None:
    client = make_client(fake)
    with pytest.raises(OrderRejectedError, match="lot"):
        client.create_order(intent("lot-1", OrderSide.BUY, "0.00015", limit="98000"))
    with pytest.raises(OrderRejectedError, match="tick"):
        client.create_order(intent("tick-1", OrderSide.BUY, "0.01", limit="98000.5"))
    assert fake.requests_to("/sendorder") == [] and client.fetch_positions() == []


def test_reduce_only_refusal_names_reduce_only(fake: FakeKraken) -> None:
    client = make_client(fake)
    with pytest.raises(OrderRejectedError, match=r"reduce-only.*wouldNotReducePosition"):
        client.create_order(intent("ro-1", OrderSide.SELL, "0.01", limit="96000", reduce_only=True))


def test_stop_order_by_mark_rests_then_closes_the_position(fake: FakeKraken) -> None:
    client = make_client(fake)
    client.create_order(intent("pos-1", OrderSide.BUY, "0.02", order_type=OrderType.MARKET))
    stop = client.create_order(intent("stop-1", OrderSide.SELL, "0.02", order_type=OrderType.STOP, stop="95000",
                                      reduce_only=True))
    assert stop.status is OrderStatus.OPEN and stop.stop_price == Decimal(95000)
    sent = fake.requests_to("/sendorder")[-1]
    assert sent.param("orderType") == "stp" and sent.param("triggerSignal") == "mark"
    [resting] = client.fetch_open_orders()
    assert resting.client_order_id == "stop-1" and resting.order_type is OrderType.STOP
    fake.set_mark("PF_XBTUSD", 94_900.0)
    assert client.fetch_positions() == [] and client.fetch_open_orders() == []


def test_cancel_by_client_id_then_again_is_order_not_found(fake: FakeKraken) -> None:
    client = make_client(fake)
    client.create_order(intent("rest-1", OrderSide.BUY, "0.01", order_type=OrderType.LIMIT, limit="90000"))
    assert [o.client_order_id for o in client.fetch_open_orders()] == ["rest-1"]
    cancelled = client.cancel_order("rest-1", "PF_XBTUSD")
    assert cancelled.status is OrderStatus.CANCELLED and cancelled.client_order_id == "rest-1"
    assert (cancelled.side, cancelled.size, cancelled.filled_size) == (OrderSide.BUY, Decimal("0.01"), Decimal(0))
    assert cancelled.order_type is OrderType.LIMIT and cancelled.limit_price == Decimal(90000)
    assert fake.requests_to("/cancelorder")[-1].param("cliOrdId") == "rest-1"
    assert client.fetch_open_orders() == []
    with pytest.raises(OrderNotFoundError):
        client.cancel_order("rest-1", "PF_XBTUSD")


def test_sandbox_uses_demo_futures_unless_overridden() -> None:
    client = KrakenClient(ExchangeConfig(sandbox=True), enable_rate_limit=False)
    assert client.futures.urls["api"]["public"].startswith("https://demo-futures.kraken.com")
    assert "loopback-key" not in repr(KrakenClient(ExchangeConfig(), api_key="loopback-key", api_secret=SECRET))

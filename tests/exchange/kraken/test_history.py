"""Kraken's order and trigger history, fills' fees and symbols: parsing (ccxt's recorded payloads) and the
client's lookups against the loopback Kraken (real ccxt)."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import OrderIntent, OrderSide, OrderStatus, OrderType, SimulatedClock
from krakenbot.domain.errors import RateLimitError
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.exchange.kraken.history import HistoryBudget, order_from_history
from krakenbot.exchange.kraken.parse import BASE_TAKER_FEE_RATE, fill_from_ccxt, kraken_id
from krakenbot.testing import FakeKraken

TRIGGERS = Path(__file__).resolve().parents[2] / "data" / "kraken-history" / "triggers-cancelled.json"
NOW = datetime(2026, 1, 28, 16, 0, tzinfo=UTC)
SECRET = base64.b64encode(b"loopback-secret").decode()


def _placed(cid: str, **order: Any) -> dict[str, Any]:
    body = {"uid": "u-1", "tradeable": "PF_ETHUSD", "direction": "Buy", "quantity": "0.5", "filled": "0",
            "timestamp": "1769618102000", "limitPrice": "3003.1", "orderType": "IoC", "clientId": cid,
            "reduceOnly": False, "lastUpdateTimestamp": "1769618102000"} | order
    return body


def _element(ts: int, name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"uid": f"e-{ts}-{name}", "timestamp": str(ts), "event": {name: body}}


# -- parsing -----------------------------------------------------------------------------------------------
def test_placed_then_cancelled_unfilled_is_cancelled_with_nothing_filled() -> None:
    elements = [_element(2, "OrderCancelled", {"order": _placed("kb-1"), "reason": "cancelled_by_user"}),
                _element(1, "OrderPlaced", {"order": _placed("kb-1"), "reason": "new_user_order"})]  # desc
    order = order_from_history(elements, "kb-1", now=NOW)
    assert order is not None and order.status is OrderStatus.CANCELLED and order.filled_size == 0
    assert (order.symbol, order.side, order.size, order.order_type) == ("PF_ETHUSD", OrderSide.BUY,
                                                                        Decimal("0.5"), OrderType.IOC)
    assert order.limit_price == Decimal("3003.1") and order.exchange_order_id == "u-1"


def test_full_and_partial_fills_and_refusals_from_the_events() -> None:
    full = _element(2, "OrderUpdated", {"oldOrder": _placed("kb-2"), "reason": "full_fill",
                                        "newOrder": _placed("kb-2", quantity="0", filled="0.5")})
    order = order_from_history([_element(1, "OrderPlaced", {"order": _placed("kb-2")}), full], "kb-2", now=NOW)
    assert order is not None and order.status is OrderStatus.FILLED and order.filled_size == Decimal("0.5")
    part = _element(2, "OrderCancelled", {"order": _placed("kb-3", quantity="0.3", filled="0.2")})
    order = order_from_history([part], "kb-3", now=NOW)
    assert order is not None and order.status is OrderStatus.CANCELLED and order.filled_size == Decimal("0.2")
    assert order.size == Decimal("0.5")
    refused = _element(1, "OrderRejected", {"order": _placed("kb-4"), "reason": "POST_WOULD_EXECUTE"})
    order = order_from_history([refused], "kb-4", now=NOW)
    assert order is not None and order.status is OrderStatus.REJECTED


def test_other_client_ids_unknown_events_and_garbage_are_no_trace() -> None:
    elements: list[Any] = [_element(1, "OrderPlaced", {"order": _placed("someone-else")}), "junk", {"event": 3},
                           _element(2, "Unheard", {"order": _placed("kb-5")}), {"event": {"OrderPlaced": {}}}]
    assert order_from_history(elements, "kb-5", now=NOW) is None
    assert order_from_history([], "kb-5", now=NOW) is None


def test_kraken_recorded_trigger_history_cancelled_and_activated() -> None:
    elements = json.loads(TRIGGERS.read_text())["elements"]
    for element in elements:  # the recorded orders were placed from the UI without a client id: give them one
        body = next(iter(element["event"].values()))
        body["order"]["clientId"] = "cid-" + body["order"]["uid"][:8]
    cancelled = order_from_history(elements, "cid-a0f221bc", now=NOW)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELLED and cancelled.filled_size == 0
    assert cancelled.order_type is OrderType.STOP and cancelled.stop_price == Decimal("3002.5")
    activated = order_from_history(elements, "cid-a0f221f5", now=NOW)  # fired; no fill reached us
    assert activated is not None and activated.status is OrderStatus.CANCELLED


def test_history_budget_spends_at_most_its_tokens_per_window() -> None:
    budget = HistoryBudget(tokens=3, window=timedelta(minutes=10))
    assert [budget.take(NOW) for _ in range(4)] == [True, True, True, False]
    assert not budget.take(NOW + timedelta(minutes=9))
    assert budget.take(NOW + timedelta(minutes=10)) and budget.spent == 1


def _trade(fill_type: str, *, fee: Any = None, symbol: str = "pf_xbtusd", info_fee: str | None = None) -> dict:
    info = {"fill_id": "f-1", "symbol": symbol, "fillType": fill_type, "cliOrdId": "kb-9"}
    if info_fee is not None:
        info["fee"] = info_fee
    return {"id": "f-1", "amount": 0.01, "price": 97000.0, "timestamp": 1769618102000, "side": "sell",
            "order": "o-1", "takerOrMaker": None, "fee": fee, "info": info}


def test_fill_fee_from_the_payload_else_ccxt_estimate_else_the_base_taker_rate() -> None:
    fill = fill_from_ccxt(_trade("taker", fee={"cost": "0.485"}), symbol="pf_xbtusd")
    assert fill is not None and fill.fee_usd == Decimal("0.485") and fill.symbol == "PF_XBTUSD"
    fill = fill_from_ccxt(_trade("liquidation", info_fee="7.5"), symbol="PF_XBTUSD")
    assert fill is not None and fill.fee_usd == Decimal("7.5")
    fill = fill_from_ccxt(_trade("liquidation"), symbol="PF_XBTUSD")  # no fee anywhere: never recorded as 0
    assert fill is not None and fill.fee_usd == fill.size * fill.price * BASE_TAKER_FEE_RATE > 0


def test_kraken_id_upper_cases_contract_ids_only() -> None:
    assert kraken_id("pi_xbtusd") == "PI_XBTUSD" and kraken_id("PF_ETHUSD") == "PF_ETHUSD"
    assert kraken_id("BTC/USD:USD") == "BTC/USD:USD"


# -- the client against the loopback ---------------------------------------------------------------------
@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now, credentials={"loopback-key": SECRET}) as fk:
        yield fk


def _client(fake: FakeKraken, clock: SimulatedClock, sleeps: list[float] | None = None) -> KrakenClient:
    cfg = ExchangeConfig(spot_base_url=fake.spot_url, futures_base_url=fake.futures_url)
    return KrakenClient(cfg, api_key="loopback-key", api_secret=SECRET, sleep=(sleeps if sleeps is not None
                                                                                else []).append,
                        rng=random.Random(1), clock=clock, enable_rate_limit=False)


def _resting(cid: str, clock: SimulatedClock) -> OrderIntent:
    return OrderIntent(client_order_id=cid, symbol="PF_XBTUSD", side=OrderSide.BUY, size=Decimal("0.01"),
                       order_type=OrderType.LIMIT, reduce_only=False, reason="test", ts_created=clock.now(),
                       limit_price=Decimal("90000"))


def test_lookup_past_the_status_window_reads_the_history_once_and_tells_cancelled_from_never_sent(
        fake: FakeKraken, clock: SimulatedClock) -> None:
    client = _client(fake, clock)
    sent = clock.now()
    client.create_order(_resting("kb-rest", clock))
    client.cancel_order("kb-rest", "PF_XBTUSD")
    clock.advance(timedelta(seconds=3))
    inside = client.fetch_order_by_client_id("kb-rest", "PF_XBTUSD", since=sent)  # orders/status still has it
    assert inside is not None and inside.status is OrderStatus.CANCELLED
    assert not fake.requests_to("/api/history/")
    clock.advance(timedelta(seconds=10))
    assert client.fetch_order_by_client_id("kb-rest", "PF_XBTUSD") is None  # without since: no history
    found = client.fetch_order_by_client_id("kb-rest", "PF_XBTUSD", since=sent)
    assert found is not None and found.status is OrderStatus.CANCELLED and found.filled_size == 0
    assert [r.path for r in fake.requests_to("/api/history/")] == ["/api/history/v2/orders"]
    assert client.fetch_order_by_client_id("kb-never", "PF_XBTUSD", since=sent) is None
    assert [r.path for r in fake.requests_to("/api/history/")][1:] == ["/api/history/v2/orders",
                                                                      "/api/history/v2/triggers"]


def test_history_pages_by_continuation_token_and_a_spent_budget_is_a_rate_limit(
        fake: FakeKraken, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("krakenbot.testing.fake_kraken_history.MAX_COUNT", 2)  # two events per answer
    client = _client(fake, clock)
    sent = clock.now()
    for n in range(2):
        client.create_order(_resting(f"kb-{n}", clock))
        clock.advance(timedelta(seconds=1))
    client.cancel_order("kb-1", "PF_XBTUSD")
    clock.advance(timedelta(seconds=10))
    found = client.fetch_order_history("kb-1", "PF_XBTUSD", since=sent)  # events: placed, placed, cancelled
    assert found is not None and found.status is OrderStatus.CANCELLED
    pages = fake.requests_to("/api/history/v2/orders")
    assert len(pages) == 2 and pages[1].param("continuation_token")
    client._history = HistoryBudget(tokens=0)
    with pytest.raises(RateLimitError):
        client.fetch_order_history("kb-1", "PF_XBTUSD", since=sent)
    assert len(fake.requests_to("/api/history/")) == 2  # nothing sent once the budget is spent


def test_fills_page_back_to_since_and_pace_the_expensive_pages(fake: FakeKraken, clock: SimulatedClock) -> None:
    sleeps: list[float] = []
    client = _client(fake, clock, sleeps)
    start = clock.now()
    for n in range(350):
        clock.advance(timedelta(minutes=1))
        with fake._lock:
            fake.book.send_order({"symbol": "PF_THETAUSD", "orderType": "mkt", "side": "buy" if n % 2 == 0
                                  else "sell", "size": "10"}, clock.now())
    fills = client.fetch_fills(since=start)
    assert len(fills) == 350 and len({f.trade_id for f in fills}) == 350
    assert len(fake.requests_to("/fills")) == 4 and len(sleeps) == 2  # the 3rd and 4th page wait
    assert len(client.fetch_fills()) == 100  # no since: the latest page only

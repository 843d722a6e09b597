"""The loopback's order and trigger history in Kraken's shapes: ccxt's own parsers read it."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ccxt
import pytest

from krakenbot.domain import SimulatedClock
from krakenbot.testing import FakeKraken

NOW = datetime(2026, 1, 28, 16, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now, credentials={"k": base64.b64encode(b"s").decode()}) as fk:
        yield fk


def _ccxt(fake: FakeKraken) -> ccxt.krakenfutures:
    ex = ccxt.krakenfutures({"apiKey": "k", "secret": base64.b64encode(b"s").decode(), "enableRateLimit": False})
    base = fake.url
    ex.urls["api"] = {"public": f"{base}/derivatives/api/", "private": f"{base}/derivatives/api/",
                      "charts": f"{base}/api/charts/", "history": f"{base}/api/history/"}
    return ex


def _send(fake: FakeKraken, clock: SimulatedClock, **params: str) -> None:
    with fake._lock:
        status = fake.book.send_order({"symbol": "PF_XBTUSD", "size": "0.01", **params}, clock.now())
    assert status["status"] == "placed", status
    clock.advance(timedelta(seconds=1))


def test_ccxt_reads_filled_cancelled_and_trigger_history_of_the_loopback(fake: FakeKraken,
                                                                         clock: SimulatedClock) -> None:
    _send(fake, clock, orderType="mkt", side="buy", cliOrdId="kb-filled")
    _send(fake, clock, orderType="lmt", side="buy", limitPrice="90000", cliOrdId="kb-rest")
    _send(fake, clock, orderType="stp", side="sell", stopPrice="90000", reduceOnly="true", cliOrdId="kb-stop")
    with fake._lock:
        fake.book.cancel_order({"cliOrdId": "kb-rest"}, clock.now())
        fake.book.cancel_order({"cliOrdId": "kb-stop"}, clock.now())
    ex = _ccxt(fake)
    closed = ex.fetch_closed_orders()
    assert [(o["clientOrderId"], o["status"], o["filled"]) for o in closed] == [("kb-filled", "closed", 0.01)]
    cancelled = {o["clientOrderId"]: o for o in ex.fetch_canceled_orders()}
    assert cancelled["kb-rest"]["status"] == "canceled" and cancelled["kb-rest"]["symbol"] == "BTC/USD:USD"
    triggers = {o["clientOrderId"]: o for o in ex.fetch_canceled_orders(params={"trigger": True})}
    # ccxt leaves triggerPrice empty on Kraken's recorded trigger history too: the price is in info
    assert triggers["kb-stop"]["side"] == "sell" and triggers["kb-stop"]["info"]["triggerOptions"][
        "triggerPrice"] == "90000"
    assert [r.path for r in fake.requests_to("/api/history/")] == [
        "/api/history/v2/orders", "/api/history/v2/orders", "/api/history/v2/triggers"]


def test_history_is_private_and_filters_by_tradeable_and_time(fake: FakeKraken, clock: SimulatedClock) -> None:
    _send(fake, clock, orderType="mkt", side="buy", cliOrdId="kb-1")
    status, _, body = fake.handle("GET", "/api/history/v2/orders", {}, {})
    assert status == 401
    status, _, body = fake.handle("GET", "/api/history/v2/orders", {}, {"apikey": "k", "authent": "a"})
    assert status == 401  # a wrong signature too
    fake.credentials = None  # the filters below, without signing each raw request
    auth = {"apikey": "k", "authent": "a"}
    status, _, body = fake.handle("GET", "/api/history/v2/orders", {"tradeable": ["PF_ETHUSD"]}, auth)
    assert status == 200 and '"elements": []' in body
    later = str(int((clock.now() + timedelta(seconds=5)).timestamp() * 1000))
    status, _, body = fake.handle("GET", "/api/history/v2/orders", {"since": [later]}, auth)
    assert '"elements": []' in body
    status, _, body = fake.handle("GET", "/api/history/v2/orders", {"tradeable": ["pf_xbtusd"]}, auth)
    assert '"OrderPlaced"' in body and '"full_fill"' in body

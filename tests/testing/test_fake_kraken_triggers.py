"""The loopback Kraken's triggered stops: an IoC within a price band against the book's liquidity."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_triggers import DEFAULT_STOP_BAND_PCT, band_limit

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
BTC = "PF_XBTUSD"


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(clock=lambda: NOW) as fk:
        yield fk


def _long_with_stop(fake: FakeKraken, size: str, *, limit: str | None = None) -> tuple[float, str]:
    """A long of ``size`` contracts and a reduce-only sell stop 2 % under the mark: (stop price, stop id)."""
    book = fake.book
    mark = fake.contracts[BTC].mark
    assert book.send_order({"symbol": BTC, "orderType": "mkt", "side": "buy", "size": size}, NOW)["status"] == "placed"
    stop = round(mark * 0.98)
    params = {"symbol": BTC, "orderType": "stp", "side": "sell", "size": size, "stopPrice": str(stop),
              "reduceOnly": "true", "cliOrdId": "stop-1"}
    if limit is not None:
        params["limitPrice"] = limit
    assert book.send_order(params, NOW)["status"] == "placed"
    return stop, book.by_cli["stop-1"]


def test_band_limit_is_the_band_through_the_reference_on_the_orders_side() -> None:
    assert band_limit("sell", Decimal(100), Decimal("0.01")) == Decimal(99)
    assert band_limit("buy", Decimal(100), Decimal("0.01")) == Decimal(101)
    assert Decimal("0.01") == DEFAULT_STOP_BAND_PCT


def test_triggered_stop_fills_in_full_when_liquidity_is_unlimited(fake: FakeKraken) -> None:
    stop, oid = _long_with_stop(fake, "0.5")
    fake.set_mark(BTC, stop * 0.9)
    order = fake.book.orders[oid]
    assert (order.status, order.filled) == ("filled", Decimal("0.5")) and BTC not in fake.book.positions


def test_triggered_stop_fills_the_books_depth_and_the_rest_is_cancelled(fake: FakeKraken) -> None:
    stop, oid = _long_with_stop(fake, "0.5")
    fake.set_liquidity(BTC, 0.2)
    fake.set_mark(BTC, stop * 0.99)
    order = fake.book.orders[oid]
    assert (order.status, order.filled) == ("cancelled", Decimal("0.2"))
    assert fake.book.positions[BTC].size == Decimal("0.3")
    fake.set_mark(BTC, stop * 0.95)  # a cancelled stop never fires again
    assert fake.book.positions[BTC].size == Decimal("0.3")
    [row] = fake.book.orders_status_body([oid], [], NOW)["orders"]
    assert (row["status"], row["order"]["filled"]) == ("CANCELLED", 0.2)


def test_triggered_stop_on_an_empty_book_fills_nothing_and_is_cancelled(fake: FakeKraken) -> None:
    stop, oid = _long_with_stop(fake, "0.5")
    fake.set_liquidity(BTC, 0)
    fake.set_mark(BTC, stop * 0.99)
    order = fake.book.orders[oid]
    assert (order.status, order.filled) == ("cancelled", Decimal(0))
    assert fake.book.positions[BTC].size == Decimal("0.5") and len(fake.book.fills) == 1  # the entry only


def test_stop_limit_keeps_filling_in_full(fake: FakeKraken) -> None:
    stop, oid = _long_with_stop(fake, "0.5", limit="1")
    fake.set_liquidity(BTC, 0.2)
    fake.set_mark(BTC, stop * 0.99)
    assert fake.book.orders[oid].status == "filled" and BTC not in fake.book.positions


def test_stop_band_is_settable(fake: FakeKraken) -> None:
    fake.set_stop_band(0.03)
    assert fake.book.stop_band_pct == Decimal("0.03")

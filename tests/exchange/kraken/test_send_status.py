"""Kraken's own ``sendStatus.status`` -> Krakenbot's error classes (issue 12, item 2), and finished IOCs (item 8)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from krakenbot.domain import OrderStatus, OrderType
from krakenbot.domain.errors import (
    DuplicateOrderError,
    InsufficientMarginError,
    OrderRejectedError,
    OutcomeUnknownError,
)
from krakenbot.exchange.kraken.errors import (
    KRAKEN_SEND_STATUSES,
    SEND_ACCEPTED,
    SEND_NO_MARGIN,
    SEND_OTHER_ACTIONS,
    SEND_REFUSED,
    send_status_error,
)
from krakenbot.exchange.kraken.parse import order_from_ccxt
from krakenbot.testing.fake_kraken_statuses import DESCRIBED_STATUSES, SEND_STATUSES

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)


def test_the_client_knows_every_status_of_krakens_list_and_the_loopback_uses_only_those() -> None:
    assert set(SEND_STATUSES) | set(DESCRIBED_STATUSES) == set(KRAKEN_SEND_STATUSES)
    assert len(SEND_STATUSES) == 31 and "clientOrderIdTooBig" in SEND_STATUSES


@pytest.mark.parametrize("status", sorted(SEND_ACCEPTED))
def test_accepted_status_is_no_error(status: str) -> None:
    assert send_status_error(status, context="PF_XBTUSD") is None


@pytest.mark.parametrize("status", ["insufficientAvailableFunds", "wouldCauseLiquidation"])
def test_lack_of_margin_is_insufficient_margin(status: str) -> None:
    error = send_status_error(status, context="PF_XBTUSD: create_order c1")
    assert type(error) is InsufficientMarginError and status in str(error) and "PF_XBTUSD" in str(error)


@pytest.mark.parametrize("status", sorted(SEND_REFUSED))
def test_refusal_status_is_a_plain_refusal_naming_the_status(status: str) -> None:
    error = send_status_error(status, context="PF_XBTUSD")
    assert type(error) is OrderRejectedError and f"Kraken refused the order: {status}" in str(error)


def test_duplicate_client_id_is_looked_up() -> None:
    assert type(send_status_error("clientOrderIdAlreadyExist", context="x")) is DuplicateOrderError


@pytest.mark.parametrize("status", [*sorted(SEND_OTHER_ACTIONS), "unknownOrder", "somethingNew", "", None, 42,
                                    "x" * 500])
def test_any_other_status_is_an_unknown_outcome(status: object) -> None:
    error = send_status_error(status, context="PF_XBTUSD")
    assert type(error) is OutcomeUnknownError
    assert len(str(error)) < 300  # a huge status is cut, not logged whole


def test_the_tables_do_not_overlap() -> None:
    groups = [SEND_ACCEPTED, set(SEND_NO_MARGIN), set(SEND_REFUSED), SEND_OTHER_ACTIONS, {"clientOrderIdAlreadyExist"}]
    assert sum(len(g) for g in groups) == len(KRAKEN_SEND_STATUSES)


def _raw(status: str, filled: str, amount: str = "0.1", order_type: str = "market") -> dict[str, object]:
    return {"id": "o1", "clientOrderId": "c1", "status": status, "side": "buy", "amount": amount, "filled": filled,
            "type": order_type, "timeInForce": "ioc", "price": "100", "average": "100"}


@pytest.mark.parametrize(("status", "filled", "expected"), [
    ("open", "0.03", OrderStatus.CANCELLED), ("open", "0.1", OrderStatus.FILLED), ("open", "0", OrderStatus.CANCELLED),
    ("closed", "0.1", OrderStatus.FILLED), ("canceled", "0.03", OrderStatus.CANCELLED)])
def test_an_ioc_is_always_finished(status: str, filled: str, expected: OrderStatus) -> None:
    order = order_from_ccxt(_raw(status, filled), symbol="PF_XBTUSD", now=NOW, order_type=OrderType.IOC)
    assert order.status is expected and order.is_done and order.filled_size == Decimal(filled)


def test_a_partly_filled_limit_order_stays_open() -> None:
    order = order_from_ccxt(_raw("open", "0.03", order_type="limit"), symbol="PF_XBTUSD", now=NOW,
                            order_type=OrderType.LIMIT)
    assert order.status is OrderStatus.PARTIALLY_FILLED and not order.is_done

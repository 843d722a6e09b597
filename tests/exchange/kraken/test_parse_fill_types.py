"""Each of Kraken's fill types, as the pinned ccxt parses a ``/fills`` row, becomes a ``Fill`` with a fee."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from krakenbot.exchange.kraken.parse import fill_from_ccxt

FUTURES = ccxt.krakenfutures()
FUTURES.markets = None


def parsed(fill_type: str, *, cli: str | None = None) -> dict[str, Any]:
    row = {"fill_id": "f-1", "symbol": "PF_XBTUSD", "side": "sell", "order_id": "o-1", "size": 0.5,
           "price": 100_000.0, "fillTime": "2026-01-15T12:00:00.000Z", "fillType": fill_type}
    if cli:
        row["cliOrdId"] = cli
    market = {"symbol": "BTC/USD:USD", "linear": True, "contractSize": 1, "settle": "USD", "quote": "USD",
              "taker": 0.0005, "maker": 0.0002}
    return dict(FUTURES.parse_trade(row, market))


@pytest.mark.parametrize(("fill_type", "maker", "fee", "client_id"), [
    ("maker", True, "10", "kbf-1"),
    ("taker", False, "25", "kbf-1"),
    ("takerAfterEdit", False, "25", "kbf-1"),
    ("liquidation", False, "25", "liquidation-f-1"),
    ("unwindBankrupt", False, "25", "liquidation-f-1"),
    ("assignee", False, "25", ""),
    ("assignor", False, "25", ""),
    ("unwindCounterparty", False, "25", ""),
])
def test_kraken_fill_types_are_parsed_with_fee_maker_flag_and_liquidation_id(
        fill_type: str, maker: bool, fee: str, client_id: str) -> None:
    ours = fill_type in ("maker", "taker", "takerAfterEdit")
    fill = fill_from_ccxt(parsed(fill_type, cli="kbf-1" if ours else None), symbol="PF_XBTUSD")
    assert fill is not None
    assert fill.is_maker is maker and fill.fee_usd == Decimal(fee)  # 50,000 USD x 0.02 % / 0.05 %
    assert fill.client_order_id == client_id


def test_an_unknown_fill_type_is_read_as_a_taker_fill_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fill = fill_from_ccxt(parsed("somethingNew"), symbol="PF_XBTUSD")
    assert fill is not None and fill.fee_usd == Decimal(25) and not fill.is_maker
    assert "unknown fillType 'somethingNew'" in caplog.text

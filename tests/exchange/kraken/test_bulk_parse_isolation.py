"""One malformed contract in a bulk answer is dropped with a reason; the others are kept (issue 11, item 4)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from builders.kraken import futures_ticker_raw, futures_tickers_body
from krakenbot.data.ticker_checks import check_ticker
from krakenbot.domain import Instrument, InstrumentKind, SimulatedClock, Ticker
from krakenbot.exchange.kraken.dropped import DroppedContracts
from krakenbot.exchange.kraken.parse import instruments_from_markets
from krakenbot.exchange.kraken.symbols import futures_tickers_from_raws, parse_futures_tickers_payload

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MALFORMED_TIMES = [
    "0001-01-01T00:00:00+01:00",  # as seen on PF_THETAUSD: before year 1 once in UTC
    "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
    "not a time",
    1e30,  # epoch ms beyond any datetime
]


@pytest.mark.parametrize("last_time", MALFORMED_TIMES)
def test_malformed_last_time_drops_that_contract_only(last_time: Any) -> None:
    raws = [futures_ticker_raw("PF_XBTUSD", mark=97_000.0), futures_ticker_raw("PF_THETAUSD", last_time=last_time),
            futures_ticker_raw("PF_ETHUSD", mark=3_000.0)]
    tickers, dropped = futures_tickers_from_raws((raw, None) for raw in raws)
    assert [t.symbol for t in tickers] == ["PF_XBTUSD", "PF_ETHUSD"]
    assert list(dropped) == ["PF_THETAUSD"] and "lastTime" in dropped["PF_THETAUSD"]


def test_malformed_last_time_is_not_replaced_by_server_time() -> None:
    body = futures_tickers_body(futures_ticker_raw("PF_XBTUSD"),
                                futures_ticker_raw("PF_THETAUSD", last_time="0001-01-01T00:00:00+01:00"))
    tickers = parse_futures_tickers_payload(body)
    assert "PF_XBTUSD" in tickers and "PF_THETAUSD" not in tickers


def test_an_element_that_raises_is_dropped_with_its_exception_as_reason() -> None:
    class Exploding(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:
            if key == "markPrice":
                raise RuntimeError("garbled")
            return super().get(key, default)

    raws = [(Exploding(futures_ticker_raw("PF_THETAUSD")), None), (futures_ticker_raw("PF_XBTUSD"), None),
            ("not a dict", None)]
    tickers, dropped = futures_tickers_from_raws(raws)
    assert [t.symbol for t in tickers] == ["PF_XBTUSD"]
    assert dropped == {"PF_THETAUSD": "RuntimeError: garbled", "#2": "not an object (str)"}


def test_dropped_contracts_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = SimulatedClock(NOW)
    log = logging.getLogger("test.dropped")
    reporter = DroppedContracts(log, "tickers", clock.now, interval=timedelta(minutes=60))
    with caplog.at_level(logging.WARNING, logger="test.dropped"):
        for _ in range(30):
            reporter.report({"PF_THETAUSD": "bad lastTime"})
            clock.advance(timedelta(seconds=5))
        clock.advance(timedelta(minutes=60))
        reporter.report({"PF_THETAUSD": "bad lastTime"})
    assert [r.getMessage() for r in caplog.records] == [
        "tickers: PF_THETAUSD dropped (bad lastTime); the other contracts are kept"] * 2


def market(symbol: str, **changes: Any) -> dict[str, Any]:
    return {"id": symbol, "symbol": f"{symbol[3:-3]}/USD:USD", "base": symbol[3:-3], "quote": "USD", "spot": False,
            "type": "swap", "precision": {"price": 0.5, "amount": 0.0001}, "contractSize": 1,
            "info": {"marginLevels": [{"initialMargin": 0.02}]}} | changes


def test_a_malformed_market_is_dropped_and_the_others_kept() -> None:
    markets = [market("PF_XBTUSD"), market("PF_THETAUSD", info={"marginLevels": [{"initialMargin": "1e-999999999"}]}),
               market("PF_ETHUSD"), "garbage"]
    instruments, dropped = instruments_from_markets(markets, spot=False)  # type: ignore[arg-type]
    assert sorted(instruments) == ["PF_ETHUSD", "PF_XBTUSD"]
    assert sorted(dropped) == ["#3", "PF_THETAUSD"]


@pytest.mark.parametrize("mark", [1e-300, 1e308, 1e-13, 1e13])
def test_absurd_mark_is_refused_even_when_the_index_confirms_it(mark: float) -> None:
    ticker = Ticker(symbol="PF_XBTUSD", ts=NOW, mark=mark, index=mark)
    verdict = check_ticker(ticker, symbol="PF_XBTUSD", now=NOW, max_age=timedelta(seconds=60))
    assert verdict.mark is None and "plausible" in (verdict.reason or "")


def test_order_check_on_an_absurd_price_says_why_instead_of_raising() -> None:
    inst = Instrument(symbol="PF_XBTUSD", kind=InstrumentKind.FUTURES, base="XBT", quote="USD",
                      tick_size=Decimal("0.5"), lot_size=Decimal("0.0001"), min_size=Decimal("0.0001"))
    assert "cannot be checked" in (inst.order_problem(Decimal("0.0687"), Decimal("1e308")) or "")
    assert inst.order_problem(Decimal("1e308"), None) is not None

"""Every status Kraken answers ``sendorder`` with is a refusal or an unknown, never a crash (issue 12, items 2, 8).

The loopback answers one symbol's order with each status of Kraken's list (``refuse_next``), through the
real ccxt client: the order ends refused (stored REJECTED, an ``order_refused`` event naming the status),
cancelled unfilled (an IOC that found nothing), or in doubt (looked up by client id, never resent), and
in the same slow tick the other symbol's open and its stop still go out.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from faults.loopback import BTC, ETH, Bot
from krakenbot.domain import OrderStatus, OrderType, Side
from krakenbot.domain.vocabulary import EventKind
from krakenbot.live.auction_step import AuctionReport
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_statuses import DESCRIBED_STATUSES, SEND_STATUSES

# Statuses whose answer does not say the order is absent: the order is looked up, never resent.
IN_DOUBT = {"placed", "partiallyFilled", "filled", "cancelled", "edited", "notFound", "orderForEditNotAStop",
            "orderForEditNotFound", "cannotEditTriggerPriceOfTrailingStop", "cannotEditLimitPriceOfTrailingStop",
            "clientOrderIdAlreadyExist"}
CANCELLED_UNFILLED = {"iocWouldNotExecute"}  # an IOC that found nothing to match: nothing filled, not a refusal


def entries(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


def stops(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol) if r.param("orderType") == "stp"]


def held(b: Bot, symbol: str) -> Decimal:
    return b.exchange_positions().get(symbol, Decimal(0))


def slow_tick(b: Bot, *signals: object) -> AuctionReport:
    b.signals.next = list(signals)  # type: ignore[arg-type]
    return b.live.slow_tick()


def refused_with(b: Bot, cid: str) -> list[str]:
    return [e.detail for e in b.store.events(EventKind.ORDER_REFUSED.value) if cid in e.detail]


@pytest.mark.parametrize("status", SEND_STATUSES + DESCRIBED_STATUSES)
def test_each_sendorder_status_refuses_or_doubts_one_symbol_and_the_other_still_opens_with_its_stop(
        bot: Bot, fake: FakeKraken, status: str) -> None:
    bot.start()
    fake.refuse_next(status, symbol=BTC)
    report = slow_tick(bot, bot.signal(BTC, score=2.0), bot.signal(ETH, score=1.0))  # BTC's open goes first
    [cid] = entries(bot, BTC)
    btc = next(r for r in report.results if r.symbol == BTC)
    if status in IN_DOUBT:
        assert cid in bot.live.executor.in_doubt and bot.status(cid) is OrderStatus.INTENDED
        assert any(cid in str(r.query) for r in fake.requests_to("orders/status")), "not looked up by client id"
    elif status in CANCELLED_UNFILLED:
        assert bot.status(cid) is OrderStatus.CANCELLED and btc.refused == "not filled within the limit"
    else:
        assert bot.status(cid) is OrderStatus.REJECTED
        assert btc.refused is not None and status in btc.refused
        assert refused_with(bot, cid) and status in refused_with(bot, cid)[0]
    assert held(bot, BTC) == 0
    # the same tick: ETH's open went out after BTC's refusal, and its position has its stop
    assert held(bot, ETH) > 0 and bot.open_stops(ETH) == [held(bot, ETH)]
    bot.check()
    for _ in range(30):  # the order in doubt is given up as never placed, never resent
        if cid not in bot.live.executor.in_doubt:
            break
        bot.tick()
    assert cid not in bot.live.executor.in_doubt
    assert entries(bot, BTC) == [cid] and stops(bot, BTC) == []
    bot.check()


def test_would_cause_liquidation_is_refused_as_insufficient_margin(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.refuse_next("wouldCauseLiquidation", symbol=BTC)
    report = slow_tick(bot, bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert bot.status(cid) is OrderStatus.REJECTED
    [detail] = refused_with(bot, cid)
    assert "InsufficientMarginError" in detail or "margin" in detail
    assert report.results[0].refused is not None and "maintenance margin" in report.results[0].refused


def test_refused_close_keeps_its_stop_and_the_other_symbols_open_goes_out(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    size = held(bot, BTC)
    assert size > 0 and bot.open_stops(BTC) == [size]
    fake.refuse_next("tooManyOrders", symbol=BTC)  # ccxt 4.5.90 does not know it: a crash before
    report = slow_tick(bot, bot.signal(BTC, Side.SHORT), bot.signal(ETH))  # BTC reverses: its close goes first
    closes = [r for r in report.results if r.symbol == BTC]
    assert closes and closes[0].refused is not None and "tooManyOrders" in closes[0].refused
    assert held(bot, BTC) == size and bot.open_stops(BTC) == [size]  # not closed, still protected
    assert held(bot, ETH) > 0 and bot.open_stops(ETH) == [held(bot, ETH)]
    bot.check()


@pytest.mark.parametrize("body", ['{"result":"success","serverTime":"2026-01-15T12:00:00.000Z"}',
                                  '{"result":"success","sendStatus":{"status":"placed"}}',
                                  '{"result":"success","sendStatus":"placed"}', "null", "[]"])
def test_unreadable_sendorder_answer_after_the_order_was_placed_is_looked_up_and_found(
        bot: Bot, fake: FakeKraken, body: str) -> None:
    bot.start()
    fake.inject("malformed", path="sendorder", body=body)  # Kraken placed and filled it; the answer is unreadable
    slow_tick(bot, bot.signal(BTC), bot.signal(ETH))
    [cid] = entries(bot, BTC)
    assert bot.status(cid) is OrderStatus.FILLED  # found by client id at once, never resent
    assert held(bot, BTC) > 0 and bot.open_stops(BTC) == [held(bot, BTC)]
    assert held(bot, ETH) > 0 and bot.open_stops(ETH) == [held(bot, ETH)]
    bot.check()


def test_partly_filled_ioc_is_stored_finished_with_its_filled_size_and_protected(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.set_liquidity(BTC, 0.03)
    slow_tick(bot, bot.signal(BTC))
    [cid] = entries(bot, BTC)
    order = bot.store.order(cid)
    assert order is not None and order.order_type is OrderType.IOC
    assert order.status is OrderStatus.CANCELLED and order.is_done  # an IOC never rests: not PARTIALLY_FILLED
    assert order.filled_size == Decimal("0.03") < order.size
    assert cid not in {o.client_order_id for o in bot.store.open_orders()}
    assert held(bot, BTC) == Decimal("0.03") and bot.open_stops(BTC) == [Decimal("0.03")]
    bot.check()


def test_an_error_after_one_symbols_fill_is_contained_and_the_tick_goes_on(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("status", path="/fills", status=503, times=3)  # BTC's fills unreadable after its open filled
    report = slow_tick(bot, bot.signal(BTC, score=2.0), bot.signal(ETH, score=1.0))
    btc = next(r for r in report.results if r.symbol == BTC)
    assert btc.refused is not None and "TransientError" in btc.refused
    assert held(bot, ETH) > 0 and bot.open_stops(ETH) == [held(bot, ETH)]  # ETH still opened, with its stop
    assert held(bot, BTC) > 0 and bot.open_stops(BTC) == [held(bot, BTC)]  # stop upkeep protected BTC too
    bot.tick()  # the fill poll stores BTC's fills
    bot.check()


@pytest.mark.parametrize("status", ["tooManyOrders", "wouldProcessAfterSpecifiedTime", "edited"])
def test_one_symbols_stop_refused_and_the_other_symbols_stop_still_goes_out(
        bot: Bot, fake: FakeKraken, status: str) -> None:
    bot.start()
    slow_tick(bot, bot.signal(BTC, score=2.0), bot.signal(ETH, score=1.0))
    assert bot.open_stops(BTC) and bot.open_stops(ETH)
    with fake._lock:
        fake.book.cancel_all(fake.now())  # every stop gone (e.g. Kraken's dead man's switch fired)
    fake.refuse_next(status, symbol=BTC)  # BTC's new stop is refused (or its answer says nothing sure)
    slow_tick(bot)  # stop upkeep: BTC first, then ETH
    assert bot.open_stops(ETH) == [held(bot, ETH)]
    [refused] = stops(bot, BTC)[1:]
    assert bot.status(refused) in (OrderStatus.REJECTED, OrderStatus.INTENDED)
    bot.check()

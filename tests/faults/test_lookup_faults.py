"""Issue 12 item 4: late lookups, through the real ccxt client against the loopback Kraken.

``orders/status`` keeps a closed order about 5 s; after it an order whose answer was lost is found from its fills
(paged back to the intent's creation) or from Kraken's order and trigger history: filled, cancelled unfilled and
never sent are three different outcomes.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from faults.loopback import BTC, ETH, PREFIX, Bot
from krakenbot.domain import OrderStatus
from krakenbot.testing import FakeKraken

OTHER = "PF_THETAUSD"  # a contract the bot does not trade: the operator's own trades
HISTORY = "/api/history/v2/"


def entries(b: Bot, symbol: str) -> list[str]:
    return [r.param("cliOrdId") or "" for r in b.sent(symbol) if r.param("orderType") == "ioc"
            and r.param("reduceOnly") != "true"]


def held(b: Bot, symbol: str) -> Decimal:
    return b.exchange_positions().get(symbol, Decimal(0))


def manual_trades(b: Bot, count: int, *, symbol: str = OTHER, size: str = "10", every: timedelta) -> None:
    """``count`` market orders on the account without our client id (buy, sell, ...), ``every`` apart."""
    for n in range(count):
        b.clock.advance(every)
        with b.fake._lock:
            status = b.fake.book.send_order({"symbol": symbol, "orderType": "mkt", "side": "buy" if n % 2 == 0
                                             else "sell", "size": size}, b.clock.now())
        assert status["status"] == "placed", status


def test_filled_order_with_more_than_a_page_of_later_fills_is_found_filled_and_not_entered_again(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.hide_next_order(reads=3)  # the first lookups miss it; then it is out of the status window
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert cid in bot.live.executor.in_doubt
    manual_trades(bot, 150, every=timedelta(milliseconds=50))  # 150 later fills: ours is on the second page
    for _ in range(20):  # 100 s: past the 60 s give-up
        bot.tick()
        bot.auction(bot.signal(BTC))  # the signal stays: a symbol whose order was "never placed" is entered again
    assert bot.status(cid) is OrderStatus.FILLED
    assert entries(bot, BTC) == [cid], "entered again: exposure doubled"
    intent = bot.store.intent(cid)
    assert intent is not None and held(bot, BTC) == intent.size
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    bot.check()


def _lost_stop(bot: Bot, fake: FakeKraken) -> str:
    """An open BTC position whose replacement stop was placed, its answer lost and the lookups lagging."""
    bot.start()
    bot.auction(bot.signal(BTC))
    [first] = [o.cli_ord_id for o in fake.book.orders.values() if o.is_trigger and o.closed_at is None]
    with fake._lock:  # the operator cancels our stop: the next slow tick places a new one
        fake.book.cancel_order({"cliOrdId": first or ""}, bot.clock.now())
    fake.hide_next_order(reads=2)
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))  # the slow tick's stop upkeep
    [cid] = list(bot.live.executor.in_doubt)
    assert cid.startswith(PREFIX) and bot.store.intent(cid) is not None
    return cid


def test_order_cancelled_unfilled_out_of_the_status_window_is_recorded_cancelled_not_never_placed(
        bot: Bot, fake: FakeKraken) -> None:
    cid = _lost_stop(bot, fake)
    with fake._lock:  # cancelled before any fill (the operator again)
        assert fake.book.cancel_order({"cliOrdId": cid}, bot.clock.now())["status"] == "cancelled"
    bot.clock.advance(timedelta(seconds=6))  # out of orders/status' window
    fake.clear_requests()
    for _ in range(14):  # 70 s: past the give-up
        bot.tick()
    assert bot.status(cid) is OrderStatus.CANCELLED
    order = bot.store.order(cid)
    assert order is not None and order.filled_size == 0
    assert fake.requests_to(HISTORY), "Kraken's order history was never read"
    assert len(fake.requests_to(HISTORY)) <= 4, "history read on every tick: its budget is 100 per 10 minutes"
    bot.auction(bot.signal(BTC))  # the doubt settled, the stop upkeep may place a stop again
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    bot.check()


def test_order_never_sent_is_recorded_rejected_after_the_history_shows_no_trace(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("drop", path="sendorder", times=1)  # the request never reached the matching engine
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert cid in bot.live.executor.in_doubt
    for _ in range(14):
        bot.tick()
    assert bot.status(cid) is OrderStatus.REJECTED
    assert fake.requests_to(HISTORY), "recorded as never sent without reading Kraken's order history"
    assert held(bot, BTC) == 0
    bot.check()


def test_restart_after_a_week_with_more_than_a_page_of_fills_records_all_of_them(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    position = held(bot, BTC)
    assert position > 0
    bot.crash()
    manual_trades(bot, 160, symbol=BTC, size="0.001", every=timedelta(hours=1))  # the operator trades BTC: 6.7 days
    assert held(bot, BTC) == position
    fake.clear_requests()
    bot.start()
    fills = fake.requests_to("/derivatives/api/v3/fills")
    stored = {f.trade_id for f in bot.store.fills()}
    with fake._lock:
        on_btc = {f.fill_id for f in fake.book.fills if f.order.symbol == BTC}
    assert on_btc <= stored, f"{len(on_btc - stored)} fills not recorded"
    assert len(fills) <= 6, f"{len(fills)} fills requests for 160 fills (25 rate-limit units each with lastFillTime)"
    bot.check()


def test_crash_while_in_doubt_then_more_than_a_page_of_fills_restart_finds_the_order_filled(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.hide_next_order(reads=3)
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert cid in bot.live.executor.in_doubt
    bot.crash()
    manual_trades(bot, 150, every=timedelta(milliseconds=50))
    bot.start()
    assert bot.status(cid) is OrderStatus.FILLED
    bot.auction(bot.signal(BTC))
    assert entries(bot, BTC) == [cid], "entered again: exposure doubled"
    bot.check()


def test_restart_paging_a_busy_week_of_fills_paces_its_pages_within_kraken_budget(bot: Bot, fake: FakeKraken) -> None:
    """700 fills in a week: /fills with lastFillTime costs 25 of Kraken's 500 units per 10 s; after the first two
    pages each waits 1.25 s, so the restart spends at most 50 + 8 x 25 = 250 units in any 10 s."""
    bot.start()
    bot.auction(bot.signal(BTC))
    bot.crash()
    manual_trades(bot, 700, symbol=BTC, size="0.001", every=timedelta(minutes=14))
    fake.clear_requests()
    bot.sleeps.clear()
    bot.start()
    pages = [r for r in fake.requests_to("/derivatives/api/v3/fills") if r.param("lastFillTime")]
    assert 7 <= len(pages) <= 9
    assert bot.sleeps.count(1.25) == len(pages) - 1  # the first page has no lastFillTime; later ones wait
    with fake._lock:
        on_btc = {f.fill_id for f in fake.book.fills if f.order.symbol == BTC}
    assert on_btc <= {f.trade_id for f in bot.store.fills()}
    bot.check()


def test_a_fill_kraken_shows_late_is_polled_after_a_newer_fill_was_seen(bot: Bot, fake: FakeKraken) -> None:
    """Kraken's fills lag: an entry's fill hidden from lookups while a newer fill (the operator closing another
    position on Kraken's site) is already listed is still recorded once it shows up; the live fill poll does not
    move past it for good (chaos soak seed 53, tick 171: an entry's fill lost behind a stop's)."""
    bot.start()
    bot.auction(bot.signal(ETH))
    fake.hide_next_order(reads=4)  # the entry and its fill show up in lookups only a few reads later
    bot.auction(bot.signal(ETH), bot.signal(BTC))
    [cid] = entries(bot, BTC)
    bot.clock.advance(timedelta(seconds=1))
    assert fake.close_position(ETH, kind="taker")  # a newer fill, listed at once
    for _ in range(20):
        bot.tick()
    assert bot.status(cid) is OrderStatus.FILLED
    bot.check()

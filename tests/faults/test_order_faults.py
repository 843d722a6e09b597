"""The order path under faults, against the loopback Kraken (real ccxt client, real SQLite store).

Each test drives ``LiveTrading`` on a simulated clock shared with the fake; ``Bot.check`` asserts
the invariants of issue 6 after the fault: every exchange order of ours has one stored intent
and was sent once, fills are stored once, and the stored position is the exchange's.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from faults.loopback import BTC, ETH, Bot
from krakenbot.domain import OrderStatus, OrderType
from krakenbot.testing import FakeKraken


def entries(b: Bot, symbol: str) -> list[str]:
    """Client ids of the entry IOCs sent on ``symbol``."""
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


def held(b: Bot, symbol: str) -> Decimal:
    return b.exchange_positions().get(symbol, Decimal(0))


def test_sendorder_answer_lost_is_found_by_client_id_not_resent_and_stored(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert fake.faults_served["accept_then_drop"] == 1
    assert bot.status(cid) is OrderStatus.FILLED
    assert held(bot, BTC) > 0 and bot.open_stops(BTC) == [held(bot, BTC)]
    bot.check()


def test_duplicate_client_id_answer_is_looked_up_and_the_order_counted_once(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("duplicate", path="sendorder", times=1)  # a proxy resent our request: Kraken says the id exists
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    intent = bot.store.intent(cid)
    assert intent is not None and held(bot, BTC) == intent.size  # placed once, not twice
    assert bot.status(cid) is OrderStatus.FILLED
    bot.check()


def test_partial_fill_of_an_ioc_entry_sizes_the_stop_from_what_filled(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.set_liquidity(BTC, 0.03)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    intent = bot.store.intent(cid)
    assert intent is not None and intent.size > Decimal("0.03")
    assert held(bot, BTC) == Decimal("0.03")
    assert bot.open_stops(BTC) == [Decimal("0.03")]
    bot.check()


def test_cancel_racing_a_fill_records_the_stop_as_filled_and_leaves_nothing_open(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    size = held(bot, BTC)
    [stop] = [o for o in bot.store.open_orders() if o.order_type is OrderType.STOP]
    fake.close_position(BTC, kind="taker", size=float(size) / 2)  # the operator halves the position on Kraken
    fake.race_cancel_with_fill()
    bot.tick()  # the manual fill is polled; sync_stops resizes the stop: its cancel arrives after the mark touched it
    bot.check()
    assert held(bot, BTC) == 0 and bot.open_stops(BTC) == []
    assert bot.status(stop.client_order_id) is OrderStatus.FILLED
    bot.tick()
    bot.check()


def test_own_order_not_found_for_a_while_is_polled_blocks_its_symbol_and_is_found_later(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.hide_next_order(reads=8)
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert cid in bot.live.executor.in_doubt and bot.status(cid) is OrderStatus.INTENDED
    sent_before = len(bot.sent(BTC))
    bot.auction(bot.signal(BTC))  # no new order of any kind on BTC while one is in doubt
    assert len(bot.sent(BTC)) == sent_before
    bot.check(settled=False)
    for _ in range(10):
        if cid not in bot.live.executor.in_doubt:
            break
        bot.tick()
        bot.check(settled=False)
    assert cid not in bot.live.executor.in_doubt, "never found"
    assert len(fake.requests_to("orders/status")) >= 3  # polled tick after tick
    assert bot.status(cid) is OrderStatus.FILLED
    assert bot.open_stops(BTC) == [held(bot, BTC)]  # protected as soon as it was found
    assert entries(bot, BTC) == [cid]
    bot.check()


def test_rate_limit_burst_on_reads_is_retried_with_growing_backoff(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("status", path="/tickers", status=429, times=2)
    bot.tick()
    assert bot.live.stale == set()  # two 429s, two retries: the tickers came through
    assert len(bot.sleeps) == 2 and bot.sleeps[1] > bot.sleeps[0]
    fake.inject("status", path="/tickers", status=429, times=3)
    bot.tick()  # more than the retries: entries pause this tick, nothing crashes
    assert bot.live.stale == {BTC, ETH}
    bot.auction(bot.signal(BTC))
    assert bot.sent() == []
    bot.tick()
    bot.auction(bot.signal(BTC))
    assert entries(bot, BTC)
    bot.check()


@pytest.mark.parametrize("answer", [
    pytest.param((429, json.dumps({"result": "error", "error": "apiLimitExceeded"})), id="http-429"),
    pytest.param((200, json.dumps({"result": "error", "error": "nonceBelowThreshold"})), id="invalid-nonce"),
])
def test_rate_limit_or_bad_nonce_on_sendorder_is_recorded_not_placed_and_other_symbols_trade(
        bot: Bot, fake: FakeKraken, answer: tuple[int, str]) -> None:
    bot.start()
    status, body = answer
    fake.inject("status", path="sendorder", status=status, body=body, times=1)
    bot.auction(bot.signal(BTC, score=2.0), bot.signal(ETH))
    [refused] = entries(bot, BTC)
    assert bot.status(refused) is OrderStatus.REJECTED and held(bot, BTC) == 0
    assert held(bot, ETH) > 0 and bot.open_stops(ETH) == [held(bot, ETH)]  # the auction went on
    bot.check()


def test_invalid_nonce_on_a_read_is_retried(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    fake.inject("status", path="openpositions", status=200, times=1,
                body=json.dumps({"result": "error", "error": "nonceDuplicate"}))
    bot.auction()
    assert fake.faults_served["status"] == 1 and bot.sleeps
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    bot.check()


@pytest.mark.parametrize("answer", [
    pytest.param((400, json.dumps({"result": "error", "error": "invalidArgument"})), id="refusal-for-a-placed-order"),
    pytest.param((502, None), id="gateway-page"),
    pytest.param((200, json.dumps({"result": "error", "error": "somethingNobodyKnows"})), id="unknown-error"),
])
def test_placed_order_answered_with_the_wrong_error_class_is_found_not_forgotten(
        bot: Bot, fake: FakeKraken, answer: tuple[int, str | None]) -> None:
    bot.start()
    status, body = answer
    fake.inject("accept_then_status", path="sendorder", status=status, body=body, times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert bot.status(cid) is OrderStatus.FILLED
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    bot.check()


def test_suspended_market_is_not_entered_while_the_others_trade(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.suspend(BTC)
    bot.tick()
    assert bot.live.stale == {BTC}
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    assert bot.sent(BTC) == [] and held(bot, ETH) > 0
    fake.suspend(BTC, False)
    bot.tick()
    fake.suspend(BTC)  # suspended between the tickers and the order: Kraken refuses it
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    [refused] = entries(bot, BTC)
    assert bot.status(refused) is OrderStatus.REJECTED and held(bot, BTC) == 0
    assert bot.open_stops(ETH) == [held(bot, ETH)]
    bot.check()


def test_order_invisible_to_lookups_past_give_up_but_filled_is_recorded_filled_not_rejected(
        bot: Bot, fake: FakeKraken) -> None:
    """Issue 11 item 9: give-up checks the fills by client id before calling an order never placed."""
    bot.start()
    fake.hide_next_order(reads=10_000, fills=False)  # lookups lag far past the give-up; fills do not
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    for _ in range(20):  # 100 s: past the 60 s give-up
        bot.tick()
    assert cid not in bot.live.executor.in_doubt
    assert bot.status(cid) is OrderStatus.FILLED
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    assert entries(bot, BTC) == [cid]
    bot.check()


def test_fill_of_an_order_given_up_arrives_later_and_corrects_it_to_filled(bot: Bot, fake: FakeKraken) -> None:
    """A fill found after the give-up moves the stored REJECTED order to FILLED (a documented transition)."""
    bot.start()
    fake.hide_next_order(reads=40)  # order and fills invisible past the give-up, then seen by the fill poll
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    for _ in range(40):
        bot.tick()
        if bot.status(cid) is OrderStatus.FILLED:
            break
    assert bot.status(cid) is OrderStatus.FILLED
    assert bot.stored_positions().get(BTC) == held(bot, BTC)
    bot.tick()
    assert bot.open_stops(BTC) == [held(bot, BTC)]
    assert entries(bot, BTC) == [cid]
    bot.check()

"""Kraken's dead man's switch (``cancelallordersafter``) firing, and stops that vanish from Kraken.

Kraken cancels every order of ours, protective stops included, when the switch is not renewed in
time, and the timer stays off until armed again. The loop must notice (the time since its last
successful arm, our stops missing from ``openorders``) and put the protection back within one fast
tick, without ever holding two stops on a symbol. All through the real ccxt client and the loopback.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest

from faults.loopback import BTC, ETH, SENDORDER, Bot
from krakenbot.domain.vocabulary import ALERT_PREFIX, EventKind
from krakenbot.live.market_step import TickStepsFailedError
from krakenbot.testing import FakeKraken

ARM = "cancelallordersafter"


def _alerts(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.getMessage().startswith(f"{ALERT_PREFIX} {name}: ")]


def _stops_sent(bot: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in bot.sent(symbol) if r.param("orderType") == "stp"]


def _open_position(bot: Bot, symbol: str = ETH) -> Decimal:
    bot.start()
    bot.auction(bot.signal(symbol))
    size = bot.exchange_positions()[symbol]
    assert bot.open_stops(symbol) == [size]
    return size


def test_the_loopback_switch_fires_by_itself_and_stays_off_until_armed_again(bot: Bot, fake: FakeKraken) -> None:
    """Kraken's timer runs out on its own: any request after the deadline finds the orders cancelled
    (not only a test calling ``check_dead_man``), and after firing it stays off."""
    size = _open_position(bot)
    bot.clock.advance(timedelta(seconds=bot.cfg.loop.dead_man_switch_seconds + 1))
    assert bot.client is not None
    bot.client.get_futures_tickers_bulk()  # a public request: the timer fired meanwhile all the same
    with fake._lock:
        assert fake.book.dead_man_deadline is None
    assert bot.open_stops(ETH) == []
    bot.live.sync_stops()  # a stop placed while the switch is off ...
    bot.clock.advance(timedelta(seconds=10 * bot.cfg.loop.dead_man_switch_seconds))
    bot.client.get_futures_tickers_bulk()
    assert bot.open_stops(ETH) == [size]  # ... is never cancelled by it


def test_an_outage_longer_than_the_switch_has_its_stops_back_within_one_fast_tick(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    eth = _open_position(bot, ETH)
    bot.auction(bot.signal(ETH), bot.signal(BTC))
    btc = bot.exchange_positions()[BTC]
    bot.clock.advance(timedelta(seconds=3 * bot.cfg.loop.dead_man_switch_seconds))  # no tick: an outage
    with caplog.at_level(logging.INFO):
        bot.tick()
    assert bot.open_stops(ETH) == [eth] and bot.open_stops(BTC) == [btc]
    [fired] = _alerts(caplog, "dead_man_switch_fired")
    assert "no successful arm for 365 s" in fired  # the outage and the tick after it
    [event] = bot.store.events(EventKind.DEAD_MAN_SWITCH_FIRED)
    assert event.symbol == "*"
    bot.check()
    caplog.clear()
    for _ in range(30):  # one alert per outage, and nothing more is sent
        bot.tick()
    assert _alerts(caplog, "dead_man_switch_fired") == []
    assert len(bot.store.events(EventKind.DEAD_MAN_SWITCH_FIRED)) == 1
    assert bot.open_stops(ETH) == [eth] and bot.open_stops(BTC) == [btc]
    bot.check()


def test_a_stop_cancelled_on_kraken_is_replaced_within_one_fast_tick(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    size = _open_position(bot)
    [stop] = _stops_sent(bot, ETH)
    with fake._lock:  # an operator cancels it on Kraken's website
        fake.book.cancel_order({"cliOrdId": stop}, bot.clock.now())
    assert bot.open_stops(ETH) == []
    with caplog.at_level(logging.INFO):
        bot.tick()
    assert bot.open_stops(ETH) == [size]
    [missing] = _alerts(caplog, "stop_missing")
    assert missing.startswith(f"{ALERT_PREFIX} stop_missing: {ETH}")
    assert [e.symbol for e in bot.store.events(EventKind.STOP_MISSING)] == [ETH]
    bot.check()


def test_stops_are_compared_every_fast_tick_and_never_sent_twice(bot: Bot, fake: FakeKraken) -> None:
    _open_position(bot)
    fake.clear_requests()
    for _ in range(60):  # 5 minutes of fast ticks, several arms of the switch
        bot.tick()
        bot.check()
    assert fake.requests_to(SENDORDER) == []
    assert len(fake.requests_to("/openorders")) >= 60  # compared on each tick


def test_a_stop_kraken_shows_late_is_not_doubled(bot: Bot, fake: FakeKraken) -> None:
    """Kraken's lookups lag its matching engine: a stop it accepted can be missing from ``openorders``
    for a few reads. That is not a missing stop."""
    bot.start()
    fake.hide_next_order(reads=8, orders=2)  # the entry and its stop
    bot.auction(bot.signal(ETH))
    size = bot.exchange_positions()[ETH]
    for _ in range(12):
        bot.tick()
        bot.check()
    assert len(_stops_sent(bot, ETH)) == 1
    assert bot.open_stops(ETH) == [size]


def test_a_replacement_stop_in_doubt_is_not_doubled(bot: Bot, fake: FakeKraken,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The replacement's answer is lost and Kraken's lookups lag: the stop is in doubt, and no second one
    is sent (nor a second alert) until it is found."""
    size = _open_position(bot)
    [first] = _stops_sent(bot, ETH)
    with fake._lock:
        fake.book.cancel_order({"cliOrdId": first}, bot.clock.now())
    fake.inject("accept_then_drop", path=SENDORDER, times=1)
    fake.hide_next_order(reads=10)
    with caplog.at_level(logging.INFO):
        for _ in range(12):
            bot.tick()
            bot.check()
    assert len(_stops_sent(bot, ETH)) == 2  # the first, and one replacement
    assert bot.open_stops(ETH) == [size]
    assert len(_alerts(caplog, "stop_missing")) == 1
    assert not bot.live.executor.in_doubt


def test_a_failed_arm_is_retried_each_tick_and_the_stops_come_back_when_the_switch_fires(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    size = _open_position(bot)
    timeout = bot.cfg.loop.dead_man_switch_seconds
    fake.inject("status", path=ARM, status=503, times=1_000)
    fake.clear_requests()
    failed_ticks = 0
    with caplog.at_level(logging.INFO):
        for _ in range(int(2 * timeout / 5)):  # every arm refused for twice the timeout
            try:
                bot.tick()
            except TickStepsFailedError as exc:
                assert exc.steps == ("dead_man_switch",)
                failed_ticks += 1
            assert bot.open_stops(ETH) == [size]  # at every tick's end, whenever the switch fired
            bot.check()
    arms = len(fake.requests_to(ARM))
    assert arms == failed_ticks >= int(2 * timeout / 5) - timeout / 4 / 5  # retried on each tick once due
    assert len(_alerts(caplog, "dead_man_switch_fired")) == 1
    assert len(bot.store.events(EventKind.DEAD_MAN_SWITCH_FIRED)) == 1
    fake.clear_faults()
    bot.tick()  # armed again
    assert fake.requests_to(ARM)[-1].param("timeout") not in (None, "0")
    with fake._lock:
        assert fake.book.dead_man_deadline is not None
    bot.check()


def test_a_crash_longer_than_the_switch_has_its_stops_back_in_the_first_tick_of_the_restart(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    """kill -9 leaves the switch armed (that is what it is for): it fires while the bot is down, and the
    restarted bot puts the stops back in its first fast tick, not at the next signal candle."""
    size = _open_position(bot)
    with caplog.at_level(logging.INFO):
        bot.restart(seconds=3 * bot.cfg.loop.dead_man_switch_seconds)  # reconcile, then one fast tick
    assert bot.open_stops(ETH) == [size]
    assert len(_alerts(caplog, "stop_missing")) == 1
    assert len(_stops_sent(bot, ETH)) == 2
    bot.check()


def test_a_resize_whose_cancel_is_lost_before_kraken_never_leaves_two_stops(bot: Bot, fake: FakeKraken) -> None:
    """Stops are synced on every tick, so a resize meets a lost cancel more often: the new stop waits until
    the old one is gone from Kraken's list."""
    size = _open_position(bot, BTC)
    fake.close_position(BTC, kind="manual", size=float(size) / 2)  # the operator halves the position
    fake.inject("drop", path="/cancelorder", times=1)  # the cancel never reaches Kraken
    bot.tick()
    bot.check()
    assert bot.open_stops(BTC) == [size]  # the old stop still protects
    bot.tick()
    [stop] = bot.open_stops(BTC)
    assert stop <= bot.exchange_positions()[BTC] < size  # resized on the next tick (to the lot)
    bot.check()


def test_stops_gone_in_an_outage_while_the_mark_gapped_through_them_close_the_position_reduce_only(
        bot: Bot, fake: FakeKraken) -> None:
    """A stop placed through the market would trigger at once (or be refused): the position the stop
    wanted out of is closed reduce-only in the tick that finds it, not left standing without a stop."""
    _open_position(bot, ETH)
    bot.clock.advance(timedelta(seconds=3 * bot.cfg.loop.dead_man_switch_seconds))  # no tick: an outage
    with fake._lock:
        fake.book.check_dead_man(bot.clock.now())  # Kraken cancelled every order of ours
    assert bot.open_stops(ETH) == []
    fake.set_mark(ETH, bot.mark(ETH) * 0.9)  # meanwhile a gap through where the 3 % stop stood
    sent = len(bot.sent(ETH))
    bot.tick()
    assert ETH not in bot.exchange_positions()
    new = bot.sent(ETH)[sent:]
    assert [(r.param("orderType"), r.param("reduceOnly")) for r in new] == [("ioc", "true")]  # no stop sent
    bot.check()


def test_a_stop_cancelled_on_kraken_before_it_was_ever_listed_is_replaced_within_one_fast_tick(
        bot: Bot, fake: FakeKraken) -> None:
    """A stop not listed yet is trusted for a while (Kraken's lookups lag), but not blindly: its status
    is asked for, so one cancelled before the bot ever saw it listed is replaced in the next tick."""
    bot.start()
    fake.hide_next_order(reads=2, orders=2)  # the entry and its stop stay unlisted through the slow tick
    bot.auction(bot.signal(ETH))
    size = bot.exchange_positions()[ETH]
    [stop] = _stops_sent(bot, ETH)
    with fake._lock:  # cancelled on Kraken's website before any tick listed it
        fake.book.cancel_order({"cliOrdId": stop}, bot.clock.now())
    bot.tick()
    assert bot.open_stops(ETH) == [size] and len(_stops_sent(bot, ETH)) == 2
    bot.check()

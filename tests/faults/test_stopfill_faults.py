"""A triggered stop that fills only partly, against the loopback Kraken (real ccxt client, real SQLite store).

Kraken turns a triggered stop-market into an immediate-or-cancel order with price protection: in a gap
with a thin book part of it finds nothing within the band and is cancelled, leaving the rest of the
position without a stop. Within the same fast tick the bot protects that remainder: a new stop when the
mark is back on the right side of the stop price, a reduce-only close when it is through.
"""

from __future__ import annotations

from decimal import Decimal

from faults.loopback import BTC, ETH, Bot
from krakenbot.domain import OrderStatus, OrderType, Side
from krakenbot.domain.vocabulary import EventKind
from krakenbot.testing import FakeKraken


def held(b: Bot, symbol: str) -> Decimal:
    return b.exchange_positions().get(symbol, Decimal(0))


def _long_with_stop(bot: Bot) -> tuple[Decimal, Decimal, str]:
    """A BTC long and its stop: (size, stop price, the stop's client id)."""
    bot.start()
    bot.auction(bot.signal(BTC))
    size = held(bot, BTC)
    [stop] = [o for o in bot.store.open_orders() if o.order_type is OrderType.STOP and o.symbol == BTC]
    assert size > 0 and bot.open_stops(BTC) == [size] and stop.stop_price is not None
    return size, stop.stop_price, stop.client_order_id


def _gap_through(fake: FakeKraken, stop_price: Decimal, filled: Decimal) -> None:
    """The mark gaps just through the stop while the book holds only ``filled`` contracts within the band."""
    fake.set_liquidity(BTC, float(filled))
    fake.set_mark(BTC, float(stop_price) * 0.995)
    fake.set_liquidity(BTC, None)


def test_gap_with_thin_book_fills_the_stop_partly_and_cancels_the_rest(bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, _ = _long_with_stop(bot)
    part = (size / 2).quantize(Decimal("0.0001"))
    _gap_through(fake, stop_price, part)
    assert held(bot, BTC) == size - part  # Kraken's side: the rest of the position has no stop
    assert bot.open_stops(BTC) == []
    with fake._lock:
        [stop] = [o for o in fake.book.orders.values() if o.is_trigger]
        assert (stop.status, stop.filled) == ("cancelled", part)


def test_partial_stop_fill_with_the_mark_back_above_gets_a_new_stop_within_one_tick(
        bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, cid = _long_with_stop(bot)
    part = (size / 2).quantize(Decimal("0.0001"))
    _gap_through(fake, stop_price, part)
    fake.set_mark(BTC, float(stop_price) * 1.01)  # the gap closes: back above the stop
    bot.tick()
    rest = size - part
    assert held(bot, BTC) == rest
    assert bot.open_stops(BTC) == [rest]  # one stop, for the remainder, no duplicate
    new = [o for o in bot.store.open_orders() if o.order_type is OrderType.STOP and o.symbol == BTC]
    assert [o.stop_price for o in new] == [stop_price]  # the same level as before
    stored = bot.store.order(cid)
    assert stored is not None and stored.filled_size == part and stored.status is OrderStatus.CANCELLED
    assert any(e.kind == EventKind.STOP_PARTIAL and e.symbol == BTC for e in bot.store.events())
    bot.check()


def test_partial_stop_fill_with_the_mark_still_through_closes_the_rest_within_one_tick(
        bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, cid = _long_with_stop(bot)
    part = (size / 4).quantize(Decimal("0.0001"))
    _gap_through(fake, stop_price, part)
    bot.tick()  # the mark is still through the stop: the stop wanted us out
    assert held(bot, BTC) == 0 and bot.open_stops(BTC) == []
    closes = [r for r in bot.sent(BTC) if r.param("orderType") == "ioc" and r.param("reduceOnly") == "true"]
    assert len(closes) == 1 and Decimal(str(closes[0].param("size"))) == size - part
    stored = bot.store.order(cid)
    assert stored is not None and stored.filled_size == part and stored.status is OrderStatus.CANCELLED
    bot.check()


def test_full_stop_fill_leaves_nothing_to_protect_and_sends_nothing(bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, cid = _long_with_stop(bot)
    sent = len(bot.sent())
    fake.set_mark(BTC, float(stop_price) * 0.99)  # liquidity unlimited: the stop fills in full
    bot.tick()
    assert held(bot, BTC) == 0 and len(bot.sent()) == sent
    stored = bot.store.order(cid)
    assert stored is not None and stored.filled_size == size and stored.status is OrderStatus.FILLED
    assert not any(e.kind == EventKind.STOP_PARTIAL for e in bot.store.events())
    bot.check()


def test_partial_stop_fill_on_one_symbol_leaves_the_other_alone(bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, _ = _long_with_stop(bot)
    bot.auction(bot.signal(ETH))
    eth = held(bot, ETH)
    part = (size / 2).quantize(Decimal("0.0001"))
    _gap_through(fake, stop_price, part)
    fake.set_mark(BTC, float(stop_price) * 1.01)
    bot.tick()
    assert bot.open_stops(BTC) == [size - part] and bot.open_stops(ETH) == [eth]
    bot.check()


def test_partial_fill_of_a_stop_an_earlier_run_placed_is_protected_within_one_tick(
        bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, cid = _long_with_stop(bot)
    bot.restart()  # the new run knows nothing of the stop's reason or price
    part = (size / 2).quantize(Decimal("0.0001"))
    _gap_through(fake, stop_price, part)
    fake.set_mark(BTC, float(stop_price) * 1.01)
    bot.tick()
    assert bot.open_stops(BTC) == [size - part]
    assert any(e.kind == EventKind.STOP_PARTIAL and cid in e.detail for e in bot.store.events())
    bot.check()


def test_partial_stop_fill_of_a_short_through_the_stop_closes_the_rest(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(ETH, Side.SHORT))
    size = -held(bot, ETH)
    [stop] = [o for o in bot.store.open_orders() if o.order_type is OrderType.STOP and o.symbol == ETH]
    assert size > 0 and stop.stop_price is not None
    part = (size / 2).quantize(Decimal("0.001"))
    fake.set_liquidity(ETH, float(part))
    fake.set_mark(ETH, float(stop.stop_price) * 1.005)  # a short's stop is above: the gap is upwards
    fake.set_liquidity(ETH, None)
    assert -held(bot, ETH) == size - part
    bot.tick()
    assert held(bot, ETH) == 0 and bot.open_stops(ETH) == []
    stored = bot.store.order(stop.client_order_id)
    assert stored is not None and stored.filled_size == part and stored.status is OrderStatus.CANCELLED
    bot.check()


def test_remainder_in_a_thin_book_is_closed_again_each_tick_then_stopped_when_the_mark_is_back(
        bot: Bot, fake: FakeKraken) -> None:
    size, stop_price, _ = _long_with_stop(bot)
    part = (size / 4).quantize(Decimal("0.0001"))
    fake.set_liquidity(BTC, float(part))  # the book stays thin: each close fills a quarter
    fake.set_mark(BTC, float(stop_price) * 0.995)
    bot.tick()  # stop filled a quarter; the close of the rest a quarter more
    assert held(bot, BTC) == size - 2 * part and bot.open_stops(BTC) == []
    bot.tick()  # still through: closed again
    assert held(bot, BTC) == size - 3 * part
    bot.check()
    fake.set_mark(BTC, float(stop_price) * 1.01)  # the mark is back above the stop
    bot.tick()
    assert bot.open_stops(BTC) == [size - 3 * part]  # the last of it gets its stop again
    bot.check()

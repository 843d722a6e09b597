"""Bad, stale or unreadable data against the loopback Kraken: it pauses entries, never reaches
sizing, is never read as "flat", and never crashes the loop."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faults.loopback import BTC, ETH, PREFIX, Bot
from krakenbot.data.candles import CandleManager
from krakenbot.domain import SimulatedClock, Ticker
from krakenbot.domain.errors import MarketDataError, TransientError
from krakenbot.live.ports import StrategySignalFeed
from krakenbot.live.restart import reconcile_at_start
from krakenbot.testing import FakeKraken
from live.always_long import AlwaysLong


def entries(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


@pytest.mark.parametrize("fields", [
    pytest.param({"markPrice": "NaN"}, id="nan"),
    pytest.param({"markPrice": None}, id="null"),
    pytest.param({"markPrice": 0}, id="zero"),
    pytest.param({"markPrice": -97_000.0}, id="negative"),
    pytest.param({"bid": 97_500.0, "ask": 96_500.0}, id="bid-above-ask"),
    pytest.param({"markPrice": 145_500.0}, id="unconfirmed-50pct-print"),  # the index stays near 97,000
])
def test_bad_ticker_never_reaches_sizing_while_it_lasts(bot: Bot, fake: FakeKraken, fields: dict[str, Any]) -> None:
    bot.start()
    fake.set_ticker(BTC, **fields)
    for _ in range(3):
        bot.tick()
        assert BTC in bot.live.stale and bot.live.marks[BTC] == 97_000.0  # the last good mark is kept
        bot.auction(bot.signal(BTC, score=2.0), bot.signal(ETH))
        assert bot.sent(BTC) == []
    assert entries(bot, ETH)  # the other market traded on
    fake.clear_ticker(BTC)
    bot.tick()
    bot.auction(bot.signal(BTC))
    assert entries(bot, BTC)
    bot.check()


def test_first_mark_after_a_start_with_a_null_index_sizes_nothing_until_a_second_tick_confirms_it(
        bot: Bot, fake: FakeKraken) -> None:
    """Issue 11 item 10: no previous mark, a null index and a mark 1.8x the real price: no entry is sized
    or priced from it; a second consistent tick (or the index) confirms the mark and entries resume."""
    fake.set_ticker(BTC, markPrice=97_000.0 * 1.8, indexPrice=None)
    bot.start()
    assert BTC in bot.live.stale and BTC not in bot.live.marks
    bot.auction(bot.signal(BTC, score=2.0), bot.signal(ETH))
    assert bot.sent(BTC) == [] and entries(bot, ETH)
    fake.set_ticker(BTC, markPrice=97_000.0)  # the index is still null: a first real tick is a candidate
    bot.tick()
    assert BTC in bot.live.stale
    bot.tick()  # a second consistent one confirms it
    assert BTC not in bot.live.stale and bot.live.marks[BTC] == 97_000.0
    bot.auction(bot.signal(BTC))
    assert entries(bot, BTC)
    bot.check()


def test_fifty_percent_move_confirmed_by_the_index_is_believed(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.set_mark(BTC, 145_500.0)  # the fake's index follows its mark
    bot.tick()
    assert BTC not in bot.live.stale and bot.live.marks[BTC] == 145_500.0


def test_stale_tickers_pause_entries_on_that_symbol_only_and_resume(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.set_ticker(BTC, lastTime=bot.clock.now() - timedelta(minutes=5))
    bot.tick()
    assert bot.live.stale == {BTC}
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    assert bot.sent(BTC) == [] and entries(bot, ETH)
    fake.clear_ticker(BTC)
    bot.tick()
    bot.auction(bot.signal(BTC))
    assert entries(bot, BTC)
    bot.check()


def test_stale_candles_give_no_signal_and_nothing_crashes(tmp_path: Path, bot: Bot, fake: FakeKraken,
                                                          clock: SimulatedClock) -> None:
    bot.start()
    assert bot.client is not None
    candles = CandleManager(bot.client, tmp_path / "candles")
    feed = StrategySignalFeed(AlwaysLong(), candles, {"BTC/USD": (BTC, 1), "ETH/USD": (ETH, 1)})  # type: ignore[arg-type]
    bot.live.signal_feed = feed
    fake.inject("status", path="/OHLC", status=503, times=1_000)  # spot candles unavailable,
    fake.inject("status", path="/api/charts", status=503, times=1_000)  # and the futures fallback too
    bot.tick()
    bot.live.slow_tick()
    assert bot.sent() == []
    fake.clear_faults()
    bot.tick(60)
    bot.live.slow_tick()
    assert entries(bot, BTC) and entries(bot, ETH)
    bot.check()


@pytest.mark.parametrize("body", [
    pytest.param("", id="empty"),
    pytest.param(json.dumps({"result": "success", "openPositions": None}), id="null"),
    pytest.param(None, id="truncated"),
    pytest.param(json.dumps({"result": "success"}), id="no-list"),
    pytest.param(json.dumps({"result": "success", "openPositions": [{"symbol": BTC, "side": "long"}]}),
                 id="row-without-size"),
])
def test_unreadable_positions_payload_is_never_read_as_flat(bot: Bot, fake: FakeKraken, body: str | None) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    held = bot.exchange_positions()[BTC]
    sent = len(bot.sent())
    fake.inject("malformed", path="openpositions", body=body, times=1_000)
    with pytest.raises((TransientError, MarketDataError)):
        bot.auction(bot.signal(BTC), bot.signal(ETH))
    assert len(bot.sent()) == sent  # no entry on top of a position it could not see, no stop cancelled
    assert bot.open_stops(BTC) == [held]
    bot.crash()
    with pytest.raises((TransientError, MarketDataError)):
        reconcile_at_start(bot.store, bot.new_client(), prefix=PREFIX, now=bot.clock.now())
    assert bot.store.events("closed_on_exchange") == []
    fake.clear_faults()
    bot.start()
    assert bot.plans[-1].closed_positions == ()
    bot.check()


class SlowMarket:
    """Tickers that take ``seconds`` of (simulated) time to arrive."""

    def __init__(self, inner: Any, clock: SimulatedClock, seconds: float) -> None:
        self.inner, self.clock, self.seconds = inner, clock, seconds

    def futures_tickers(self) -> dict[str, Ticker]:
        self.clock.advance(timedelta(seconds=self.seconds))
        return dict(self.inner.futures_tickers())


def test_tick_overrunning_its_cadence_is_logged_and_the_next_starts_at_once_without_a_burst(
        bot: Bot, clock: SimulatedClock, caplog: pytest.LogCaptureFixture) -> None:
    bot.start(market=lambda inner: SlowMarket(inner, clock, seconds=12.0))  # cadence 5 s
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="krakenbot.live.trading"):
        assert bot.live.run(threading.Event(), max_ticks=3) == 3
    assert time.monotonic() - started < 10.0  # no wait for a cadence already overrun
    overruns = [r for r in caplog.records if "over its 5.0s cadence" in r.getMessage()]
    assert len(overruns) == 3
    bot.check()


def test_request_slower_than_the_client_timeout_pauses_entries_and_the_loop_goes_on(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    fake.inject("delay", path="/tickers", delay_seconds=0.8, times=3)  # client timeout 0.5 s, 2 retries
    started = time.monotonic()
    bot.tick()
    assert time.monotonic() - started < 5.0
    assert bot.live.stale == {BTC, ETH}
    armed = len(fake.requests_to("cancelallordersafter"))
    assert armed >= 1  # the dead man's switch was refreshed despite the failed tick
    bot.tick()
    assert bot.live.stale == set()

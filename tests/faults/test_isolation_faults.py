"""One malformed contract or one failing step never stops the rest of the tick (issue 11, item 4)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from faults.loopback import BTC, ETH, Bot
from krakenbot.domain.errors import FatalError
from krakenbot.domain.vocabulary import EventKind
from krakenbot.live.market_step import TickStepsFailedError
from krakenbot.testing import FakeKraken

MALFORMED_TIME = "0001-01-01T00:00:00+01:00"  # Kraken's "never traded", in a zone that overflows UTC


def stop_fills(b: Bot) -> list[str]:
    return [e.symbol for e in b.store.events(EventKind.STOP.value)]


def test_malformed_untraded_contract_is_dropped_and_management_goes_on(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    bot.start()
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    fake.set_ticker("PF_THETAUSD", lastTime=MALFORMED_TIME)
    with caplog.at_level(logging.WARNING):
        for i in range(30):
            if i == 10:
                fake.set_mark(BTC, bot.mark(BTC) * 0.9)  # through the 3 % stop: Kraken fills it
            bot.tick()
    assert BTC not in bot.exchange_positions()
    assert stop_fills(bot) == [BTC]  # the BTC stop fill was recorded
    assert bot.live.stale == set()
    assert bot.live.guard.active(bot.clock.now())  # ShockGuard saw the 10 % drop
    dropped = [r for r in caplog.records if "PF_THETAUSD" in r.getMessage() and "dropped" in r.getMessage()]
    assert len(dropped) == 1  # once per contract per interval, not per tick
    bot.check()


def test_malformed_untraded_contract_at_start(bot: Bot, fake: FakeKraken) -> None:
    fake.set_ticker("PF_THETAUSD", lastTime=MALFORMED_TIME)
    bot.start()
    assert bot.live.stale == set()


@pytest.mark.parametrize("fields", [
    pytest.param({"markPrice": 1e-300}, id="tiny"),
    pytest.param({"markPrice": 1e-300, "indexPrice": 1e-300}, id="tiny-confirmed"),
    pytest.param({"markPrice": 1e308, "indexPrice": 1e308}, id="huge-confirmed"),
])
def test_absurd_mark_does_not_fail_the_tick(bot: Bot, fake: FakeKraken, fields: dict[str, Any]) -> None:
    bot.start()
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    held = bot.exchange_positions()
    fake.set_ticker(BTC, **fields)
    for _ in range(3):
        bot.tick()
        assert BTC in bot.live.stale
    assert bot.exchange_positions() == held  # nothing closed on an absurd print
    fake.clear_ticker()
    bot.tick()
    assert bot.live.stale == set()
    bot.check()


@pytest.mark.parametrize("step", ["shock_feed", "in_doubt", "listeners"])
def test_a_failing_step_is_contained_and_the_others_run(
        bot: Bot, fake: FakeKraken, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        step: str) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("boom")

    market = bot.live.market_step
    if step == "shock_feed":
        monkeypatch.setattr(market.shock_feed, "detect", boom)
    elif step == "in_doubt":
        monkeypatch.setattr(market.executor, "in_doubt", {"kbf-lost": None})
        monkeypatch.setattr(market.executor, "poll_in_doubt", boom)
    else:
        market.listeners = (boom,)
    fake.set_mark(BTC, bot.mark(BTC) * 0.9)
    with caplog.at_level(logging.ERROR), pytest.raises(TickStepsFailedError, match=step):
        bot.tick()  # every step ran; the tick is reported failed (no auction on it)
    assert stop_fills(bot) == [BTC]  # fill polling ran after the failed step
    assert any(step in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    assert fake.requests_to("cancelallordersafter")
    bot.check()


def test_fatal_error_in_a_step_still_halts(bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    bot.start()

    def fatal(*_: Any, **__: Any) -> Any:
        raise FatalError("store gone")

    monkeypatch.setattr(bot.live.market_step.shock_feed, "detect", fatal)
    with pytest.raises(FatalError):
        bot.tick()

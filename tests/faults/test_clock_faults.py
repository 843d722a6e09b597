"""A wrong local clock against the loopback Kraken (issue 11, item 5): the real ccxt client reads the
fake's ``serverTime`` from each tickers answer; the bot's clock is a ``SkewedClock`` over the fake's.

- hours ahead at start: ``paper``/``live`` refuse (exit code 2) saying how far off the clock is;
- skew appearing while running: entries and stale-signal closes pause, stops and fills go on;
- a clock stepped back: ticks keep succeeding, one warning per step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from builders.cli import loopback_config
from builders.clock import SkewedClock
from builders.market import make_signal
from faults.loopback import BTC, ETH, SPOT, Bot, open_bot
from krakenbot.cli import app
from krakenbot.domain import OrderStatus, Side, Signal, SimulatedClock, Ticker
from krakenbot.domain.vocabulary import EventKind
from krakenbot.testing import FakeKraken

LOOP_LOG = "krakenbot.live.trading"
@pytest.fixture
def local(clock: SimulatedClock) -> SkewedClock:
    return SkewedClock(clock)


@pytest.fixture
def skewed_bot(tmp_path: Path, fake: FakeKraken, local: SkewedClock) -> Iterator[Bot]:
    # no dead man's switch: these tests jump the true clock by hours between ticks
    opened = open_bot(tmp_path, fake=fake, clock=local, dead_man_switch_seconds=0)
    try:
        yield opened
    finally:
        opened.store.close()


def exchange_signal(b: Bot, clock: SimulatedClock, futures: str, side: Side = Side.LONG) -> Signal:
    """A signal stamped in Kraken's time (as candles are), whatever the bot's local clock says."""
    return make_signal(SPOT[futures], side, ref_price=b.mark(futures), stop_distance_pct=0.03, ts=clock.now())


def entries(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


def closes(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and r.param("reduceOnly") == "true"]


def kinds(b: Bot, kind: EventKind) -> int:
    return len(b.store.events(kind.value))


@pytest.mark.parametrize("command", ["paper", "live"])
def test_clock_five_hours_ahead_of_kraken_refuses_to_start_with_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", "SENTINEL-KEY")
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", "U0VOVElORUwtU0VDUkVU")
    # Kraken's clock is 5 h behind the local wall clock: the local clock is 5 h ahead
    with FakeKraken(clock=lambda: datetime.now(UTC) - timedelta(hours=5),
                    credentials={"SENTINEL-KEY": "U0VOVElORUwtU0VDUkVU"}) as fake:
        config = tmp_path / "bot.yaml"
        config.write_text(loopback_config(fake.url, tmp_path / "krakenbot.db"))
        force = ["--force"] if command == "live" else []
        result = CliRunner().invoke(app, [command, "--config", str(config), "--max-ticks", "1", *force])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("refused: the local clock is 5h00m")
        assert "ahead of Kraken's server time" in lines[0] and "timedatectl" in lines[0]
        assert fake.requests_to("sendorder") == [] and fake.requests_to("openpositions") == []


def test_skew_while_running_pauses_entries_and_stale_closes_and_keeps_stops_and_fills(
        skewed_bot: Bot, fake: FakeKraken, clock: SimulatedClock, local: SkewedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    bot = skewed_bot
    bot.start()
    bot.auction(exchange_signal(bot, clock, BTC))
    assert set(bot.exchange_positions()) == {BTC} and bot.open_stops(BTC)
    local.offset = timedelta(hours=5)
    with caplog.at_level(logging.INFO, logger=LOOP_LOG):
        for _ in range(3):
            bot.tick()  # tickers are judged in Kraken's time: no failed tick, no "stale" ticker
        bot.auction(exchange_signal(bot, clock, ETH))  # a fresh ETH signal: entries are paused
        assert entries(bot, ETH) == [] and closes(bot, BTC) == []
        assert bot.live.stale == set()
        # four hours on (Kraken's time): BTC's last signal really is stale now, but the clock is off
        clock.advance(timedelta(hours=4, minutes=5))
        bot.tick()
        bot.auction()
        assert closes(bot, BTC) == [] and BTC in bot.exchange_positions() and bot.open_stops(BTC)
        fake.set_mark(BTC, bot.mark(BTC) * 0.9)  # through the 3 % stop: Kraken fills it
        bot.tick()
        bot.tick()
    assert BTC not in bot.exchange_positions() and kinds(bot, EventKind.STOP) == 1  # the stop fill recorded
    assert bot.live.guard.active(bot.live.now())  # ShockGuard saw the 10 % drop
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "5h00m" in r.getMessage()]
    assert len(warnings) == 1 and "ahead of Kraken's server time" in warnings[0].getMessage()
    assert kinds(bot, EventKind.CLOCK_SKEWED) == 1 and kinds(bot, EventKind.CLOCK_SKEW_CLEARED) == 0
    bot.check()

    local.offset = timedelta(0)  # NTP fixed it
    with caplog.at_level(logging.INFO, logger=LOOP_LOG):
        bot.tick()
    assert any(r.levelno == logging.INFO and "back within tolerance" in r.getMessage() for r in caplog.records)
    assert kinds(bot, EventKind.CLOCK_SKEW_CLEARED) == 1
    bot.check()


def test_stale_close_paused_while_skewed_runs_once_the_clock_is_back(
        skewed_bot: Bot, clock: SimulatedClock, local: SkewedClock) -> None:
    bot = skewed_bot
    bot.start()
    bot.auction(exchange_signal(bot, clock, BTC))
    local.offset = timedelta(minutes=-10)
    clock.advance(timedelta(hours=4, minutes=5))  # past stale_signal_minutes (240) in Kraken's time
    bot.tick()
    bot.auction(exchange_signal(bot, clock, ETH))
    assert closes(bot, BTC) == [] and BTC in bot.exchange_positions()
    assert entries(bot, ETH) == []
    local.offset = timedelta(0)
    bot.tick()
    bot.auction(exchange_signal(bot, clock, ETH))
    assert closes(bot, BTC) and BTC not in bot.exchange_positions()  # the stale close, now trusted
    assert kinds(bot, EventKind.CLOSE_STALE) == 1
    assert entries(bot, ETH)  # entries resume
    bot.check()


def test_clock_stepped_back_an_hour_keeps_ticks_succeeding_with_one_warning(
        skewed_bot: Bot, fake: FakeKraken, clock: SimulatedClock, local: SkewedClock,
        caplog: pytest.LogCaptureFixture) -> None:
    bot = skewed_bot
    bot.start()
    bot.auction(exchange_signal(bot, clock, BTC), exchange_signal(bot, clock, ETH))
    assert set(bot.exchange_positions()) == {BTC, ETH}
    before = bot.live.now()
    local.offset = timedelta(hours=-1)
    with caplog.at_level(logging.WARNING, logger=LOOP_LOG):
        for i in range(20):
            if i == 5:
                fake.set_mark(BTC, bot.mark(BTC) * 0.9)  # through the 3 % stop: Kraken fills it
            bot.tick()  # raises TickStepsFailedError when a step fails
    assert bot.live.now() > before  # the loop's time ran forward
    assert BTC not in bot.exchange_positions() and kinds(bot, EventKind.STOP) == 1
    assert ETH in bot.exchange_positions() and bot.open_stops(ETH)
    stepped = [r for r in caplog.records if "stepped back" in r.getMessage()]
    assert len(stepped) == 1 and "stepped back 0:59:55" in stepped[0].getMessage()  # 1 h less the 5 s tick
    assert kinds(bot, EventKind.CLOCK_STEPPED_BACK) == 1
    local.offset = timedelta(hours=-2)  # a second step: a second warning
    with caplog.at_level(logging.WARNING, logger=LOOP_LOG):
        bot.tick()
        bot.tick()
    assert len([r for r in caplog.records if "stepped back" in r.getMessage()]) == 2
    bot.check()


def test_clock_stepped_back_without_a_server_time_keeps_the_loop_time_running_forward(
        skewed_bot: Bot, fake: FakeKraken, local: SkewedClock) -> None:
    """Tickers unavailable when the clock steps back: no skew is measured, the loop's time holds at
    the previous tick's (ShockGuard never sees time go back) and the ticks do not fail."""
    bot = skewed_bot
    bot.start()
    bot.auction(bot.signal(BTC))
    before = bot.live.now()
    local.offset = timedelta(hours=-1)
    fake.inject("status", path="/tickers", status=503, times=3)  # one tick's read and its two retries
    bot.tick()
    assert bot.live.now() >= before
    bot.tick()
    assert bot.live.now() > before
    bot.check()


def test_clock_stepped_back_keeps_the_dead_man_switch_armed_so_stops_stay(
        tmp_path: Path, fake: FakeKraken, clock: SimulatedClock, local: SkewedClock) -> None:
    """The dead man's switch is timed on the local clock: after a step back it re-arms at once instead
    of waiting an hour for the clock to catch up while Kraken's timer (120 s) runs out on our stops."""
    bot = open_bot(tmp_path, fake=fake, clock=local)  # dead_man_switch_seconds: 120 (the default)
    try:
        bot.start()
        bot.auction(exchange_signal(bot, clock, BTC))
        local.offset = timedelta(hours=-1)
        fake.clear_requests()
        for _ in range(60):  # 5 minutes of ticks in Kraken's time
            bot.tick()
        assert len(fake.requests_to("cancelallordersafter")) >= 60 * 5 // 30 - 1  # every quarter of 120 s
        assert bot.open_stops(BTC)  # Kraken's timer never ran out
        bot.check()
    finally:
        bot.store.close()


class SteppingBackMarket:
    """Tickers during whose read the local clock steps back ``seconds``."""

    def __init__(self, inner: Any, local: SkewedClock, seconds: float) -> None:
        self.inner, self.local, self.seconds = inner, local, seconds

    def futures_tickers(self) -> Mapping[str, Ticker]:
        self.local.offset -= timedelta(seconds=self.seconds)
        return self.inner.futures_tickers()  # type: ignore[no-any-return]


def test_wall_clock_loop_does_not_sleep_the_step_back_away(
        tmp_path: Path, fake: FakeKraken, local: SkewedClock) -> None:
    """``run`` waits what is left of the cadence: a tick whose clock went back must not wait the step too."""
    bot = open_bot(tmp_path, fake=fake, clock=local, fast_tick_seconds=0.05)
    try:
        bot.start(market=lambda inner: SteppingBackMarket(inner, local, seconds=3.0))
        started = time.monotonic()
        assert bot.live.run(threading.Event(), max_ticks=2) == 2
        assert time.monotonic() - started < 2.5  # not 2 x 3 s
        bot.check()
    finally:
        bot.store.close()


def test_an_order_in_doubt_is_not_given_up_when_the_local_clock_jumps_ahead(
        skewed_bot: Bot, fake: FakeKraken, clock: SimulatedClock, local: SkewedClock) -> None:
    """``loop.order_lookup_give_up_seconds`` is Kraken's time too: a clock jumping 5 h ahead must not
    give up at once an order whose answer was lost (it would be recorded as never placed while Kraken,
    still lagging, has it)."""
    bot = skewed_bot
    bot.start()
    fake.hide_next_order(reads=6)  # Kraken lags: the order and its fill stay out of every lookup for a while
    fake.inject("accept_then_drop", path="sendorder", times=1)
    bot.auction(exchange_signal(bot, clock, BTC))
    [cid] = entries(bot, BTC)
    assert cid in bot.live.executor.in_doubt
    local.offset = timedelta(hours=5)
    bot.tick()  # 5 s of Kraken's time later
    assert cid in bot.live.executor.in_doubt and bot.status(cid) is OrderStatus.INTENDED
    for _ in range(6):
        bot.tick()
        assert bot.status(cid) is not OrderStatus.REJECTED  # never "never placed" on the way
    assert cid not in bot.live.executor.in_doubt  # found once Kraken shows it, before any give-up
    assert bot.status(cid) is OrderStatus.FILLED and bot.open_stops(BTC)
    bot.check()

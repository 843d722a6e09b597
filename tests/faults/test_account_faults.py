"""Two bots on one Kraken account (issue 11, item 2), against the loopback Kraken with the real ccxt client.

At start the account lock refuses a second live process on the same API key and instance id, whatever
its store or working directory. While running, an order or fill with our instance id that this run
did not send (another process, e.g. on another machine) pauses entries; stops and closes go on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from faults.loopback import BTC, ETH, PREFIX, SENTINEL_KEY, SENTINEL_SECRET, Bot, open_bot
from krakenbot.config.models import AppConfig
from krakenbot.domain import Side, SimulatedClock
from krakenbot.domain.vocabulary import EventKind
from krakenbot.live.account_lock import account_fingerprint
from krakenbot.live.wiring import open_loop
from krakenbot.store.lock import InstanceLockedError
from krakenbot.testing import FakeKraken


def live_config(fake: FakeKraken, url: str) -> AppConfig:
    return AppConfig.model_validate({
        "exchange": {"spot_base_url": fake.url, "futures_base_url": fake.url, "client_rate_limit": False,
                     "timeout_seconds": 2, "max_retries": 0},
        "store": {"url": url, "instance_id": PREFIX}})


def entries(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol) if r.param("orderType") == "ioc"
            and (r.param("reduceOnly") or "false") == "false"]


def test_second_live_loop_on_the_same_account_with_another_store_is_refused_before_any_request(
        tmp_path: Path, wall_fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = wall_fake
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", SENTINEL_SECRET)
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    first_dir.mkdir()
    second_dir.mkdir()
    monkeypatch.chdir(first_dir)
    with open_loop(live_config(fake, "sqlite:///krakenbot.db"), paper=False, cache_dir=tmp_path / "cache") as first:
        assert first.futures
        fake.clear_requests()
        monkeypatch.chdir(second_dir)  # the same config from another directory: another store
        with pytest.raises(InstanceLockedError) as err, \
                open_loop(live_config(fake, "sqlite:///krakenbot.db"), paper=False, cache_dir=tmp_path / "cache"):
            pass
        assert fake.requests == []
        message = str(err.value)
        assert f"pid {os.getpid()}" in message
        assert account_fingerprint(SENTINEL_KEY) in message and SENTINEL_KEY not in message
        assert (first_dir / "krakenbot.db").exists() and not (second_dir / "krakenbot.db").exists()
    with open_loop(live_config(fake, "sqlite:///krakenbot.db"), paper=False, cache_dir=tmp_path / "cache") as again:
        assert again.futures  # the first one stopped: the account is free


def test_paper_loop_takes_no_account_lock_beside_a_live_one(
        tmp_path: Path, wall_fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = wall_fake
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", SENTINEL_SECRET)
    with open_loop(live_config(fake, f"sqlite:///{tmp_path}/live.db"), paper=False, cache_dir=tmp_path / "c"), \
            open_loop(live_config(fake, f"sqlite:///{tmp_path}/paper.db"), paper=True, cache_dir=tmp_path / "c") as p:
        assert p.futures


def test_another_process_trading_with_our_instance_id_pauses_entries_while_stops_and_closes_go_on(
        bot: Bot, tmp_path: Path, fake: FakeKraken, clock: SimulatedClock, caplog: pytest.LogCaptureFixture) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    assert BTC in bot.exchange_positions() and len(bot.open_stops(BTC)) == 1
    bot.tick()
    other = open_bot(tmp_path / "other", fake=fake, clock=clock)  # its own store, same account and prefix
    try:
        other.start(reconcile=False)
        other.auction(other.signal(ETH))  # another process enters ETH with our prefix (another run token)
        assert ETH in other.exchange_positions()
        with caplog.at_level(logging.ERROR):
            for _ in range(3):
                bot.tick()
        errors = [r for r in caplog.records if "another process is trading this account" in r.getMessage()]
        assert len(errors) == 1, [r.getMessage() for r in caplog.records]  # logged once
        assert f"'{PREFIX}'" in errors[0].getMessage()
        [event] = bot.store.events(EventKind.ACCOUNT_SHARED.value)
        assert event.symbol == ETH
        # entries paused: signals open nothing
        fake.clear_requests()
        bot.auction(bot.signal(ETH, score=2.0), bot.signal(BTC))
        assert entries(bot, ETH) == [] and entries(bot, BTC) == []
        assert bot.live.account_watch.entries_paused
        # stops go on: our BTC stop fills on Kraken and is recorded
        fake.set_mark(BTC, bot.mark(BTC) * 0.9)
        bot.tick()
        assert BTC not in bot.exchange_positions()
        assert [e.symbol for e in bot.store.events(EventKind.STOP.value)] == [BTC]
        # closes go on: a reversal on ETH closes the long reduce-only and opens no short
        fake.clear_requests()
        bot.auction(bot.signal(ETH, Side.SHORT))
        assert entries(bot, ETH) == []
        assert [r.param("reduceOnly") for r in bot.sent(ETH) if r.param("orderType") == "ioc"] == ["true"]
        assert ETH not in bot.exchange_positions()
    finally:
        other.store.close()


def test_our_own_earlier_runs_are_not_another_process(bot: Bot) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    for _ in range(3):
        bot.restart()  # a new run token each time; its orders are in the store
        bot.tick()
    assert not bot.live.account_watch.entries_paused
    assert bot.store.events(EventKind.ACCOUNT_SHARED.value) == []
    bot.auction(bot.signal(ETH))
    assert ETH in bot.exchange_positions()
    bot.check()

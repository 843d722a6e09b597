"""A full disk under the store, against the loopback Kraken (issue 11 item 1).

Real ccxt client, real SQLite store: the disk fills up (``builders.disk.DiskFull``: SQLite itself answers
"database or disk is full") right after Kraken accepted an entry, or right before the entry's stop could be
recorded. The position must get its stop from what Kraken reports, the loop must halt saying what to do, a
restart on the still-full store must refuse before any request to Kraken, and once space is freed a restart
reconciles: the stop placed without a stored intent is adopted, nothing is sent twice, one stop per position.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from builders.disk import DiskFull
from faults.loopback import ETH, PREFIX, SENTINEL_KEY, SENTINEL_SECRET, Bot
from krakenbot.config.models import AppConfig
from krakenbot.domain import OrderIntent, OrderType
from krakenbot.domain.errors import FatalError, StoreWriteError
from krakenbot.live.wiring import open_loop
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken

ADVICE = "free disk space, then start again: the restart reconciles from Kraken"


class FillingStore:
    """The store, whose disk fills up just after the call ``when`` says yes to (method name, argument)."""

    def __init__(self, store: SqlStore, disk: DiskFull, when: Callable[[str, Any], bool]) -> None:
        self._store = store
        self._disk = disk
        self._when = when

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)

        def call(*args: Any, **kw: Any) -> Any:
            result = target(*args, **kw)
            if not self._disk.full and self._when(name, args[0] if args else None):
                self._disk.fill()
            return result
        return call


def _entry_intent(name: str, arg: Any) -> bool:  # the entry's intent is stored; Kraken's answer is not
    return name == "record_intent" and isinstance(arg, OrderIntent) and arg.order_type is OrderType.IOC


def _entry_fill(name: str, arg: Any) -> bool:  # the entry and its fill are stored; its stop's intent is not
    return name == "record_fill"


def _stop_intent(name: str, arg: Any) -> bool:  # the stop's intent is stored; Kraken's answer is not
    return name == "record_intent" and isinstance(arg, OrderIntent) and arg.order_type is OrderType.STOP


def _stops_sent(bot: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in bot.sent(symbol) if r.param("orderType") == "stp"]


def _live_config(tmp_path: Path, fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> AppConfig:
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", SENTINEL_SECRET)
    return AppConfig.model_validate({
        "exchange": {"spot_base_url": fake.url, "futures_base_url": fake.url, "client_rate_limit": False,
                     "timeout_seconds": 2, "max_retries": 0},
        "store": {"url": f"sqlite:///{tmp_path}/krakenbot.db", "instance_id": PREFIX}})


@pytest.mark.parametrize(("when", "stop_stored"), [(_entry_intent, False), (_entry_fill, False), (_stop_intent, True)],
                         ids=["after_entry_sent", "before_stop_intent", "after_stop_sent"])
def test_disk_full_after_kraken_accepts_an_entry_protects_halts_refuses_then_reconciles(
        bot: Bot, fake: FakeKraken, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture, when: Callable[[str, Any], bool], stop_stored: bool) -> None:
    disk = DiskFull(bot.store.engine)
    bot.start(journal=FillingStore(bot.store, disk, when))  # type: ignore[arg-type]
    bot.tick()
    with caplog.at_level(logging.INFO), pytest.raises(StoreWriteError) as halted:
        bot.auction(bot.signal(ETH))
    assert disk.full
    # protection first: the position Kraken holds has a reduce-only stop of its size
    size = bot.exchange_positions()[ETH]
    assert size > 0 and bot.open_stops(ETH) == [size]
    [stop] = _stops_sent(bot, ETH)  # one stop: a stop Kraken accepted is recognised, not doubled
    if not stop_stored:  # placed by the protection: its intent could not be stored, so it is logged with its id
        assert bot.store.intent(stop) is None
        assert any(r.levelno == logging.ERROR and stop in r.getMessage() for r in caplog.records)
    # then the halt, saying what could not be recorded and what to do
    assert "could not record" in str(halted.value) and ADVICE in str(halted.value) and stop in str(halted.value)
    # the halted bot no longer re-arms Kraken's dead man's switch: it was disarmed, so the stop stays
    bot.clock.advance(timedelta(seconds=10 * bot.cfg.loop.dead_man_switch_seconds))
    with fake._lock:
        fake.book.check_dead_man(bot.clock.now())
    assert bot.open_stops(ETH) == [size]

    # a restart on the still-full store refuses before any request to Kraken
    bot.crash()
    before = len(fake.requests)
    cfg = _live_config(tmp_path, fake, monkeypatch)
    with pytest.raises(FatalError, match="cannot be written") as refused, \
            open_loop(cfg, paper=False, cache_dir=tmp_path / "cache"):
        pass
    assert ADVICE in str(refused.value)
    assert fake.requests[before:] == []

    # space freed: the restart reconciles from Kraken; the stop is adopted, nothing is sent twice
    disk.free()
    bot.restart()
    plan = bot.plans[-1]
    assert plan.ok and stop in [o.client_order_id for o in plan.adopt_orders]
    bot.check()
    bot.auction(bot.signal(ETH))  # the same signal again: the position is held, its stop kept
    assert bot.open_stops(ETH) == [size] and _stops_sent(bot, ETH) == [stop]
    bot.check()


def test_disk_full_while_running_protects_every_position_and_keeps_its_stop_through_the_halt(
        bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(ETH))
    size = bot.exchange_positions()[ETH]
    disk = DiskFull(bot.store.engine)
    disk.fill()
    bot.clock.advance(timedelta(minutes=1))  # the next signal candle: the slow tick records equity, and fails
    with pytest.raises(StoreWriteError, match="recording equity") as halted:
        bot.live.run(threading.Event(), max_ticks=1)
    assert halted.value.protected and ADVICE in str(halted.value)
    bot.clock.advance(timedelta(seconds=10 * bot.cfg.loop.dead_man_switch_seconds))
    with fake._lock:
        fake.book.check_dead_man(bot.clock.now())
    assert bot.open_stops(ETH) == [size]  # the stop it had stays: the dead man's switch was disarmed
    disk.free()
    bot.restart()
    bot.auction(bot.signal(ETH))
    assert bot.open_stops(ETH) == [size] and len(_stops_sent(bot, ETH)) == 1
    bot.check()


def test_protective_stop_that_triggers_while_the_bot_is_down_is_adopted_with_its_fill_at_restart(
        bot: Bot, fake: FakeKraken) -> None:
    disk = DiskFull(bot.store.engine)
    bot.start(journal=FillingStore(bot.store, disk, _entry_intent))  # type: ignore[arg-type]
    bot.tick()
    with pytest.raises(StoreWriteError):
        bot.auction(bot.signal(ETH))
    [stop] = _stops_sent(bot, ETH)
    bot.crash()
    mark = bot.mark(ETH)
    fake.set_mark(ETH, mark * 0.8)  # through the stop: it fills while nobody can record it
    assert ETH not in bot.exchange_positions()
    disk.free()
    bot.restart()
    assert bot.plans[-1].ok and bot.store.intent(stop) is not None  # adopted with its fill
    assert ETH not in bot.stored_positions()
    bot.check()

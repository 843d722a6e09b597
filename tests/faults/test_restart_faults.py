"""Crashes, restarts and what happened on the exchange meanwhile, against the loopback Kraken.

A crash is simulated by an exception no handler catches (``Killed``, as kill -9 would stop the
process) raised from the store at the chosen moment; the loop and its client are then dropped and
new ones built from the same store and fake, reconciling first (``reconcile_at_start``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from faults.loopback import BTC, ETH, PREFIX, SENTINEL_KEY, SENTINEL_SECRET, Bot
from krakenbot.config.models import AppConfig
from krakenbot.domain import Order, OrderStatus, Side, Ticker
from krakenbot.domain.errors import FatalError, StoreError
from krakenbot.domain.journal import JournalEvent
from krakenbot.live.ports import MarketFeed
from krakenbot.live.wiring import open_loop
from krakenbot.store.lock import InstanceLockedError
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken


class Killed(BaseException):
    """The process died here (nothing in the loop catches a BaseException)."""


class CrashingStore:
    """The store, dying at the first call ``when`` says yes to (method name, argument)."""

    def __init__(self, store: SqlStore, when: Callable[[str, Any], bool]) -> None:
        self._store = store
        self._when = when

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)

        def call(arg: Any, *rest: Any, **kw: Any) -> Any:
            if self._when(name, arg):
                raise Killed(f"killed at {name}")
            return target(arg, *rest, **kw)
        return call


def entries(b: Bot, symbol: str, side: str | None = None) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol) if r.param("orderType") == "ioc"
            and (r.param("reduceOnly") or "false") == "false" and (side is None or r.param("side") == side)]


def closes(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol) if r.param("orderType") == "ioc"
            and r.param("reduceOnly") == "true"]


def test_crash_between_send_and_store_restart_adopts_the_order_without_resending(bot: Bot) -> None:
    bot.start(journal=CrashingStore(bot.store, lambda name, arg: name == "record_order"))  # type: ignore[arg-type]
    with pytest.raises(Killed):
        bot.auction(bot.signal(BTC))
    [cid] = entries(bot, BTC)
    assert bot.status(cid) is OrderStatus.INTENDED and bot.store.fills() == []
    bot.restart()
    assert bot.plans[-1].ok and cid in [o.client_order_id for o in bot.plans[-1].adopt_orders]
    assert bot.status(cid) is OrderStatus.FILLED
    bot.check()
    bot.auction(bot.signal(BTC))  # the same signal again: the position is held, not doubled
    assert entries(bot, BTC) == [cid]
    assert bot.open_stops(BTC) == [bot.exchange_positions()[BTC]]  # protected by the first slow tick
    bot.check()


@pytest.mark.parametrize("moment", ["close_sent_not_stored", "close_stored_before_opens"])
def test_crash_between_the_auctions_closes_and_opens_neither_repeats_the_close_nor_doubles_the_open(
        bot: Bot, moment: str) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    long_size = bot.exchange_positions()[BTC]
    bot.crash()

    def when(name: str, arg: Any) -> bool:
        if moment == "close_sent_not_stored":
            return name == "record_order" and isinstance(arg, Order) and arg.reduce_only and \
                arg.order_type.value == "ioc"
        return name == "record_event" and isinstance(arg, JournalEvent) and arg.kind.startswith("close_")

    bot.start(journal=CrashingStore(bot.store, when))  # type: ignore[arg-type]
    with pytest.raises(Killed):
        bot.auction(bot.signal(BTC, Side.SHORT))  # reversal: close the long, then open a short
    assert BTC not in bot.exchange_positions() and entries(bot, BTC, "sell") == []
    bot.restart()
    assert bot.plans[-1].ok
    bot.check()
    bot.auction(bot.signal(BTC, Side.SHORT))
    assert len(closes(bot, BTC)) == 1  # the close was not sent again
    [short] = entries(bot, BTC, "sell")
    assert bot.exchange_positions()[BTC] < 0 and bot.status(short) is OrderStatus.FILLED
    assert bot.open_stops(BTC) == [-bot.exchange_positions()[BTC]]
    assert long_size > 0
    bot.check()


@pytest.mark.parametrize("kind", ["liquidation", "taker", "assignor", "unwindCounterparty"])
def test_position_closed_on_the_exchange_while_down_is_recorded_at_restart(
        bot: Bot, fake: FakeKraken, kind: str) -> None:
    bot.start()
    bot.auction(bot.signal(BTC), bot.signal(ETH))
    bot.crash()
    fake.close_position(BTC, kind=kind)
    bot.restart()
    plan = bot.plans[-1]
    assert plan.ok and plan.closed_positions == (BTC,) and len(plan.record_fills) == 1
    assert [e.symbol for e in bot.store.events("closed_on_exchange")] == [BTC]
    assert BTC not in bot.stored_positions() and ETH in bot.stored_positions()
    bot.check()
    bot.auction()  # the orphaned stop of the closed position is cancelled; ETH keeps its own
    assert bot.open_stops(BTC) == [] and bot.open_stops(ETH) == [bot.exchange_positions()[ETH]]
    bot.check()


def test_liquidation_while_running_is_stored_from_the_fill_poll(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    fake.close_position(BTC, kind="liquidation")
    bot.tick()  # Kraken's fillType "liquidation": recorded as the venue's liquidation, not as external
    assert [e.symbol for e in bot.store.events("liquidation")] == [BTC] and bot.store.events("external") == []
    bot.check()


def test_unexplained_position_on_the_exchange_refuses_to_start(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.auction(bot.signal(BTC))
    bot.crash()
    with fake._lock:
        fake.book.positions[BTC].size *= 2  # nothing in any fill explains this
    from krakenbot.live.restart import ReconcileError
    with pytest.raises(ReconcileError, match="disagree"):
        bot.start()
    assert bot.store.events("reconcile_mismatch")


def test_store_write_failure_sends_no_order_and_halts(bot: Bot, fake: FakeKraken) -> None:
    bot.start()
    bot.tick()

    def read_only(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA query_only = ON")  # every write now fails, as on a full or read-only disk

    sa.event.listen(bot.store.engine, "connect", read_only)
    bot.store.engine.dispose()
    with pytest.raises(StoreError):
        bot.auction(bot.signal(BTC))
    assert bot.sent() == []


def test_second_instance_on_the_same_store_is_refused_before_any_request(
        tmp_path: Path, wall_fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = wall_fake
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", SENTINEL_SECRET)
    cfg = AppConfig.model_validate({
        "exchange": {"spot_base_url": fake.url, "futures_base_url": fake.url, "client_rate_limit": False,
                     "timeout_seconds": 2, "max_retries": 0},
        "store": {"url": f"sqlite:///{tmp_path}/krakenbot.db", "instance_id": PREFIX}})
    with open_loop(cfg, paper=False, cache_dir=tmp_path / "cache") as first:
        assert first.futures
        fake.clear_requests()
        with pytest.raises(InstanceLockedError, match="another Krakenbot instance"), \
                open_loop(cfg, paper=False, cache_dir=tmp_path / "cache"):
            pass
        assert fake.requests == []


class FatalMarket:
    """Tickers that fail fatally (e.g. credentials refused) from the next read on."""

    def __init__(self, inner: MarketFeed) -> None:
        self.inner, self.broken = inner, False

    def futures_tickers(self) -> Mapping[str, Ticker]:
        if self.broken:
            raise FatalError("credentials refused")
        return self.inner.futures_tickers()


def _stops_after_the_switch_would_have_fired(bot: Bot, fake: FakeKraken, symbol: str) -> list[Decimal]:
    bot.clock.advance(timedelta(seconds=10 * bot.cfg.loop.dead_man_switch_seconds))
    with fake._lock:
        fake.book.check_dead_man(bot.clock.now())
    return bot.open_stops(symbol)


def test_a_clean_stop_disarms_the_dead_man_switch_so_the_stops_outlive_the_bot(bot: Bot, fake: FakeKraken) -> None:
    """SIGTERM says "positions stay protected by their exchange-side stops": Kraken must not cancel them
    a dead man's switch timeout later. A crash (kill -9) still leaves it armed: that is what it is for."""
    bot.start()
    bot.auction(bot.signal(ETH))
    size = bot.exchange_positions()[ETH]
    stop = threading.Event()
    stop.set()  # SIGTERM arrived during the last tick
    assert bot.live.run(stop) == 0
    assert _stops_after_the_switch_would_have_fired(bot, fake, ETH) == [size]
    bot.restart()  # the next run arms it again
    assert fake.requests_to("cancelallordersafter")[-1].param("timeout") != "0"
    bot.check()


def test_a_fatal_halt_disarms_the_dead_man_switch_so_the_stops_outlive_the_bot(bot: Bot, fake: FakeKraken) -> None:
    market: list[FatalMarket] = []
    bot.start(market=lambda inner: market.append(FatalMarket(inner)) or market[0])
    bot.auction(bot.signal(ETH))
    size = bot.exchange_positions()[ETH]
    market[0].broken = True
    with pytest.raises(FatalError, match="credentials refused"):
        bot.live.run(threading.Event(), max_ticks=1)
    assert _stops_after_the_switch_would_have_fired(bot, fake, ETH) == [size]

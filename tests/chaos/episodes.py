"""The chaos soak's issue-11 fault episodes (import as ``chaos.episodes``): a full disk after Kraken accepted
an entry, a second live process on the same account, a spiked spot candle, a malformed untraded contract and
a local clock five hours ahead or stepped back an hour.

One episode runs at a time, over a few ticks, on top of the soak's random faults and behaviours; each asserts
what the bot must do under it (see ``Episodes``) and counts what happened, for the soak's printed figures.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from builders.clock import SkewedClock
from builders.disk import DiskFull
from builders.market import make_signal
from faults.loopback import BTC, ETH, PREFIX, SPOT, Bot
from krakenbot.data.candles import CandleManager
from krakenbot.domain import OrderIntent, OrderSide, OrderType, Side, Signal
from krakenbot.domain.errors import KrakenbotError
from krakenbot.domain.vocabulary import EventKind
from krakenbot.execution.executor import ClientOrderIds
from krakenbot.live.ports import StrategySignalFeed
from krakenbot.live.restart import UnknownOrdersError
from krakenbot.store.sql import SqlStore
from krakenbot.testing.fake_kraken_market import Bar
from live.always_long import AlwaysLong, AlwaysLongParams

EPISODES = ("disk_full", "account_shared", "candle_spike", "malformed_contract", "clock_ahead", "clock_back")
EPISODE_RATE = 0.05  # chance a tick starts an episode, when none runs
UNTRADED = "PF_THETAUSD"  # listed by the fake, not traded by the soak's bot
MALFORMED = (("lastTime", "0001-01-01T00:00:00+01:00"), ("markPrice", 1e-300))
ALTNAME = {BTC: "XBTUSD", ETH: "ETHUSD"}  # the spot pairs' names in the fake's candle store
LOT = {BTC: Decimal("0.0001"), ETH: Decimal("0.001")}


class ArmedDisk:
    """The bot's journal: the store, whose disk fills up right after Kraken accepted an entry once ``armed``
    (the entry's intent or a fill was just recorded, the answer or the next write not yet)."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self.disk = DiskFull(store.engine)
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not self.armed or name not in ("record_intent", "record_fill"):
            return target

        def call(*args: Any, **kw: Any) -> Any:
            result = target(*args, **kw)
            arg = args[0] if args else None
            entry = isinstance(arg, OrderIntent) and arg.order_type is OrderType.IOC and not arg.reduce_only
            if self.armed and (entry or name == "record_fill"):
                self.armed = False
                self.disk.fill()
            return result
        return call


def entries(bot: Bot, symbol: str | None = None) -> list[str]:
    """Entries our bot sent (IOCs that are not reduce-only), another process's orders left out."""
    return [str(r.param("cliOrdId")) for r in bot.sent(symbol) if r.param("orderType") == "ioc"
            and (r.param("reduceOnly") or "false") == "false" and r.param("cliOrdId") not in bot.foreign]


def events(bot: Bot, kind: EventKind, symbol: str | None = None) -> int:
    return len([e for e in bot.store.events(kind.value) if symbol is None or e.symbol == symbol])


class Episode:
    """One running episode: its name, symbol, last tick, and what it noted on the way."""

    def __init__(self, name: str, symbol: str, until: int) -> None:
        self.name, self.symbol, self.until = name, symbol, until
        self.seen = False  # the bot showed the expected reaction (a pause, a halt, a quarantine)
        self.entries = 0  # our entries sent when it started
        self.stale_closes = 0
        self.clock_events = 0  # clock_skewed / clock_stepped_back events stored when it started
        self.other: Any = None  # account_shared: the other process's client and order id


class Episodes:
    """Plans and drives the episodes for one soak run; ``figures`` counts them."""

    def __init__(self, bot: Bot, journal: ArmedDisk, local: SkewedClock, rng: random.Random, tmp: Path,
                 restart: Callable[[], None]) -> None:
        self.bot, self.fake, self.journal, self.local, self.rng, self.tmp = bot, bot.fake, journal, local, rng, tmp
        self._restart = restart
        self.current: Episode | None = None
        self.planned: Counter[str] = Counter()
        self.figures: Counter[str] = Counter()
        self.errors: list[str] = []
        self.history: list[str] = []  # "tick: episode symbol", for a failure's message

    # -- planning ---------------------------------------------------------------------------------
    def plan(self, tick: int) -> None:
        """Before the tick: maybe start an episode (none running), or move the running one on."""
        if self.current is None:
            if self.rng.random() < EPISODE_RATE:
                self._begin(tick, self.rng.choice(EPISODES), self.rng.choice((BTC, ETH)))
        elif self.current.until <= tick:
            self.end()

    def _begin(self, tick: int, name: str, symbol: str) -> None:
        bot, fake = self.bot, self.fake
        episode = Episode(name, symbol, tick + self.rng.randint(3, 10))
        episode.entries, episode.stale_closes = len(entries(bot)), events(bot, EventKind.CLOSE_STALE)
        episode.clock_events = events(bot, EventKind.CLOCK_SKEWED if name == "clock_ahead" else
                                      EventKind.CLOCK_STEPPED_BACK)
        if name == "disk_full":
            episode.until = tick + 30  # the next entry (or fill) fills the disk; then a write fails
            self.journal.armed = True
        elif name == "account_shared":
            episode.until = tick + 30
            client = bot.new_client()
            # a second on: an id minted in the very ms this run started is older than the run for AccountWatch
            # (start-up reconciliation's business), as happened right after a restart (seed 53, tick 0)
            bot.clock.advance(timedelta(seconds=1))
            ids = ClientOrderIds(PREFIX, self.local)  # another process: another run token, our instance id
            cid = ids.next()
            bot.foreign.add(cid)
            price = Decimal(int(bot.mark(symbol) * 0.5))  # resting far below the market: it never fills
            intent = OrderIntent(client_order_id=cid, symbol=symbol, side=OrderSide.BUY, size=LOT[symbol],
                                 order_type=OrderType.LIMIT, reduce_only=False, reason="another process",
                                 ts_created=self.local.now(), limit_price=price)
            with contextlib.suppress(KrakenbotError):  # its answer lost (an injected fault): it may rest all the same
                client.create_order(intent)
            episode.other = (client, cid)
            if not self._resting(cid):  # an injected fault refused or dropped it: nothing to notice
                self.figures["account_shared_order_lost"] += 1
                return
        elif name == "candle_spike":
            if symbol in bot.live.stale or symbol not in bot.live.marks:
                return  # no fresh mark: the candles cannot be checked this tick (planned elsewhere)
            episode.until = tick
        elif name == "malformed_contract":
            field, value = self.rng.choice(MALFORMED)
            fake.set_ticker(UNTRADED, **{field: value})
        elif name == "clock_ahead":
            self.local.offset = timedelta(hours=5)
        elif name == "clock_back":
            self.local.offset = timedelta(hours=-1)
        self.planned[name] += 1
        self.history.append(f"{tick}: {name} {symbol}")
        self.current = episode

    def end(self, *, last: bool = False) -> None:
        """End the running episode (``last``: the run's ticks are over, whatever it was waiting for)."""
        episode = self.current
        assert episode is not None
        self.current = None
        if episode.name == "disk_full":
            self.journal.armed = False
            disk = self.journal.disk
            if disk.full:  # a full disk that no write met in 24 ticks (4 slow ticks recording equity)
                disk.free()
                if not last:
                    self.errors.append("disk_full: the disk was full for 24 ticks and no store write failed")
            elif not episode.seen and not last:  # no entry nor fill in 30 ticks: the disk fills while running
                episode.seen = True
                disk.fill()
                self.figures["disk_full_running"] += 1
                episode.until += 24
                self.current = episode
                return
        elif episode.name == "account_shared":
            self._end_account_shared(episode)
        elif episode.name == "malformed_contract":
            self.fake.clear_ticker(UNTRADED)
        elif episode.name in ("clock_ahead", "clock_back"):
            self.local.offset = timedelta(0)
        assert last or episode.name != "account_shared" or episode.seen, (
            f"another process's order {episode.other[1]} never paused the entries")

    @property
    def blocks_restart(self) -> bool:
        """No random restart while an episode runs: each ends with its own restart, or needs none."""
        return self.current is not None

    # -- during the tick --------------------------------------------------------------------------
    def after_tick(self, tick: int, *, failed: str | None, served: int) -> None:
        """After the tick (its error, if one, and how many injected faults it met): the episode's checks."""
        episode, bot = self.current, self.bot
        if episode is None:
            return
        name = episode.name
        if name in ("malformed_contract", "clock_back") and failed is not None and served == 0:
            self.errors.append(f"{name}: a tick failed with no injected fault in it: {failed}")
        if name == "malformed_contract":
            self.figures["malformed_contract_ticks"] += 1
        if failed is not None and UNTRADED in failed:
            self.errors.append(f"{name}: the untraded contract failed a tick: {failed}")
        if name == "disk_full" and self.journal.disk.full and episode.until > tick + 24:
            episode.until = tick + 24  # filled after an accept: a write fails within a few slow ticks
        elif name == "account_shared":
            if bot.live.account_watch.entries_paused and not episode.seen:
                episode.seen = True
                episode.entries = len(entries(bot))
                self.figures["account_shared_pauses"] += 1
                episode.until = tick + self.rng.randint(3, 10)
            if episode.seen:
                assert len(entries(bot)) == episode.entries, "an entry was sent while another process trades"
            if episode.seen and episode.until == tick + 1 and served == 0 and not bot.live.executor.in_doubt:
                for symbol, size in bot.exchange_positions().items():  # stops kept up while entries are paused
                    assert sum(bot.open_stops(symbol)) >= abs(size), f"{symbol} {size} lost its stop while paused"
                self.figures["account_shared_stops_checked"] += 1
        elif name == "clock_ahead" and (episode.seen or events(bot, EventKind.CLOCK_SKEWED) > episode.clock_events):
            if not episode.seen:  # the loop noticed (one clock_skewed event): entries and stale closes paused
                episode.seen = True
                self.figures["skew_pauses"] += 1
                episode.entries = len(entries(bot))
            assert len(entries(bot)) == episode.entries, "an entry was sent while the clock is 5 h ahead"
            assert events(bot, EventKind.CLOSE_STALE) == episode.stale_closes, "a stale close on a skewed clock"
        elif name == "clock_back" and not episode.seen and events(
                bot, EventKind.CLOCK_STEPPED_BACK) > episode.clock_events:
            episode.seen = True
            self.figures["steps_back"] += 1

    def disk_full_halt(self, halt: str, *, served: int) -> None:
        """The tick halted on a store write with the disk full: every position Kraken holds has a stop covering
        it (or, when Kraken refused that stop on an injected fault, ``served`` > 0, the halt says to check the
        position on Kraken now); then space is freed and the bot restarted."""
        bot = self.bot
        episode = self.current
        assert self.journal.disk.full and episode is not None, "a store write failed with the disk not full"
        self.figures["disk_full_halts"] += 1
        if not episode.seen:
            self.figures["disk_full_after_accept"] += 1
        for symbol, size in bot.exchange_positions().items():
            stops = bot.open_stops(symbol)
            if stops and sum(stops) >= abs(size):
                continue
            # Kraken refused the protective stop too (an injected fault): the halt must say so, loudly
            assert f"{symbol}: the position could not be checked or protected" in halt and served, (
                f"{symbol} {size} halted without a covering stop: {stops}: {halt}")
            self.figures["disk_full_unprotected_reported"] += 1
        self.journal.disk.free()
        self.journal.armed = False
        self.current = None
        self._restart()

    def candle_spike(self, now: datetime, marks: Mapping[str, float]) -> None:
        """The slow tick on a spot candle of ``symbol`` closing at a tenth of the futures mark, through the real
        ``StrategySignalFeed`` over a ``CandleManager``, with a strategy that trades against the held position
        (so a candle let through would send a reversal or an entry): quarantined, nothing sent on it."""
        episode, bot, fake = self.current, self.bot, self.fake
        assert episode is not None and episode.name == "candle_spike" and bot.client is not None
        symbol, spot = episode.symbol, SPOT[episode.symbol]
        held = bot.exchange_positions().get(symbol, Decimal(0))
        strategy = AlwaysLong(AlwaysLongParams(side=-1 if held > 0 else 1, stop_distance_pct=0.03), timeframe="1m")
        self.figures["candle_feeds"] += 1

        def feed(name: str) -> StrategySignalFeed:
            manager = CandleManager(bot.client, self.tmp / f"candles-{self.figures['candle_feeds']}-{name}")
            return StrategySignalFeed(strategy, manager, {spot: (symbol, 1)}, journal=bot.store,
                                      max_deviation_pct=0.2)

        fresh = symbol not in bot.live.stale and symbol in marks  # else the feed cannot check, gives no signal
        mark = marks.get(symbol) or bot.mark(symbol)
        now_s = int(now.timestamp()) // 60 * 60  # the forming candle opens here
        bars = [Bar(ts_s=now_s - 60 * i, open=mark, close=mark, high=mark * 1.001, low=mark * 0.999, volume=1.0)
                for i in range(30, -1, -1)]
        fake.candles.record(ALTNAME[symbol], 1, bars)
        try:
            control = feed("control").signals(now, {symbol: mark})  # the same wiring on sound candles signals
            assert [s.symbol for s in control] == [spot], f"no signal on sound candles: {control}"
            last = bars[-2]
            bars[-2] = Bar(ts_s=last.ts_s, open=last.open, close=mark * 0.1, high=last.high, low=mark * 0.1,
                           volume=last.volume)
            fake.candles.record(ALTNAME[symbol], 1, bars)
            quarantined, sent = events(bot, EventKind.CANDLE_QUARANTINED, symbol), len(bot.sent(symbol))
            scripted, bot.live.signal_feed = bot.live.signal_feed, feed("spiked")
            try:
                bot.live.slow_tick()
            finally:
                bot.live.signal_feed = scripted
            orders = [r for r in bot.sent(symbol)[sent:] if r.param("orderType") == "ioc"]
            assert not orders, f"an order was sent on a 0.1x candle: {[r.params for r in orders]}"
            if not fresh:  # the tick's tickers failed or refused the mark: no check, no signal, nothing sent
                self.figures["candle_spikes_without_fresh_mark"] += 1
                return
            assert events(bot, EventKind.CANDLE_QUARANTINED, symbol) == quarantined + 1, "0.1x candle not quarantined"
            self.figures["candles_quarantined"] += 1
        finally:
            fake.candles._recorded.pop((ALTNAME[symbol], 1), None)

    def signal_time(self) -> datetime:
        """Signals are stamped in Kraken's time (as candles are), whatever the local clock says."""
        return self.local.true.now()

    def _end_account_shared(self, episode: Episode) -> None:
        """Entries stay paused until a restart; a restart with the other process's order open refuses; once it
        is cancelled on Kraken, the restart goes through."""
        bot, fake = self.bot, self.fake
        client, cid = episode.other
        bot.crash()
        bot.restarts -= 1  # one restart for the episode: the refused start and the one after it
        fake.clear_faults()
        try:
            bot.start(journal=self.journal)
        except UnknownOrdersError as exc:
            assert cid in str(exc), exc
            self.figures["unknown_orders_refusals"] += 1
        else:
            if not fake.book.hidden:
                raise AssertionError(f"a restart with another process's open order {cid} was not refused")
        client.cancel_order(cid, episode.symbol)  # the operator stops the other process and cancels its order
        self._restart()

    def _resting(self, cid: str) -> bool:
        with self.fake._lock:
            return any(o.cli_ord_id == cid and o.closed_at is None for o in self.fake.book.orders.values())


def scripted_signals(bot: Bot, rng: random.Random, ts: datetime) -> list[Signal]:
    """The soak's random signals, stamped ``ts``."""
    return [make_signal(SPOT[s], rng.choice((Side.LONG, Side.SHORT)), score=rng.uniform(0.5, 2),
                        ref_price=bot.mark(s), stop_distance_pct=rng.choice((0.01, 0.03)), ts=ts)
            for s in (BTC, ETH) if rng.random() < 0.7]

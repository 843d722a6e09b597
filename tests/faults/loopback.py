"""A bot against the loopback Kraken, for the fault and chaos tests (import as ``faults.loopback``).

Everything real but the clock: the ccxt ``KrakenClient`` over HTTP to ``FakeKraken``, a
``SqlStore`` (SQLite in ``tmp_path``), ``reconcile_at_start`` and ``LiveTrading``. The loop, the
client and the fake share one ``SimulatedClock``; the client's retry sleeps are recorded, not
slept. A "crash" drops the loop and its client; ``start`` builds new ones from the same store
and fake, reconciling first, as ``open_loop`` does after a kill -9.
"""

from __future__ import annotations

import base64
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from builders.market import ScriptedSignals, make_signal
from krakenbot.config.models import AppConfig, ExchangeConfig, LoopConfig, RiskConfig, StoreConfig
from krakenbot.domain import OrderSide, OrderStatus, Side, Signal, SimulatedClock
from krakenbot.domain.journal import Journal
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.execution.reconcile import ReconcilePlan
from krakenbot.live.ports import MarketFeed
from krakenbot.live.restart import reconcile_at_start
from krakenbot.live.trading import LiveTrading
from krakenbot.live.wiring import KrakenMarket
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken import RequestRecord

SENTINEL_KEY = "SENTINEL-KEY-d41d8cd98f00"
SENTINEL_SECRET_RAW = b"SENTINEL-SECRET-never-to-be-seen-0451"
SENTINEL_SECRET = base64.b64encode(SENTINEL_SECRET_RAW).decode()
SECRETS = (SENTINEL_KEY, SENTINEL_SECRET, SENTINEL_SECRET_RAW.decode())
PREFIX = "kbf"
BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"
SYMBOL_MAP = {"BTC/USD": BTC, "ETH/USD": ETH}
SPOT = {BTC: "BTC/USD", ETH: "ETH/USD"}
START = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
SENDORDER = "/derivatives/api/v3/sendorder"


def app_config(url: str, **loop: float) -> AppConfig:
    """Risk sized for a 10,000 USD account: ~2,500 USD notional per position, stops 2-5 %."""
    return AppConfig(store=StoreConfig(url=url, instance_id=PREFIX),
                     risk=RiskConfig(risk_per_trade_pct=0.02, max_leverage=5, max_margin_utilization_pct=0.9),
                     loop=LoopConfig(**({"fast_tick_seconds": 5.0} | loop)))


@dataclass
class Bot:
    """One loopback bot: fake, clock, store, and the current run (client + loop), if any."""

    fake: FakeKraken
    clock: SimulatedClock
    store: SqlStore
    cfg: AppConfig
    signals: ScriptedSignals = field(default_factory=ScriptedSignals)
    client: KrakenClient | None = None
    loop: LiveTrading | None = None
    sleeps: list[float] = field(default_factory=list)
    restarts: int = 0
    plans: list[ReconcilePlan] = field(default_factory=list)
    foreign: set[str] = field(default_factory=set)  # our prefix, sent by another process (a test planted them)

    # -- lifecycle --------------------------------------------------------------------------------
    def new_client(self) -> KrakenClient:
        exchange = ExchangeConfig.model_validate({
            "spot_base_url": self.fake.url, "futures_base_url": self.fake.url, "timeout_seconds": 0.5,
            "max_retries": 2, "retry_base_delay_seconds": 0.01, "client_rate_limit": False})
        return KrakenClient(exchange, api_key=SENTINEL_KEY, api_secret=SENTINEL_SECRET, sleep=self.sleeps.append,
                            rng=random.Random(3), clock=self.clock, enable_rate_limit=False)

    def start(self, *, journal: Journal | None = None, reconcile: bool = True,
              market: Callable[[MarketFeed], MarketFeed] | None = None) -> LiveTrading:
        """A new run: new client, reconcile the store with the fake, a new loop, its first fast tick.
        ``market`` wraps the loop's market feed (e.g. to make tickers slow)."""
        self.client = self.new_client()
        if reconcile:
            self.plans.append(reconcile_at_start(self.store, self.client, prefix=PREFIX, now=self.clock.now()))
        instruments = self.client.load_futures_instruments()
        feed: MarketFeed = KrakenMarket(self.client)
        feed = market(feed) if market else feed
        self.loop = LiveTrading(self.cfg, clock=self.clock, market=feed, signals=self.signals,
                                exchange=self.client, journal=journal or self.store,
                                instruments={s: instruments[s] for s in (BTC, ETH)}, symbol_map=SYMBOL_MAP,
                                instance_id=PREFIX, server_clock=self.client)
        self.loop.fast_tick()
        return self.loop

    def crash(self) -> None:
        """kill -9: the loop and its client are gone; whatever they held in memory is lost."""
        self.loop, self.client = None, None
        self.restarts += 1

    def restart(self, seconds: float = 10.0) -> LiveTrading:
        self.crash()
        self.clock.advance(timedelta(seconds=seconds))
        return self.start()

    @property
    def live(self) -> LiveTrading:
        assert self.loop is not None, "no run: call start()"
        return self.loop

    # -- driving ----------------------------------------------------------------------------------
    def tick(self, seconds: float = 5.0) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.live.fast_tick()

    def mark(self, symbol: str) -> float:
        with self.fake._lock:
            return self.fake.contracts[symbol].mark

    def signal(self, futures: str, side: Side = Side.LONG, *, stop: float = 0.03, score: float = 1.0) -> Signal:
        return make_signal(SPOT[futures], side, score=score, ref_price=self.mark(futures), stop_distance_pct=stop,
                           ts=self.clock.now())

    def auction(self, *signals: Signal) -> None:
        self.signals.next = list(signals)
        self.live.slow_tick()

    # -- the two views ----------------------------------------------------------------------------
    def sent(self, symbol: str | None = None) -> list[RequestRecord]:
        return [r for r in self.fake.requests_to(SENDORDER) if symbol is None or r.param("symbol") == symbol]

    def exchange_positions(self) -> dict[str, Decimal]:
        with self.fake._lock:
            return {s: p.size for s, p in self.fake.book.positions.items() if p.size != 0}

    def stored_positions(self) -> dict[str, Decimal]:
        """Positions as the store's fills add up (signed contracts), flat symbols left out."""
        total: Counter[str] = Counter()
        for f in self.store.fills():
            total[f.symbol] += f.size if f.side is OrderSide.BUY else -f.size  # type: ignore[assignment]
        return {s: Decimal(v) for s, v in total.items() if v != 0}

    def open_stops(self, symbol: str) -> list[Decimal]:
        with self.fake._lock:
            return [o.quantity - o.filled for o in self.fake.book.orders.values()
                    if o.symbol == symbol and o.is_trigger and o.closed_at is None]

    def status(self, client_order_id: str) -> OrderStatus | None:
        order = self.store.order(client_order_id)
        return order.status if order is not None else None

    # -- invariants -------------------------------------------------------------------------------
    def check(self, *, settled: bool = True) -> None:
        """The invariants of issue 6. Safety always: each exchange order of ours has exactly one stored
        intent and was sent once, at most one live stop per symbol, stored fills are the exchange's and
        unique. ``settled`` (no fault in flight): positions and fills agree exactly as well."""
        with self.fake._lock:
            book = self.fake.book
            ours = {o.cli_ord_id: o for o in book.orders.values()
                    if o.cli_ord_id and o.cli_ord_id.startswith(PREFIX) and o.cli_ord_id not in self.foreign}
            live_stops = Counter(o.symbol for o in ours.values() if o.is_trigger and o.closed_at is None)
            fake_fills = {f.fill_id for f in book.fills
                          if (f.order.cli_ord_id or "").startswith(PREFIX) or f.order.symbol in SYMBOL_MAP.values()}
            hidden = bool(book.hidden)
        intents = {i.client_order_id: i for i in self.store.intents()}
        missing = sorted(set(ours) - set(intents))
        assert not missing, f"(b) exchange orders without a stored intent: {missing}"
        for cid, order in ours.items():
            intent = intents[cid]
            assert (intent.symbol, intent.side.value) == (order.symbol, order.side), f"(b) {cid} differs"
            assert self.status(cid) is not OrderStatus.REJECTED, f"(b) {cid} stored as never placed, yet on Kraken"
        sends = Counter(r.param("cliOrdId") for r in self.fake.requests_to(SENDORDER))
        assert not [c for c, n in sends.items() if n > 1], f"(c) sent twice: {sends.most_common(3)}"
        assert all(n <= 1 for n in live_stops.values()), f"(c) more than one live stop on a symbol: {live_stops}"
        stored = [f.trade_id for f in self.store.fills()]
        assert len(stored) == len(set(stored)), "(d) a fill stored twice"
        assert set(stored) <= fake_fills, f"(d) stored fills the exchange never made: {set(stored) - fake_fills}"
        if settled and not hidden:
            assert set(stored) == fake_fills, f"(d) fills not stored: {sorted(fake_fills - set(stored))}"
            assert self.stored_positions() == self.exchange_positions(), (
                f"(a) stored {self.stored_positions()} != exchange {self.exchange_positions()}")


def dump_store(store: SqlStore) -> str:
    """Every table of the store as text (for the secrets check)."""
    out = []
    with store.engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for name, table in meta.tables.items():
            out.append(name)
            out.extend(repr(tuple(row)) for row in conn.execute(sa.select(table)))
    return "\n".join(out)


def open_bot(tmp_path: Path, *, fake: FakeKraken, clock: SimulatedClock, **loop: float) -> Bot:
    url = f"sqlite:///{tmp_path}/krakenbot.db"
    return Bot(fake=fake, clock=clock, store=SqlStore(url), cfg=app_config(url, **loop))


@contextmanager
def ticking_bot(tmp_path: Path, *, start: datetime = START, fast_tick_seconds: float | None = 0.05) -> Iterator[Bot]:
    """A loopback bot (live mode, SQLite store) whose ``run`` ticks every ``fast_tick_seconds`` of the wall
    clock (None: the harness's cadence), its simulated clock standing still at ``start`` meanwhile; the store
    is closed on leaving."""
    clock = SimulatedClock(start)
    loop = {} if fast_tick_seconds is None else {"fast_tick_seconds": fast_tick_seconds}
    with FakeKraken(clock=clock.now) as fake:
        bot = open_bot(tmp_path, fake=fake, clock=clock, **loop)
        try:
            yield bot
        finally:
            bot.store.close()

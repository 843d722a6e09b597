"""Build the live and paper loops from a config: Kraken ports, the universe, the strategy."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from krakenbot.config import AppConfig, Secrets
from krakenbot.data.candles import CandleManager
from krakenbot.domain import Ticker, WallClock
from krakenbot.domain.clock import clock_skew_problem
from krakenbot.domain.errors import ClockSkewError, ConfigError, FatalError, KrakenbotError
from krakenbot.domain.journal import Journal
from krakenbot.domain.market import InstrumentStatus
from krakenbot.domain.vocabulary import EventKind, alert
from krakenbot.exchange.base import Exchange
from krakenbot.exchange.kraken.client import KrakenClient, RestObserver
from krakenbot.exchange.kraken.symbols import FuturesTickers
from krakenbot.exchange.paper import PaperExchange
from krakenbot.live.account_lock import account_lock_for
from krakenbot.live.ports import MarketListener, StrategySignalFeed
from krakenbot.live.restart import reconcile_at_start
from krakenbot.live.trading import LiveTrading
from krakenbot.live.universe import FuturesAdapter, FuturesMapping, discover_universe
from krakenbot.risk.shock_guard import config_warnings
from krakenbot.store.engine import safe_url
from krakenbot.store.journal import MemoryJournal
from krakenbot.store.lock import acquire_instance_lock
from krakenbot.store.sql import SqlStore
from krakenbot.strategy.loader import load_strategy

log = logging.getLogger(__name__)


class KrakenUnreachableError(KrakenbotError):
    """Kraken stayed unreachable (or kept answering errors) through every start-up attempt: nothing was traded."""


class KrakenMarket:
    """``MarketFeed`` over ``KrakenClient``: one bulk tickers request per tick."""

    def __init__(self, client: KrakenClient) -> None:
        self.client = client

    def futures_tickers(self) -> Mapping[str, Ticker]:
        return self.client.get_futures_tickers_bulk()

    def instrument_status(self) -> Mapping[str, InstrumentStatus]:
        return self.client.fetch_instrument_status()


def resolve_universe(cfg: AppConfig, tickers: FuturesTickers,
                     spot_pairs: Callable[[], Iterable[str]]) -> list[FuturesMapping]:
    """Map the configured spot pairs to PF_ perpetuals (pairs without one are logged and dropped), or,
    when ``universe.symbols`` is empty, discover them: every live PF_ perpetual whose asset has a
    spot pair (``spot_pairs()``), filtered by allow/deny and the minimum 24 h volume."""
    if cfg.universe.symbols:
        adapter = FuturesAdapter(cfg.universe.futures_overrides)
        mappings = [adapter.map_spot_to_futures(pair, tickers) for pair in cfg.universe.symbols]
    else:
        mappings = discover_universe(tickers, spot_pairs(), cfg.universe)
    usable = [m for m in mappings if m.ok]
    if not usable:
        raise ConfigError("universe.symbols: none of the configured pairs maps to a tradable PF_ perpetual; "
                          "run `python run.py symbols` to see why")
    return usable


@contextmanager
def open_loop(cfg: AppConfig, *, paper: bool, cache_dir: Path = Path(".cache/candles"),
              journal_wrapper: Callable[[Journal], Journal] | None = None,
              rest_observer: RestObserver | None = None) -> Iterator[LiveTrading]:
    """The loop for ``live`` or ``paper``, holding the single-instance lock and the store while open.

    Live: the store is reconciled with Kraken before the loop is returned (``ReconcileError``
    on a mismatch, ``UnknownOrdersError`` on orders of ours the store does not know). Paper: its own
    store (``store_url``); the simulated account starts flat each run (logged), its orders are stored.
    Raises ``ConfigError`` when live keys are missing or the universe maps to nothing, ``StoreModeError``
    when the store was created by the other mode, ``InstanceLockedError`` when another instance holds
    the store or (live) the account, ``StoreNotWritableError`` when the store cannot be written (a full disk).
    ``journal_wrapper`` wraps the store into the journal the loop writes (ops: alerts on its events);
    ``rest_observer`` is told of each REST call of the Kraken client (ops: metrics).
    """
    url = store_url(cfg, paper=paper)
    log.info("store: %s", safe_url(url))
    with acquire_instance_lock(url), account_lock_for(cfg, paper=paper), SqlStore(url) as store:
        store.probe_write()  # a store that cannot be written refuses here, before any request to Kraken
        store.claim_mode("paper" if paper else "live")
        if paper:
            log.info("paper: the simulated account starts flat with %s USD (backtest.initial_equity_usd); positions "
                     "of earlier paper runs are not restored; orders are stored in %s",
                     f"{cfg.backtest.initial_equity_usd:,.0f}", store.url)
        journal = journal_wrapper(store) if journal_wrapper is not None else store
        yield build_with_retries(cfg, lambda: build_loop(cfg, paper=paper, cache_dir=cache_dir, journal=journal,
                                                         store=store, rest_observer=rest_observer))


def store_url(cfg: AppConfig, *, paper: bool) -> str:
    """The store a run writes: ``store.url`` for live; for paper ``store.paper_url``, else the live SQLite
    file with a ``-paper`` suffix (``krakenbot.db`` -> ``krakenbot-paper.db``). Raises ``ConfigError`` for
    paper on a PostgreSQL ``store.url`` without ``store.paper_url`` (paper never writes the live store)."""
    if not paper:
        return cfg.store.url
    if cfg.store.paper_url is not None:
        return cfg.store.paper_url
    url, sep, query = cfg.store.url.partition("?")
    if not url.startswith("sqlite:"):
        raise ConfigError("store.paper_url: paper needs its own store and cannot derive one from a PostgreSQL "
                          "store.url; set store.paper_url to another database")
    if url in ("sqlite://", "sqlite:///:memory:") or url.endswith("/:memory:"):
        return cfg.store.url
    stem, dot, ext = url.rpartition(".")
    derived = f"{stem}-paper.{ext}" if dot and "/" not in ext else f"{url}-paper"
    return derived + sep + query


def build_with_retries(cfg: AppConfig, build: Callable[[], LiveTrading], *,
                       sleep: Callable[[float], None] = time.sleep) -> LiveTrading:
    """``build()``, tried again after a transient failure (network, 5xx, rate limit, a garbled answer):
    ``exchange.max_retries`` more times, waiting ``exchange.retry_base_delay_seconds`` doubled each
    time (each try's reads retry inside the client as well). Raises ``KrakenUnreachableError`` once
    they are spent; a ``FatalError`` or ``ConfigError`` is raised at once."""
    attempts = cfg.exchange.max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            return build()
        except (FatalError, ConfigError):
            raise
        except KrakenbotError as exc:
            if attempt == attempts:
                raise KrakenUnreachableError(
                    f"Kraken unreachable at start after {attempts} attempts ({type(exc).__name__}: {exc}); "
                    "nothing was traded: check the network and https://status.kraken.com, then start again"
                ) from exc
            delay = cfg.exchange.retry_base_delay_seconds * 2 ** (attempt - 1)
            log.warning("start-up attempt %d of %d failed (%s: %s); trying again in %.1fs",
                        attempt, attempts, type(exc).__name__, exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def build_loop(cfg: AppConfig, *, paper: bool, cache_dir: Path = Path(".cache/candles"),
               journal: Journal | None = None, store: SqlStore | None = None,
               rest_observer: RestObserver | None = None) -> LiveTrading:
    """The loop for ``live`` (orders on Kraken Futures) or ``paper`` (Kraken data, simulated fills).

    Live mode reconciles the ``store`` (or a ``SqlStore`` given as ``journal``) with Kraken first; the loop
    writes ``journal`` (the store when not given). Raises ``ConfigError`` when live keys are missing or the
    universe maps to nothing.
    """
    secrets = Secrets()
    if not paper and secrets.missing_for_live():
        raise ConfigError(f"live trading needs {', '.join(secrets.missing_for_live())} in the environment")
    key = secrets.kraken_futures_api_key.get_secret_value() if secrets.kraken_futures_api_key else None
    secret = secrets.kraken_futures_api_secret.get_secret_value() if secrets.kraken_futures_api_secret else None
    client = KrakenClient(cfg.exchange, api_key=None if paper else key, api_secret=None if paper else secret,
                          enable_rate_limit=cfg.exchange.client_rate_limit, observer=rest_observer)
    clock = WallClock()
    mappings = resolve_universe(cfg, client.get_futures_tickers_bulk(), client.load_spot_instruments)
    check_clock_at_start(cfg, client)  # measured on that tickers answer: before any store or order work
    if store is None and isinstance(journal, SqlStore):
        store = journal
    journal = journal if journal is not None else store if store is not None else MemoryJournal()
    if not paper and store is not None:
        plan = reconcile_at_start(store, client, prefix=cfg.store.instance_id, now=clock.now())
        foreign = {p.symbol for p in plan.foreign_positions}
        mappings = [m for m in mappings if m.futures not in foreign]
    instruments = client.load_futures_instruments()
    for m in mappings:
        log.info("%s: trading on %s", m.spot, m.futures)
    for warning in config_warnings(cfg.risk, [str(m.futures) for m in mappings], cfg.loop.fast_tick_seconds):
        log.warning("%s", warning)
    candles = CandleManager.from_config(client, cache_dir, cfg)
    signals = StrategySignalFeed(load_strategy(cfg.strategy), candles,
                                 {m.spot: (str(m.futures), m.multiplier) for m in mappings}, journal=journal,
                                 max_deviation_pct=cfg.risk.spot_mark_max_deviation_pct)
    exchange: Exchange = client
    listeners: list[MarketListener] = []
    if paper:
        sim = PaperExchange(instruments={m.futures: instruments[m.futures] for m in mappings if m.futures},
                            fees=cfg.fees, clock=clock, initial_equity_usd=cfg.backtest.initial_equity_usd)
        exchange, listeners = sim, [sim.update_market]
    loop = LiveTrading(cfg, clock=clock, market=KrakenMarket(client), signals=signals, exchange=exchange,
                       journal=journal, instruments=instruments,
                       symbol_map={m.spot: str(m.futures) for m in mappings}, market_listeners=listeners,
                       server_clock=client)
    if store is not None:
        restore_operator_mode(loop, store, cfg)
    return loop


def restore_operator_mode(loop: LiveTrading, store: SqlStore, cfg: AppConfig) -> str | None:
    """Start ``loop`` in the mode the operator's journaled commands left (paused, reduce-only, flattened
    symbols; ``OperatorControls.restore``), logged, when the status API is on: it is how the operator resumes.
    With the API off a journaled pause is not restored (said in the log): nothing could lift it. Returns
    what was restored, or None."""
    events = store.operator_events()
    if not cfg.ops.api.enabled:
        if any(e.kind != EventKind.OPERATOR_RESUME for e in events):
            log.warning("the operator's last commands (%s) are not restored: ops.api is off, and it is how they "
                        "are lifted; the loop starts active", ", ".join(f"{e.kind} {e.symbol}" for e in events))
        return None
    restored = loop.controls.restore(events)
    if restored is not None:
        log.warning("%s", alert(EventKind.OPERATOR_PAUSE, f"*: restored from the store at start: {restored}; "
                                "POST /api/control/resume (or the page's Resume) lifts it"))
    return restored


def check_clock_at_start(cfg: AppConfig, client: KrakenClient) -> None:
    """Refuse to start (``ClockSkewError``, exit code 2) when the local clock is further from Kraken's
    server time, as the client's last tickers answer measured it, than ``loop.max_clock_skew_seconds``."""
    measured = client.server_time()
    if measured is None:
        log.warning("Kraken's tickers answer carried no serverTime: the local clock could not be checked")
        return
    problem = clock_skew_problem(measured, timedelta(seconds=cfg.loop.max_clock_skew_seconds))
    if problem is not None:
        raise ClockSkewError(f"refused: {problem}; nothing was traded")
    log.info("local clock within %.2fs of Kraken's server time", abs(measured.skew.total_seconds()))

"""Build the live and paper loops from a config: Kraken ports, the universe, the strategy."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from krakenbot.config import AppConfig, Secrets
from krakenbot.data.candles import CandleManager
from krakenbot.data.kraken_client import KrakenClient
from krakenbot.data.symbols import FuturesTickers
from krakenbot.domain import Ticker, WallClock
from krakenbot.domain.errors import ConfigError
from krakenbot.exchange.base import Exchange
from krakenbot.exchange.paper import PaperExchange
from krakenbot.execution.futures_adapter import FuturesAdapter, FuturesMapping, discover_universe
from krakenbot.live.ports import MarketListener, StrategySignalFeed
from krakenbot.live.trading import LiveTrading
from krakenbot.store.journal import MemoryJournal
from krakenbot.strategy.loader import load_strategy

log = logging.getLogger(__name__)


class KrakenMarket:
    """``MarketFeed`` over ``KrakenClient``: one bulk tickers request per tick."""

    def __init__(self, client: KrakenClient) -> None:
        self.client = client

    def futures_tickers(self) -> Mapping[str, Ticker]:
        return self.client.get_futures_tickers_bulk()


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


def build_loop(cfg: AppConfig, *, paper: bool, cache_dir: Path = Path(".cache/candles"),
               instance_id: str = "kb") -> LiveTrading:
    """The loop for ``live`` (orders on Kraken Futures) or ``paper`` (Kraken data, simulated fills).

    Raises ``ConfigError`` when live keys are missing or the universe maps to nothing.
    """
    secrets = Secrets()
    if not paper and secrets.missing_for_live():
        raise ConfigError(f"live trading needs {', '.join(secrets.missing_for_live())} in the environment")
    key = secrets.kraken_futures_api_key.get_secret_value() if secrets.kraken_futures_api_key else None
    secret = secrets.kraken_futures_api_secret.get_secret_value() if secrets.kraken_futures_api_secret else None
    client = KrakenClient(cfg.exchange, api_key=None if paper else key, api_secret=None if paper else secret,
                          enable_rate_limit=cfg.exchange.client_rate_limit)
    clock = WallClock()
    mappings = resolve_universe(cfg, client.get_futures_tickers_bulk(), client.load_spot_instruments)
    instruments = client.load_futures_instruments()
    for m in mappings:
        log.info("%s: trading on %s", m.spot, m.futures)
    candles = CandleManager.from_config(client, cache_dir, cfg)
    signals = StrategySignalFeed(load_strategy(cfg.strategy), candles,
                                 {m.spot: (str(m.futures), m.multiplier) for m in mappings})
    exchange: Exchange = client
    listeners: list[MarketListener] = []
    if paper:
        sim = PaperExchange(instruments={m.futures: instruments[m.futures] for m in mappings if m.futures},
                            fees=cfg.fees, clock=clock, initial_equity_usd=cfg.backtest.initial_equity_usd)
        exchange, listeners = sim, [sim.update_market]
    return LiveTrading(cfg, clock=clock, market=KrakenMarket(client), signals=signals, exchange=exchange,
                       journal=MemoryJournal(), instruments=instruments,
                       symbol_map={m.spot: str(m.futures) for m in mappings}, market_listeners=listeners,
                       instance_id=instance_id)

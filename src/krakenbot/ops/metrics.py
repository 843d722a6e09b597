"""Prometheus metrics of a running loop, on their own ``CollectorRegistry``, served at ``/metrics``.

Every name starts with ``krakenbot_``. Money in USD, sizes in contracts, durations in seconds, the
liquidation buffer as a fraction of the mark (0.25 = 25 % from the mark to liquidation). The account
and position gauges are set after each tick of the loop, on the loop's thread, from the figures that
tick read (``PositionBook``: its cached account and positions; a flat, idle tick may read the account
once more); a position that closed leaves its series. REST calls are counted by the Kraken client's
observer (``rest_call``), orders by the status the journal records (``order_recorded``), alerts from the
dispatcher's counters at scrape time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from krakenbot.domain.errors import KrakenbotError
from krakenbot.domain.trading import AccountState, Order, Position
from krakenbot.risk.shock_exposure import liquidation_buffer_pct

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from prometheus_client.metrics_core import Metric

    from krakenbot.live.trading import LiveTrading
    from krakenbot.ops.alerts import AlertDispatcher

log = logging.getLogger(__name__)

TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # seconds


class _AlertCounters(Collector):
    """The dispatcher's counters, read at scrape time."""

    def __init__(self, alerts: Callable[[], AlertDispatcher | None]) -> None:
        self._alerts = alerts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily("krakenbot_alerts", "Alerts by outcome: sent, dropped (queue full), "
                                     "failed (the service refused), suppressed (repeats)", labels=["outcome"])
        alerts = self._alerts()
        if alerts is not None:
            for outcome in ("sent", "dropped", "failed", "suppressed"):
                family.add_metric([outcome], getattr(alerts, outcome))
        yield family


class Metrics:
    """The loop's gauges, counters and histograms (see the module docstring); a ``TickObserver``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.loop: LiveTrading | None = None
        self.alerts: AlertDispatcher | None = None
        self._lock = threading.Lock()
        r = self.registry
        self.equity = Gauge("krakenbot_equity_usd", "Margin equity (collateral plus unrealised PnL), USD", registry=r)
        self.available_margin = Gauge("krakenbot_available_margin_usd", "Margin new positions may use, USD",
                                      registry=r)
        self.used_margin = Gauge("krakenbot_used_margin_usd", "Initial margin held by open positions, USD",
                                 registry=r)
        self.maintenance_margin = Gauge("krakenbot_maintenance_margin_usd", "Maintenance margin, USD", registry=r)
        self.exposure = Gauge("krakenbot_exposure_usd", "Gross notional of the traded positions, USD", registry=r)
        self.position_size = Gauge("krakenbot_position_size", "Position size in contracts, signed (short < 0)",
                                   ["symbol"], registry=r)
        self.position_notional = Gauge("krakenbot_position_notional_usd", "Position notional at the mark, USD",
                                       ["symbol"], registry=r)
        self.unrealised = Gauge("krakenbot_position_unrealised_pnl_usd", "Unrealised PnL at the mark, USD",
                                ["symbol"], registry=r)
        self.buffer = Gauge("krakenbot_position_liquidation_buffer", "Distance from the mark to liquidation, a "
                            "fraction of the mark (0.25 = 25 %; <= 0: at or past it)", ["symbol"], registry=r)
        self.shock_paused = Gauge("krakenbot_shockguard_paused", "1 while ShockGuard pauses entries on the symbol "
                                  "(symbol=\"*\": market-wide)", ["symbol"], registry=r)
        self.stale = Gauge("krakenbot_market_data_stale", "1 while the symbol's ticker is stale or refused",
                           ["symbol"], registry=r)
        self.ticks = Histogram("krakenbot_tick_seconds", "Duration of each tick, seconds", ["kind"],
                               buckets=TICK_BUCKETS, registry=r)
        self.tick_failures = Counter("krakenbot_tick_failures", "Ticks that failed", ["kind"], registry=r)
        self.last_good_tick = Gauge("krakenbot_last_good_tick_timestamp_seconds",
                                    "Unix time of the last tick that succeeded", registry=r)
        self.rest_requests = Counter("krakenbot_rest_requests", "REST requests to Kraken", ["api"], registry=r)
        self.rest_errors = Counter("krakenbot_rest_errors", "REST requests that failed, by error class",
                                   ["api", "error"], registry=r)
        self.rest_seconds = Histogram("krakenbot_rest_request_seconds", "Duration of a REST request, seconds",
                                      ["api"], registry=r)
        self.orders = Counter("krakenbot_orders", "Order states recorded, by status (filled, rejected, ...)",
                              ["status"], registry=r)
        self.registry.register(_AlertCounters(lambda: self.alerts))
        self._symbols: set[str] = set()
        self._server: Callable[[], None] | None = None
        self.bound_port: int | None = None  # the port served on (``serve``)

    # -- observers -------------------------------------------------------------------------------------
    def tick_done(self, kind: str, seconds: float, ok: bool) -> None:
        """``TickObserver``: the tick's duration, and the account and positions it read."""
        self.ticks.labels(kind=kind).observe(seconds)
        if not ok:
            self.tick_failures.labels(kind=kind).inc()
            return
        if self.loop is not None:
            self.last_good_tick.set(self.loop.now().timestamp())
            try:
                self.observe(self.loop)
            except KrakenbotError as exc:  # an account read that failed after the tick: the last figures stand
                log.warning("metrics: account or positions unavailable (%s: %s); the last figures stand",
                            type(exc).__name__, exc)

    def observe(self, loop: LiveTrading) -> None:
        """Set the account, position, ShockGuard and staleness gauges from ``loop``'s book (the loop's thread)."""
        account = loop.book.account()
        positions = loop.book.positions()
        now = loop.now()
        paused = loop.guard.paused_symbols(now)
        stale = loop.stale
        self.set_account(account, positions)
        for fut in loop.futures:
            self.shock_paused.labels(symbol=fut).set(1.0 if fut in paused else 0.0)
            self.stale.labels(symbol=fut).set(1.0 if fut in stale else 0.0)
        self.shock_paused.labels(symbol="*").set(1.0 if "*" in paused else 0.0)
        for p in positions:
            instrument = loop.instruments.get(p.symbol)
            rate = instrument.maintenance_margin_rate(p.notional_usd) if instrument is not None else 0.0
            try:
                buffer, _ = liquidation_buffer_pct(
                    side=p.side, mark=p.price, notional_usd=p.notional_usd, equity_usd=account.equity_usd,
                    maintenance_margin_usd=account.maintenance_margin_usd, maintenance_rate=rate,
                    liquidation_price=p.liquidation_price)
            except ValueError:
                continue
            self.buffer.labels(symbol=p.symbol).set(buffer)

    def set_account(self, account: AccountState, positions: Sequence[Position]) -> None:
        """Account and position gauges; symbols no longer held are removed."""
        self.equity.set(account.equity_usd)
        self.available_margin.set(account.available_margin_usd)
        self.used_margin.set(account.initial_margin_usd)
        self.maintenance_margin.set(account.maintenance_margin_usd)
        self.exposure.set(sum(p.notional_usd for p in positions))
        held = {p.symbol for p in positions}
        with self._lock:
            for gone in self._symbols - held:
                for gauge in (self.position_size, self.position_notional, self.unrealised, self.buffer):
                    with contextlib.suppress(KeyError):
                        gauge.remove(gone)
            self._symbols = held
        for p in positions:
            self.position_size.labels(symbol=p.symbol).set(p.side.sign * p.size)
            self.position_notional.labels(symbol=p.symbol).set(p.notional_usd)
            self.unrealised.labels(symbol=p.symbol).set(
                p.side.sign * p.size * p.contract_size * (p.price - p.entry_price))

    def rest_call(self, api: str, seconds: float, error: str | None) -> None:
        """The Kraken client's observer: one REST call to ``api`` (``kraken``, ``krakenfutures``), its
        duration, and the class of its error (None: it succeeded)."""
        self.rest_requests.labels(api=api).inc()
        self.rest_seconds.labels(api=api).observe(seconds)
        if error is not None:
            self.rest_errors.labels(api=api, error=error).inc()

    def order_recorded(self, order: Order) -> None:
        """The journal recorded ``order`` in its new state."""
        self.orders.labels(status=order.status.value).inc()

    # -- serving ---------------------------------------------------------------------------------------
    def serve(self, host: str, port: int) -> None:
        """Serve ``/metrics`` at http://host:port in a daemon thread; ``close`` stops it. Raises ``OSError``
        when the port is taken."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def _stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        self._server = _stop
        self.bound_port = int(server.server_address[1])
        log.info("metrics: http://%s:%d/metrics", host, server.server_address[1])

    def close(self) -> None:
        if self._server is not None:
            self._server()
            self._server = None

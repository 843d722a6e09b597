"""What ``ops:`` enables around one ``paper`` or ``live`` run, built and started in one place.

``ops_runtime(cfg, mode=...)`` is a context manager yielding an ``OpsRuntime``; ``cli.live_cmd.run_loop``
uses it like this::

    with ops_runtime(cfg, mode="paper") as ops:          # alerts' URLs resolved, sender thread, log handler,
        with open_loop(cfg, paper=True, journal_wrapper=ops.wrap_journal,    # metrics server
                       rest_observer=ops.rest_observer) as loop:
            ops.attach(loop)                              # tick observers (alerts, metrics); the status API
            ops.started("...")
            ...
        ops.stopped("signal SIGTERM")                     # or ops.refused(...) / ops.halted(...)

On leaving: the log handler is removed, the metrics server and the status API stop, and the queued alerts
are sent (bounded by ``SEND_ON_STOP_SECONDS``). Raises ``ConfigError`` (exit 2) when an alert URL names an
unset ``${ENV_VAR}`` or is not an apprise URL, ``OSError`` when the metrics port is taken.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, cast

from krakenbot.config import AppConfig
from krakenbot.domain import Clock, WallClock
from krakenbot.domain.journal import Journal
from krakenbot.domain.trading import Order
from krakenbot.ops.alert_sources import AlertLogHandler, LoopWatch, OpsAlert, OpsJournal
from krakenbot.ops.alerts import AlertDispatcher, Notify, apprise_notifier, resolve_urls
from krakenbot.ops.api_server import api_token, check_api_config, serve_api
from krakenbot.ops.metrics import Metrics

if TYPE_CHECKING:
    from krakenbot.live.trading import LiveTrading
    from krakenbot.ops.status import StoreReader

log = logging.getLogger(__name__)

SEND_ON_STOP_SECONDS = 15.0  # at stop, queued alerts are sent for at most this long


class OpsRuntime:
    """Alerts and metrics of one run (either may be None when ``ops:`` leaves it off)."""

    def __init__(self, cfg: AppConfig, *, mode: str, alerts: AlertDispatcher | None, metrics: Metrics | None) -> None:
        self.cfg = cfg
        self.mode = mode
        self.alerts = alerts
        self.metrics = metrics
        self.journal: OpsJournal | None = None
        self.loop: LiveTrading | None = None
        self._closers: list[Callable[[], None]] = []
        self._stack = ExitStack()  # the status API's server, closed first

    @property
    def enabled(self) -> bool:
        return self.alerts is not None or self.metrics is not None

    def wrap_journal(self, journal: Journal) -> Journal:
        """The journal the loop writes: ``journal`` (the store) teed into the alerts and order counters;
        ``journal`` itself when neither is on. Called by ``open_loop`` before the loop is built."""
        if not self.enabled:
            return journal
        self.journal = OpsJournal(journal, alerts=self.alerts, orders=self.metrics)
        return self.journal

    @property
    def rest_observer(self) -> Callable[[str, float, str | None], None] | None:
        """The Kraken client's REST observer (``KrakenClient(observer=...)``), or None without metrics."""
        return self.metrics.rest_call if self.metrics is not None else None

    def attach(self, loop: LiveTrading) -> None:
        """Watch ``loop``: tick observers for metrics and alerts, and the status API (when enabled)."""
        self.loop = loop
        if self.metrics is not None:
            self.metrics.loop = loop
            loop.tick_observers.append(self.metrics)
        if self.alerts is not None:
            inner = self.journal.inner if self.journal is not None else loop.journal
            lookup: Callable[[str], Order | None] | None = getattr(inner, "order", None)
            loop.tick_observers.append(LoopWatch(loop, self.alerts, journal=self.journal, order_status=lookup))
        self._start_api(loop)

    # -- the status API ---------------------------------------------------------------------------------------
    def _start_api(self, loop: LiveTrading) -> None:
        """Serve the status API and page beside ``loop`` when ``ops.api.enabled`` (``ops.api_server.serve_api``);
        it reads the store itself, not the alerts' tee, and stops when the runtime closes."""
        if not self.cfg.ops.api.enabled:
            return
        store = self.journal.inner if self.journal is not None else loop.journal
        self._stack.enter_context(serve_api(self.cfg, loop, store=cast("StoreReader", store)))

    # -- what run_loop says ----------------------------------------------------------------------------------
    def started(self, detail: str) -> None:
        self._say(OpsAlert.START, f"{self.mode} started: {detail}")

    def stopped(self, why: str) -> None:
        self._say(OpsAlert.STOP, f"{self.mode} stopped: {why}; positions stay protected by their exchange-side stops")

    def refused(self, why: str) -> None:
        self._say(OpsAlert.REFUSED, f"{self.mode} refused to start: {why}")

    def halted(self, why: str) -> None:
        self._say(OpsAlert.HALT, f"{self.mode} halted: {why}")

    def _say(self, kind: str, detail: str) -> None:
        if self.alerts is not None:
            self.alerts.submit(kind, detail, force=True)

    def close(self) -> None:
        try:
            self._stack.close()
        except Exception:  # stopping one part never keeps the others running
            log.exception("ops: stopping the status API failed")
        for stop in reversed(self._closers):
            try:
                stop()
            except Exception:  # stopping one part never keeps the others running
                log.exception("ops: stopping %r failed", stop)
        self._closers.clear()


@contextmanager
def ops_runtime(cfg: AppConfig, *, mode: str, clock: Clock | None = None, environ: Mapping[str, str] | None = None,
                secrets: Iterable[str] = (), notify: Notify | None = None) -> Iterator[OpsRuntime]:
    """Build and start what ``cfg.ops`` enables for a ``mode`` (``paper`` / ``live``) run; see the module
    docstring. ``environ`` (default ``os.environ``) resolves ``${ENV_VAR}`` in the alert URLs; ``secrets``
    (the process's keys) and the resolved values are redacted from every alert; ``notify`` replaces apprise
    (tests)."""
    ops = cfg.ops
    if ops.api.enabled:  # refused here, before any request to Kraken: a public address without TLS, no token
        check_api_config(cfg)
        api_token()
    alerts: AlertDispatcher | None = None
    if ops.alerts.urls:
        resolved = resolve_urls(ops.alerts.urls, environ)
        from krakenbot.logs import register_secrets
        register_secrets(resolved.secrets)  # the log redactor knows them too (apprise logs its URLs)
        alerts = AlertDispatcher(ops.alerts, notify=notify or apprise_notifier(resolved.urls),
                                 clock=clock or WallClock(), secrets=(*secrets, *resolved.secrets),
                                 source=f"krakenbot {mode} {cfg.store.instance_id}")
    metrics = Metrics() if ops.metrics.enabled else None
    runtime = OpsRuntime(cfg, mode=mode, alerts=alerts, metrics=metrics)
    handler = AlertLogHandler(alerts) if alerts is not None else None
    root = logging.getLogger()
    try:
        if alerts is not None:
            alerts.start()
            assert handler is not None
            root.addHandler(handler)
        if metrics is not None:
            metrics.alerts = alerts
            metrics.serve(ops.metrics.host, ops.metrics.port)
        yield runtime
    finally:
        runtime.close()
        if handler is not None:
            root.removeHandler(handler)
        if metrics is not None:
            metrics.close()
        if alerts is not None:
            alerts.close(SEND_ON_STOP_SECONDS)

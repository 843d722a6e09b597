"""Alerts: apprise URLs, fed from a bounded queue by one background sender thread.

``submit`` never blocks the loop: an alert is deduplicated per ``(kind, symbol)`` (at most one per
``repeat_after_seconds``; the repeats in between are counted and said in the next one that goes out),
redacted like the logs (``krakenbot.logs.redact`` plus the secrets resolved into the URLs), and put on a
queue of ``queue_size``; a full queue drops it (counted and logged). The sender thread hands each alert
to apprise; a slow or failing service delays only that thread (a failure is counted and logged).
``close`` sends what is queued (bounded by a timeout) and stops the thread.

URLs may carry secrets as ``${ENV_VAR}``, resolved from the environment at start (``resolve_urls``):
a missing variable refuses to start, naming the field and the variable.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from krakenbot.config.models import AlertsConfig
from krakenbot.domain import Clock
from krakenbot.domain.errors import ConfigError
from krakenbot.logs import redact

log = logging.getLogger(__name__)

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Notify = Callable[[str, str], bool]  # (title, body) -> delivered to every URL


@dataclass(frozen=True, slots=True)
class ResolvedUrls:
    """The alert URLs with ``${ENV_VAR}`` replaced, and the values put in (secrets: redacted everywhere)."""

    urls: tuple[str, ...]
    secrets: tuple[str, ...]


def resolve_urls(urls: Sequence[str], environ: Mapping[str, str] | None = None,
                 field: str = "ops.alerts.urls") -> ResolvedUrls:
    """Replace each ``${NAME}`` in ``urls`` by the environment's value. Raises ``ConfigError`` naming
    ``field[i]`` and every variable that is unset or empty."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    resolved: list[str] = []
    secrets: list[str] = []
    for i, url in enumerate(urls):
        def _value(match: re.Match[str], i: int = i) -> str:
            name = match.group(1)
            value = env.get(name, "")
            if not value:
                problems.append(f"{field}[{i}]: environment variable {name} is not set (the URL refers to "
                                f"${{{name}}}); export it or remove the URL")
            secrets.append(value)
            return value
        resolved.append(_ENV_REF.sub(_value, url))
    if problems:
        raise ConfigError(problems)
    return ResolvedUrls(urls=tuple(resolved), secrets=tuple(s for s in secrets if s))


def apprise_notifier(urls: Sequence[str], field: str = "ops.alerts.urls") -> Notify:
    """A ``Notify`` sending to every URL through apprise. Raises ``ConfigError`` naming ``field[i]`` for a
    URL apprise does not understand (the URL itself is not shown: it may hold a secret)."""
    import apprise  # imported here: only a run with alerts configured pays for it

    app = apprise.Apprise()
    for i, url in enumerate(urls):
        if not app.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise ConfigError(f"{field}[{i}]: apprise does not understand this URL (scheme {scheme}://); "
                              "see https://github.com/caronc/apprise/wiki for the URL of each service")

    def notify(title: str, body: str) -> bool:
        return bool(app.notify(body=body, title=title))

    return notify


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert as it is sent: ``kind`` (an ``EventKind`` value or an ops kind such as ``start``), the
    contract it is about (``*``: none in particular), and its redacted text."""

    kind: str
    symbol: str
    title: str
    body: str
    ts: datetime


_STOP = object()


class AlertDispatcher:
    """Deduplicates, redacts and queues alerts; one daemon thread sends them (see the module docstring).

    Counters (read by metrics): ``sent``, ``dropped`` (queue full or closed), ``failed`` (the service
    refused or raised), ``suppressed`` (repeats within ``repeat_after_seconds``)."""

    def __init__(self, cfg: AlertsConfig, *, notify: Notify, clock: Clock, secrets: Iterable[str] = (),
                 source: str = "krakenbot") -> None:
        self.cfg = cfg
        self._notify = notify
        self._clock = clock
        self._secrets = tuple(s for s in secrets if s)
        self._source = source
        self._queue: queue.Queue[Alert | object] = queue.Queue(maxsize=cfg.queue_size)
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], datetime] = {}
        self._repeats: dict[tuple[str, str], int] = {}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.sent = self.dropped = self.failed = self.suppressed = 0

    # -- the loop's side: never blocks ----------------------------------------------------------------
    def submit(self, kind: str, detail: str, *, symbol: str = "*", force: bool = False) -> bool:
        """Queue an alert about ``kind`` (and ``symbol``); False when it was a repeat within
        ``repeat_after_seconds`` (counted, unless ``force``), or dropped (queue full, or closed)."""
        now = self._clock.now()
        key = (kind, symbol)
        with self._lock:
            if self._closed:
                self.dropped += 1
                return False
            last = self._last.get(key)
            if not force and last is not None and (now - last).total_seconds() < self.cfg.repeat_after_seconds:
                self._repeats[key] = self._repeats.get(key, 0) + 1
                self.suppressed += 1
                return False
            self._last[key] = now
            repeats = self._repeats.pop(key, 0)
        body = detail if not repeats else f"{detail}\n({repeats} more since {last:%Y-%m-%d %H:%M:%S} UTC not sent)"
        where = "" if symbol == "*" else f" {symbol}"
        alert = Alert(kind=kind, symbol=symbol, ts=now, title=self._redact(f"[{self._source}] {kind}{where}"),
                      body=self._redact(body))
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            with self._lock:
                self.dropped += 1
            log.warning("alert %s dropped: %d alerts are waiting to be sent (ops.alerts.queue_size)", kind,
                        self.cfg.queue_size)
            return False
        return True

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)

    # -- the sender thread ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the sender thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._send_all, name="krakenbot-alerts", daemon=True)
            self._thread.start()

    def _send_all(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Alert)
                self._send(item)
            finally:
                self._queue.task_done()

    def _send(self, alert: Alert) -> None:
        try:
            ok = self._notify(alert.title, alert.body)
        except Exception as exc:  # a broken service never takes the sender down
            ok = False
            log.warning("alert %s not sent (%s: %s)", alert.kind, type(exc).__name__, self._redact(str(exc)))
        else:
            if not ok:
                log.warning("alert %s not sent: the alert service refused it or did not answer (ops.alerts.urls)",
                            alert.kind)
        with self._lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued alert was handed to the services (sent or failed); False on timeout.
        Without a started thread there is nothing to wait for."""
        if self._thread is None:
            return self._queue.unfinished_tasks == 0
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Send what is queued (for at most ``timeout`` seconds), then stop the thread; later alerts are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread is None:
            return
        if not self.flush(timeout):
            log.warning("alerts: %d not sent within %.0fs at stop", self._queue.qsize(), timeout)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            return  # the daemon thread ends with the process
        self._thread.join(timeout)

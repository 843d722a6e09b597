"""Shared by the end-to-end tests of ``python run.py live --force`` against the loopback Kraken.

``start_live`` runs the real command as a subprocess from a working directory (its SQLite store:
``cwd/krakenbot.db``) with the test strategy (``always_long.AlwaysLong``) on one side, dummy
keys in the environment and a warm candle cache; ``Stderr`` and ``wait_until`` let a test wait
on its log and on the fake's book with a deadline, never a blind sleep.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.data.candles import CandleManager
from krakenbot.domain import WallClock
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken import RequestRecord

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "run.py"
HERE = Path(__file__).resolve().parent
PREFIX = "kb-"  # build_loop's instance id "kb" + "-"
API_KEY = "e2e-dummy-futures-key-5f1c9a"
API_SECRET = base64.b64encode(b"e2e-dummy-futures-secret-not-a-real-one-0042").decode()
BTC, ETH = "PF_XBTUSD", "PF_ETHUSD"
DEADLINE_S = 45.0

CONFIG = """\
exchange:
  spot_base_url: {url}
  futures_base_url: {url}
  timeout_seconds: 5
  max_retries: 1
  retry_base_delay_seconds: 0.05
  client_rate_limit: false
universe:
  symbols: [BTC/USD, ETH/USD]
strategy:
  class_path: always_long:AlwaysLong
  timeframe: 1m
  params: {{stop_distance_pct: 0.08, score: 1.0, side: {side}}}
risk:
  risk_per_trade_pct: 0.1
  max_leverage: 10
  max_margin_utilization_pct: 0.9
  emergency_buffer_pct: 0.5
  trim_buffer_pct: 0.9
loop:
  fast_tick_seconds: 0.2
"""


class Stderr:
    """The subprocess' stderr, read line by line in a thread, so the test can wait on it.

    Its stdout is drained by a second thread (``stdout()``). Never call ``proc.communicate()``
    on a process read by this class: it would read stderr too and steal lines from the log;
    use ``proc.wait()`` or ``finish()``.
    """

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None and proc.stdout is not None
        self.lines: list[str] = []
        self._out: list[str] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._pump, args=(proc.stderr, self.lines), daemon=True),
                         threading.Thread(target=self._pump, args=(proc.stdout, self._out), daemon=True)]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: IO[str], into: list[str]) -> None:
        for line in stream:
            with self._lock:
                into.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def index(self, needle: str, start: int = 0) -> int:
        """Index of the first line at or after ``start`` containing ``needle``, or -1."""
        return next((i for i, line in enumerate(self.snapshot()) if i >= start and needle in line), -1)

    def join(self) -> str:
        """The whole stderr, once the process has closed it (waits up to 10 s)."""
        for thread in self._threads:
            thread.join(timeout=10)
        return "\n".join(self.snapshot())

    def stdout(self) -> str:
        """The whole stdout (call after ``join``)."""
        with self._lock:
            return "\n".join(self._out)


def finish(proc: subprocess.Popen[str], stderr: Stderr, deadline: float) -> str:
    """Wait (until ``deadline``, monotonic seconds) for ``proc`` to exit, killing it past that; its stderr."""
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return stderr.join()


def wait_until(what: str, ready: Callable[[], bool], proc: subprocess.Popen[str], stderr: Stderr,
               deadline: float) -> None:
    """Poll ``ready`` every 50 ms until it holds; fail with the log tail at the deadline or if the process ended."""
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = "\n".join(stderr.snapshot()[-40:])
            pytest.fail(f"gave up waiting for {what} (exit code {proc.poll()}); stderr tail:\n{tail}")
        time.sleep(0.05)


def orders(fk: FakeKraken) -> list[RequestRecord]:
    return fk.requests_to("/derivatives/api/v3/sendorder")


def is_reduce_only(record: RequestRecord) -> bool:
    return (record.param("reduceOnly") or "false").lower() == "true"


def open_stops(fk: FakeKraken, symbol: str) -> list[str]:
    """Quantities of the resting stop orders on ``symbol`` in the fake's book."""
    with fk._lock:
        return [str(o.quantity - o.filled) for o in fk.book.orders.values()
                if o.symbol == symbol and o.is_trigger and o.closed_at is None]


def warm_candle_cache(fk: FakeKraken, cwd: Path) -> None:
    """Fill ``cwd/.cache/candles`` as an earlier run would have (``build_loop``'s default cache dir).

    The subprocess then asks Kraken only for candles closed since, instead of paging through
    720 of them per pair under ccxt's client-side rate limit (1.2 s per spot OHLC call).
    """
    cfg = ExchangeConfig.model_validate({"spot_base_url": fk.url, "futures_base_url": fk.url})
    client = KrakenClient(cfg, enable_rate_limit=False)
    candles = CandleManager(client, cwd / ".cache" / "candles")
    now = WallClock().now()
    for pair, futures in (("BTC/USD", BTC), ("ETH/USD", ETH)):
        assert not candles.get_candles(pair, "1m", now, futures_symbol=futures).stale


def start_live(fake: FakeKraken, cwd: Path, *args: str, side: int = 1) -> tuple[subprocess.Popen[str], float, float]:
    """``python run.py live --force`` against ``fake`` from ``cwd`` (its store: ``cwd/krakenbot.db``),
    the test strategy always on ``side``; returns (process, start, deadline)."""
    warm_candle_cache(fake, cwd)
    fake.clear_requests()
    config = cwd / "e2e.yaml"
    config.write_text(CONFIG.format(url=fake.url, side=side))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KRAKEN_")}
    env |= {"KRAKEN_FUTURES_API_KEY": API_KEY, "KRAKEN_FUTURES_API_SECRET": API_SECRET, "KRAKENBOT_DATA_DIR": str(cwd),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(RUN_PY), "live", "--force", "--config", str(config), *args],
                            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, started, started + DEADLINE_S

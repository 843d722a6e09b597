"""The YAML config the in-process CLI tests (``CliRunner``) run against the loopback Kraken."""

from __future__ import annotations

import socket
from pathlib import Path

_TEMPLATE = """\
exchange:
  spot_base_url: {url}
  futures_base_url: {url}
  timeout_seconds: 2
  max_retries: {retries}
  retry_base_delay_seconds: 0.01
  client_rate_limit: false
universe:
  symbols: [BTC/USD, ETH/USD]
strategy:
  class_path: live.always_long:AlwaysLong
  timeframe: 1m
  params: {{stop_distance_pct: 0.08, score: 1.0, side: 1}}
store:
  url: {store}
{instance}loop:
  fast_tick_seconds: 0.05
"""


def loopback_config(url: str, store: str | Path, *, retries: int = 1, instance_id: str | None = None) -> str:
    """The config text: the loopback Kraken at ``url``, BTC and ETH, the ``AlwaysLong`` test strategy
    (``tests/live/always_long.py``), a 50 ms fast tick. ``store`` is a SQLAlchemy URL or a SQLite file."""
    store_url = store if isinstance(store, str) and "://" in store else f"sqlite:///{store}"
    instance = f"  instance_id: {instance_id}\n" if instance_id else ""
    return _TEMPLATE.format(url=url, retries=retries, store=store_url, instance=instance)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

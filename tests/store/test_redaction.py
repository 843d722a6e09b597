"""The store keeps exchange messages redacted like the log, and its files are private (0600)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from krakenbot.config.models import ExchangeConfig
from krakenbot.domain.journal import JournalEvent
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.store import schema as t
from krakenbot.store.lock import acquire_instance_lock
from krakenbot.store.sql import SqlStore

KEY = "SENTINEL-KEY-7f3a9c0e11"
SECRET = "U0VOVElORUwtU0VDUkVULTQ0Mg=="
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
# What a gateway that echoes the request puts in its error body; ccxt carries it in the exception text.
ECHOED = (f'krakenfutures {{"error":"apiLimitExceeded","request":{{"headers":{{"APIKey":"{KEY}",'
          f'"Authent":"c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0","Nonce":"1764"}}}}}} secret={SECRET}')


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _raw_text(store: SqlStore) -> str:
    """Everything stored in the plan and event tables, as the database holds it."""
    with store.engine.connect() as conn:
        plans = conn.execute(sa.select(t.auction_plans.c.summary, t.auction_plans.c.details)).all()
        events = conn.execute(sa.select(t.events.c.detail)).scalars().all()
    return json.dumps([[s, d if isinstance(d, str) else json.dumps(d)] for s, d in plans]) + json.dumps(events)


def test_an_exchange_error_echoing_the_key_is_stored_redacted(store: SqlStore) -> None:
    KrakenClient(ExchangeConfig(), api_key=KEY, api_secret=SECRET, enable_rate_limit=False)  # registers the keys
    store.record_plan(NOW, f"1 refused: {ECHOED}", {"refusals": [{"symbol": "PF_XBTUSD", "reason": ECHOED}],
                                                    ECHOED: 1})
    store.record_event(JournalEvent(ts=NOW, kind="order_refused", symbol="PF_XBTUSD", detail=ECHOED))
    raw = _raw_text(store)
    assert KEY not in raw
    assert SECRET not in raw
    assert "c2lnbmF0dXJlLW9mLXRoZS1yZXF1ZXN0" not in raw  # the signature: unknown value, credential-like key
    assert raw.count("***") >= 6
    assert "apiLimitExceeded" in raw  # the rest of the message is kept
    assert store.events()[0].detail.startswith('krakenfutures {"error":"apiLimitExceeded"')
    assert store.plans()[0].details["refusals"][0]["symbol"] == "PF_XBTUSD"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_sqlite_database_wal_shm_and_lock_are_created_0600(tmp_path: Path, umask_022: None) -> None:
    db = tmp_path / "krakenbot.db"
    url = f"sqlite:///{db}"
    with acquire_instance_lock(url), SqlStore(url) as store:
        store.record_event(JournalEvent(ts=NOW, kind="pause", symbol="PF_XBTUSD", detail="x"))
        files = [db, db.with_name("krakenbot.db-wal"), db.with_name("krakenbot.db-shm"),
                 db.with_name("krakenbot.db.lock")]
        for path in files:
            assert path.exists(), path
            assert _mode(path) == 0o600, (path, oct(_mode(path)))

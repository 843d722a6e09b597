"""Kraken's recorded 300-contract tickers answer, replayed through ``KrakenClient`` without HTTP.

``data/kraken-futures-tickers-2026-08-08T1445Z.json`` is Kraken's ``/derivatives/api/v3/tickers`` body of
2026-08-08 14:45 UTC, byte-for-byte (provenance in ``tests/data/kraken-futures/PROVENANCE.md``). A replay
client's ccxt Kraken Futures instance answers ``publicGetTickers`` with it and ``publicGetInstruments`` with
one instrument per contract of the answer (cloned from Kraken's recorded PF_XBTUSD / PI_XBTUSD entries,
so ccxt's markets know every contract as in live). Used by ``bench/fast_tick.py`` and the golden test of
the tickers parser.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from krakenbot.config.models import ExchangeConfig
from krakenbot.domain import Clock
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing.fake_kraken_instruments import DATA, real_instruments

TICKERS_FILE = DATA / "kraken-futures-tickers-2026-08-08T1445Z.json"


def recorded_tickers_body() -> dict[str, Any]:
    """A fresh decoded copy of the recorded answer (callers may change it)."""
    body: dict[str, Any] = json.loads(TICKERS_FILE.read_bytes())
    return body


def instrument_entry(symbol: str) -> dict[str, Any]:
    """An ``/instruments`` entry for ``symbol``, cloned from Kraken's recorded PF_XBTUSD (linear) or
    PI_XBTUSD (inverse, also FI_); dated contracts get Kraken's ``lastTradingTime`` (16:00 UTC of the expiry)."""
    inverse = symbol.startswith(("PI_", "FI_"))
    entry = copy.deepcopy(real_instruments()["PI_XBTUSD" if inverse else "PF_XBTUSD"])
    entry["symbol"] = symbol
    entry["type"] = "futures_inverse" if inverse else "flexible_futures"
    parts = symbol.split("_")
    entry["pair"] = f"{parts[1][:-3]}:USD"
    entry.pop("lastTradingTime", None)
    if len(parts) == 3:
        expiry = datetime.strptime(parts[2], "%y%m%d").replace(hour=16, tzinfo=UTC)
        entry["lastTradingTime"] = expiry.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return entry


def replay_client(body: dict[str, Any], clock: Clock) -> KrakenClient:
    """A ``KrakenClient`` whose ccxt instance answers ``body`` for tickers (no HTTP), markets loaded."""
    client = KrakenClient(ExchangeConfig(), enable_rate_limit=False, clock=clock)
    instruments = {"result": "success", "serverTime": body.get("serverTime"),
                   "instruments": [instrument_entry(t["symbol"]) for t in body["tickers"]
                                   if isinstance(t, dict) and isinstance(t.get("symbol"), str)]}
    client.futures.publicGetInstruments = lambda params=None: instruments
    client.futures.publicGetTickers = lambda params=None: body
    client.futures.load_markets()
    return client

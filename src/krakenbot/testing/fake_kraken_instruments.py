"""Instruments of the loopback Kraken from Kraken's real payloads: margin tiers and instrument status.

``data/kraken-futures-instruments-2026-08-08T1316Z.json`` is a slice of Kraken's
``/derivatives/api/v3/instruments`` (the contracts the loopback lists that Kraken lists too), and
``data/kraken-futures-instruments-status-2026-08-08T1439Z.json`` the same contracts' rows of
``/instruments/status``; provenance in ``tests/data/kraken-futures/PROVENANCE.md``. The loopback's
contracts take their margin schedule (``marginLevels``) from the first; contracts Kraken does not list
keep the loopback's illustrative schedule. The status board starts from the second and can be set
per contract (extreme volatility, its initial margin multiplier, price dislocation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from krakenbot.testing.fake_kraken_market import FuturesContract, iso_ms

DATA = Path(__file__).resolve().parent / "data"
INSTRUMENTS_FILE = DATA / "kraken-futures-instruments-2026-08-08T1316Z.json"
STATUS_FILE = DATA / "kraken-futures-instruments-status-2026-08-08T1439Z.json"

# Kraken refuses every order but a post-only limit on a post-only market (sendorder status)
POST_ONLY_REFUSAL = "marketIsPostOnly"


@cache
def real_instruments() -> dict[str, dict[str, Any]]:
    """Kraken's recorded instrument entries by symbol (read once)."""
    body = json.loads(INSTRUMENTS_FILE.read_text(encoding="utf-8"))
    return {entry["symbol"]: entry for entry in body["instruments"]}


def real_schedule(symbol: str) -> tuple[tuple[float, float, float], ...] | None:
    """``symbol``'s recorded ``marginLevels`` as (start USD notional or contracts, initial, maintenance),
    or None when Kraken's recorded list does not hold it."""
    entry = real_instruments().get(symbol)
    if entry is None:
        return None
    return tuple((float(level.get("numNonContractUnits", level.get("contracts", 0))), float(level["initialMargin"]),
                  float(level["maintenanceMargin"])) for level in entry["marginLevels"])


def use_real_margin_levels(contracts: dict[str, FuturesContract]) -> None:
    """Give each contract Kraken lists its recorded margin schedule (in place)."""
    for symbol, contract in contracts.items():
        schedule = real_schedule(symbol)
        if schedule is not None:
            contract.schedule = schedule


@dataclass(slots=True)
class StatusRow:
    """One contract's ``/instruments/status`` row, in Kraken's terms."""

    extreme_volatility: bool = False
    multiplier: float = 1.0
    dislocation: bool = False
    dislocation_direction: str | None = None

    def body(self, symbol: str) -> dict[str, Any]:
        return {"tradeable": symbol, "experiencingDislocation": self.dislocation,
                "priceDislocationDirection": self.dislocation_direction,
                "experiencingExtremeVolatility": self.extreme_volatility,
                "extremeVolatilityInitialMarginMultiplier": self.multiplier}


class StatusBoard:
    """``/instruments/status`` of the loopback: the recorded rows (all calm on 2026-08-08), one calm row for
    each contract Kraken's record lacks, and whatever a test sets."""

    def __init__(self, symbols: list[str]) -> None:
        recorded = json.loads(STATUS_FILE.read_text(encoding="utf-8"))["instrumentStatus"]
        by_symbol = {row["tradeable"]: row for row in recorded}
        self.rows: dict[str, StatusRow] = {}
        for symbol in symbols:
            row = by_symbol.get(symbol, {})
            self.rows[symbol] = StatusRow(extreme_volatility=bool(row.get("experiencingExtremeVolatility", False)),
                                          multiplier=float(row.get("extremeVolatilityInitialMarginMultiplier", 1)),
                                          dislocation=bool(row.get("experiencingDislocation", False)),
                                          dislocation_direction=row.get("priceDislocationDirection"))

    def set(self, symbol: str, *, extreme_volatility: bool | None = None, multiplier: float | None = None,
            dislocation: bool | None = None, direction: str | None = None) -> None:
        row = self.rows.setdefault(symbol, StatusRow())
        if extreme_volatility is not None:
            row.extreme_volatility = extreme_volatility
        if multiplier is not None:
            row.multiplier = multiplier
        if dislocation is not None:
            row.dislocation = dislocation
            row.dislocation_direction = direction if dislocation else None

    def body(self, now: datetime) -> dict[str, Any]:
        return {"result": "success", "serverTime": iso_ms(now),
                "instrumentStatus": [row.body(symbol) for symbol, row in self.rows.items()]}


def post_only_refusal(contract: FuturesContract, order_type: str, stop_given: bool) -> str | None:
    """Kraken's answer to an order on a post-only market: every order but a post-only limit
    (``post``) and a trigger order (stop, take profit) is refused, reduce-only ones included."""
    if not contract.post_only or order_type in ("post", "stp", "take_profit") or stop_given:
        return None
    return POST_ONLY_REFUSAL

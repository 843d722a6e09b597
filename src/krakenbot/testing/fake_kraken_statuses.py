"""Kraken Futures' ``sendorder`` statuses, and the ``refuse_next`` fault of the loopback Kraken.

``SEND_STATUSES`` is the enum of ``sendStatus.status`` in Kraken's documentation of Send Order
(https://docs.kraken.com/api/docs/futures-api/trading/send-order); ``DESCRIBED_STATUSES`` are the
names its description adds (ccxt 4.5.90 knows ``clientOrderIdTooLong``, Kraken's enum says
``clientOrderIdTooBig``). The loopback uses Kraken's names only.

``Refusals`` holds armed ``refuse_next`` faults: the next matching request is answered HTTP 200 with
``{"result": "success", "sendStatus": {"status": <status>, "receivedTime": ..., "orderEvents": []}}``
as Kraken answers a refused order, and nothing is done (no order, no fill). A status that means
acceptance (``placed``) answered this way carries no order: an answer nobody can read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from krakenbot.testing.fake_kraken_market import iso_ms

SEND_STATUSES: tuple[str, ...] = (
    "placed", "partiallyFilled", "filled", "cancelled", "edited", "marketSuspended", "marketInactive",
    "invalidPrice", "invalidSize", "tooManySmallOrders", "insufficientAvailableFunds", "wouldCauseLiquidation",
    "clientOrderIdAlreadyExist", "clientOrderIdTooBig", "maxPositionViolation", "outsidePriceCollar",
    "wouldIncreasePriceDislocation", "notFound", "orderForEditNotAStop", "orderForEditNotFound", "postWouldExecute",
    "iocWouldNotExecute", "selfFill", "wouldNotReducePosition", "marketIsPostOnly", "tooManyOrders",
    "fixedLeverageTooHigh", "clientOrderIdInvalid", "cannotEditTriggerPriceOfTrailingStop",
    "cannotEditLimitPriceOfTrailingStop", "wouldProcessAfterSpecifiedTime",
)
DESCRIBED_STATUSES: tuple[str, ...] = ("invalidOrderType", "invalidSide", "clientOrderIdTooLong")
MAX_CLIENT_ORDER_ID = 100  # characters; longer: clientOrderIdTooBig
_ANSWER_KEYS = {"sendorder": "sendStatus", "cancelorder": "cancelStatus", "editorder": "editStatus"}


@dataclass(slots=True)
class Refusal:
    """One armed ``refuse_next``: ``status`` for the next ``times`` requests to ``path`` (on ``symbol``)."""

    status: str
    path: str
    symbol: str | None
    times: int

    def matches(self, path: str, symbol: str | None) -> bool:
        wanted = self.symbol is None or (symbol or "").upper() == self.symbol.upper()
        return self.times > 0 and self.path in path and wanted


class Refusals:
    """The armed ``refuse_next`` faults of one loopback (thread-safe); see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[Refusal] = []
        self.served: list[tuple[str, str]] = []  # (status, symbol) of every answer given

    def arm(self, status: str, *, path: str = "sendorder", symbol: str | None = None, times: int = 1) -> Refusal:
        if path not in _ANSWER_KEYS:
            raise ValueError(f"refuse_next answers {sorted(_ANSWER_KEYS)}, not {path!r}")
        refusal = Refusal(status=status, path=path, symbol=symbol, times=times)
        with self._lock:
            self._armed.append(refusal)
        return refusal

    def take(self, endpoint: str, params: dict[str, str], now: datetime) -> dict[str, Any] | None:
        """Kraken's answer body when a refusal is armed for ``endpoint`` (and the request's symbol), else None."""
        symbol = params.get("symbol")
        with self._lock:
            refusal = next((r for r in self._armed if r.matches(endpoint, symbol)), None)
            if refusal is None:
                return None
            refusal.times -= 1
            self._armed = [r for r in self._armed if r.times > 0]
            self.served.append((refusal.status, symbol or ""))
        return {"result": "success", _ANSWER_KEYS[refusal.path]: send_status_body(
            refusal.status, now=now, cli_ord_id=params.get("cliOrdId")), "serverTime": iso_ms(now)}


def send_status_body(status: str, *, now: datetime, cli_ord_id: str | None = None) -> dict[str, Any]:
    """The ``sendStatus`` of an order Kraken did not place: its status, when it was received, no events;
    ``cliOrdId`` only when the request had one (as Kraken documents it)."""
    body: dict[str, Any] = {"status": status, "receivedTime": iso_ms(now), "orderEvents": []}
    if cli_ord_id:
        body["cliOrdId"] = cli_ord_id
    return body

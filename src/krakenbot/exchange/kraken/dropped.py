"""Contracts left out of a bulk answer, logged once per contract per interval (not once per tick)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta


class DroppedContracts:
    """Logs ``what: <contract> dropped (<reason>)`` at WARNING at most once per ``interval`` per contract.

    Memory is bounded by the venue's contract list: one timestamp per contract ever dropped.
    """

    def __init__(self, log: logging.Logger, what: str, now: Callable[[], datetime], *,
                 interval: timedelta = timedelta(minutes=60)) -> None:
        self._log, self._what, self._now, self._interval = log, what, now, interval
        self._logged: dict[str, datetime] = {}

    def report(self, dropped: Mapping[str, str]) -> None:
        if not dropped:
            return
        now = self._now()
        for name, reason in sorted(dropped.items()):
            last = self._logged.get(name)
            if last is None or now - last >= self._interval or now < last:
                self._logged[name] = now
                self._log.warning("%s: %s dropped (%s); the other contracts are kept", self._what, name, reason)

"""Kraken's dead man's switch as the loop keeps it: when to arm it again, and whether it may have fired.

Kraken's ``cancelallordersafter`` cancels every order of ours, protective stops included, when it is
not renewed within its timeout, and then stays off until armed again. The loop arms it every quarter
of the timeout. When no arm succeeded for longer than the timeout (an outage, a hung process, arms
refused), the switch may have fired: the loop is told once per lapse, alerts, and puts the stops back.
"""

from __future__ import annotations

import logging
from datetime import datetime

from krakenbot.domain.errors import KrakenbotError
from krakenbot.domain.journal import Journal, JournalEvent
from krakenbot.domain.vocabulary import EventKind, alert
from krakenbot.exchange.base import Exchange

log = logging.getLogger("krakenbot.live.trading.dead_man")  # a child of the loop's logger: one name to watch


class DeadManSwitch:
    """The switch of ``exchange`` with a ``timeout_seconds`` timer (0, or a venue without one: not used).

    Two clocks: the arming cadence is timed on the local clock as read (a clock that steps back re-arms at
    once, never leaving a timer to run out); whether it may have fired is judged in the loop's time
    (Kraken's), from the last arm that succeeded: an arm that failed never counts as armed.
    """

    def __init__(self, exchange: Exchange, timeout_seconds: float, journal: Journal) -> None:
        self._exchange = exchange
        self._timeout = timeout_seconds
        self._journal = journal
        self._armed_local: datetime | None = None  # local clock at the last successful arm
        self._armed_at: datetime | None = None  # loop time at the last successful arm
        self._lapse_reported = False

    @property
    def in_use(self) -> bool:
        return bool(self._timeout) and self._exchange.capabilities.dead_man_switch

    @property
    def armed(self) -> bool:
        """An arm succeeded since the start or the last ``disarm``."""
        return self._armed_at is not None

    def refresh(self, local: datetime, now: datetime) -> None:
        """Arm it when a quarter of the timeout has passed since the last successful arm on the ``local``
        clock (or none succeeded yet). ``now``: the loop's time. Raises what the exchange raises; the
        next tick tries again."""
        if not self.in_use:
            return
        since = None if self._armed_local is None else (local - self._armed_local).total_seconds()
        if since is None or since >= self._timeout / 4 or since < 0:
            self.arm(local, now)

    def arm(self, local: datetime, now: datetime) -> None:
        """Arm it now (the timer restarts). Raises what the exchange raises (an ``ALERT`` is logged first)."""
        try:
            self._exchange.arm_dead_man_switch(int(self._timeout))
        except Exception as exc:
            log.warning("%s", alert(EventKind.DEAD_MAN_SWITCH_REFRESH_FAILED,
                                    f"arming Kraken's dead man's switch failed ({type(exc).__name__}: {exc}); "
                                    "tried again next tick"))
            raise
        self._armed_local, self._armed_at = local, now
        self._lapse_reported = False

    def fired(self, now: datetime) -> bool:
        """True, once per lapse, when no arm has succeeded for longer than the timeout at ``now`` (the loop's
        time): Kraken may have cancelled every order of ours. Logged as an ``ALERT`` and journaled."""
        if not self.in_use or self._armed_at is None or self._lapse_reported:
            return False
        since = (now - self._armed_at).total_seconds()
        if since < self._timeout:
            return False
        self._lapse_reported = True
        detail = (f"no successful arm for {since:.0f} s (timeout {self._timeout:g} s): Kraken may have cancelled "
                  f"every order of ours, stops included; re-arming and putting the stops back")
        log.warning("%s", alert(EventKind.DEAD_MAN_SWITCH_FIRED, detail))
        self._journal.record_event(JournalEvent(ts=now, kind=EventKind.DEAD_MAN_SWITCH_FIRED, symbol="*",
                                                detail=detail))
        return True

    def disarm(self) -> None:
        """Leaving the loop: disarm it, so our stops outlive the bot. A failure is logged, not raised."""
        if self._armed_at is None:
            return
        try:
            self._exchange.arm_dead_man_switch(0)
        except KrakenbotError as exc:
            log.error("the dead man's switch could not be disarmed (%s: %s): Kraken cancels every order of ours, "
                      "stops included, within %g s", type(exc).__name__, exc, self._timeout)
            return
        self._armed_local = self._armed_at = None
        log.info("Kraken's dead man's switch is disarmed: our stops stay on Kraken while the bot is stopped")


"""``ALERT`` log lines and CRITICAL records as alerts; journaled kinds are left to the journal tee."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from krakenbot.config.models import AlertsConfig
from krakenbot.domain import SimulatedClock
from krakenbot.domain.journal import JournalEvent
from krakenbot.domain.vocabulary import EventKind, alert
from krakenbot.ops.alert_sources import AlertLogHandler, OpsJournal
from krakenbot.ops.alerts import AlertDispatcher
from krakenbot.store.journal import MemoryJournal

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _dispatcher(sent: list[tuple[str, str]]) -> AlertDispatcher:
    def notify(title: str, body: str) -> bool:
        sent.append((title, body))
        return True

    alerts = AlertDispatcher(AlertsConfig(), notify=notify, clock=SimulatedClock(T0), source="kb")
    alerts.start()
    return alerts


def test_log_only_alert_lines_and_halts_are_alerts_journaled_kinds_come_once_through_the_journal() -> None:
    sent: list[tuple[str, str]] = []
    alerts = _dispatcher(sent)
    logger = logging.getLogger("test.ops.alert_sources")
    handler = AlertLogHandler(alerts)
    logger.addHandler(handler)
    try:
        journal = OpsJournal(MemoryJournal(), alerts=alerts)
        detail = "long 0.1 has no stop of ours on the exchange"
        logger.warning("%s", alert(EventKind.STOP_MISSING, f"PF_XBTUSD: {detail}"))
        journal.record_event(JournalEvent(ts=T0, kind=EventKind.STOP_MISSING, symbol="PF_XBTUSD", detail=detail))
        logger.warning("%s", alert(EventKind.DEAD_MAN_SWITCH_REFRESH_FAILED, "arming failed (TransientError: 503)"))
        logger.warning("an ordinary warning")
        logger.critical("store failure: halting the loop: disk full")
        assert alerts.flush(10)
    finally:
        logger.removeHandler(handler)
        alerts.close()
    assert sent == [("[kb] stop_missing PF_XBTUSD", f"PF_XBTUSD: {detail}"),
                    ("[kb] dead_man_switch_refresh_failed", "arming failed (TransientError: 503)"),
                    ("[kb] halt", "store failure: halting the loop: disk full")]
    assert alerts.suppressed == 0

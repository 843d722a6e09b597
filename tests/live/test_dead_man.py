"""DeadManSwitch: armed every quarter of its timeout on the local clock; judged fired, once per lapse, when no
arm succeeded for the timeout in the loop's time; an arm that failed never counts."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from builders.clock import T0
from krakenbot.domain.errors import TransientError
from krakenbot.domain.vocabulary import EventKind
from krakenbot.exchange.base import ExchangeCapabilities
from krakenbot.live.dead_man import DeadManSwitch
from krakenbot.store.journal import MemoryJournal


class Switchboard:
    """The venue side: records each arm (seconds), refuses them while ``down``."""

    def __init__(self, *, capable: bool = True) -> None:
        self.capabilities = ExchangeCapabilities(polls_fills=True, dead_man_switch=capable)
        self.arms: list[int] = []
        self.down = False

    def arm_dead_man_switch(self, timeout_seconds: int) -> None:
        if self.down:
            raise TransientError("cancelallordersafter: 503")
        self.arms.append(timeout_seconds)


def _switch(venue: Switchboard, timeout: float = 120) -> tuple[DeadManSwitch, MemoryJournal]:
    journal = MemoryJournal()
    return DeadManSwitch(venue, timeout, journal), journal  # type: ignore[arg-type]


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_armed_at_once_then_every_quarter_of_the_timeout_and_at_once_after_a_step_back() -> None:
    venue = Switchboard()
    switch, _ = _switch(venue)
    for second in range(0, 65, 5):
        switch.refresh(T0 + s(second), T0 + s(second))
    assert venue.arms == [120, 120, 120]  # at 0, 30 and 60 s
    switch.refresh(T0 - s(3600), T0 + s(65))  # the local clock stepped back an hour
    assert len(venue.arms) == 4


def test_not_used_without_a_timeout_or_on_a_venue_without_one() -> None:
    for venue, timeout in ((Switchboard(), 0.0), (Switchboard(capable=False), 120.0)):
        switch, journal = _switch(venue, timeout)
        switch.refresh(T0, T0)
        assert venue.arms == [] and not switch.armed and not switch.fired(T0 + s(3600))
        assert journal.events == []


def test_fired_once_per_lapse_after_the_last_successful_arm_and_never_before(
        caplog: pytest.LogCaptureFixture) -> None:
    venue = Switchboard()
    switch, journal = _switch(venue)
    assert not switch.fired(T0 + s(3600))  # never armed: nothing to judge
    switch.refresh(T0, T0)
    venue.down = True
    for second in range(30, 120, 5):  # every arm fails: retried on each call, never counted
        with pytest.raises(TransientError):
            switch.refresh(T0 + s(second), T0 + s(second))
        assert not switch.fired(T0 + s(second))
    with caplog.at_level(logging.WARNING):
        assert switch.fired(T0 + s(120))
    assert not switch.fired(T0 + s(125))  # once per lapse
    messages = [r.getMessage() for r in caplog.records]
    assert [m.partition(" for ")[0] for m in messages if "refresh_failed" not in m] == [
        "ALERT dead_man_switch_fired: no successful arm"]
    failed = [m for m in messages if m.startswith("ALERT dead_man_switch_refresh_failed: arming Kraken's dead man's")]
    assert len(failed) == 18  # each failed arm is an alert line (the dispatcher keeps one per repeat window)
    [event] = journal.events
    assert (event.kind, event.symbol, event.ts) == (EventKind.DEAD_MAN_SWITCH_FIRED, "*", T0 + s(120))
    venue.down = False
    switch.arm(T0 + s(130), T0 + s(130))
    assert not switch.fired(T0 + s(249)) and switch.fired(T0 + s(250))  # a new lapse is told again
    assert len(journal.events) == 2


def test_disarm_sends_zero_and_a_refused_disarm_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    venue = Switchboard()
    switch, _ = _switch(venue)
    switch.disarm()
    assert venue.arms == []  # never armed: nothing to disarm
    switch.refresh(T0, T0)
    venue.down = True
    with caplog.at_level(logging.ERROR):
        switch.disarm()
    assert switch.armed and "could not be disarmed" in caplog.text
    venue.down = False
    switch.disarm()
    assert venue.arms == [120, 0] and not switch.armed

"""Fixtures of the ops tests: a loopback bot (live mode, SQLite store) whose ``run`` ticks every 50 ms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.loopback import START, Bot, open_bot
from krakenbot.domain import SimulatedClock
from krakenbot.testing import FakeKraken


@pytest.fixture
def fast_bot(tmp_path: Path) -> Iterator[Bot]:
    clock = SimulatedClock(START)
    with FakeKraken(clock=clock.now) as fake:
        bot = open_bot(tmp_path, fake=fake, clock=clock, fast_tick_seconds=0.05)
        try:
            yield bot
        finally:
            bot.store.close()

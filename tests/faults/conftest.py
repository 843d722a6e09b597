"""Fixtures of the fault tests: a simulated clock, the loopback Kraken on it, a bot with a SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.loopback import START, Bot, open_bot
from krakenbot.domain import SimulatedClock, WallClock
from krakenbot.testing import FakeKraken


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(START)


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now) as fk:
        yield fk


@pytest.fixture
def wall_fake() -> Iterator[FakeKraken]:
    """The loopback Kraken on the wall clock, for ``open_loop``: it compares the local clock with Kraken's."""
    with FakeKraken(clock=WallClock().now) as fk:
        yield fk


@pytest.fixture
def bot(tmp_path: Path, fake: FakeKraken, clock: SimulatedClock) -> Iterator[Bot]:
    opened = open_bot(tmp_path, fake=fake, clock=clock)
    try:
        yield opened
    finally:
        opened.store.close()

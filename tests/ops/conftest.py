"""Fixtures of the ops tests: a loopback bot (live mode, SQLite store) whose ``run`` ticks every 50 ms."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.loopback import Bot, ticking_bot


@pytest.fixture
def fast_bot(tmp_path: Path) -> Iterator[Bot]:
    with ticking_bot(tmp_path) as bot:
        yield bot

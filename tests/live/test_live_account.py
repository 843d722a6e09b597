"""Two ``python run.py live --force`` processes on one Kraken account, from two working directories
(two stores): the second is refused at start with exit code 2, before any order (issue 11, item 2)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from krakenbot.live.account_lock import account_fingerprint
from krakenbot.testing import FakeKraken
from live.e2e_support import API_KEY, Stderr, finish, orders, start_live, wait_until

pytestmark = pytest.mark.slow  # runs `python run.py live` as subprocesses


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(seed=11) as fk:
        yield fk


def test_same_config_from_two_directories_trades_once(fake: FakeKraken, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first, _, deadline = start_live(fake, one)
    first_err = Stderr(first)
    try:
        wait_until("the first bot's entries", lambda: len(orders(fake)) >= 2, first, first_err, deadline)
        second, _, second_deadline = start_live(fake, two)  # another cwd: another store, the same account
        second_err = Stderr(second)
        log = finish(second, second_err, second_deadline)
        assert second.returncode == 2, log
        refusal = [line for line in log.splitlines() if line.startswith("refused:")]
        assert len(refusal) == 1 and f"(pid {first.pid})" in refusal[0], log
        assert account_fingerprint(API_KEY) in refusal[0] and API_KEY not in log
        assert second_err.stdout().startswith(f"store: sqlite:///{two / 'krakenbot.db'}")
        assert not (two / "krakenbot.db").exists()  # refused before its store was opened, hence before any order
        assert first.poll() is None  # the first one trades on
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGTERM)
        finish(first, first_err, deadline + 30)
    assert first.returncode == 0

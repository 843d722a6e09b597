"""The progress bar helper: shown only on a terminal outside CI, and counting either way."""

from __future__ import annotations

import pytest

from krakenbot.progress import progress_bar, should_show


@pytest.mark.parametrize(("env", "tty", "shown"), [
    ({}, True, True),
    ({"CI": "true"}, True, False),
    ({"CI": "1"}, True, False),
    ({"CI": "false"}, True, True),
    ({"CI": ""}, True, True),
    ({}, False, False),
])
def test_should_show_only_on_a_terminal_outside_ci(env: dict[str, str], tty: bool, shown: bool) -> None:
    assert should_show(env, is_tty=tty) is shown


def test_progress_bar_disabled_still_counts() -> None:
    with progress_bar(100, "Backtest", enabled=False) as bar:
        bar.advance(30)
        bar.advance()
    assert (bar.completed, bar.total) == (31, 100)


def test_progress_bar_under_pytest_is_silent(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar(10, "Backtest", enabled=True) as bar:  # stderr is captured: not a terminal
        bar.advance(10)
    assert bar.completed == 10
    assert capsys.readouterr().err == ""

"""``paper``/``live`` start-up against the loopback Kraken: each documented exit code, one clear line, no traceback.

Issue 11 item 10. In-process (``CliRunner``); the operator logging set-up is skipped so the test's own
log capture stays intact. Exit codes: 0 stopped, 1 halted, 2 refused to start, 3 Kraken unreachable.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders.cli import free_port, loopback_config
from builders.disk import DiskFull
from krakenbot.cli import app
from krakenbot.store.lock import acquire_instance_lock
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken
from live.e2e_support import warm_candle_cache


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken() as fk:
        yield fk


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # the candle cache (.cache/candles) lives here


def _config(tmp_path: Path, url: str, *, retries: int = 1) -> Path:
    path = tmp_path / "paper.yaml"
    path.write_text(loopback_config(url, tmp_path / "krakenbot.db", retries=retries))
    return path


def test_two_500s_on_tickers_at_start_are_retried_and_the_run_starts(tmp_path: Path, fake: FakeKraken) -> None:
    warm_candle_cache(fake, tmp_path)
    fake.inject("status", path="tickers", times=2, status=500)  # one client retry each: the first try fails
    result = CliRunner().invoke(app, ["paper", "--config", str(_config(tmp_path, fake.url)), "--max-ticks", "1"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


def test_kraken_unreachable_at_start_prints_one_line_and_exits_3(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, ["paper", "--config", str(_config(tmp_path, url, retries=2)), "--max-ticks", "1"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # a clean exit
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("not started: Kraken unreachable at start after 3 attempts")
    assert sum("not started" in line for line in lines) == 1


def test_a_second_instance_on_the_same_store_is_refused_with_exit_2(tmp_path: Path, fake: FakeKraken) -> None:
    config = _config(tmp_path, fake.url)
    with acquire_instance_lock(f"sqlite:///{tmp_path / 'krakenbot-paper.db'}"):  # paper's own store
        result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "1"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("refused: another Krakenbot instance")
    assert fake.requests_to("tickers") == []  # refused before asking Kraken anything


def test_the_store_used_is_printed_once_at_start(tmp_path: Path, fake: FakeKraken) -> None:
    warm_candle_cache(fake, tmp_path)
    config = tmp_path / "default-store.yaml"  # store.url left out: the per-user data directory's krakenbot.db
    text = loopback_config(fake.url, "unused")
    config.write_text(text.replace("store:\n  url: sqlite:///unused\n", ""))
    result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "1"])
    assert result.exit_code == 0, result.output
    db = Path(os.environ["KRAKENBOT_DATA_DIR"]) / "krakenbot-paper.db"  # paper's own store beside krakenbot.db
    assert [line for line in result.stdout.splitlines() if line.startswith("store:")] == [f"store: sqlite:///{db}"]
    assert db.exists() and not (tmp_path / "krakenbot-paper.db").exists()


def test_a_store_that_cannot_be_written_is_refused_with_exit_2_before_any_request(
        tmp_path: Path, fake: FakeKraken) -> None:
    config = _config(tmp_path, fake.url)
    with SqlStore(f"sqlite:///{tmp_path / 'krakenbot-paper.db'}") as store:  # paper's own store
        disk = DiskFull(store.engine)
        disk.fill()
    try:
        result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "1"])
    finally:
        disk.free()
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("refused: the store")
    assert "database or disk is full" in lines[0] and lines[0].endswith(
        "free disk space, then start again: the restart reconciles from Kraken")
    assert fake.requests == []  # refused before asking Kraken anything

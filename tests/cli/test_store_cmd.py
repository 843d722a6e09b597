"""``store status | adopt | repair`` exit codes and messages, and ``paper``'s own store, against the loopback Kraken.

The happy paths with positions (adopt a lost store's position, repair a store that disagrees) are in
``tests/faults/test_store_faults.py``; here: each documented refusal, in one clear line, nothing written.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from builders.cli import loopback_config
from krakenbot.cli import app
from krakenbot.store.lock import acquire_instance_lock
from krakenbot.store.sql import SqlStore
from krakenbot.testing import FakeKraken
from live.e2e_support import API_KEY, API_SECRET, warm_candle_cache


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken() as fk:
        yield fk


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", API_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", API_SECRET)
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, url: str, db: str = "live.db") -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(loopback_config(url, tmp_path / db, retries=0))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_status_on_a_store_that_agrees_exits_0_and_writes_nothing(tmp_path: Path, fake: FakeKraken) -> None:
    result = run("store", "status", "--config", str(config(tmp_path, fake.url)))
    assert result.exit_code == 0, result.output
    assert "nothing to do: the store and Kraken agree" in result.output
    with SqlStore(f"sqlite:///{tmp_path / 'live.db'}") as store:
        assert store.mode() is None and store.events() == []


def test_adopt_and_repair_with_nothing_to_do_claim_the_store_as_live(tmp_path: Path, fake: FakeKraken) -> None:
    path = config(tmp_path, fake.url)
    assert run("store", "adopt", "--config", str(path)).exit_code == 0
    repaired = run("store", "repair", "--config", str(path), "--yes")
    assert repaired.exit_code == 0 and "repaired: 0 adjustments" in repaired.output
    with SqlStore(f"sqlite:///{tmp_path / 'live.db'}") as store:
        assert store.mode() == "live"


def test_repair_without_yes_writes_nothing_and_exits_2(tmp_path: Path, fake: FakeKraken) -> None:
    result = run("store", "repair", "--config", str(config(tmp_path, fake.url)))
    assert result.exit_code == 2 and "re-run with --yes" in result.stderr


def test_store_commands_need_the_live_keys(tmp_path: Path, fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAKEN_FUTURES_API_SECRET")
    result = run("store", "adopt", "--config", str(config(tmp_path, fake.url)))
    assert result.exit_code == 2 and "KRAKEN_FUTURES_API_SECRET" in result.stderr
    assert fake.requests == []


def test_store_commands_refuse_while_live_holds_the_store(tmp_path: Path, fake: FakeKraken) -> None:
    path = config(tmp_path, fake.url)
    with acquire_instance_lock(f"sqlite:///{tmp_path / 'live.db'}"):
        result = run("store", "repair", "--config", str(path), "--yes")
    assert result.exit_code == 2 and result.stderr.startswith("refused: another Krakenbot instance")
    assert "stop `live` first" in result.stderr and fake.requests == []


def test_store_commands_refuse_a_paper_store(tmp_path: Path, fake: FakeKraken) -> None:
    with SqlStore(f"sqlite:///{tmp_path / 'live.db'}") as store:
        store.claim_mode("paper")
    for command in ("status", "adopt"):
        result = run("store", command, "--config", str(config(tmp_path, fake.url)))
        assert result.exit_code == 2 and "created by `paper`; `live` refuses" in result.stderr


def test_store_command_with_kraken_unreachable_exits_3(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("store", "status", "--config", str(config(tmp_path, f"http://127.0.0.1:{port}")))
    assert result.exit_code == 3 and result.stderr.startswith("not done: Kraken unreachable")
    assert "Traceback" not in result.output


def test_paper_writes_its_own_store_and_says_it_starts_flat(
        tmp_path: Path, fake: FakeKraken, caplog: pytest.LogCaptureFixture) -> None:
    warm_candle_cache(fake, tmp_path)
    with caplog.at_level(logging.INFO, logger="krakenbot.live.wiring"):
        result = run("paper", "--config", str(config(tmp_path, fake.url)), "--max-ticks", "1")
    assert result.exit_code == 0, result.output
    [line] = [r.getMessage() for r in caplog.records if "starts flat" in r.getMessage()]
    assert "10,000 USD" in line and "live-paper.db" in line
    assert not (tmp_path / "live.db").exists()
    with SqlStore(f"sqlite:///{tmp_path / 'live-paper.db'}") as store:
        assert store.mode() == "paper"

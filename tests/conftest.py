"""Suite-wide fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import krakenbot.logs


@pytest.fixture(autouse=True)
def _fresh_secret_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets (a ``KrakenClient`` registers its keys process-wide)."""
    monkeypatch.setattr(krakenbot.logs, "_registered", set())


@pytest.fixture(autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-user data and state directories (default store, account locks) of each test are its own,
    never the developer's ``~/.local`` (subprocesses inherit them)."""
    base = Path(tmp_path_factory.mktemp("user"))
    monkeypatch.setenv("KRAKENBOT_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("KRAKENBOT_STATE_DIR", str(base / "state"))

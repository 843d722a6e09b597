"""Suite-wide fixtures."""

from __future__ import annotations

import pytest

import krakenbot.logs


@pytest.fixture(autouse=True)
def _fresh_secret_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no registered secrets (a ``KrakenClient`` registers its keys process-wide)."""
    monkeypatch.setattr(krakenbot.logs, "_registered", set())

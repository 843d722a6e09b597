"""The live wiring logs ShockGuard settings that cannot mean what they say, once, at start."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from krakenbot.config.models import AppConfig
from krakenbot.live.wiring import build_loop
from krakenbot.testing import FakeKraken


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken() as fk:
        yield fk


def paper_cfg(fake: FakeKraken, tmp_path: Path, **risk: object) -> AppConfig:
    return AppConfig.model_validate({
        "exchange": {"spot_base_url": fake.url, "futures_base_url": fake.url, "client_rate_limit": False,
                     "timeout_seconds": 2, "max_retries": 0},
        "universe": {"symbols": ["BTC/USD", "ETH/USD"]},
        "store": {"url": f"sqlite:///{tmp_path}/krakenbot.db"}, "risk": risk})


def shock_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "krakenbot.live.wiring" and r.levelno == logging.WARNING]


def test_marketwide_count_above_the_symbols_is_warned_naming_the_key(fake, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="krakenbot.live.wiring"):
        loop = build_loop(paper_cfg(fake, tmp_path, shock_marketwide_count=3), paper=True, cache_dir=tmp_path / "c")
    assert len(loop.futures) == 2
    (warning,) = shock_warnings(caplog)
    assert warning.startswith("risk.shock_marketwide_count: 3 is above the 2 traded symbol(s)")


def test_a_meaningful_config_starts_without_a_shock_warning(fake, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="krakenbot.live.wiring"):
        build_loop(paper_cfg(fake, tmp_path, shock_marketwide_count=2), paper=True, cache_dir=tmp_path / "c")
    assert shock_warnings(caplog) == []

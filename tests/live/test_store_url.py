"""Which store a run writes: live the configured one, paper its own (never the live store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from krakenbot.config import AppConfig
from krakenbot.config.loader import load_config
from krakenbot.domain.errors import ConfigError
from krakenbot.live.wiring import store_url


def cfg(**store: str) -> AppConfig:
    return AppConfig.model_validate({"store": store})


@pytest.mark.parametrize(("url", "paper"), [
    ("sqlite:///krakenbot.db", "sqlite:///krakenbot-paper.db"),
    ("sqlite:////srv/bot/live.sqlite3", "sqlite:////srv/bot/live-paper.sqlite3"),
    ("sqlite:////srv/bot.d/store", "sqlite:////srv/bot.d/store-paper"),
    ("sqlite:////srv/k.db?timeout=3", "sqlite:////srv/k-paper.db?timeout=3"),
])
def test_paper_derives_its_own_sqlite_store_from_the_live_one(url: str, paper: str) -> None:
    assert store_url(cfg(url=url), paper=False) == url
    assert store_url(cfg(url=url), paper=True) == paper


def test_paper_url_when_given_is_used_and_anchored_like_url(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text("store:\n  url: sqlite:///live.db\n  paper_url: sqlite:///sim.db\n")
    loaded = load_config(path)
    assert store_url(loaded, paper=True) == f"sqlite:///{tmp_path.resolve()}/sim.db"
    assert store_url(loaded, paper=False) == f"sqlite:///{tmp_path.resolve()}/live.db"


def test_paper_on_postgresql_needs_a_paper_url() -> None:
    with pytest.raises(ConfigError, match=r"store\.paper_url"):
        store_url(cfg(url="postgresql+psycopg://bot@db/krakenbot"), paper=True)
    assert store_url(cfg(url="postgresql+psycopg://bot@db/krakenbot", paper_url="postgresql+psycopg://bot@db/paper"),
                     paper=True) == "postgresql+psycopg://bot@db/paper"

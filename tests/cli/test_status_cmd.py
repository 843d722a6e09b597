"""``python run.py status``: from the store (a loopback bot's SQLite store, read while nobody locks it) and from
the status API (a loopback bot running in a thread behind ``serve_api``); exit codes 0 / 1 / 2 / 3."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from builders.api import TOKEN
from builders.cli import loopback_config
from builders.loop_thread import running
from faults.loopback import BTC, START, Bot, ticking_bot
from krakenbot.cli import app
from krakenbot.config.models import ApiConfig, OpsConfig
from krakenbot.ops.api_server import serve_api


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["status", *args])


@pytest.fixture
def now_bot(tmp_path: Path) -> Iterator[Bot]:
    """A loopback bot on a simulated clock that starts at the wall clock (its records are fresh)."""
    with ticking_bot(tmp_path, start=datetime.now(UTC).replace(microsecond=0)) as bot:
        yield bot


def _config(tmp_path: Path, bot: Bot) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(loopback_config(bot.fake.url, bot.cfg.store.url))
    return path


def test_status_from_the_store_prints_health_positions_orders_and_events(tmp_path: Path, now_bot: Bot) -> None:
    now_bot.start()
    now_bot.auction(now_bot.signal(BTC))
    size = now_bot.exchange_positions()[BTC]
    result = run("--config", str(_config(tmp_path, now_bot)))
    assert result.exit_code == 0, result.output
    assert "health: ok: last slow tick recorded" in result.output
    assert f"{BTC} long {float(size):g} @" in result.output
    assert "open orders (1):" in result.output and f"{BTC} stop sell {size}" in result.output


def test_status_from_an_old_store_says_stale_and_exits_1(tmp_path: Path) -> None:
    with ticking_bot(tmp_path, start=START) as bot:  # January: long before the wall clock
        bot.start()
        bot.auction(bot.signal(BTC))
        result = run("--config", str(_config(tmp_path, bot)))
    assert result.exit_code == 1, result.output
    assert "STALE" in result.output and "is the bot running?" in result.output


def test_status_without_a_store_exits_3(tmp_path: Path, now_bot: Bot) -> None:
    result = run("--config", str(_config(tmp_path, now_bot)), "--paper")  # paper never ran: no paper store
    assert result.exit_code == 3 and "no store at" in result.output and "krakenbot-paper.db" in result.output


def test_status_from_the_api_prints_readiness_and_positions_and_refuses_a_wrong_token(
        now_bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = now_bot.start()
    now_bot.auction(now_bot.signal(BTC))
    now_bot.signals.next = []
    cfg = now_bot.cfg.model_copy(update={"ops": OpsConfig(api=ApiConfig(enabled=True, port=0))})
    with serve_api(cfg, loop, store=now_bot.store, token=TOKEN) as server, running(loop):
        assert server is not None
        monkeypatch.setenv("KRAKENBOT_API_TOKEN", TOKEN)
        board = server.board
        deadline = time.monotonic() + 10
        while board.snapshot().last_good_tick is None:  # one good tick in (a condition with a deadline)
            assert time.monotonic() < deadline, "no good tick within 10 s"
            time.sleep(0.02)
        result = run("--api", server.url)
        monkeypatch.setenv("KRAKENBOT_API_TOKEN", "wrong-token-0123456789abcdef")
        refused = run("--api", server.url)
        url = server.url
    assert result.exit_code == 0, result.output
    assert "health: ready: last good tick" in result.output and "mode: active" in result.output
    assert f"{BTC} long" in result.output and "liquidation buffer" in result.output
    assert refused.exit_code == 2 and "token was refused" in refused.output
    gone = run("--api", url)  # the server has stopped
    assert gone.exit_code == 3 and "no answer" in gone.output

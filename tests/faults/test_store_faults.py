"""Stores that do not match the account (issue 11 item 6), against the loopback Kraken with the real ccxt
client, real SQLite stores and the real commands (``live``, ``paper``'s ``open_loop``, ``store ...``).

(a) a new store against an account holding our position and stop: ``live`` refuses (exit 4) with
    instructions, ``store adopt`` takes them over, then ``live`` starts and does not open a duplicate;
(b) live -> paper -> live with one config: paper writes its own store, never the live one;
(c) a store whose fills disagree with the exchange: ``store repair --yes`` fixes it, ``live`` starts.
The simulated clock starts at the wall clock here: the commands read Kraken's recent fills by wall time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from builders.cli import loopback_config
from faults.loopback import BTC, ETH, PREFIX, SENTINEL_KEY, SENTINEL_SECRET, Bot, dump_store, open_bot
from krakenbot.cli import app
from krakenbot.config import AppConfig
from krakenbot.config.loader import load_config
from krakenbot.domain import Fill, OrderSide, SimulatedClock
from krakenbot.live.restart import ReconcileError, UnknownOrdersError
from krakenbot.live.wiring import open_loop
from krakenbot.store.sql import SqlStore, StoreModeError
from krakenbot.testing import FakeKraken
from live.e2e_support import warm_candle_cache


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now) as fk:
        yield fk


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KRAKEN_FUTURES_API_KEY", SENTINEL_KEY)
    monkeypatch.setenv("KRAKEN_FUTURES_API_SECRET", SENTINEL_SECRET)
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # the live command's candle cache (.cache/candles) lives here


def write_config(tmp_path: Path, fake: FakeKraken, bot: Bot) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(loopback_config(fake.url, bot.cfg.store.url, instance_id=PREFIX))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def entries(b: Bot, symbol: str) -> list[str]:
    return [str(r.param("cliOrdId")) for r in b.sent(symbol)
            if r.param("orderType") == "ioc" and (r.param("reduceOnly") or "false") == "false"]


def test_new_store_refuses_our_position_with_instructions_then_store_adopt_and_live_does_not_double_it(
        tmp_path: Path, fake: FakeKraken, clock: SimulatedClock) -> None:
    old = open_bot(tmp_path / "old", fake=fake, clock=clock)
    old.start()
    old.auction(old.signal(BTC))
    size = old.exchange_positions()[BTC]
    [entry] = entries(old, BTC)
    [stop] = [str(r.param("cliOrdId")) for r in old.sent(BTC) if r.param("orderType") == "stp"]
    old.crash()
    old.store.close()  # the store is lost; a new one takes its place

    new = open_bot(tmp_path / "new", fake=fake, clock=clock)
    config = write_config(tmp_path, fake, new)
    fake.clear_requests()
    refused = run("live", "--force", "--config", str(config), "--max-ticks", "1")
    assert refused.exit_code == 4, refused.output
    message = refused.stderr
    assert "Traceback" not in refused.output and message.startswith("refused: ")
    assert f"position {BTC} long {float(size)}" in message and stop in message and entry in message
    assert "another live process" in message and "store adopt" in message
    assert entries(new, BTC) == [] and new.store.intents() == [] and new.store.fills() == []  # nothing adopted
    assert new.store.events("unknown_ours")
    with pytest.raises(UnknownOrdersError):
        new.start()  # the loop's own path refuses as well

    status = run("store", "status", "--config", str(config))
    assert status.exit_code == 1 and f"unknown position of ours: {BTC} long" in status.output
    adopted = run("store", "adopt", "--config", str(config))
    assert adopted.exit_code == 0, adopted.output
    assert f"adopt order {stop}" in adopted.output and f"adopt order {entry}" in adopted.output
    assert "adopted: 2 orders, 1 fills, 0 adjustments" in adopted.output  # the fills explain the position
    assert new.stored_positions() == {BTC: size}

    warm_candle_cache(fake, tmp_path)
    started = run("live", "--force", "--config", str(config), "--max-ticks", "2")
    assert started.exit_code == 0, started.output
    new.start()
    new.auction(new.signal(BTC))  # the same signal: held, not doubled
    assert entries(new, BTC) == [] and new.open_stops(BTC) == [size]
    assert new.exchange_positions()[BTC] == size
    new.check()


def test_live_then_paper_then_live_leaves_the_live_store_untouched(
        tmp_path: Path, fake: FakeKraken, clock: SimulatedClock) -> None:
    bot = open_bot(tmp_path, fake=fake, clock=clock)
    bot.start()
    bot.auction(bot.signal(BTC))
    bot.crash()
    cfg = load_config(write_config(tmp_path, fake, bot))
    with open_loop(cfg, paper=False, cache_dir=tmp_path / "cache") as live:  # a live start claims its store
        assert live.futures == (ETH, BTC)
    before = dump_store(bot.store)

    with open_loop(cfg, paper=True, cache_dir=tmp_path / "cache") as paper:
        paper.fast_tick()
        paper.slow_tick()  # the test strategy is always long: paper opens simulated positions
    assert dump_store(bot.store) == before, "paper wrote into the live store"
    with SqlStore(f"sqlite:///{tmp_path}/krakenbot-paper.db") as paper_store:
        assert paper_store.mode() == "paper" and paper_store.intents()
    assert [e for e in entries(bot, BTC) if e] and len(entries(bot, BTC)) == 1  # paper sent nothing to Kraken

    on_live = cfg.model_copy(update={"store": cfg.store.model_copy(update={"paper_url": cfg.store.url})})
    with pytest.raises(StoreModeError, match="created by `live`") as err, \
            open_loop(on_live, paper=True, cache_dir=tmp_path / "cache"):
        pass
    assert cfg.store.url.removeprefix("sqlite:///") in str(err.value)
    on_paper = cfg.model_copy(update={"store": cfg.store.model_copy(
        update={"url": f"sqlite:///{tmp_path}/krakenbot-paper.db"})})
    with pytest.raises(StoreModeError, match="created by `paper`"), \
            open_loop(on_paper, paper=False, cache_dir=tmp_path / "cache"):
        pass

    with open_loop(cfg, paper=False, cache_dir=tmp_path / "cache") as live:
        assert live.futures == (ETH, BTC)
    bot.start()
    bot.check()


def test_store_that_disagrees_is_repaired_from_kraken_then_live_starts(
        tmp_path: Path, fake: FakeKraken, clock: SimulatedClock) -> None:
    bot = open_bot(tmp_path, fake=fake, clock=clock)
    bot.start()
    bot.auction(bot.signal(BTC))
    size = bot.exchange_positions()[BTC]
    bot.crash()
    # A fill the exchange never made (as an older paper run on this store wrote): fills now say 0 contracts.
    bot.store.record_fill(Fill(trade_id="paper-1", client_order_id=f"{PREFIX}-paper", symbol=BTC,
                               side=OrderSide.SELL, size=size, price=Decimal(repr(bot.mark(BTC))),
                               fee_usd=Decimal(0), ts=clock.now()))
    with pytest.raises(ReconcileError, match=rf"{BTC}: fills say 0\.0000 contracts, the exchange holds {size}"):
        bot.start()
    config = write_config(tmp_path, fake, bot)

    shown = run("store", "repair", "--config", str(config))
    assert shown.exit_code == 2 and f"adjust {BTC}: +{size} contracts" in shown.output
    assert "re-run with --yes" in shown.stderr
    assert bot.stored_positions() == {}  # nothing written without --yes
    repaired = run("store", "repair", "--config", str(config), "--yes")
    assert repaired.exit_code == 0, repaired.output
    assert bot.stored_positions() == bot.exchange_positions() == {BTC: size}
    assert [e.symbol for e in bot.store.events("store_repaired")] == [BTC]

    bot.start()
    assert bot.plans[-1].ok
    bot.auction(bot.signal(BTC))
    assert len(entries(bot, BTC)) == 1 and bot.open_stops(BTC) == [size]
    assert bot.stored_positions() == bot.exchange_positions()


def test_paper_on_postgresql_without_paper_url_is_refused_before_any_request(fake: FakeKraken) -> None:
    cfg = AppConfig.model_validate({"exchange": {"spot_base_url": fake.url, "futures_base_url": fake.url},
                                    "store": {"url": "postgresql+psycopg://bot@127.0.0.1:1/krakenbot"}})
    from krakenbot.domain.errors import ConfigError
    with pytest.raises(ConfigError, match="paper_url"), open_loop(cfg, paper=True):
        pass
    assert fake.requests == []

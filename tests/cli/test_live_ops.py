"""``paper`` with ``ops:`` on, against the loopback Kraken: start and stop (with why) and a refusal to start
are alerts at a loopback JSON webhook; an alert URL naming an unset variable refuses to start (exit 2)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builders.alert_receiver import AlertReceiver, alert_receiver
from builders.cli import free_port, loopback_config
from krakenbot.cli import app
from krakenbot.store.lock import acquire_instance_lock
from krakenbot.testing import FakeKraken
from live.e2e_support import warm_candle_cache


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken() as fk:
        yield fk


@pytest.fixture
def receiver() -> Iterator[AlertReceiver]:
    with alert_receiver() as r:
        yield r


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("krakenbot.logs.setup_logging", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)  # the candle cache (.cache/candles) lives here


def _config(tmp_path: Path, fake: FakeKraken, url: str, metrics_port: int | None = None) -> Path:
    path = tmp_path / "paper.yaml"
    metrics = f"  metrics:\n    enabled: true\n    port: {metrics_port}\n" if metrics_port else ""
    path.write_text(loopback_config(fake.url, tmp_path / "krakenbot.db")
                    + f"ops:\n  alerts:\n    urls: ['{url}']\n" + metrics)
    return path


def test_paper_start_and_stop_are_alerts_with_why(tmp_path: Path, fake: FakeKraken, receiver: AlertReceiver,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    warm_candle_cache(fake, tmp_path)
    monkeypatch.setenv("KB_HOOK", "hook-secret-77aa")
    port = free_port()
    config = _config(tmp_path, fake, receiver.url("hook/${KB_HOOK}"), metrics_port=port)
    result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "2"])
    assert result.exit_code == 0, result.output
    with socket.socket() as sock:  # the metrics server stopped with the run: its port is free again
        sock.bind(("127.0.0.1", port))
    got = receiver.all()  # the run sent what it queued before it returned
    assert [r.kind for r in got] == ["start", "stop"]
    assert got[0].message.startswith("paper started: 2 contracts (PF_ETHUSD, PF_XBTUSD)")
    assert got[1].message.startswith("paper stopped: --max-ticks 2 reached")
    assert all(r.path == "/hook/hook-secret-77aa" and "hook-secret-77aa" not in r.message for r in got)


def test_a_refusal_to_start_is_an_alert(tmp_path: Path, fake: FakeKraken, receiver: AlertReceiver) -> None:
    config = _config(tmp_path, fake, receiver.url())
    with acquire_instance_lock(f"sqlite:///{tmp_path / 'krakenbot-paper.db'}"):
        result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "1"])
    assert result.exit_code == 2, result.output
    [got] = receiver.all()
    assert got.kind == "refused_to_start"
    assert got.message.startswith("paper refused to start: InstanceLockedError: another Krakenbot instance")


def test_an_alert_url_naming_an_unset_variable_refuses_to_start(tmp_path: Path, fake: FakeKraken,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KB_UNSET_HOOK", raising=False)
    config = _config(tmp_path, fake, "json://127.0.0.1:9/${KB_UNSET_HOOK}")
    result = CliRunner().invoke(app, ["paper", "--config", str(config), "--max-ticks", "1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == ("ops.alerts.urls[0]: environment variable KB_UNSET_HOOK is not set (the URL "
                                     "refers to ${KB_UNSET_HOOK}); export it or remove the URL")
    assert fake.requests == []  # refused before asking Kraken anything


def _api_config(tmp_path: Path, fake: FakeKraken, port: int) -> Path:
    path = tmp_path / "paper.yaml"
    path.write_text(loopback_config(fake.url, tmp_path / "krakenbot.db")
                    + f"ops:\n  api:\n    enabled: true\n    port: {port}\n")
    return path


def test_the_status_api_without_a_token_refuses_to_start(tmp_path: Path, fake: FakeKraken,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAKENBOT_API_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["paper", "--config", str(_api_config(tmp_path, fake, free_port())),
                                      "--max-ticks", "1"])
    assert result.exit_code == 2, result.output
    assert "KRAKENBOT_API_TOKEN" in result.stderr
    assert fake.requests == []  # refused before asking Kraken anything


def test_paper_serves_the_status_api_while_it_runs_and_frees_its_port(
        tmp_path: Path, fake: FakeKraken, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    from krakenbot.live.trading import LiveTrading

    warm_candle_cache(fake, tmp_path)
    monkeypatch.setenv("KRAKENBOT_API_TOKEN", "t0ken-for-the-runtime-test")
    port = free_port()
    seen: list[tuple[int, int]] = []
    real_run = LiveTrading.run

    def run_and_ask(self: LiveTrading, stop, *, max_ticks=None):  # type: ignore[no-untyped-def]
        ticks = real_run(self, stop, max_ticks=max_ticks)  # the API stays up until the runtime closes
        base = f"http://127.0.0.1:{port}"
        seen.append((httpx.get(f"{base}/api/health").status_code,
                     httpx.get(f"{base}/api/positions",
                               headers={"Authorization": "Bearer t0ken-for-the-runtime-test"}).status_code))
        return ticks

    monkeypatch.setattr(LiveTrading, "run", run_and_ask)
    result = CliRunner().invoke(app, ["paper", "--config", str(_api_config(tmp_path, fake, port)),
                                      "--max-ticks", "2"])
    assert result.exit_code == 0, result.output
    assert seen == [(200, 200)]
    with socket.socket() as sock:  # the API stopped with the run: its port is free again
        sock.bind(("127.0.0.1", port))


def test_paper_with_the_api_on_starts_in_the_mode_the_operator_left(
        tmp_path: Path, fake: FakeKraken, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from datetime import UTC, datetime

    from krakenbot.domain.journal import JournalEvent
    from krakenbot.domain.vocabulary import EventKind
    from krakenbot.store.sql import SqlStore

    warm_candle_cache(fake, tmp_path)
    monkeypatch.setenv("KRAKENBOT_API_TOKEN", "t0ken-for-the-runtime-test")
    with SqlStore(f"sqlite:///{tmp_path / 'krakenbot-paper.db'}") as store:  # a pause journaled by the last run
        store.claim_mode("paper")
        store.record_event(JournalEvent(ts=datetime(2026, 1, 1, tzinfo=UTC), kind=EventKind.OPERATOR_PAUSE,
                                        symbol="*", detail="entries paused until resume (by test)"))
    caplog.set_level("WARNING")
    result = CliRunner().invoke(app, ["paper", "--config", str(_api_config(tmp_path, fake, free_port())),
                                      "--max-ticks", "1"])
    assert result.exit_code == 0, result.output
    assert "ALERT operator_pause: *: restored from the store at start: paused" in caplog.text


def test_a_paper_run_gives_back_the_signal_handlers_it_found(tmp_path: Path, fake: FakeKraken) -> None:
    import signal

    warm_candle_cache(fake, tmp_path)
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    path = tmp_path / "paper.yaml"
    path.write_text(loopback_config(fake.url, tmp_path / "krakenbot.db"))
    result = CliRunner().invoke(app, ["paper", "--config", str(path), "--max-ticks", "1"])
    assert result.exit_code == 0, result.output
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before

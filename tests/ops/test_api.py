"""The status API (FastAPI TestClient) over a loopback bot running in a thread: every endpoint but
``/api/health`` and the page refuses without or with a wrong token, and answers with the right one; a flatten
through the API closes reduce-only through the executor and is journaled; the config is served redacted."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from builders.api import TOKEN
from builders.loop_thread import running
from faults.loopback import BTC, Bot
from krakenbot.config.models import AlertsConfig, ApiConfig, AppConfig, OpsConfig, StoreConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.domain.vocabulary import EventKind, OrderReason
from krakenbot.ops.api import create_app, redacted_config
from krakenbot.ops.api_server import serve_api
from krakenbot.ops.status import StatusBoard

PUBLIC = {("GET", "/"), ("GET", "/api/health")}
EXPECTED = {"/api/ready", "/api/status", "/api/account", "/api/positions", "/api/shockguard", "/api/orders",
            "/api/fills", "/api/events", "/api/plan", "/api/config", "/api/control/pause", "/api/control/resume",
            "/api/control/reduce-only", "/api/control/flatten"}


@dataclass
class Served:
    bot: Bot
    app: FastAPI
    client: TestClient
    board: StatusBoard

    def get(self, path: str, token: str | None = TOKEN) -> httpx.Response:
        return self.client.get(path, headers=_auth(token))

    def post(self, path: str, body: object = None, token: str | None = TOKEN) -> httpx.Response:
        return self.client.post(path, json=body, headers=_auth(token))


def _auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted((method, r.path) for r in app.routes if isinstance(r, APIRoute) for method in r.methods)


@pytest.fixture
def served(fast_bot: Bot) -> Iterator[Served]:
    loop = fast_bot.start()
    fast_bot.auction(fast_bot.signal(BTC))  # a position to show (before the loop's thread owns the loop)
    fast_bot.signals.next = []
    board = StatusBoard(loop)
    loop.tick_observers.append(board)
    cfg = fast_bot.cfg.model_copy(update={"ops": OpsConfig(api=ApiConfig(enabled=True, control_timeout_seconds=10))})
    app = create_app(cfg=cfg, board=board, controls=loop.controls, token=TOKEN, store=fast_bot.store)
    with running(loop), TestClient(app) as client:
        yield Served(bot=fast_bot, app=app, client=client, board=board)


def test_every_endpoint_but_health_and_the_page_refuses_a_missing_or_wrong_token_and_takes_the_right_one(
        served: Served) -> None:
    routes = _routes(served.app)
    assert {path for _, path in routes} == EXPECTED | {p for _, p in PUBLIC}  # a new endpoint is listed here
    wrong = [None, "", "wrong-token-0123456789abcdef", TOKEN[:-1], TOKEN + "x"]
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for token in wrong:
            answer = served.client.request(method, path, headers=_auth(token))
            assert answer.status_code == 401, (method, path, token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in answer.text
        basic = served.client.request(method, path, headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401, (method, path)
    _wait_for_tick(served)  # readiness is 200 once a good tick is in
    for method, path in routes:
        answer = served.client.request(method, path, headers=_auth(TOKEN))
        assert answer.status_code == 200, (method, path, answer.text)


def test_health_says_only_that_the_process_is_alive(served: Served) -> None:
    answer = served.get("/api/health", token=None)
    assert answer.status_code == 200 and answer.json() == {"status": "alive"}
    page = served.get("/", token=None)
    assert page.status_code == 200 and "<title>Krakenbot status</title>" in page.text
    assert "script-src 'sha256-" in page.headers["content-security-policy"]  # no other script may run
    assert page.headers["x-frame-options"] == "DENY"


def test_a_flatten_through_the_api_closes_reduce_only_through_the_executor_and_is_journaled(served: Served) -> None:
    bot = served.bot
    size = bot.exchange_positions()[BTC]
    _wait_for(served, lambda s: [p["symbol"] for p in s["positions"]] == [BTC])
    status = served.get("/api/status").json()
    [pos] = status["positions"]
    assert pos["size"] == float(size) and pos["side"] == "long" and pos["stop_price"] > 0
    acct, rate = status["account"], bot.live.instruments[BTC].maintenance_margin_rate(pos["notional_usd"])
    expected = (pos["mark_price"] - pos["liquidation_price"]) / pos["mark_price"] if pos["liquidation_price"] else (
        (acct["equity_usd"] - acct["maintenance_margin_usd"]) / (pos["notional_usd"] * (1 - rate)))
    assert pos["liquidation_buffer_pct"] == pytest.approx(expected) and expected > 0
    assert status["account"]["equity_usd"] > 0 and status["mode"] == "active" and status["readiness"]["ready"]
    assert [o["symbol"] for o in served.get("/api/orders").json()["orders"]] == [BTC]  # its stop

    answer = served.post("/api/control/flatten", {"symbol": BTC})
    assert answer.status_code == 200, answer.text
    outcome = answer.json()
    assert outcome["ok"] and outcome["closes"][0]["filled"] == str(size) and outcome["symbol"] == BTC
    assert BTC not in bot.exchange_positions() and bot.open_stops(BTC) == []
    [close] = [i for i in bot.store.intents() if i.reason == OrderReason.OPERATOR_STOP]
    assert close.reduce_only and close.symbol == BTC
    events = served.get("/api/events").json()["events"]
    assert events[0]["kind"] == EventKind.OPERATOR_FLATTEN and "status API from testclient" in events[0]["detail"]
    fills = served.get("/api/fills").json()["fills"]
    assert fills[0]["client_order_id"] == close.client_order_id
    _wait_for(served, lambda s: s["positions"] == [])

    refused = served.post("/api/control/flatten", {"symbol": "PF_NOPEUSD"})
    assert refused.status_code == 409 and "not traded" in refused.json()["detail"]
    assert served.post("/api/control/flatten", {"symbol": 5}).status_code == 422


def test_config_is_served_without_credentials() -> None:
    cfg = AppConfig(store=StoreConfig(url="postgresql+psycopg://bot:hunter2-secret@db/krakenbot"),
                    ops=OpsConfig(alerts=AlertsConfig(urls=["tgram://123456:AAbbSECRETtoken/42", "json://${HOOK}"])))
    text = str(redacted_config(cfg))
    assert "hunter2-secret" not in text and "AAbbSECRETtoken" not in text
    assert "tgram://***" in text and "postgresql+psycopg://bot:***@db/krakenbot" in text


def test_serve_api_serves_over_http_and_refuses_unsafe_settings(fast_bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = fast_bot.start()

    def cfg(**api: object) -> AppConfig:
        api_cfg = ApiConfig.model_validate({"enabled": True, "port": 0} | api)
        return fast_bot.cfg.model_copy(update={"ops": OpsConfig(api=api_cfg)})

    with serve_api(fast_bot.cfg, loop) as nothing:  # off by default: nothing served
        assert nothing is None
    monkeypatch.delenv("KRAKENBOT_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="KRAKENBOT_API_TOKEN"), serve_api(cfg(), loop):
        pass
    with pytest.raises(ConfigError, match="at least 16"), serve_api(cfg(), loop, token="short"):
        pass
    with pytest.raises(ConfigError, match=r"ops\.api\.host: 0\.0\.0\.0 is not a loopback address"), \
            serve_api(cfg(host="0.0.0.0"), loop, token=TOKEN):
        pass
    with pytest.raises(ConfigError, match=r"ops\.api\.tls_certfile"), \
            serve_api(cfg(host="0.0.0.0", tls_certfile="/nonexistent/c.pem", tls_keyfile="/nonexistent/k.pem"),
                      loop, token=TOKEN):
        pass
    monkeypatch.setenv("KRAKENBOT_API_TOKEN", TOKEN)
    with serve_api(cfg(), loop, store=fast_bot.store) as server:
        assert server is not None and server.board in loop.tick_observers
        assert httpx.get(f"{server.url}/api/health").json() == {"status": "alive"}
        assert httpx.get(f"{server.url}/api/status").status_code == 401
        assert httpx.get(f"{server.url}/api/status", headers=_auth(TOKEN)).json()["mode"] == "active"
        with pytest.raises(ConfigError, match=r"ops\.api\.port: cannot listen"), \
                serve_api(cfg(port=server.port), loop, token=TOKEN):
            pass
    assert loop.tick_observers == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/api/health", timeout=2)


def _wait_for_tick(served: Served) -> None:
    _wait_for(served, lambda s: s["ticks"] > 0 and s["last_tick_ok"])


def _wait_for(served: Served, ready: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> None:
    """Poll the API's status until ``ready(status)`` holds (a deadline on a condition, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        status = served.get("/api/status").json()
        if ready(status):
            return
        assert time.monotonic() < deadline, f"gave up waiting; last status: {status}"
        time.sleep(0.02)


def test_serve_api_serves_https_with_the_configured_certificate(fast_bot: Bot, tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: no certificate to serve TLS with")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    loop = fast_bot.start()
    api = ApiConfig(enabled=True, port=0, tls_certfile=cert, tls_keyfile=key)
    cfg = fast_bot.cfg.model_copy(update={"ops": OpsConfig(api=api)})
    trust = ssl.create_default_context(cafile=str(cert))
    with serve_api(cfg, loop, token=TOKEN) as server:
        assert server is not None and server.url.startswith("https://127.0.0.1:")
        assert httpx.get(f"{server.url}/api/health", verify=trust).json() == {"status": "alive"}
        assert httpx.get(f"{server.url}/api/ready", verify=trust).status_code == 401
    key.write_text("not a key")
    with pytest.raises(ConfigError, match="cannot load them"), serve_api(cfg, loop, token=TOKEN):
        pass

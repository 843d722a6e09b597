"""The loopback Kraken on its own: routes, Kraken's shapes, caps, auth and fault injection."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from krakenbot.testing import FakeKraken

DATA = Path(__file__).parents[1] / "data" / "kraken"
AUTH = {"APIKey": "key", "Authent": "sig"}


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(data_dir=DATA, credentials=None) as fk:  # shapes only: signatures in test_fake_kraken_auth
        yield fk


def call(fk: FakeKraken, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
         timeout: float = 5) -> tuple[int, Any]:
    req = urllib.request.Request(fk.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def call_json(fk: FakeKraken, path: str, **kw: Any) -> tuple[int, Any]:
    status, body = call(fk, path, **kw)
    return status, json.loads(body)


def test_server_binds_loopback_ephemeral_port_and_logs_requests(fake: FakeKraken) -> None:
    assert fake.url.startswith("http://127.0.0.1:") and fake.port > 0
    call(fake, "/derivatives/api/v3/tickers?foo=bar")
    [record] = fake.requests
    assert (record.method, record.path, record.query) == ("GET", "/derivatives/api/v3/tickers", {"foo": ["bar"]})
    assert record.ts.tzinfo is not None


def test_tickers_body_has_krakens_fields_and_required_contracts(fake: FakeKraken) -> None:
    status, body = call_json(fake, "/derivatives/api/v3/tickers")
    assert status == 200 and body["result"] == "success" and "serverTime" in body
    by_symbol = {t["symbol"]: t for t in body["tickers"]}
    for symbol in ("PF_XBTUSD", "PF_ETHUSD", "PF_THETAUSD", "PI_THETAUSD", "PF_LUNA2USD", "PI_XBTUSD",
                   "PF_SHIBUSD", "PF_1MBABYDOGEUSD"):
        assert symbol in by_symbol
    assert any(s.startswith("FF_XBTUSD_") for s in by_symbol)
    assert any(t.get("suspended") for s, t in by_symbol.items() if s.startswith("PF_"))
    fields = {"tag", "pair", "symbol", "markPrice", "bid", "ask", "last", "vol24h", "volumeQuote", "openInterest",
              "indexPrice", "fundingRate", "fundingRatePrediction", "suspended", "postOnly", "lastTime", "bidSize",
              "askSize", "open24h", "high24h", "low24h", "change24h"}
    assert fields <= set(by_symbol["PF_XBTUSD"])
    assert by_symbol["PF_XBTUSD"]["pair"] == "XBT:USD" and isinstance(by_symbol["PF_XBTUSD"]["markPrice"], float)


def test_saved_tickers_file_matches_the_servers_shape() -> None:
    saved = json.loads((Path(__file__).parents[1] / "data" / "futures_tickers.json").read_text())
    with FakeKraken(clock=lambda: datetime(2026, 1, 15, 12, tzinfo=UTC)) as fk:
        assert fk.tickers_payload() == saved


def test_ohlc_answers_only_the_newest_720_candles_whatever_since() -> None:
    now = datetime(2023, 2, 15, 23, 30, tzinfo=UTC)  # the recording's last candle (23:00) is forming
    with FakeKraken(data_dir=DATA, credentials=None, clock=lambda: now) as fk:
        window_start = int(datetime(2023, 1, 17, tzinfo=UTC).timestamp())  # 23:00 minus 719 hours
        for since in ("", "&since=0", f"&since={int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())}"):
            _, body = call_json(fk, f"/0/public/OHLC?pair=XBTUSD&interval=60{since}")
            rows = body["result"]["XXBTZUSD"]
            assert len(rows) == 720 and rows[0][0] == window_start and rows[-1][0] == window_start + 719 * 3600
            assert body["result"]["last"] == rows[-1][0] and len(rows[0]) == 8 and isinstance(rows[0][1], str)
        _, body = call_json(fk, f"/0/public/OHLC?pair=XBTUSD&interval=60&since={window_start + 700 * 3600}")
        rows = body["result"]["XXBTZUSD"]
        assert [r[0] for r in rows] == [window_start + h * 3600 for h in range(701, 720)]  # since is exclusive


def test_charts_cap_at_2000_per_window(fake: FakeKraken) -> None:
    now = int(datetime.now(UTC).timestamp()) // 60 * 60
    _, body = call_json(fake, f"/api/charts/v1/trade/PF_XBTUSD/1m?from={now - 3000 * 60}&to={now}")
    assert len(body["candles"]) == 2000 and body["more_candles"] is True
    assert body["candles"][0]["time"] == (now - 3000 * 60) * 1000


def test_private_endpoint_without_auth_headers_is_refused(fake: FakeKraken) -> None:
    status, body = call_json(fake, "/derivatives/api/v3/accounts")
    assert status == 401 and body["error"] == "authenticationError"
    status, body = call_json(fake, "/derivatives/api/v3/accounts", headers=AUTH)
    assert status == 200 and body["accounts"]["flex"]["marginEquity"] == 10_000.0


def test_sendorder_duplicate_client_id_and_non_marketable_ioc(fake: FakeKraken) -> None:
    path = "/derivatives/api/v3/sendorder?orderType=ioc&symbol=PF_XBTUSD&side=buy&size=0.01&limitPrice=98000"
    _, first = call_json(fake, path + "&cliOrdId=a", method="POST", headers=AUTH)
    assert first["sendStatus"]["status"] == "placed"
    assert first["sendStatus"]["orderEvents"][0]["type"] == "EXECUTION"
    _, dup = call_json(fake, path + "&cliOrdId=a", method="POST", headers=AUTH)
    assert dup["sendStatus"]["status"] == "clientOrderIdAlreadyExist"
    far = path.replace("98000", "90000")
    _, ioc = call_json(fake, far + "&cliOrdId=b", method="POST", headers=AUTH)
    assert ioc["sendStatus"]["status"] == "iocWouldNotExecute"


def test_fault_status_429_then_normal_answer(fake: FakeKraken) -> None:
    fake.inject("status", path="/tickers", status=429, times=2)
    assert [call(fake, "/derivatives/api/v3/tickers")[0] for _ in range(3)] == [429, 429, 200]
    assert json.loads(call(fake, "/0/public/Assets")[1])["error"] == []


def test_fault_malformed_body_is_not_json(fake: FakeKraken) -> None:
    fake.inject("malformed", path="/instruments")
    status, body = call(fake, "/derivatives/api/v3/instruments")
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_fault_drop_closes_without_answer(fake: FakeKraken) -> None:
    fake.inject("drop", path="/tickers")
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("GET", "/derivatives/api/v3/tickers")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()


def test_fault_accept_then_drop_places_the_order(fake: FakeKraken) -> None:
    fake.inject("accept_then_drop", path="/sendorder")
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    conn.request("POST", "/derivatives/api/v3/sendorder?orderType=mkt&symbol=PF_ETHUSD&side=buy&size=0.1"
                         "&cliOrdId=z", headers=AUTH)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    _, body = call_json(fake, "/derivatives/api/v3/openpositions", headers=AUTH)
    assert [(p["symbol"], p["size"]) for p in body["openPositions"]] == [("PF_ETHUSD", 0.1)]


def test_fault_delay_answers_late(fake: FakeKraken) -> None:
    fake.inject("delay", path="/instruments", delay_seconds=0.3)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(fake, "/derivatives/api/v3/instruments", timeout=0.1)


def test_suspend_shows_in_ticker_and_refuses_orders(fake: FakeKraken) -> None:
    fake.suspend("PF_XBTUSD")
    _, body = call_json(fake, "/derivatives/api/v3/tickers/PF_XBTUSD")
    assert body["ticker"]["suspended"] is True
    _, sent = call_json(fake, "/derivatives/api/v3/sendorder?orderType=mkt&symbol=PF_XBTUSD&side=buy&size=0.01",
                        method="POST", headers=AUTH)
    assert sent["sendStatus"]["status"] == "marketSuspended"


def test_control_endpoint_injects_faults_for_out_of_process_runs(fake: FakeKraken) -> None:
    call(fake, "/_fake/inject?kind=status&path=/tickers&status=503", method="POST")
    assert call(fake, "/derivatives/api/v3/tickers")[0] == 503
    assert all(not r.path.startswith("/_fake") for r in fake.requests)


@pytest.mark.slow
def test_module_runs_as_a_command() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "krakenbot.testing.fake_kraken", "--port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on http://127.0.0.1:" in line
        url = line.rsplit("listening on ", 1)[1].split()[0]
        with urllib.request.urlopen(url + "/0/public/AssetPairs", timeout=5) as resp:
            assert "XXBTZUSD" in json.loads(resp.read())["result"]
    finally:
        proc.terminate()
        proc.wait(timeout=5)

"""The loopback Kraken verifies ``Authent`` as Kraken documents it, signed by the pinned ccxt."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_auth import authent, endpoint_path

KEY = "auth-test-key"
SECRET = base64.b64encode(b"auth-test-secret-0123456789").decode()


@pytest.fixture
def fake() -> Iterator[FakeKraken]:
    with FakeKraken(credentials={KEY: SECRET}, rate_limits=False) as fk:
        yield fk


def client(fk: FakeKraken, secret: str = SECRET) -> ccxt.krakenfutures:
    ex = ccxt.krakenfutures({"apiKey": KEY, "secret": secret, "enableRateLimit": False, "timeout": 5000})
    base = fk.url
    ex.urls["api"] = {"public": f"{base}/derivatives/api/", "private": f"{base}/derivatives/api/",
                      "charts": f"{base}/api/charts/", "history": f"{base}/api/history/",
                      "feeschedules": f"{base}/api/feeschedules/"}
    return ex


def raw_call(fk: FakeKraken, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    req = urllib.request.Request(fk.url + path, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read().decode())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode())


def test_authent_is_kraken_documented_formula() -> None:
    post, nonce, path = "symbol=fi_xbtusd_180615", "1415957147987", "/api/v3/orderbook"
    digest = hashlib.sha256((post + nonce + path).encode()).digest()
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET), digest, hashlib.sha512).digest()).decode()
    assert authent(SECRET, post_data=post, nonce=nonce, path=path) == expected
    assert endpoint_path("/derivatives/api/v3/sendorder") == "/api/v3/sendorder"
    assert endpoint_path("/api/history/v3/orders") == "/api/history/v3/orders"


def test_pinned_ccxt_signatures_pass_on_query_strings_with_colon_dash_and_lists(fake: FakeKraken) -> None:
    ex = client(fake)
    ex.load_markets()
    order = ex.create_order("BTC/USD:USD", "market", "buy", 0.001, params={"cliOrdId": "kbf-2026-01-15-a-1"})
    ex.create_order("BTC/USD:USD", "market", "buy", 0.001, params={"cliOrdId": "kbf-2026-01-15-a-2"})
    ex.fetch_my_trades(params={"lastFillTime": "2026-01-15T12:00:00.000Z"})  # ':' becomes %3A
    ex.fetch_orders(params={"orderIds": [order["id"], "00000000-0000-0000-0000-000000000000"]})  # a repeated list
    ex.fetch_orders(params={"cliOrdIds": "kbf-2026-01-15-a-1"})
    ex.fetch_balance()
    ex.fetch_positions()
    ex.fetch_open_orders()
    assert fake.auth_refusals == []
    sent = [r for r in fake.requests if "/api/v3/" in r.path and r.headers.get("authent")]
    assert len(sent) >= 8
    assert any("%3A" in str(r.query) or ":" in (r.param("lastFillTime") or "") for r in sent)
    assert any(len(r.query.get("orderIds", [])) == 2 for r in sent)


def test_a_wrong_secret_is_refused_with_kraken_authentication_error(fake: FakeKraken) -> None:
    ex = client(fake, secret=base64.b64encode(b"not-the-secret").decode())
    ex.load_markets()  # public: no signature needed
    with pytest.raises(ccxt.AuthenticationError):
        ex.fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        ex.create_order("BTC/USD:USD", "market", "buy", 0.001, params={"cliOrdId": "kbf-refused"})
    assert len(fake.auth_refusals) == 2 and fake.book.orders == {}  # nothing was placed


def test_the_nonce_header_is_part_of_the_signature(fake: FakeKraken) -> None:
    path, query = "/derivatives/api/v3/openorders", ""
    signed = authent(SECRET, post_data=query, nonce="1768478400000", path="/api/v3/openorders")
    status, body = raw_call(fake, path, {"APIKey": KEY, "Authent": signed, "Nonce": "1768478400000"})
    assert status == 200 and body["result"] == "success"
    status, body = raw_call(fake, path, {"APIKey": KEY, "Authent": signed, "Nonce": "1768478400001"})
    assert status == 401 and body["error"] == "authenticationError"
    signed_with_prefix = authent(SECRET, post_data=query, nonce="", path=path)  # /derivatives is not signed
    status, body = raw_call(fake, path, {"APIKey": KEY, "Authent": signed_with_prefix})
    assert status == 401


def test_an_unknown_key_is_refused(fake: FakeKraken) -> None:
    signed = authent(SECRET, post_data="", nonce="", path="/api/v3/accounts")
    status, body = raw_call(fake, "/derivatives/api/v3/accounts", {"APIKey": "someone-else", "Authent": signed})
    assert status == 401 and body["error"] == "authenticationError"


@pytest.mark.slow
def test_the_command_verifies_the_key_it_is_given() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "krakenbot.testing.fake_kraken", "--port", "0",
                             "--api-key", KEY, "--api-secret", SECRET], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = line.rsplit("listening on ", 1)[1].split()[0]
        path = "/derivatives/api/v3/accounts"
        good = {"APIKey": KEY, "Authent": authent(SECRET, post_data="", nonce="", path="/api/v3/accounts")}
        bad = {"APIKey": KEY, "Authent": authent(base64.b64encode(b"x").decode(), post_data="", nonce="",
                                                  path="/api/v3/accounts")}
        for headers, expected in ((good, 200), (bad, 401)):
            req = urllib.request.Request(url + path, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    status = resp.status
            except urllib.error.HTTPError as err:
                status = err.code
            assert status == expected
    finally:
        proc.terminate()
        proc.wait(timeout=5)

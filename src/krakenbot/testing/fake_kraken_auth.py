"""``Authent`` verification of the loopback Kraken Futures server, as Kraken documents it.

Kraken (docs.kraken.com/api/docs/guides/futures-rest, "Authentication", flow of 20 Feb 2024):
``Authent = base64(HMAC-SHA512(key=base64decode(secret), msg=SHA256(postData + Nonce + endpointPath)))``
where ``postData`` is the url-encoded parameter string exactly as sent (query string, or the form
body), ``Nonce`` the optional ``Nonce`` header ("" when absent) and ``endpointPath`` the URL path
without the ``/derivatives`` prefix (``/api/v3/sendorder``; history: ``/api/history/v3/orders``).

A request with a key the fake does not know, or a signature that does not match, is answered as
Kraken does: HTTP 401 with ``{"result": "error", "error": "authenticationError"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from krakenbot.testing.fake_kraken_limits import RateLimits
from krakenbot.testing.fake_kraken_market import iso_ms

log = logging.getLogger(__name__)

# The key pairs Krakenbot's own test suites sign with (tests/faults/loopback.py SENTINEL_*,
# tests/live/e2e_support.py API_*): the loopback verifies them by default. Dummies, never real keys.
DEFAULT_CREDENTIALS: dict[str, str] = {
    "SENTINEL-KEY-d41d8cd98f00": base64.b64encode(b"SENTINEL-SECRET-never-to-be-seen-0451").decode(),
    "e2e-dummy-futures-key-5f1c9a": base64.b64encode(b"e2e-dummy-futures-secret-not-a-real-one-0042").decode(),
}


def endpoint_path(path: str) -> str:
    """Kraken's ``endpointPath`` of a request path: ``/derivatives/api/v3/fills`` -> ``/api/v3/fills``."""
    return path.removeprefix("/derivatives")


def authent(secret_b64: str, *, post_data: str, nonce: str, path: str) -> str:
    """The ``Authent`` header Kraken expects for ``path`` (an ``endpointPath``). Raises ``ValueError``
    when the secret is not base64."""
    digest = hashlib.sha256((post_data + nonce + path).encode()).digest()
    key = base64.b64decode(secret_b64, validate=True)
    return base64.b64encode(hmac.new(key, digest, hashlib.sha512).digest()).decode()


def verify(credentials: Mapping[str, str], headers: Mapping[str, str], *, path: str, raw_query: str,
           raw_body: str) -> str | None:
    """None when the request is signed right; else why not (for the fake's log, never sent back).

    ``headers`` are lower-cased; ``path`` the request path; ``raw_query``/``raw_body`` the bytes as
    sent. ``postData`` is the query string, or the body when the body is form-encoded (a JSON body
    or an empty one leaves the query string).
    """
    key, sent = headers.get("apikey"), headers.get("authent")
    if not key or not sent:
        return "APIKey or Authent header missing"
    secret = credentials.get(key)
    if secret is None:
        return "unknown APIKey"
    post_data = raw_query
    if raw_body and not raw_body.lstrip().startswith("{"):
        post_data = raw_body
    try:
        expected = authent(secret, post_data=post_data, nonce=headers.get("nonce", ""), path=endpoint_path(path))
    except (ValueError, binascii.Error):
        return "the configured secret is not base64"
    if not hmac.compare_digest(expected, sent):
        return f"Authent does not match postData={post_data[:80]!r} endpointPath={endpoint_path(path)!r}"
    return None


def refuse_private(credentials: Mapping[str, str] | None, limits: RateLimits, refusals: list[str], *, budget: str,
                   endpoint: str, path: str, params: Mapping[str, str], headers: Mapping[str, str],
                   raw: tuple[str, str], now: datetime) -> tuple[int, dict[str, Any]] | None:
    """Kraken's checks before a private endpoint does anything: the signature (HTTP 401
    ``authenticationError``; not checked when ``credentials`` is None), then the request budget
    (``derivatives`` or ``history``: HTTP 429 ``apiLimitExceeded``). The answer, or None to go on.
    ``raw`` is (query string, body) as sent; why a signature failed is appended to ``refusals``."""
    refused = {"result": "error", "error": "authenticationError", "serverTime": iso_ms(now)}
    if not headers.get("apikey") or not headers.get("authent"):
        return 401, refused
    if credentials is not None:
        why = verify(credentials, headers, path=path, raw_query=raw[0], raw_body=raw[1])
        if why is not None:
            refusals.append(why)
            log.info("fake kraken: %s refused: authenticationError (%s)", endpoint, why)
            return 401, refused
    if not limits.charge(budget, endpoint, params, now):
        log.info("fake kraken: %s refused: apiLimitExceeded (%s budget exhausted)", endpoint, budget)
        return 429, {"result": "error", "error": "apiLimitExceeded", "serverTime": iso_ms(now)}
    return None

"""Serve the status API and page (``ops.api``) with uvicorn in a background thread of the bot's process.

``serve_api`` checks everything before the loop trades (a ``ConfigError`` naming the field and the fix):
``KRAKENBOT_API_TOKEN`` set and at least 16 characters; a non-loopback ``ops.api.host`` only with TLS
(``tls_certfile``/``tls_keyfile``) or ``allow_insecure_public``; the TLS files readable; the port free.
The socket is bound and listening before it returns, so the URL answers at once. The server never
blocks the loop: it reads the ``StatusBoard`` the loop fills after each tick and queues commands on
``loop.controls``, which the loop applies at its next tick.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn

from krakenbot.config import AppConfig, Secrets
from krakenbot.domain import Clock
from krakenbot.domain.errors import ConfigError
from krakenbot.ops.api import MIN_TOKEN_LENGTH, create_app
from krakenbot.ops.status import StatusBoard, StoreReader

if TYPE_CHECKING:
    from krakenbot.live.trading import LiveTrading

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0  # how long leaving ``serve_api`` waits for the server thread to finish


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiServer:
    """A running API: its base ``url`` (``http(s)://host:port``), the bound ``port`` and the ``board`` it serves."""

    url: str
    port: int
    board: StatusBoard


def check_api_config(cfg: AppConfig) -> None:
    """Raise ``ConfigError`` when ``ops.api`` would serve a public address without TLS, or a TLS file is missing."""
    api = cfg.ops.api
    tls = api.tls_certfile is not None and api.tls_keyfile is not None
    if not tls and not api.allow_insecure_public and not is_loopback(api.host):
        raise ConfigError(
            f"ops.api.host: {api.host} is not a loopback address and the API has no TLS: set ops.api.tls_certfile "
            "and ops.api.tls_keyfile, or ops.api.allow_insecure_public: true (only behind a TLS-terminating proxy "
            "you trust), or bind 127.0.0.1 and reach it through an SSH tunnel")
    for name, path in (("tls_certfile", api.tls_certfile), ("tls_keyfile", api.tls_keyfile)):
        if path is not None and not path.is_file():
            raise ConfigError(f"ops.api.{name}: {path} is not a readable file")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); a host name is taken as public."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_token(token: str | None = None) -> str:
    """``token``, else ``KRAKENBOT_API_TOKEN`` from the environment; ``ConfigError`` when missing or short."""
    if token is None:
        secret = Secrets().krakenbot_api_token
        token = secret.get_secret_value() if secret is not None else None
    if not token:
        raise ConfigError("ops.api.enabled: the status API needs KRAKENBOT_API_TOKEN in the environment (there is "
                          "no default); make one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"KRAKENBOT_API_TOKEN is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                          "(python -c \"import secrets; print(secrets.token_urlsafe(32))\")")
    return token


@contextmanager
def serve_api(cfg: AppConfig, loop: LiveTrading, *, store: StoreReader | None = None, token: str | None = None,
              clock: Clock | None = None) -> Iterator[ApiServer | None]:
    """Serve the status API and page for ``loop`` while the block runs; yields None when ``ops.api.enabled``
    is false (nothing started), else the ``ApiServer``.

    ``store`` serves fills, events, open orders and the last plan (``SqlStore``); ``token`` defaults to
    ``KRAKENBOT_API_TOKEN``; ``clock`` (wall clock by default) times the readiness. A ``StatusBoard`` is
    added to ``loop.tick_observers`` and removed on exit. ``ops.api.port`` 0 binds a free port (tests).
    Raises ``ConfigError`` (see the module docstring) before anything is served."""
    api = cfg.ops.api
    if not api.enabled:
        yield None
        return
    check_api_config(cfg)
    secret = api_token(token)
    tls = api.tls_certfile is not None and api.tls_keyfile is not None
    board = StatusBoard(loop, clock=clock)
    app = create_app(cfg=cfg, board=board, controls=loop.controls, token=secret, store=store)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False,
                            ssl_certfile=str(api.tls_certfile) if tls else None,
                            ssl_keyfile=str(api.tls_keyfile) if tls else None)
    try:
        config.load()  # here, not in the server's thread: a bad certificate or key refuses to start
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"ops.api.tls_certfile/tls_keyfile: cannot load them: {exc}") from exc
    sock = _bind(api.host, api.port)
    port = sock.getsockname()[1]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=_run, args=(server, sock), name="krakenbot-status-api", daemon=True)
    loop.tick_observers.append(board)
    thread.start()
    host = f"[{api.host}]" if ":" in api.host else api.host
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    log.info("status API and page at %s/ (token: KRAKENBOT_API_TOKEN)", url)
    try:
        yield ApiServer(url=url, port=port, board=board)
    finally:
        server.should_exit = True
        thread.join(timeout=STOP_TIMEOUT_SECONDS)
        sock.close()
        if board in loop.tick_observers:
            loop.tick_observers.remove(board)
        log.info("status API stopped")


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(f"ops.api.host: cannot resolve {host!r}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"ops.api.port: cannot listen on {host}:{port} ({exc.strerror or exc}); another process "
                          "may use it: pick another ops.api.port") from exc
    return sock


def _run(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        server.run(sockets=[sock])
    except BaseException:  # the loop goes on without its status page: say so loudly
        log.exception("the status API server stopped; the loop goes on without it")

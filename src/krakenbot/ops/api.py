"""The status API and page (FastAPI), beside a running ``paper`` or ``live`` loop.

Authentication: every endpoint but ``GET /api/health`` and the page itself (``GET /``, static, no data)
needs ``Authorization: Bearer <KRAKENBOT_API_TOKEN>``, compared in constant time (``hmac.compare_digest``);
a missing or wrong token is 401. There is no default token and no other credential. OpenAPI docs are off.

Reads (JSON; money in USD, ``*_pct`` fractions, times ISO 8601 UTC, exact sizes and prices as strings):
``/api/ready`` (503 when not ready), ``/api/status`` (everything the page shows, one request),
``/api/account``, ``/api/positions``, ``/api/orders`` (open, as the store knows them), ``/api/fills``,
``/api/events``, ``/api/plan``, ``/api/shockguard``, ``/api/config`` (secrets and passwords masked).
Controls (POST, through ``live.controls``: applied by the loop at its next tick, journaled, alerted):
``/api/control/pause``, ``/resume``, ``/reduce-only``, ``/flatten`` (JSON body ``{"symbol": "PF_XBTUSD"}``
for one symbol, none or ``{}`` for all). 200 with the outcome; 409 when the loop refused it (an unknown
symbol, a close not filled); 503 when the loop did not apply it in ``ops.api.control_timeout_seconds``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from enum import Enum
from importlib import resources
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from krakenbot.config import AppConfig
from krakenbot.domain import Fill, Order
from krakenbot.live.controls import ControlError, ControlOutcome, OperatorCommand, OperatorControls
from krakenbot.logs import redact
from krakenbot.ops.status import StatusBoard, StoreReader
from krakenbot.store.engine import safe_url

MIN_TOKEN_LENGTH = 16
MAX_LIMIT = 1000
PAGE = "index.html"
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                     "Cache-Control": "no-store"}


def create_app(*, cfg: AppConfig, board: StatusBoard, controls: OperatorControls, token: str,
               store: StoreReader | None = None) -> FastAPI:
    """The API over ``board`` (the loop's snapshots), ``controls`` (its command queue) and ``store``.

    Raises ``ValueError`` when ``token`` is shorter than ``MIN_TOKEN_LENGTH`` characters."""
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the API token must be at least {MIN_TOKEN_LENGTH} characters")
    expected = token.encode()
    api = cfg.ops.api
    page, page_csp = _page()

    def authenticated(request: Request) -> None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(title="Krakenbot status", docs_url=None, redoc_url=None, openapi_url=None)
    auth = [Depends(authenticated)]

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(_SECURITY_HEADERS)
        return response

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Content-Security-Policy": page_csp})

    @app.get("/api/health")
    def health() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/api/ready", dependencies=auth)
    def ready() -> JSONResponse:
        r = board.readiness(api.ready_after_seconds)
        return JSONResponse(_json(asdict(r)), status_code=200 if r.ready else 503)

    @app.get("/api/status", dependencies=auth)
    def status() -> dict[str, Any]:
        snap = board.snapshot()
        r = board.readiness(api.ready_after_seconds)
        return _doc(asdict(snap) | {"exposure_usd": snap.exposure_usd, "readiness": asdict(r)})

    @app.get("/api/account", dependencies=auth)
    def account() -> dict[str, Any]:
        acct = board.snapshot().account
        return _doc({"account": None if acct is None else asdict(acct)})

    @app.get("/api/positions", dependencies=auth)
    def positions() -> dict[str, Any]:
        return _doc({"positions": [asdict(p) for p in board.snapshot().positions]})

    @app.get("/api/shockguard", dependencies=auth)
    def shockguard() -> dict[str, Any]:
        snap = board.snapshot()
        return _doc({"paused_until": snap.shock_paused_until, "marketwide": snap.marketwide_shock,
                      "clock_skewed": snap.clock_skewed, "contracts": [asdict(c) for c in snap.contracts]})

    @app.get("/api/orders", dependencies=auth)
    def orders() -> dict[str, Any]:
        return {"orders": [_order(o) for o in _store(store).open_orders()]}

    @app.get("/api/fills", dependencies=auth)
    def fills(hours: float = 24.0, limit: int = 100) -> dict[str, Any]:
        since = _now(board) - timedelta(hours=max(0.0, hours))
        found = _store(store).fills(since=since)[-_limit(limit):]
        return {"fills": [_fill(f) for f in reversed(found)]}

    @app.get("/api/events", dependencies=auth)
    def events(limit: int = 100) -> dict[str, Any]:
        return _doc({"events": [asdict(e) for e in _store(store).recent_events(_limit(limit))]})

    @app.get("/api/plan", dependencies=auth)
    def plan() -> dict[str, Any]:
        found = _store(store).latest_plan()
        return _doc({"plan": None if found is None else asdict(found)})

    @app.get("/api/config", dependencies=auth)
    def config() -> dict[str, Any]:
        return redacted_config(cfg)

    def control(command: OperatorCommand, request: Request, symbol: str | None = None) -> JSONResponse:
        source = f"status API from {request.client.host if request.client else 'unknown'}"
        try:
            outcome = controls.request(command, symbol=symbol, source=source, timeout=api.control_timeout_seconds)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        except ControlError as exc:
            raise HTTPException(503, str(exc)) from None
        return JSONResponse(_outcome(outcome), status_code=200 if outcome.ok else 409)

    @app.post("/api/control/pause", dependencies=auth)
    def pause(request: Request) -> JSONResponse:
        return control(OperatorCommand.PAUSE, request)

    @app.post("/api/control/resume", dependencies=auth)
    def resume(request: Request) -> JSONResponse:
        return control(OperatorCommand.RESUME, request)

    @app.post("/api/control/reduce-only", dependencies=auth)
    def reduce_only(request: Request) -> JSONResponse:
        return control(OperatorCommand.REDUCE_ONLY, request)

    @app.post("/api/control/flatten", dependencies=auth)
    def flatten(request: Request, body: Annotated[dict[str, Any] | None, Body()] = None) -> JSONResponse:
        symbol = (body or {}).get("symbol")
        if symbol is not None and not isinstance(symbol, str):
            raise HTTPException(422, "symbol must be a futures symbol such as PF_XBTUSD, or left out for all")
        return control(OperatorCommand.FLATTEN, request, symbol=symbol or None)

    return app


def redacted_config(cfg: AppConfig) -> dict[str, Any]:
    """The config as JSON with what may hold a credential masked: store URLs' passwords, alert URLs
    (only their scheme is shown), and every registered secret or ``key=value`` credential (``logs.redact``)."""
    data = cfg.model_dump(mode="json")
    data["store"]["url"] = safe_url(cfg.store.url)
    if cfg.store.paper_url is not None:
        data["store"]["paper_url"] = safe_url(cfg.store.paper_url)
    data["ops"]["alerts"]["urls"] = [u.split("://", 1)[0] + "://***" for u in cfg.ops.alerts.urls]
    return dict(json.loads(redact(json.dumps(data))))


def _page() -> tuple[str, str]:
    """The page and its Content-Security-Policy: its one inline script and style allowed by hash, nothing else."""
    html = resources.files("krakenbot.ops").joinpath("static", PAGE).read_text(encoding="utf-8")

    def hashes(tag: str) -> str:
        bodies = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in bodies)

    csp = (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; connect-src 'self'; "
           "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, csp


def _store(store: StoreReader | None) -> StoreReader:
    if store is None:
        raise HTTPException(404, "this loop has no store to read")
    return store


def _limit(limit: int) -> int:
    return max(1, min(MAX_LIMIT, limit))


def _now(board: StatusBoard) -> datetime:
    snap = board.snapshot()
    return snap.ts if snap.ts is not None else board.clock.now()


def _order(o: Order) -> dict[str, Any]:
    return {"client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side.value,
            "type": o.order_type.value, "reduce_only": o.reduce_only, "status": o.status.value, "size": str(o.size),
            "filled": str(o.filled_size), "limit_price": _text(o.limit_price), "stop_price": _text(o.stop_price),
            "ts_updated": o.ts_updated.isoformat()}


def _fill(f: Fill) -> dict[str, Any]:
    return {"trade_id": f.trade_id, "client_order_id": f.client_order_id, "symbol": f.symbol, "side": f.side.value,
            "size": str(f.size), "price": str(f.price), "fee_usd": str(f.fee_usd), "ts": f.ts.isoformat()}


def _outcome(o: ControlOutcome) -> dict[str, Any]:
    return _doc(asdict(o))


def _doc(value: dict[str, Any]) -> dict[str, Any]:
    """A JSON object of ``value`` (see ``_json``)."""
    return dict(_json(value))


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)


def _json(value: Any) -> Any:
    """Plain JSON: datetimes ISO 8601, enums their value, non-finite floats null."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)

"""The loopback Kraken's HTTP plumbing: a request handler that turns each request into
``FakeKraken.handle(method, path, params, headers, raw)`` and writes its answer back."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from krakenbot.testing.fake_kraken import FakeKraken

log = logging.getLogger("krakenbot.testing.fake_kraken")


class DropConnectionError(Exception):
    """Raised by ``FakeKraken.handle``: close the connection without an answer."""


def make_handler(fake: FakeKraken) -> type[BaseHTTPRequestHandler]:
    """The handler class of ``fake``'s server (one per ``FakeKraken``)."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeKraken/1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            params = parse_qs(split.query, keep_blank_values=True)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            if raw:
                if raw.lstrip().startswith("{"):
                    params.update({k: [str(v).lower() if isinstance(v, bool) else str(v)]
                                   for k, v in json.loads(raw).items()})
                else:
                    for key, values in parse_qs(raw, keep_blank_values=True).items():
                        params.setdefault(key, []).extend(values)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, ctype, body = fake.handle(method, split.path, params, headers, (split.query, raw))
            except DropConnectionError:
                self.close_connection = True
                return
            except Exception:  # a bug in the fake must not hang the client: answer 500
                log.exception("fake kraken: %s %s failed", method, self.path)
                status, ctype, body = 500, "text/html", "<html><body>500 Internal Server Error</body></html>"
            data = body.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. its timeout)
                self.close_connection = True

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("fake kraken: " + format, *args)

    return Handler

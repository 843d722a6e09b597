"""A loopback JSON webhook: what apprise's ``json://127.0.0.1:PORT/PATH`` URL posts to.

Each POST body (apprise's JSON: ``title``, ``message``, ``type``, ...) is kept with its path, in arrival
order. Tests wait for delivery with the dispatcher's ``flush``, never by sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    body: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.body.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.body.get("message", ""))

    @property
    def kind(self) -> str:
        """The alert kind: the word after ``[source]`` in the title."""
        return self.title.split("] ", 1)[1].split(" ", 1)[0] if "] " in self.title else ""


@dataclass
class AlertReceiver:
    port: int
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    status: int = 200  # what it answers (500: a failing service)

    def url(self, path: str = "alerts") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def kinds(self) -> list[str]:
        return [r.kind for r in self.all()]


@contextmanager
def alert_receiver() -> Iterator[AlertReceiver]:
    """Serve on a free loopback port for the ``with`` block."""
    receiver: AlertReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(Received(path=self.path, body=json.loads(raw or b"{}")))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = AlertReceiver(port=int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

"""Run a loop's wall-clock ``run`` in a thread while a test talks to it (the status API, the controls)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from krakenbot.live.trading import LiveTrading


@contextmanager
def running(loop: LiveTrading) -> Iterator[threading.Thread]:
    """``loop.run`` in a daemon thread until the block ends; then stopped, joined, and its error re-raised."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            loop.run(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-loop", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the loop did not stop within 30 s"
        if errors:
            raise errors[0]

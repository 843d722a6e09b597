"""Ctrl-C for the study's driver: taken while it waits for the workers, held while it writes the storage."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class CtrlC:
    """Ctrl-C for the driver: taken at once while it waits for the workers (``taken``), held while it reads or
    writes the storage and raised when that is done (``check``). A KeyboardInterrupt inside a SQLite write
    would leave that connection's lock held, so the trials could not be marked abandoned.

    Active only in the main thread and when Python's own SIGINT handler is installed; a no-op otherwise."""

    def __init__(self) -> None:
        self.pending = False
        self._open = False
        self._previous: Any = None

    def __enter__(self) -> CtrlC:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._open:
            raise KeyboardInterrupt
        self.pending = True

    def check(self) -> None:
        """Raise the KeyboardInterrupt held since the last check, if any."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    @contextmanager
    def taken(self) -> Iterator[None]:
        """Ctrl-C raises at once inside (after any held one)."""
        self.check()
        self._open = True
        try:
            yield
        finally:
            self._open = False

"""Young garbage collections only, for the length of a backtest run.

A run keeps a few tracked objects per loop wake for good (the in-memory journal's orders, intents, fills
and events), so the oldest generation grows with the data already replayed; Python's full collections
scan all of it, each time it has grown by a quarter: their cost per wake grows with the run's length
(measured in CPU time on 1M one-minute candles: 3 full collections, 15 us per wake; on 3M: 7, 29 us
per wake).

Convention: inside ``young_collections_only()`` the young generations (0 and 1) are collected as
usual, the oldest (generation 2) never; the interpreter's thresholds are restored on the way out,
whether the block returns or raises. The scope is process-wide (the thresholds are) and counted:
backtests running at once in threads (a research worker's) share it, and the thresholds come back
when the last one leaves.

Memory consequence: cyclic garbage that survives two young collections waits in generation 2 until
the first full collection after the scope ends. A backtest's replay makes next to none (measured: a
full ``gc.collect()`` at the end of a 200k- or 1M-candle replay finds 0 unreachable objects, and a
3M-candle run ends with as many tracked objects as without the scope); the run's own object graph
becomes garbage only after it returns.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# A generation-2 threshold no run reaches: the oldest generation's count grows by one per generation-1
# collection (one per ~7,000 net allocations with the default thresholds). The C field is an int.
NEVER = 2**31 - 1


class _Scope:
    """The process-wide state of the open scopes: how many, and the thresholds to restore."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved = gc.get_threshold()


_SCOPE = _Scope()


@contextmanager
def young_collections_only() -> Iterator[None]:
    """No full (generation 2) collection inside the block; the thresholds as they were after it."""
    with _SCOPE.lock:
        if _SCOPE.depth == 0:
            _SCOPE.saved = gc.get_threshold()
            gc.set_threshold(*_SCOPE.saved[:2], NEVER)
        _SCOPE.depth += 1
    try:
        yield
    finally:
        with _SCOPE.lock:
            _SCOPE.depth -= 1
            if _SCOPE.depth == 0:
                gc.set_threshold(*_SCOPE.saved)

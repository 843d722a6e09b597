"""Time, injected. Policies never read the clock: the loop passes ``now`` to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


def ensure_utc(ts: datetime, *, field: str = "ts") -> datetime:
    """Return ``ts`` if it is timezone-aware UTC; raise ``ValueError`` naming ``field`` otherwise."""
    if ts.tzinfo is None or ts.utcoffset() != timedelta(0):
        raise ValueError(f"{field} must be a timezone-aware UTC datetime, got {ts!r}")
    return ts


def floor_time(ts: datetime, step: timedelta) -> datetime:
    """The start of the ``step``-long interval holding ``ts``, on a grid aligned to the Unix epoch
    (so hourly bars open on the hour, daily ones at 00:00 UTC)."""
    epoch = datetime(1970, 1, 1, tzinfo=ts.tzinfo)
    return ts - ((ts - epoch) % step)


class Clock(Protocol):
    """Where time comes from: the wall clock live, a simulated clock in backtests."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class WallClock:
    """The real clock, for live and paper trading."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that moves only when told to. Time never goes backwards."""

    __slots__ = ("_now",)

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start, field="start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (must not be negative) and return the new time."""
        if delta < timedelta(0):
            raise ValueError(f"cannot move a clock backwards by {delta}")
        self._now = self._now + delta
        return self._now

    def set(self, ts: datetime) -> datetime:
        """Jump to ``ts`` (must not be earlier than now) and return it."""
        ensure_utc(ts)
        if ts < self._now:
            raise ValueError(f"cannot move a clock backwards from {self._now} to {ts}")
        self._now = ts
        return self._now

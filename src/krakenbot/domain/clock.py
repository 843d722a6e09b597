"""Time, injected. Policies never read the clock: the loop passes ``now`` to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from krakenbot.domain.frozen import fast_init, new

_NO_SKEW = timedelta(0)


def ensure_utc(ts: datetime, *, field: str = "ts") -> datetime:
    """Return ``ts`` if it is timezone-aware UTC; raise ``ValueError`` naming ``field`` otherwise."""
    if ts.tzinfo is UTC:  # the common case, checked first: values converted once at the boundary carry UTC itself
        return ts
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTime:
    """Kraken's clock as one answer stated it: ``server_ts`` (the answer's ``serverTime``) and
    ``local_ts`` (the local clock when the answer arrived). ``skew`` = local - server; it is
    over-stated by the answer's one-way travel time (tens of milliseconds)."""

    server_ts: datetime
    local_ts: datetime

    @property
    def skew(self) -> timedelta:
        return self.local_ts - self.server_ts


class ServerClock(Protocol):
    """What an exchange adapter says about the venue's clock."""

    def server_time(self) -> ServerTime | None:
        """The newest measurement (from an answer the adapter read anyway), or None before the first."""
        ...


def describe_skew(skew: timedelta) -> str:
    """``skew`` in words: ``"5h00m00s ahead of"`` / ``"1.2s behind"`` (the local clock vs Kraken's)."""
    seconds = abs(skew.total_seconds())
    whole = int(seconds)
    amount = (f"{whole // 3600}h{whole % 3600 // 60:02d}m{whole % 60:02d}s" if seconds >= 3600
              else f"{whole // 60}m{whole % 60:02d}s" if seconds >= 60 else f"{seconds:.1f}s")
    return f"{amount} {'ahead of' if skew > timedelta(0) else 'behind'}"


def clock_skew_problem(measured: ServerTime | None, max_skew: timedelta) -> str | None:
    """Why the local clock cannot be trusted (its skew from Kraken's beyond ``max_skew``), or None
    (within tolerance, or nothing measured yet)."""
    if measured is None or abs(measured.skew) <= max_skew:
        return None
    return (f"the local clock is {describe_skew(measured.skew)} Kraken's server time (tolerance "
            f"{max_skew.total_seconds():g}s, loop.max_clock_skew_seconds): fix the system clock's time "
            "synchronisation (`timedatectl status`, `timedatectl set-ntp true`, or `chronyc tracking`)")


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TickTime:
    """One tick's time as the loop uses it (see ``TickTimes.next``)."""

    now: datetime  # exchange time: the local clock corrected by the measured skew, never earlier than before
    local: datetime  # the local clock as read
    skew: timedelta  # the skew the correction used (local - server; zero before any measurement)
    skew_problem: str | None  # set while the skew is beyond tolerance: entries and stale closes pause
    stepped_back: timedelta | None  # the local clock went back by this much since the previous tick


class TickTimes:
    """The loop's tick times: the local clock minus the measured skew (so ages of tickers and signals
    are measured in Kraken's time), never earlier than the previous tick's (ShockGuard's history and
    the scheduler need time to run forward). Without a measurement (backtests, the paper exchange)
    the local clock is used as is. Pure: measurements and readings are passed in."""

    __slots__ = ("_last", "_last_local", "_max_skew", "_measured")

    def __init__(self, max_skew: timedelta) -> None:
        self._max_skew = max_skew
        self._measured: ServerTime | None = None
        self._last: datetime | None = None
        self._last_local: datetime | None = None

    def next(self, local: datetime, measured: ServerTime | None = None) -> TickTime:
        """The time of a tick that read the local clock at ``local``; ``measured`` is the newest
        server-time measurement, if any (None keeps the previous one)."""
        if local.tzinfo is not UTC:  # ``ensure_utc``'s common case inline (one tick per wake)
            ensure_utc(local, field="local")
        if measured is not None:
            self._measured = measured
        else:
            measured = self._measured
        if measured is None:  # nothing measured (backtests, the paper exchange): no skew, nothing to check
            skew, problem = _NO_SKEW, None
        else:
            skew, problem = measured.skew, clock_skew_problem(measured, self._max_skew)
        stepped = None
        if self._last_local is not None and local < self._last_local:
            stepped = self._last_local - local
        self._last_local = local
        tick = new(TickTime)  # without ``type.__call__``'s keyword dict (``domain.frozen``)
        TickTime.__init__(tick, now=self.now(local), local=local, skew=skew, stepped_back=stepped, skew_problem=problem)
        return tick

    @property
    def skew(self) -> timedelta:
        """The newest measured skew (local - server), zero before the first measurement."""
        return self._measured.skew if self._measured is not None else _NO_SKEW

    def now(self, local: datetime) -> datetime:
        """``local`` in exchange time, never earlier than the previous answer of this method."""
        now = local if self._measured is None else local - self._measured.skew  # unmeasured: skew 0
        if self._last is not None and now < self._last:
            now = self._last
        self._last = now
        return now

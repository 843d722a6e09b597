"""Epoch time conversions, exact: UTC ``datetime`` <-> integer nanoseconds, microseconds, milliseconds.

The one place the project turns timestamps into numbers and back. Integer arithmetic only (no
float seconds), so ``from_ns(to_ns(ts)) == ts`` for every UTC ``datetime`` (microsecond resolution).
``from_*`` floor a finer number to the microsecond (``datetime``'s resolution); ``to_*`` of a coarser
unit floor too (``to_ms`` drops the microseconds).

Arrays: the standard library has none, so vectorised callers hold int64 epoch numbers and use the
``*_PER_*`` factors below (``ts_ns // NS_PER_US``); numpy's ``datetime64[ns]`` is the same int64 in
nanoseconds (``arr.astype(np.int64)`` / ``ints.astype("datetime64[ns]")``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

from krakenbot.domain.clock import ensure_utc

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
NS_PER_US: Final = 1_000
NS_PER_MS: Final = 1_000_000
NS_PER_SECOND: Final = 1_000_000_000
US_PER_MS: Final = 1_000

_ONE_US: Final = timedelta(microseconds=1)

# (a datetime, its microseconds) of the last ``to_us``: a wake converts its clock reading (one object) several
# times. Keyed by identity of an immutable value the pair keeps alive: never stale.
_last_us: tuple[datetime | None, int] = (None, 0)


def to_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch of a UTC ``datetime``; raises ``ValueError`` if naive or not UTC.

    The one conversion the others are built on (``to_ns``, ``to_ms``)."""
    global _last_us  # noqa: PLW0603 -- the one-entry memo above
    last = _last_us
    if last[0] is ts:
        return last[1]
    if ts.tzinfo is not UTC:  # fast path for the usual ``tzinfo=UTC``; anything else is checked
        ensure_utc(ts)
    us = (ts - EPOCH) // _ONE_US
    _last_us = (ts, us)
    return us


def to_ns(ts: datetime) -> int:
    """Nanoseconds since the Unix epoch of a UTC ``datetime`` (a multiple of 1,000).

    Raises ``ValueError`` if ``ts`` is naive or not UTC.
    """
    return to_us(ts) * NS_PER_US


def to_ms(ts: datetime) -> int:
    """Milliseconds since the Unix epoch of a UTC ``datetime``, floored (sub-millisecond part dropped).

    Raises ``ValueError`` if ``ts`` is naive or not UTC.
    """
    return to_us(ts) // US_PER_MS


# ``timedelta``'s arguments are passed by position (days, seconds, microseconds, milliseconds) in the ``from_*``:
# by keyword, their parsing costs about half as much again as the whole conversion.


def from_ns(ns: int) -> datetime:
    """The UTC ``datetime`` of ``ns`` nanoseconds since the Unix epoch, floored to the microsecond."""
    return EPOCH + timedelta(0, 0, int(ns) // NS_PER_US)


def from_us(us: int) -> datetime:
    """The UTC ``datetime`` of ``us`` microseconds since the Unix epoch."""
    return EPOCH + timedelta(0, 0, int(us))


def from_ms(ms: int) -> datetime:
    """The UTC ``datetime`` of ``ms`` milliseconds since the Unix epoch."""
    return EPOCH + timedelta(0, 0, 0, int(ms))


def duration_ns(delta: timedelta) -> int:
    """Length of ``delta`` in nanoseconds (exact: a ``timedelta`` holds whole microseconds)."""
    return (delta // _ONE_US) * NS_PER_US


def duration_us(delta: timedelta) -> int:
    """Length of ``delta`` in microseconds (exact)."""
    return delta // _ONE_US

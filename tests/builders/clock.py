"""The tests' reference time, and a local clock that can be wrong."""

from datetime import UTC, datetime, timedelta

from krakenbot.domain import SimulatedClock

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # "now" in most tests: a Thursday at noon UTC


class SkewedClock(SimulatedClock):
    """A bot's local clock: the true (exchange's) ``SimulatedClock`` plus ``offset``, which a test sets to
    put the clock ahead (> 0) or step it back (made more negative). ``advance`` moves the true clock."""

    def __init__(self, true: SimulatedClock, offset: timedelta = timedelta(0)) -> None:
        super().__init__(true.now())
        self.true = true
        self.offset = offset

    def now(self) -> datetime:
        return self.true.now() + self.offset

    def advance(self, delta: timedelta) -> datetime:
        self.true.advance(delta)
        return self.now()

    def set(self, ts: datetime) -> datetime:
        self.true.set(ts - self.offset)
        return self.now()

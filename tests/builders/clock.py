"""The tests' reference time."""

from datetime import UTC, datetime

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # "now" in most tests: a Thursday at noon UTC

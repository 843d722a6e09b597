from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from krakenbot.domain.timeconv import (
    EPOCH,
    duration_ns,
    duration_us,
    from_ms,
    from_ns,
    from_us,
    to_ms,
    to_ns,
    to_us,
)

utc_datetimes = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC))


@given(utc_datetimes)
def test_round_trip_through_every_unit_is_exact_to_the_microsecond(ts: datetime) -> None:
    assert from_ns(to_ns(ts)) == ts
    assert from_us(to_us(ts)) == ts
    assert from_ms(to_ms(ts)) == ts.replace(microsecond=ts.microsecond // 1000 * 1000)


@given(utc_datetimes)
def test_units_agree_with_each_other_and_with_numpy_datetime64(ts: datetime) -> None:
    assert to_ns(ts) == to_us(ts) * 1000
    assert to_ms(ts) == to_us(ts) // 1000
    assert to_ns(ts) == int(np.datetime64(ts.replace(tzinfo=None), "ns").astype(np.int64))


@given(st.integers(min_value=0, max_value=2**62))
def test_from_ns_floors_to_the_microsecond(ns: int) -> None:
    assert to_ns(from_ns(ns)) == ns - ns % 1000


def test_known_values() -> None:
    ts = datetime(2024, 3, 1, 12, 3, 4, 567_891, tzinfo=UTC)
    assert to_ns(ts) == 1_709_294_584_567_891_000
    assert to_us(ts) == 1_709_294_584_567_891
    assert to_ms(ts) == 1_709_294_584_567
    assert from_ns(np.int64(1_709_294_584_567_891_999)) == ts  # numpy scalars are accepted
    assert to_ns(EPOCH) == 0
    assert from_ms(-1) == EPOCH - timedelta(milliseconds=1)


@pytest.mark.parametrize("ts", [datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1)))])
def test_naive_or_non_utc_datetimes_are_refused(ts: datetime) -> None:
    for convert in (to_ns, to_us, to_ms):
        with pytest.raises(ValueError, match="UTC"):
            convert(ts)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10_000)))
def test_durations_are_exact(delta: timedelta) -> None:
    assert duration_us(delta) == delta // timedelta(microseconds=1)
    assert duration_ns(delta) == duration_us(delta) * 1000
    assert from_ns(duration_ns(delta)) - EPOCH == delta


@given(first=utc_datetimes, second=utc_datetimes)
def test_to_us_of_a_datetime_converted_before_or_between_others_is_its_own(first, second):
    # the last conversion is remembered (by identity): repeats, alternations and a non-UTC one all convert exactly
    for ts in (first, first, second, first, second, second):
        assert to_us(ts) == (ts - EPOCH) // timedelta(microseconds=1)
    with pytest.raises(ValueError):
        to_us(first.replace(tzinfo=None))
    assert to_us(first) == (first - EPOCH) // timedelta(microseconds=1)

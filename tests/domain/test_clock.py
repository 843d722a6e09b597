"""The clock-skew policy and the loop's tick times (issue 11 item 5): pure, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from builders.clock import T0
from krakenbot.domain.clock import ServerTime, TickTimes, clock_skew_problem, describe_skew
from krakenbot.exchange.kraken.parse import server_time_from_answer

TOLERANCE = timedelta(seconds=5)


def measured(skew: timedelta, at: datetime = T0) -> ServerTime:
    return ServerTime(server_ts=at - skew, local_ts=at)


@pytest.mark.parametrize(("skew", "words"), [
    (timedelta(hours=5), "5h00m00s ahead of"),
    (timedelta(hours=-1, seconds=5), "59m55s behind"),
    (timedelta(minutes=-10), "10m00s behind"),
    (timedelta(seconds=1.25), "1.2s ahead of"),
])
def test_describe_skew_says_how_far_and_which_way(skew: timedelta, words: str) -> None:
    assert describe_skew(skew) == words


def test_clock_skew_problem_only_beyond_the_tolerance_and_names_the_fix() -> None:
    assert clock_skew_problem(None, TOLERANCE) is None
    assert clock_skew_problem(measured(timedelta(seconds=5)), TOLERANCE) is None
    assert clock_skew_problem(measured(timedelta(seconds=-5)), TOLERANCE) is None
    problem = clock_skew_problem(measured(timedelta(hours=5)), TOLERANCE)
    assert problem is not None and problem.startswith("the local clock is 5h00m00s ahead of Kraken's server time")
    assert "timedatectl" in problem and "chronyc" in problem and "loop.max_clock_skew_seconds" in problem
    behind = clock_skew_problem(measured(timedelta(seconds=-5.5)), TOLERANCE)
    assert behind is not None and "5.5s behind" in behind


def test_tick_times_without_a_measurement_are_the_local_clock() -> None:
    times = TickTimes(TOLERANCE)
    for i in range(3):
        tick = times.next(T0 + timedelta(seconds=5 * i))
        assert tick.now == T0 + timedelta(seconds=5 * i) and tick.skew == timedelta(0)
        assert tick.skew_problem is None and tick.stepped_back is None


def test_tick_times_are_in_the_exchanges_time_and_flag_a_skew_beyond_tolerance() -> None:
    times = TickTimes(TOLERANCE)
    ahead = T0 + timedelta(hours=5)
    tick = times.next(ahead, measured(timedelta(hours=5), at=ahead))
    assert tick.now == T0 and tick.skew == timedelta(hours=5) and tick.skew_problem is not None
    tick = times.next(ahead + timedelta(seconds=5))  # no new measurement: the last one holds
    assert tick.now == T0 + timedelta(seconds=5) and tick.skew_problem is not None
    small = times.next(T0 + timedelta(seconds=12), measured(timedelta(seconds=2), at=T0 + timedelta(seconds=12)))
    assert small.now == T0 + timedelta(seconds=10) and small.skew_problem is None


def test_tick_times_never_run_backwards_and_report_each_step_back_once() -> None:
    times = TickTimes(TOLERANCE)
    assert times.next(T0).now == T0
    back = times.next(T0 - timedelta(hours=1))  # stepped back; nothing measured says by how much
    assert back.stepped_back == timedelta(hours=1) and back.now == T0
    later = times.next(T0 - timedelta(hours=1) + timedelta(seconds=5))
    assert later.stepped_back is None and later.now == T0  # held until the clock catches up
    # the next tickers answer measures the skew: the loop's time runs on in the exchange's time
    local = T0 - timedelta(hours=1) + timedelta(seconds=10)
    fixed = times.next(local, measured(timedelta(hours=-1), at=local))
    assert fixed.now == T0 + timedelta(seconds=10) and fixed.skew_problem is not None
    assert times.now(local + timedelta(seconds=1)) == T0 + timedelta(seconds=11)


def test_tick_times_refuse_a_naive_local_time() -> None:
    with pytest.raises(ValueError, match="local"):
        TickTimes(TOLERANCE).next(datetime(2026, 1, 15, 12))


@pytest.mark.parametrize("body", [
    {}, {"serverTime": None}, {"serverTime": 1736942400}, {"serverTime": "yesterday"},
    {"serverTime": "2026-01-15T12:00:00"}, {"serverTime": "9" * 500}, [], "serverTime",
])
def test_server_time_from_an_answer_without_a_usable_one_is_none(body: object) -> None:
    assert server_time_from_answer(body, received=T0) is None


def test_server_time_from_an_answer_reads_krakens_form() -> None:
    got = server_time_from_answer({"serverTime": "2026-01-15T11:59:58.750Z"}, received=T0)
    assert got is not None and got.server_ts == datetime(2026, 1, 15, 11, 59, 58, 750_000, tzinfo=UTC)
    assert got.skew == timedelta(seconds=1.25)

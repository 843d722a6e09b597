"""Bad market data never reaches sizing: each kind of bad ticker is refused with its reason."""

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from krakenbot.data.ticker_checks import _check_in_full, check_ticker
from krakenbot.domain import Ticker

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
AGE = timedelta(seconds=30)


def ticker(**kw) -> Ticker:
    base = {"symbol": "PF_XBTUSD", "ts": NOW, "bid": 29_990.0, "ask": 30_010.0, "mark": 30_000.0, "index": 30_005.0}
    base.update(kw)
    return Ticker(**base)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"mark": float("nan")}, "NaN"),
    ({"mark": 0.0}, "zero"),
    ({"mark": -5.0}, "negative"),
    ({"mark": None}, "missing"),
    ({"suspended": True}, "suspended"),
    ({"ts": NOW - timedelta(seconds=31)}, "31s old"),
    ({"ts": NOW + timedelta(minutes=5)}, "in the future"),
    ({"bid": 30_020.0, "ask": 30_010.0}, "crossed book"),
])
def test_bad_ticker_is_refused_with_reason(changes, reason):
    verdict = check_ticker(ticker(**changes), symbol="PF_XBTUSD", now=NOW, max_age=AGE)
    assert not verdict.ok
    assert reason in verdict.reason


def test_missing_ticker_is_refused():
    assert check_ticker(None, symbol="PF_XBTUSD", now=NOW, max_age=AGE).reason == "no ticker"


def test_fifty_percent_print_not_confirmed_by_index_is_refused():
    verdict = check_ticker(ticker(mark=15_000.0, index=30_000.0), symbol="PF_XBTUSD", now=NOW, max_age=AGE,
                           previous_mark=30_000.0)
    assert not verdict.ok and "does not confirm" in verdict.reason


def test_large_move_confirmed_by_index_is_believed():
    verdict = check_ticker(ticker(mark=15_000.0, index=15_010.0, bid=14_990.0, ask=15_010.0), symbol="PF_XBTUSD",
                           now=NOW, max_age=AGE, previous_mark=30_000.0)
    assert verdict.ok and verdict.mark == 15_000.0


def test_move_just_below_the_jump_bound_needs_no_confirmation():
    verdict = check_ticker(ticker(mark=15_001.0, index=None), symbol="PF_XBTUSD", now=NOW, max_age=AGE,
                           previous_mark=30_000.0)
    assert verdict.ok


def test_good_ticker_passes_at_the_age_bound():
    verdict = check_ticker(ticker(ts=NOW - AGE), symbol="PF_XBTUSD", now=NOW, max_age=AGE)
    assert verdict.ok and verdict.mark == 30_000.0


# -- the first mark after a start (issue 11 item 10): no previous mark to compare with --------------------
def test_first_mark_without_index_is_not_believed_until_a_second_consistent_tick():
    first = check_ticker(ticker(mark=54_000.0, index=None), symbol="PF_XBTUSD", now=NOW, max_age=AGE)
    assert not first.ok and "confirm" in first.reason and first.candidate == 54_000.0
    # a second tick far from the first: still unconfirmed, and it becomes the candidate
    second = check_ticker(ticker(mark=30_000.0, index=None), symbol="PF_XBTUSD", now=NOW, max_age=AGE,
                          unconfirmed_mark=first.candidate)
    assert not second.ok and second.candidate == 30_000.0
    third = check_ticker(ticker(mark=30_100.0, index=None), symbol="PF_XBTUSD", now=NOW, max_age=AGE,
                         unconfirmed_mark=second.candidate)
    assert third.ok and third.mark == 30_100.0


def test_first_mark_is_believed_when_the_index_confirms_it_and_refused_when_it_disagrees():
    assert check_ticker(ticker(), symbol="PF_XBTUSD", now=NOW, max_age=AGE).ok
    verdict = check_ticker(ticker(mark=54_000.0, index=30_000.0), symbol="PF_XBTUSD", now=NOW, max_age=AGE)
    assert not verdict.ok and "index" in verdict.reason


def test_mark_with_a_previous_mark_needs_no_index():
    assert check_ticker(ticker(index=None), symbol="PF_XBTUSD", now=NOW, max_age=AGE, previous_mark=30_050.0).ok


_PRICES = st.one_of(st.none(), st.sampled_from([0.0, -1.0, math.nan, math.inf, 1e-13, 1e13]),
                    st.floats(min_value=1e-3, max_value=1e5))


@settings(max_examples=400, deadline=None)
@given(mark=_PRICES, bid=_PRICES, ask=_PRICES, index=_PRICES, previous=_PRICES, unconfirmed=_PRICES,
       age_s=st.integers(min_value=-200, max_value=200), suspended=st.booleans())
def test_check_ticker_fast_path_gives_the_full_checks_verdict(mark: float | None, bid: float | None,
                                                              ask: float | None, index: float | None,
                                                              previous: float | None, unconfirmed: float | None,
                                                              age_s: int, suspended: bool) -> None:
    now = datetime(2024, 1, 1, 12, tzinfo=UTC)
    ticker = Ticker(symbol="PF_XBTUSD", ts=now - timedelta(seconds=age_s), mark=mark, bid=bid, ask=ask, index=index,
                    suspended=suspended)
    args = {"symbol": "PF_XBTUSD", "now": now, "max_age": timedelta(seconds=60), "previous_mark": previous,
            "unconfirmed_mark": unconfirmed}
    assert check_ticker(ticker, **args) == _check_in_full(ticker, **args)

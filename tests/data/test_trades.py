"""Candles rebuilt from trades: Kraken's bucket convention, paging by the ``last`` cursor, resuming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders.kraken_spot import KrakenSpot, trades_of
from krakenbot.data.candle_cache import COLUMNS, clean_candles
from krakenbot.data.trades import candles_from_trades, fetch_trade_candles
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.market import Candle, TradePage
from krakenbot.domain.timeconv import to_ns

M = timedelta(minutes=1)
T0 = datetime(2026, 3, 2, tzinfo=UTC)
NS_M = 60_000_000_000


def frame_of(candles: list[Candle]) -> pd.DataFrame:
    return clean_candles(candles, M).frame


def test_candles_from_trades_follow_krakens_bucket_convention():
    t0 = to_ns(T0)
    rows = [(t0 + 5, 10.0, 1.0), (t0 + 10, 12.0, 2.0), (t0 + 20, 9.0, 0.5), (t0 + 59 * 10**9, 11.0, 1.5),
            (t0 + 3 * NS_M, 20.0, 1.0),  # minutes 1 and 2 have no trade: no candle
            (t0 + 4 * NS_M + 1, 30.0, 1.0)]  # the minute still open at until: left out
    frame = candles_from_trades(rows, "1m", until_ns=t0 + 4 * NS_M + 30 * 10**9)
    assert list(frame.columns) == list(COLUMNS) and str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert [t.to_pydatetime() for t in frame["ts"]] == [T0, T0 + 3 * M]
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [10.0, 12.0, 9.0, 11.0, 5.0]
    assert frame.iloc[1][["open", "high", "low", "close", "volume"]].tolist() == [20.0, 20.0, 20.0, 20.0, 1.0]


def test_candles_from_trades_takes_arrays_and_sorts_them_stably():
    t0 = to_ns(T0)
    times = np.array([t0 + 30, t0 + 10, t0 + 10], dtype=np.int64)
    frame = candles_from_trades((times, np.array([3.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0])), "1m",
                                until_ns=t0 + NS_M)
    assert frame.iloc[0][["open", "high", "low", "close", "volume"]].tolist() == [1.0, 3.0, 1.0, 3.0, 3.0]


def test_candles_from_trades_refuses_an_unusable_trade():
    with pytest.raises(ValueError, match="price nan"):
        candles_from_trades([(to_ns(T0), float("nan"), 1.0)], "1m", until_ns=to_ns(T0) + NS_M)


prices = st.floats(min_value=0.5, max_value=1e5, allow_nan=False, allow_infinity=False)


@st.composite
def candle_lists(draw: st.DrawFn) -> list[Candle]:
    """Minute candles on a random subset of 300 minutes (empty minutes absent), consistent OHLC."""
    minutes = sorted(draw(st.sets(st.integers(0, 299), min_size=1, max_size=60)))
    out = []
    for i in minutes:
        o, c, a, b = draw(prices), draw(prices), draw(prices), draw(prices)
        out.append(Candle(ts=T0 + i * M, open=o, close=c, high=max(o, c, a, b), low=min(o, c, a, b),
                          volume=draw(st.integers(0, 10**6)) / 1024))
    return out


@settings(max_examples=150, deadline=None)
@given(candles=candle_lists())
def test_candles_from_trades_equal_the_ohlc_candles_they_were_drawn_from(candles):
    rebuilt = candles_from_trades(trades_of(candles, M), "1m", until_ns=to_ns(T0 + 300 * M))
    pd.testing.assert_frame_equal(rebuilt, frame_of(candles))


@settings(max_examples=150, deadline=None)
@given(candles=candle_lists(), page_size=st.integers(1, 50), inclusive=st.booleans())
def test_splitting_trades_across_pages_at_any_point_gives_the_same_candles(candles, page_size, inclusive):
    # an inclusive source re-serves the trade at the cursor: with one trade per page it could never move on
    page_size = max(page_size, 2) if inclusive else page_size
    now = T0 + 300 * M
    source = KrakenSpot({"BTC/USD": candles}, M, clock=lambda: now, page_size=page_size, inclusive=inclusive)
    rebuild = fetch_trade_candles(source, "BTC/USD", "1m", T0, now)
    assert rebuild.complete
    pd.testing.assert_frame_equal(rebuild.frame, frame_of(candles))


@settings(max_examples=100, deadline=None)
@given(candles=candle_lists(), page_size=st.integers(1, 30), budget=st.integers(1, 7), start=st.integers(0, 299))
def test_a_rebuild_resumed_in_small_steps_equals_one_run(candles, page_size, budget, start):
    now = T0 + 300 * M
    source = KrakenSpot({"BTC/USD": candles}, M, clock=lambda: now, page_size=page_size)
    begin = T0 + start * M
    whole = fetch_trade_candles(source, "BTC/USD", "1m", begin, now)
    step = fetch_trade_candles(source, "BTC/USD", "1m", begin, now, max_pages=budget)
    for _ in range(10_000):
        if step.complete:
            break
        step = fetch_trade_candles(source, "BTC/USD", "1m", begin, now, max_pages=budget, resume=step)
    assert step.complete and step.pages == whole.pages
    pd.testing.assert_frame_equal(step.frame, whole.frame)
    expected = frame_of([c for c in candles if c.ts >= begin])
    pd.testing.assert_frame_equal(whole.frame, expected)


def test_fetch_trade_candles_stops_at_end_and_reports_pages_and_cursor():
    candles = [Candle(ts=T0 + i * M, open=10.0, high=11.0, low=9.0, close=10.5, volume=1.0) for i in range(100)]
    now = T0 + 100 * M
    source = KrakenSpot({"BTC/USD": candles}, M, clock=lambda: now, page_size=10)  # 2.5 minutes per page
    seen: list[int] = []
    rebuild = fetch_trade_candles(source, "BTC/USD", "1m", T0 + 10 * M, T0 + 20 * M, on_page=seen.append)
    assert rebuild.complete and rebuild.cursor >= to_ns(T0 + 20 * M)
    assert rebuild.pages == len(seen) == 5 and sum(seen) == 50  # paged until the cursor passed the end
    assert source.trade_calls[0] == ("BTC/USD", to_ns(T0 + 10 * M) - 1)  # exclusive since: the trade at start kept
    assert [t.to_pydatetime() for t in rebuild.frame["ts"]] == [T0 + i * M for i in range(10, 20)]


def test_fetch_trade_candles_within_a_page_budget_keeps_only_buckets_fully_read():
    candles = [Candle(ts=T0 + i * M, open=10.0, high=11.0, low=9.0, close=10.5, volume=1.0) for i in range(100)]
    now = T0 + 100 * M
    source = KrakenSpot({"BTC/USD": candles}, M, clock=lambda: now, page_size=10)
    partial = fetch_trade_candles(source, "BTC/USD", "1m", T0, now, max_pages=1)
    assert not partial.complete and partial.pages == 1
    assert len(partial.frame) == 2 and len(partial.pending) == 2  # minute 2 has had 2 of its 4 trades


class _StuckSource:
    def fetch_spot_trades(self, pair: str, since: int) -> TradePage:
        return TradePage(rows=((since + 1, 10.0, 1.0),), last=since)


def test_a_cursor_that_does_not_move_is_a_market_data_error_not_a_loop():
    with pytest.raises(MarketDataError, match="did not move forward"):
        fetch_trade_candles(_StuckSource(), "BTC/USD", "1m", T0, T0 + 10 * M)


@settings(max_examples=40, deadline=None)
@given(candles=candle_lists(), page_size=st.integers(1, 9))
def test_turning_trades_into_candles_as_buckets_close_changes_nothing(candles, page_size, monkeypatch_flush):
    now = T0 + 300 * M
    source = KrakenSpot({"BTC/USD": candles}, M, clock=lambda: now, page_size=page_size)
    pd.testing.assert_frame_equal(fetch_trade_candles(source, "BTC/USD", "1m", T0, now).frame, frame_of(candles))


@pytest.fixture(scope="module")
def monkeypatch_flush():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("krakenbot.data.trades._FLUSH_ROWS", 5)  # flush every few trades instead of 200,000
        yield

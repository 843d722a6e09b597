"""CandleManager after a downtime longer than Kraken's 720-candle OHLC reach: the hole is found at restart,
rebuilt from trades a few pages per slow tick, or reported (trades failing) or dropped (repair off).

The source is ``builders.kraken_spot.KrakenSpot``, an in-memory Kraken spot market playing Kraken's rules
(OHLC: newest 720 only; Trades: 1,000 per page by the ``last`` cursor). ``builders.candle_hole`` runs the
scenario on any ``CandleSource`` (the loopback version points it at a ``KrakenClient`` + ``FakeKraken``).
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from builders.candle_hole import restart_after_downtime
from builders.kraken_spot import KrakenSpot
from krakenbot.data.candle_cache import clean_candles
from krakenbot.data.candles import CandleManager
from krakenbot.domain import SimulatedClock
from krakenbot.domain.errors import TransientError
from krakenbot.domain.market import Candle

H = timedelta(hours=1)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAIR = "BTC/USD"


def history(hours: int, *, seed: int = 7, empty_every: int = 0) -> list[Candle]:
    """Hourly candles from T0, a random walk; every ``empty_every``-th hour has no trade (no candle)."""
    rng = random.Random(seed)
    price, out = 100.0, []
    for i in range(hours):
        price *= 1 + rng.uniform(-0.01, 0.01)
        if empty_every and i % empty_every == empty_every - 1:
            continue
        o, c = price, price * (1 + rng.uniform(-0.005, 0.005))
        out.append(Candle(ts=T0 + i * H, open=o, close=c, high=max(o, c) * 1.002, low=min(o, c) * 0.998,
                          volume=rng.randint(1, 10_000) / 64))
    return out


def expected(candles: list[Candle], first: datetime, last: datetime) -> pd.DataFrame:
    return clean_candles([c for c in candles if first <= c.ts <= last], H).frame


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(T0 + 800 * H + timedelta(minutes=5))


def test_restart_after_a_downtime_beyond_the_reach_repairs_the_hole_from_trades(tmp_path, clock, caplog):
    candles = history(2_000, empty_every=17)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now)
    with caplog.at_level(logging.WARNING, logger="krakenbot.data.candles"):
        run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H,
                                     down=1_000 * H, gap_repair_max_pages=1)
    # before: the newest 720 candles (minus the empty hours) up to 799:00
    assert run.before.ts_last == T0 + 799 * H and run.before.hole is None
    # at restart (1800:05) Kraken serves candles from 1081:00 on: 800:00 .. 1080:00 exist only as trades
    hole = run.at_restart.hole
    assert hole is not None and hole.state == "repairing" and hole.pages == 1
    assert (hole.ts_before, hole.ts_after, hole.missing) == (T0 + 799 * H, T0 + 1081 * H, 281)
    assert "BTC/USD" in hole.reason and "repairing from trades" in hole.reason
    assert run.at_restart.frame["ts"].iloc[0] == pd.Timestamp(T0 + 1081 * H)  # only the candles after the hole
    assert not run.at_restart.stale
    # 281 hours of 4 trades each = 1,056 trades: two pages at one page per slow tick
    assert len(run.ticks) == 1 and run.last.hole is None
    first = run.before.frame["ts"].iloc[0].to_pydatetime()
    pd.testing.assert_frame_equal(run.last.frame, expected(candles, first, T0 + 1800 * H))
    assert run.last.gaps and all(missing == 1 for _, _, missing in run.last.gaps)  # only the empty hours
    lines = [r.getMessage() for r in caplog.records]
    assert any("candle hole" in m and "repairing from trades" in m for m in lines)
    [repaired] = [m for m in lines if "repaired from trades" in m]
    assert repaired.startswith("BTC/USD 1h:") and "2 pages" in repaired


def test_the_repaired_cache_is_what_a_later_restart_reads(tmp_path, clock):
    candles = history(2_000)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now)
    run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H,
                                 down=1_000 * H)
    assert run.at_restart.hole is None  # 10 pages per tick: repaired at restart already
    again = CandleManager(source, tmp_path / "cache").get_candles(PAIR, "1h", clock.now())
    pd.testing.assert_frame_equal(again.frame, run.last.frame)
    assert again.gaps == () and len(again.frame) == 719 + 281 + 719  # before, rebuilt, after


def test_trades_failing_leave_the_hole_marked_and_a_later_tick_repairs_it(tmp_path, clock, caplog):
    candles = history(2_000)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now, trades_error=TransientError("Trades: HTTP 503"))
    manager = CandleManager(source, tmp_path / "cache")
    manager.get_candles(PAIR, "1h", clock.now())
    with caplog.at_level(logging.WARNING, logger="krakenbot.data.candles"):
        series = manager.get_candles(PAIR, "1h", clock.advance(1_000 * H))
        again = manager.get_candles(PAIR, "1h", clock.advance(H))
    for s in (series, again):
        assert s.hole is not None and s.hole.state == "failed"
        assert "cannot be repaired from trades now (TransientError: Trades: HTTP 503)" in s.hole.reason
        assert s.frame["ts"].iloc[0] > pd.Timestamp(s.hole.ts_before)  # never across the hole
    failures = [r for r in caplog.records if "cannot be repaired" in r.getMessage()]
    assert len(failures) == 1  # said once, not every tick
    source.trades_error = None
    repaired = manager.get_candles(PAIR, "1h", clock.advance(H))
    assert repaired.hole is None and repaired.gaps == ()
    # the first run's oldest candle: 720 back, the forming one included
    assert repaired.frame["ts"].iloc[0] == pd.Timestamp(T0 + 81 * H)


def test_with_repair_off_the_candles_before_the_hole_are_dropped_and_no_trade_is_asked(tmp_path, clock, caplog):
    source = KrakenSpot({PAIR: history(2_000)}, H, clock=clock.now)
    with caplog.at_level(logging.WARNING, logger="krakenbot.data.candles"):
        run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H,
                                     down=1_000 * H, gap_repair_max_pages=0)
    hole = run.at_restart.hole
    assert hole is not None and hole.state == "dropped" and "loop.gap_repair_max_pages is 0" in hole.reason
    assert source.trade_calls == []
    assert run.at_restart.frame["ts"].iloc[0] == pd.Timestamp(T0 + 1081 * H) and len(run.at_restart.frame) == 719
    assert any("dropped" in r.getMessage() for r in caplog.records)


def test_a_restart_during_a_repair_never_reads_across_the_hole(tmp_path, clock):
    source = KrakenSpot({PAIR: history(2_000)}, H, clock=clock.now)
    run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H,
                                 down=1_000 * H, gap_repair_max_pages=1, max_ticks=0)
    assert run.at_restart.hole is not None and run.at_restart.hole.state == "repairing"
    again = CandleManager(source, tmp_path / "cache", gap_repair_max_pages=1).get_candles(PAIR, "1h", clock.now())
    assert again.hole is None and again.gaps == ()  # the cache holds the candles after the hole only
    assert again.frame["ts"].iloc[0] == pd.Timestamp(T0 + 1081 * H)


def test_a_hole_longer_than_the_cache_keeps_is_rebuilt_only_over_its_newest_part(tmp_path, clock):
    candles = history(2_000)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now)
    run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H,
                                 down=1_000 * H, max_candles=800)
    assert run.last.hole is None
    pd.testing.assert_frame_equal(run.last.frame, expected(candles, T0 + 1000 * H, T0 + 1799 * H))
    assert min(since for _, since in source.trade_calls) == int((T0 + 1000 * H).timestamp()) * 10**9 - 1


def test_a_short_downtime_within_the_reach_asks_for_no_trade(tmp_path, clock):
    source = KrakenSpot({PAIR: history(2_000)}, H, clock=clock.now)
    run = restart_after_downtime(source, clock, tmp_path / "cache", pair=PAIR, timeframe="1h", step=H, down=700 * H)
    assert run.at_restart.hole is None and run.at_restart.gaps == () and source.trade_calls == []


def test_a_hole_found_while_the_ohlc_endpoint_fails_is_reported_and_repaired_once_it_answers(tmp_path, clock):
    candles = history(2_000)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now)
    manager = CandleManager(source, tmp_path / "cache")
    first = manager.get_candles(PAIR, "1h", clock.now())
    source.ohlc_error = TransientError("OHLC: HTTP 502")
    down = manager.get_candles(PAIR, "1h", clock.advance(1_000 * H))
    assert down.hole is not None and down.hole.missing == 281 and down.frame.empty and down.stale
    source.ohlc_error = None
    back = manager.get_candles(PAIR, "1h", clock.advance(H))
    assert back.hole is None and back.gaps == ()
    pd.testing.assert_frame_equal(back.frame, expected(candles, first.frame["ts"].iloc[0].to_pydatetime(),
                                                       T0 + 1800 * H))


def test_a_second_hole_before_the_first_is_repaired_keeps_the_candles_between_them(tmp_path, clock):
    candles = history(3_000)
    source = KrakenSpot({PAIR: candles}, H, clock=clock.now, trades_error=TransientError("Trades: HTTP 503"))
    manager = CandleManager(source, tmp_path / "cache")
    manager.get_candles(PAIR, "1h", clock.now())
    first = manager.get_candles(PAIR, "1h", clock.advance(1_000 * H))  # hole 1: 800..1080, not repairable now
    assert first.hole is not None and first.hole.state == "failed"
    second = manager.get_candles(PAIR, "1h", clock.advance(1_000 * H))  # hole 2: 1800..2080
    assert second.hole is not None and second.hole.ts_before == T0 + 1799 * H
    source.trades_error = None
    repaired = manager.get_candles(PAIR, "1h", clock.advance(H))
    assert repaired.hole is None and repaired.gaps == ()
    pd.testing.assert_frame_equal(repaired.frame, expected(candles, T0 + 1081 * H, T0 + 2800 * H))

"""Issue #14 (scale): the backtest's precomputation holds no data-sized copies where a view will do,
is computed once, and its feeds rebuild per wake only what changed; the answers stay those of the
straightforward computations they replace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.feeds import BacktestMarket, ClockNs, PrecomputedSignals
from krakenbot.backtest.market_data import PRICE_FIELDS, MarketData
from krakenbot.config.models import AppConfig
from krakenbot.config.paths import DEMO_DATA_DIR
from krakenbot.domain import SimulatedClock
from krakenbot.domain.timeconv import from_ns, to_ns
from krakenbot.strategy.trend import TrendStrategy

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE_NS = 60 * 10**9


def walk(symbols: int, minutes: int, *, seed: int = 7, holes: dict[int, slice] | None = None) -> MarketData:
    """Random-walk 1m candles (open = previous close); ``holes`` maps a column to the rows it lacks."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.002, (minutes, symbols)), axis=0)), 2)
    opens = np.vstack([np.full((1, symbols), 100.0), close[:-1]])
    high = np.maximum(opens, close) + 0.05
    low = np.minimum(opens, close) - 0.05
    present = np.ones((minutes, symbols), dtype=bool)
    for col, rows in (holes or {}).items():
        present[rows, col] = False
    fields = {"open": opens, "high": high, "low": low, "close": close, "volume": np.ones((minutes, symbols))}
    fields = {name: np.where(present, values, np.nan) for name, values in fields.items()}
    return MarketData(symbols=tuple(f"S{i:02d}/USD" for i in range(symbols)), base_timeframe="1m",
                      ts=to_ns(T0) + MINUTE_NS * np.arange(minutes, dtype=np.int64), present=present,
                      complete=present.copy(), **fields)


def shocked_walk() -> MarketData:
    """``walk`` of 4 symbols x 6,000 minutes with holes and 12 one-minute shocks of 3 to 6 %, some on several
    symbols at once (each move shows in its candle's range)."""
    rng = np.random.default_rng(3)
    data = walk(4, 6000, holes={1: slice(2000, 2100), 3: slice(0, 500)})
    jumps = np.zeros(data.close.shape)
    for row in rng.choice(np.arange(10, 5990), 12, replace=False):
        jumps[row, rng.choice(4, rng.integers(1, 4), replace=False)] = rng.uniform(0.03, 0.06)
    factor = np.cumprod(1 + jumps, axis=0)
    fields = {f: getattr(data, f) * factor for f in ("open", "high", "low", "close")}
    fields["low"] = np.fmin(fields["low"], fields["close"] / (1 + jumps))
    return MarketData(symbols=data.symbols, base_timeframe="1m", ts=data.ts, present=data.present,
                      complete=data.complete, volume=data.volume, **fields)


def test_mark_view_of_complete_data_is_the_data_itself_and_computed_once() -> None:
    data = walk(3, 500)
    view = data.mark_view()
    assert data.mark_view() is view
    for name in ("open", "high", "low", "close"):
        assert np.shares_memory(getattr(view, name), getattr(data, name))
    assert not view.carried.any()
    assert np.array_equal(view.source_ts, np.broadcast_to(data.ts[:, None], data.close.shape))
    assert np.shares_memory(view.fresh("low"), data.low)


def test_mark_view_with_holes_equals_a_row_by_row_carry() -> None:
    data = walk(3, 300, holes={0: slice(0, 10), 1: slice(100, 180), 2: slice(290, 300)})
    view = data.mark_view()
    for col in range(3):
        last = -1
        for row in range(len(data.ts)):
            if data.present[row, col]:
                last = row
            if last < 0:
                assert np.isnan(view.close[row, col]) and view.source_ts[row, col] == -1
                assert not view.carried[row, col]
                continue
            for name in ("open", "high", "low", "close"):
                assert getattr(view, name)[row, col] == getattr(data, name)[last, col]
            assert view.source_ts[row, col] == data.ts[last]
            assert view.carried[row, col] == (last != row)
    assert np.isnan(view.fresh("high")[150, 1]) and view.fresh("high")[99, 1] == data.high[99, 1]


def test_resample_of_complete_data_is_computed_once_and_equals_the_bars_by_hand() -> None:
    data = walk(2, 600)  # 10 whole hours
    bars = data.resample("1h")
    assert data.resample("1h") is bars
    by_hour = {name: getattr(data, name).reshape(10, 60, 2) for name in PRICE_FIELDS}
    assert np.array_equal(bars.open, by_hour["open"][:, 0])
    assert np.array_equal(bars.close, by_hour["close"][:, -1])
    assert np.array_equal(bars.high, by_hour["high"].max(axis=1))
    assert np.array_equal(bars.low, by_hour["low"].min(axis=1))
    assert np.array_equal(bars.volume, by_hour["volume"].sum(axis=1))
    assert bars.present.all() and bars.complete.all()


@pytest.fixture(scope="module")
def demo_bars() -> MarketData:
    return load_dataset(DEMO_DATA_DIR).resample("15m")


def test_precomputed_signals_equal_the_strategy_and_are_built_once_per_bar(demo_bars: MarketData) -> None:
    strategy = TrendStrategy(timeframe="15m")
    feed = PrecomputedSignals(strategy, demo_bars)
    reference = PrecomputedSignals(strategy, demo_bars)
    reference._generic = True  # the strategy's own last_closed_index + signal_at, as before issue #14
    seen = 0
    for row in range(0, len(demo_bars.ts), 7):
        now = from_ns(int(demo_bars.ts[row])) + timedelta(minutes=15)
        got = feed.signals(now)
        assert got == reference.signals(now)
        again = feed.signals(now)
        assert all(a is b for a, b in zip(got, again, strict=True))  # nothing rebuilt when no bar changed
        for signal in got:
            assert feed.signal_of(signal.symbol, now) is signal
            assert feed.signal_of_ns(signal.symbol, to_ns(now)) is signal
            assert reference.signal_of_ns(signal.symbol, to_ns(now)) == signal  # the generic path builds now
        seen += len(got)
    assert seen > 100


def test_backtest_market_rebuilds_only_the_tickers_whose_candle_changed() -> None:
    data = walk(3, 50, holes={1: slice(20, 40)})
    clock = SimulatedClock(T0)
    futures = {s: f"PF_{s[:3]}USD" for s in data.symbols}

    def market() -> BacktestMarket:
        return BacktestMarket(data, futures, ClockNs(clock), 0.0001)

    feed = market()
    clock.set(T0 + timedelta(minutes=25))
    first = feed.futures_tickers()
    clock.set(T0 + timedelta(minutes=26))
    second = feed.futures_tickers()
    assert second == market().futures_tickers()  # a fresh feed (nothing cached) says the same
    assert second["PF_S01USD"] is first["PF_S01USD"]  # carried: no new candle, the same ticker
    assert second["PF_S00USD"] is not first["PF_S00USD"]
    assert second["PF_S00USD"].ts is clock.now()  # its candle closed now: stamped with the clock's own reading
    assert second["PF_S01USD"].ts == T0 + timedelta(minutes=20)  # its last candle (19) closed at 20


def test_backtest_of_complete_data_reads_the_candles_without_copying_them() -> None:
    data = walk(2, 3 * 1440)
    cfg = AppConfig.model_validate({"universe": {"symbols": list(data.symbols)}, "strategy": {"timeframe": "1h"}})
    backtest = Backtest(cfg, data, progress=False)
    assert np.shares_memory(backtest._lows, data.low) and np.shares_memory(backtest._highs, data.high)
    assert backtest._view is data.mark_view()
    result = backtest.run()
    assert result.candles == 2 * 3 * 1440


@pytest.mark.parametrize("holes", [None, slice(100, 300), slice(0, 0)])
@pytest.mark.parametrize("timeframe_minutes", [1, 15, 60, 1440])
def test_timeline_without_sorting_equals_the_union_of_closes_and_bars(holes: slice | None,
                                                                      timeframe_minutes: int) -> None:
    from krakenbot.backtest.engine import _timeline
    data = walk(1, 3000)
    if holes is not None:
        keep = np.ones(len(data.ts), dtype=bool)
        keep[holes] = False
        data = data.subset(data.symbols) if keep.all() else MarketData(
            symbols=data.symbols, base_timeframe="1m", ts=data.ts[keep], present=data.present[keep],
            complete=data.complete[keep], **{f: getattr(data, f)[keep] for f in PRICE_FIELDS})
    tf_ns = timeframe_minutes * MINUTE_NS
    close_ns = data.ts + MINUTE_NS
    first_bar = -(-int(close_ns[0]) // tf_ns) * tf_ns
    bars = np.arange(first_bar, int(close_ns[-1]) + 1, tf_ns, dtype=np.int64)
    times = np.union1d(close_ns, bars)
    timeline = _timeline(data, tf_ns)
    assert np.array_equal(timeline.times, times)
    assert np.array_equal(timeline.is_bar, np.isin(times, bars))
    assert np.array_equal(timeline.row, np.searchsorted(close_ns, times, side="right") - 1)


@pytest.mark.parametrize("chunk_cells", [1_000_000, 4_000])
def test_shock_replay_scans_only_rows_a_bound_cannot_clear_and_finds_the_same_hits(
        chunk_cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from krakenbot.backtest import feeds
    from krakenbot.backtest.feeds import ReplayShockFeed
    from krakenbot.live.trading import build_guard
    from krakenbot.risk.shock_detect import reaches, scan_magnitudes

    data = shocked_walk()
    cfg = AppConfig.model_validate({"universe": {"symbols": list(data.symbols)}})
    futures = {s: f"PF_{s[:3]}USD" for s in data.symbols}
    guard = build_guard(cfg, sorted(futures.values()))
    monkeypatch.setattr(feeds, "CHUNK_CELLS", chunk_cells)  # 4,000 cells: chunks of 1,000 rows
    scanned: list[int] = []
    scan = feeds.scan_magnitudes
    monkeypatch.setattr(feeds, "scan_magnitudes", lambda *a, **k: scanned.append(len(a[1])) or scan(*a, **k))
    replay = ReplayShockFeed(guard, data, futures)
    assert 0 < sum(scanned) < len(data.ts) / 10  # the bound cleared most rows

    ts_us = (data.ts + MINUTE_NS) // 1000
    marks, high, low = (np.where(data.present, getattr(data, f), np.nan) for f in ("close", "high", "low"))
    mags = scan_magnitudes(guard.params, ts_us, marks, None, high=high, low=low)  # every row, in one piece
    rows = np.flatnonzero(reaches(mags, guard.params.thresholds[None, None, :]).any(axis=(1, 2)))
    assert len(rows) >= 10
    assert replay._hit_ts == ts_us[rows].tolist()
    for got, want in zip(replay._hit_mags, mags[rows], strict=True):
        assert np.array_equal(got, want, equal_nan=True)


def test_a_disabled_guard_replays_no_shocks_and_wakes_for_none() -> None:
    """With ``risk.shock_guard_enabled`` false the guard detects nothing (``ReplayShockFeed.detect``), so the
    replay scans nothing and no shock wakes the loop; the results are those of stepping every candle."""
    from krakenbot.backtest.feeds import ReplayShockFeed
    from krakenbot.live.trading import build_guard

    data = shocked_walk()
    cfg = AppConfig.model_validate({"universe": {"symbols": list(data.symbols)},
                                    "strategy": {"timeframe": "15m"}, "risk": {"shock_guard_enabled": False}})
    futures = {s: f"PF_{s[:3]}USD" for s in data.symbols}
    replay = ReplayShockFeed(build_guard(cfg, sorted(futures.values())), data, futures)
    assert replay.next_hit_us(0) is None
    skipping, stepping = Backtest(cfg, data), Backtest(cfg, data, step_every_candle=True)
    got, want = skipping.run(), stepping.run()
    assert skipping.wakes < stepping.wakes
    for name in ("trades", "equity", "events"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), check_exact=True)

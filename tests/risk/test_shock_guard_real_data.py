"""ShockGuard on real recorded candles (slices in tests/data/shock_guard, see tests/data/PROVENANCE.md).

Marks are candle *closes*, one tick per candle (1-minute Binance / Kraken, 5-minute for the basis
case); missing candles stay gaps. Default ``RiskConfig`` thresholds. The full per-day counts come
from ``python scripts/shock_guard_real_data.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.config.models import RiskConfig
from krakenbot.risk.shock_guard import ShockDetected, ShockGuard

DATA = Path(__file__).resolve().parents[1] / "data" / "shock_guard"


def load_wide(name: str) -> pd.DataFrame:
    frame = pd.read_parquet(DATA / f"{name}.parquet")
    return frame.pivot_table(index="ts", columns="symbol", values="close", aggfunc="last").sort_index()


def scan(wide: pd.DataFrame, reference: pd.DataFrame | None = None) -> list[ShockDetected]:
    ref = None if reference is None else reference.to_numpy(dtype=np.float64)
    return ShockGuard(RiskConfig()).scan_history(wide.index.to_numpy(dtype="datetime64[us]"),
                                                 wide.to_numpy(dtype=np.float64), ref, list(wide.columns))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def crash_day() -> pd.DataFrame:
    return load_wide("binance-1m-2021-05-19-crash")


def test_crash_day_2021_05_19_shocks_most_symbols_during_the_crash_hours(crash_day: pd.DataFrame) -> None:
    events = scan(crash_day)
    in_crash = [e for e in events if utc("2021-05-19T11:00") <= e.ts <= utc("2021-05-19T14:30")]
    shocked = {e.symbol for e in in_crash if e.kind != "marketwide"}
    assert len(shocked) >= 15, f"only {sorted(shocked)} shocked on the crash"
    marketwide = [e for e in in_crash if e.kind == "marketwide"]
    assert marketwide and marketwide[0].magnitude >= 3
    assert len(events) >= 50


def test_crash_day_tick_by_tick_equals_scan_and_pauses_all_entries(crash_day: pd.DataFrame) -> None:
    guard = ShockGuard(RiskConfig())
    fed: list[ShockDetected] = []
    paused_all_at_13_10 = False
    for ts, row in zip(crash_day.index, crash_day.to_numpy(), strict=True):
        now = ts.to_pydatetime()
        fed += guard.update_mark_prices(now, dict(zip(crash_day.columns, row.tolist(), strict=True)))
        if now == utc("2021-05-19T13:10"):
            paused_all_at_13_10 = guard.is_entry_paused("ANY/USD", now) and "*" in guard.paused_symbols(now)
    assert fed == scan(crash_day)
    assert paused_all_at_13_10


def test_calm_day_2021_05_18_stays_quiet_on_the_same_pairs() -> None:
    events = scan(load_wide("binance-1m-2021-05-18-calm"))
    assert len(events) <= 2 and not [e for e in events if e.kind == "marketwide"]


def test_kraken_xbtusdc_calm_days_2023_01_09_to_11_stay_quiet() -> None:
    wide = load_wide("kraken-1m-2023-01-09_11-xbtusdc-calm")
    assert len(wide) > 1_500  # gaps: Kraken omits minutes without trades
    assert scan(wide) == []


def test_usdc_depeg_2023_03_11_is_a_basis_shock_and_the_days_before_are_not() -> None:
    frame = load_wide("kraken-5m-2023-03-09_12-usdc-basis")
    mark, ref = frame[["XBTUSDC"]], frame[["XBTUSD"]].rename(columns={"XBTUSD": "XBTUSDC"})
    events = scan(mark, ref)
    assert events and {e.kind for e in events} == {"basis"}
    assert min(e.ts for e in events) >= utc("2023-03-11T00:00")  # 9-10 March: quiet basis
    guard = ShockGuard(RiskConfig())
    peak_events: list[ShockDetected] = []
    for ts in frame.index[frame.index <= pd.Timestamp("2023-03-11T07:40", tz="UTC")]:
        m, r = frame.loc[ts, "XBTUSDC"], frame.loc[ts, "XBTUSD"]
        peak_events += guard.update_mark_prices(ts.to_pydatetime(), {"XBTUSDC": float(m)}, {"XBTUSDC": float(r)})
    now = utc("2023-03-11T07:40")
    assert guard.is_entry_paused("XBTUSDC", now) and not guard.is_entry_paused("XBTUSD", now)
    assert peak_events == [e for e in events if e.ts <= now]
    at_peak = frame.loc[frame.index == pd.Timestamp(now)]
    assert float(at_peak["XBTUSDC"].iloc[0]) / float(at_peak["XBTUSD"].iloc[0]) - 1 > 0.13

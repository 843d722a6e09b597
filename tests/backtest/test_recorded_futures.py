"""Recorded futures series beside the spot candles, on real Kraken Futures records (tests/data/kraken-futures,
PROVENANCE.md there): hourly funding charged from the record across the 10 Oct 2025 sign flip, the basis
detector on mark vs index, and the summary saying what was recorded and what assumed.

Stand-ins, as in PROVENANCE.md: ``BTC-USD-1h`` is Kraken Futures' PF_XBTUSD index, and ``PF_XBTUSD-mark-1h``
holds the perpetual's *traded* 1h candles (no mark candles were recorded anywhere)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from builders.exchange import intent
from krakenbot.backtest.data import DataError, load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.feeds import BacktestMarket, ClockNs
from krakenbot.backtest.futures_files import attach_recorded_futures
from krakenbot.backtest.instruments import synthetic_perpetual
from krakenbot.backtest.metrics import summary_dict
from krakenbot.backtest.selection import select_backtest_data
from krakenbot.config import load_config
from krakenbot.config.models import FeesConfig
from krakenbot.config.paths import DEFAULT_CONFIG_PATH
from krakenbot.domain import OrderSide
from krakenbot.domain.clock import SimulatedClock
from krakenbot.exchange.paper import PaperExchange

REPO = Path(__file__).resolve().parents[2]
KF = REPO / "tests" / "data" / "kraken-futures"
HOUR = timedelta(hours=1)
FLIP = datetime(2025, 10, 10, 22, tzinfo=UTC)  # funding of all three turns strongly negative in this hour
ASSUMED = 0.0000125  # the default config's backtest.funding_rate_hourly_pct


@pytest.fixture(scope="module")
def cfg():
    cfg = load_config(DEFAULT_CONFIG_PATH)
    return cfg.model_copy(update={"strategy": cfg.strategy.model_copy(update={"timeframe": "1h"})})


def recorded(folder: Path = KF):
    return attach_recorded_futures(folder, load_dataset(folder))


def shocks(result, kind: str) -> list[tuple[str, float]]:
    found = result.events[result.events["kind"] == kind]
    return [(ts.strftime("%Y-%m-%d %H:%M"), float(detail.split()[0].partition("=")[2]))
            for ts, detail in zip(found["ts"], found["detail"], strict=True)]


def _flat_spot(folder: Path, base: str, price: float) -> None:
    """Synthetic flat hourly spot candles (no ETH/SOL candles were recorded): the funding is what is real."""
    ts = pd.date_range("2025-10-10 00:00", "2025-10-12 00:00", freq="1h", tz="UTC")
    pd.DataFrame({"ts": ts, "open": price, "high": price, "low": price, "close": price, "volume": 1.0}).to_parquet(
        folder / f"{base}-USD-1h.parquet")


@pytest.mark.parametrize(("contract", "spot", "price"), [("PF_XBTUSD", None, None), ("PF_ETHUSD", "ETH", 4_000.0),
                                                          ("PF_SOLUSD", "SOL", 200.0)])
def test_funding_charged_hourly_is_rate_times_notional_across_the_sign_flip(tmp_path, contract, spot, price):
    folder = KF
    if spot is not None:
        folder = tmp_path
        _flat_spot(folder, spot, price)
        shutil.copy(KF / f"{contract}-funding-1h.parquet", folder)
    data = recorded(folder)
    clock = SimulatedClock(FLIP - 4 * HOUR)
    instrument = synthetic_perpetual(data.symbols[0], float(data.close[0, 0]))
    paper = PaperExchange(instruments={contract: instrument}, fees=FeesConfig(), clock=clock,
                          initial_equity_usd=1_000_000.0)
    market = BacktestMarket(data, {data.symbols[0]: contract}, ClockNs(clock), ASSUMED)

    def tick() -> None:  # what MarketStep hands the paper exchange: Kraken's absolute rate / mark
        ticker = market.futures_tickers()[contract]
        paper.update_market({contract: ticker.mark}, {contract: ticker.funding_rate / ticker.mark})

    tick()
    paper.create_order(intent("bt-1", OrderSide.BUY, "2", symbol=contract))
    hours = [FLIP - 3 * HOUR + k * HOUR for k in range(8)]  # 19:00 .. 02:00: settlements of 18:00 .. 01:00
    for hour in hours:
        clock.set(hour)
        tick()
    rates = pd.read_parquet(KF / f"{contract}-funding-1h.parquet").set_index("ts")["relative_funding_rate"]
    marks = (pd.read_parquet(KF / "PF_XBTUSD-mark-1h.parquet").set_index("ts")["close"] if spot is None
             else pd.Series(price, index=rates.index))
    # the settlement at H charges the rate of [H - 1h, H) on the notional at the mark of the candle closing at H
    expected = [2 * float(marks[h - HOUR]) * float(rates[h - HOUR]) for h in hours]
    assert [(ts, sym) for ts, sym, _ in paper.funding_payments] == [(h, contract) for h in hours]
    assert [usd for _, _, usd in paper.funding_payments] == pytest.approx(expected, rel=1e-12)
    assert paper.funding_paid_usd == pytest.approx(sum(expected), rel=1e-12)
    flip = hours.index(FLIP + HOUR)
    before, at_flip = [usd for _, _, usd in paper.funding_payments[:flip]], paper.funding_payments[flip][2]
    assert at_flip < 0 and all(abs(usd) < abs(at_flip) / 10 for usd in before)  # the long is paid, 10x any hour
    if contract == "PF_XBTUSD":
        assert all(usd > 0 for usd in before)  # having paid every hour before: the sign flipped at 22:00


def test_recorded_mark_is_the_mark_and_the_spot_close_the_index():
    data = recorded()
    view = data.mark_view()
    row = int(np.searchsorted(data.ts, np.datetime64("2025-10-10T21:00", "ns").astype(np.int64)))
    assert view.close[row, 0] == 113_853.0  # PF_XBTUSD traded close
    assert view.index[row, 0] == data.close[row, 0] == pytest.approx(113_942.82)
    plain = load_dataset(KF).mark_view()
    np.testing.assert_array_equal(plain.index, plain.close)


def test_real_10_october_21h_candle_is_a_basis_shock_and_replay_equals_stepping(cfg):
    data = recorded()
    fast = Backtest(cfg, data, progress=False).run()
    slow = Backtest(cfg, data, step_every_candle=True, progress=False).run()
    pd.testing.assert_frame_equal(fast.events, slow.events)
    # the candle opened at 21:00 closes at 22:00: traded low 102,082 against the index low 108,681.17
    assert shocks(fast, "shock_basis") == [("2025-10-10 22:00", pytest.approx(1 - 102_082 / 108_681.17, rel=1e-5))]
    assert shocks(Backtest(cfg, load_dataset(KF), progress=False).run(), "shock_basis") == []  # no mark: no basis


def test_planted_mark_gap_fires_the_basis_detector_only_with_the_mark_file(cfg, tmp_path):
    shutil.copy(KF / "BTC-USD-1h.parquet", tmp_path)
    mark = pd.read_parquet(KF / "PF_XBTUSD-mark-1h.parquet")
    index = pd.read_parquet(KF / "BTC-USD-1h.parquet")
    at = mark["ts"] == pd.Timestamp("2025-10-14 12:00", tz="UTC")
    gapped = float(index.loc[at, "close"].iloc[0]) * 1.025  # 2.5 % above the index close, above the 1.5 % threshold
    mark.loc[at, "close"] = gapped
    mark.loc[at, "high"] = np.maximum(mark.loc[at, "high"], gapped)
    mark.to_parquet(tmp_path / "PF_XBTUSD-mark-1h.parquet")
    found = shocks(Backtest(cfg, recorded(tmp_path), progress=False).run(), "shock_basis")
    assert ("2025-10-14 13:00", pytest.approx(0.025, abs=0.002)) in found
    (tmp_path / "PF_XBTUSD-mark-1h.parquet").unlink()
    assert shocks(Backtest(cfg, recorded(tmp_path), progress=False).run(), "shock_basis") == []


def test_summary_says_which_series_were_recorded_and_which_assumed(cfg, tmp_path):
    summary = summary_dict(Backtest(cfg, recorded(), progress=False).run())
    assert summary["mark_source"] == "recorded: PF_XBTUSD-mark-1h"
    assert summary["index_source"] == "recorded: spot close"
    # the funding record ends at 03:00 on 19 Oct (hour to 04:00); the candles run to 09:00
    assert summary["funding_source"] == ("recorded: PF_XBTUSD-funding-1h "
                                         "(assumed 1.25e-05/h outside 2025-10-08T18:00Z..2025-10-19T04:00Z)")
    shutil.copy(KF / "BTC-USD-1h.parquet", tmp_path)
    assumed = summary_dict(Backtest(cfg, recorded(tmp_path), progress=False).run())
    assert (assumed["mark_source"], assumed["index_source"], assumed["funding_source"]) == (
        "assumed: spot close", "assumed: = mark (no basis)", "assumed: 1.25e-05/h")


def test_funding_outside_the_record_is_assumed_and_a_missing_hour_inside_is_none():
    data = recorded()
    futures = data.futures
    first = int(futures.funding_ts[0][0])
    hour = 3_600 * 10**9
    assert futures.funding_at(0, first) is None  # the hour before the record
    assert futures.funding_at(0, first + 1) == float(futures.funding_rate[0][0])
    assert futures.funding_at(0, first + hour) == float(futures.funding_rate[0][0])  # its settlement instant
    assert futures.funding_at(0, int(futures.funding_ts[0][-1]) + 2 * hour) is None
    ts = np.delete(futures.funding_ts[0], 5)
    rate = np.delete(futures.funding_rate[0], 5)
    holed = type(futures)(**{**{f: getattr(futures, f) for f in ("open", "high", "low", "close", "present",
                                                                 "mark_files", "funding_files")},
                             "funding_ts": (ts,), "funding_rate": (rate,)})
    assert holed.funding_at(0, int(futures.funding_ts[0][5]) + 1) == 0.0  # Kraken missed that settlement


def _write(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    shutil.copy(KF / "BTC-USD-1h.parquet", folder)
    path = folder / name
    frame.to_parquet(path)
    return path


def test_funding_in_percent_or_absolute_usd_is_refused_naming_the_file_and_the_unit(tmp_path):
    funding = pd.read_parquet(KF / "PF_XBTUSD-funding-1h.parquet")
    path = _write(tmp_path, "PF_XBTUSD-funding-1h.parquet",
                  funding.assign(relative_funding_rate=funding["funding_rate"]))  # USD per contract, not a fraction
    with pytest.raises(DataError, match=r"PF_XBTUSD-funding-1h.parquet.*fractions of notional per hour"):
        recorded(tmp_path)
    path.unlink()
    _write(tmp_path, "PF_XBTUSD-funding-1h.parquet", funding.drop(columns="relative_funding_rate"))
    with pytest.raises(DataError, match=r"missing columns relative_funding_rate.*not funding_rate"):
        recorded(tmp_path)


def test_malformed_mark_files_are_refused_naming_the_file_and_the_fix(tmp_path):
    mark = pd.read_parquet(KF / "PF_XBTUSD-mark-1h.parquet")
    path = _write(tmp_path, "PF_XBTUSD-mark-1h.parquet", mark.iloc[::-1])
    with pytest.raises(DataError, match=r"PF_XBTUSD-mark-1h.parquet: timestamps are not strictly increasing.*sort"):
        recorded(tmp_path)
    mark.loc[3, "close"] = np.nan
    _write(tmp_path, "PF_XBTUSD-mark-1h.parquet", mark)
    with pytest.raises(DataError, match=r"close is missing \(NaN\).*drop or fill"):
        recorded(tmp_path)
    path.unlink()
    _write(tmp_path, "PF_XBTUSD-mark-4h.parquet", mark.iloc[::4].dropna())
    with pytest.raises(DataError, match="4h marks cannot mark 1h candles"):
        recorded(tmp_path)


def test_the_backtest_selection_attaches_the_series_and_keeps_them_through_start_and_subset(cfg):
    btc = cfg.model_copy(update={"universe": cfg.universe.model_copy(update={"symbols": ["BTC/USD"]})})
    chosen = select_backtest_data(btc, KF, start=datetime(2025, 10, 10, tzinfo=UTC))
    assert chosen.data.futures is not None and chosen.data.futures.mark_files == ("PF_XBTUSD-mark-1h",)
    assert chosen.data.subset(("BTC/USD",)).futures.funding_files == ("PF_XBTUSD-funding-1h",)
    result = Backtest(btc, chosen.data, start=chosen.start, progress=False).run()
    assert shocks(result, "shock_basis") == [("2025-10-10 22:00", pytest.approx(0.0607, abs=1e-4))]
    assert summary_dict(result)["mark_source"] == "recorded: PF_XBTUSD-mark-1h"


def test_finer_mark_candles_are_resampled_to_the_base_candles(tmp_path):
    shutil.copy(KF / "BTC-USD-1h.parquet", tmp_path)
    hourly = pd.read_parquet(KF / "PF_XBTUSD-mark-1h.parquet")
    second = hourly.assign(ts=hourly["ts"] + pd.Timedelta(minutes=30), open=hourly["close"], high=hourly["close"],
                           low=hourly["close"])  # each hour as two 30m candles: its own, then a flat one at the close
    pd.concat([hourly, second]).sort_values("ts").to_parquet(tmp_path / "PF_XBTUSD-mark-30m.parquet")
    got, want = recorded(tmp_path).futures, recorded().futures
    for name in ("open", "high", "low", "close", "present"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert got.mark_files == ("PF_XBTUSD-mark-30m",)

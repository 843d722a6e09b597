"""The data folder layout: names, merges that never overwrite, byte-identical reruns and resumes, sidecars that
say where every span came from, and the backtest reading what is written."""

from __future__ import annotations

import itertools
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from krakenbot.backtest.data import load_dataset, scan_folder
from krakenbot.backtest.futures_files import attach_recorded_futures, read_funding, read_mark
from krakenbot.data import dataset
from krakenbot.data.dataset import (
    DatasetError,
    describe_folder,
    merge_into,
    read_spans,
    series_path,
    sidecar_path,
    summary_line,
)

T0 = pd.Timestamp("2023-01-01", tz="UTC")


def candles(n: int, *, start: int = 0, minutes: int = 1, price: float = 100.0, trades: bool = False) -> pd.DataFrame:
    ts = T0 + pd.to_timedelta((np.arange(n) + start) * minutes, unit="min")
    close = price + np.arange(n) * 0.5 + start
    frame = pd.DataFrame({"ts": ts.as_unit("ns"), "open": close - 0.1, "high": close + 1, "low": close - 1,
                          "close": close, "volume": np.arange(n) * 0.25 + 1})
    if trades:
        frame["trades"] = np.arange(n, dtype="int64") + 1
    return frame


def funding(hours: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"ts": [T0 + pd.Timedelta(hours=h) for h in hours],
                         "relative_funding_rate": [1e-5 * (h + 1) for h in hours],
                         "funding_rate": [np.nan if h % 2 else 0.3 * h for h in hours]})


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(("kind", "name", "tf", "file"), [
    ("spot", "BTC/USD", "1m", "BTC-USD-1m.parquet"),
    ("spot", "luna2/usd", "1h", "LUNA2-USD-1h.parquet"),
    ("mark", "PF_XBTUSD", "1m", "PF_XBTUSD-mark-1m.parquet"),
    ("trade", "PF_XBTUSD", "5m", "PF_XBTUSD-trade-5m.parquet"),
    ("index", "pf_ethusd", "1h", "PF_ETHUSD-index-1h.parquet"),
    ("funding", "PF_XBTUSD", "1h", "PF_XBTUSD-funding-1h.parquet"),
])
def test_series_path_names_each_series_as_the_backtest_reads_it(tmp_path, kind, name, tf, file):
    assert series_path(tmp_path, kind=kind, name=name, timeframe=tf) == tmp_path / file


@pytest.mark.parametrize(("kind", "name", "tf", "message"), [
    ("spot", "BTCUSD", "1m", "BASE/QUOTE"),
    ("spot", "BTC/USD", "12h", "unknown timeframe '12h'"),
    ("mark", "BTC/USD", "1m", "perpetual id"),
    ("funding", "PF_XBTUSD", "4h", "funding files are hourly"),
    ("candles", "PF_XBTUSD", "1m", "series kind"),
])
def test_series_path_refuses_what_no_reader_would_find(tmp_path, kind, name, tf, message):
    with pytest.raises(DatasetError, match=message):
        series_path(tmp_path, kind=kind, name=name, timeframe=tf)


def test_merge_writes_spot_mark_and_funding_the_backtest_reads(tmp_path):
    spot = series_path(tmp_path, kind="spot", name="BTC/USD", timeframe="1m")
    mark = series_path(tmp_path, kind="mark", name="PF_XBTUSD", timeframe="1m")
    rates = series_path(tmp_path, kind="funding", name="PF_XBTUSD", timeframe="1h")
    assert merge_into(spot, candles(180, trades=True), source="kraken-archive:XBTUSD_1.csv", timeframe="1m") == 180
    assert merge_into(mark, candles(180, price=101), source="kraken-futures:mark", timeframe="1m") == 180
    assert merge_into(rates, funding([0, 1, 2]), source="kraken-futures:funding", timeframe="1h") == 3
    for kind in ("trade", "index"):
        merge_into(series_path(tmp_path, kind=kind, name="PF_XBTUSD", timeframe="1m"), candles(10), source="x",
                   timeframe="1m")

    assert list(scan_folder(tmp_path)) == ["BTC/USD"]  # sidecars, trade and index files are not spot candles
    data = load_dataset(tmp_path)
    assert data.close[:, 0].tolist() == candles(180)["close"].tolist()
    assert read_mark(mark, "1m")["close"].tolist() == candles(180, price=101)["close"].tolist()
    _, rate = read_funding(rates)
    assert rate.tolist() == funding([0, 1, 2])["relative_funding_rate"].tolist()
    raw = pd.read_parquet(rates)
    assert raw["funding_rate"].isna().tolist() == [False, True, False]  # unknown stays unknown, never zero
    futures = attach_recorded_futures(tmp_path, data).futures
    assert futures is not None and futures.mark_files == ("PF_XBTUSD-mark-1m",)  # trade and index: not replayed


def test_rows_already_in_the_file_are_kept_and_a_differing_value_is_logged(tmp_path, caplog):
    path = tmp_path / "BTC-USD-1m.parquet"
    merge_into(path, candles(10), source="first", timeframe="1m")
    other = candles(20, price=200)
    with caplog.at_level(logging.WARNING):
        assert merge_into(path, other, source="second", timeframe="1m") == 10
    kept = pd.read_parquet(path)
    assert kept["close"].tolist() == candles(10)["close"].tolist() + other["close"].tolist()[10:]
    assert "10 rows from second differ from the file's" in caplog.text
    assert [(s.rows, s.source) for s in read_spans(path)] == [(10, "first"), (10, "second")]


def test_rerun_adds_nothing_and_leaves_both_files_byte_identical(tmp_path):
    path = tmp_path / "BTC-USD-1m.parquet"
    merge_into(path, candles(100, trades=True), source="a", timeframe="1m")
    before = files(tmp_path)
    assert merge_into(path, candles(100, trades=True), source="a", timeframe="1m") == 0
    assert merge_into(path, candles(50, trades=True), source="b", timeframe="1m") == 0
    assert files(tmp_path) == before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=119), max_size=6, unique=True), order=st.randoms())
def test_chunks_merged_in_any_order_give_byte_identical_files(tmp_path_factory, cuts, order):
    whole = candles(120, minutes=5, trades=True)
    whole = whole.drop(index=[7, 8, 50]).reset_index(drop=True)  # Kraken omits empty candles
    one = tmp_path_factory.mktemp("one")
    merge_into(one / "BTC-USD-5m.parquet", whole, source="kraken-archive:XBTUSD_5.csv", timeframe="5m")
    chunked = tmp_path_factory.mktemp("chunked")
    bounds = [0, *sorted(c % len(whole) for c in cuts), len(whole)]
    chunks = [whole.iloc[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    order.shuffle(chunks)
    for chunk in chunks:
        merge_into(chunked / "BTC-USD-5m.parquet", chunk, source="kraken-archive:XBTUSD_5.csv", timeframe="5m")
    assert files(chunked) == files(one)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=st.integers(min_value=1, max_value=59), archive_first=st.booleans())
def test_two_sources_on_disjoint_rows_give_the_same_files_in_either_order(tmp_path_factory, split, archive_first):
    whole = candles(60)
    parts = [(whole.iloc[:split], "archive"), (whole.iloc[split:], "ohlc")]
    folders = []
    for ordered in (parts, parts[::-1] if archive_first else parts):
        folder = tmp_path_factory.mktemp("f")
        for frame, source in ordered:
            merge_into(folder / "BTC-USD-1m.parquet", frame, source=source, timeframe="1m")
        folders.append(files(folder))
    assert folders[0] == folders[1]
    spans = json.loads(folders[0]["BTC-USD-1m.parquet.sources.json"])["spans"]
    assert [(s["rows"], s["source"]) for s in spans] == [(split, "archive"), (60 - split, "ohlc")]


def test_a_crash_between_the_data_file_and_its_sidecar_heals_on_the_next_merge(tmp_path):
    straight = tmp_path / "straight"
    merge_into(straight / "BTC-USD-1m.parquet", candles(30), source="a", timeframe="1m")
    merge_into(straight / "BTC-USD-1m.parquet", candles(30, start=30), source="a", timeframe="1m")

    crashed = tmp_path / "crashed" / "BTC-USD-1m.parquet"
    merge_into(crashed, candles(30), source="a", timeframe="1m")
    stale = sidecar_path(crashed).read_bytes()
    merge_into(crashed, candles(30, start=30), source="a", timeframe="1m")
    sidecar_path(crashed).write_bytes(stale)  # the data file was replaced, the sidecar not yet
    (crashed.parent / f".{crashed.name}.abc.tmp").write_bytes(b"half")  # and a temporary file was left behind
    assert [s.rows for s in read_spans(crashed)] == [60]  # the data file is the truth
    assert merge_into(crashed, candles(60), source="a", timeframe="1m") == 0  # the resumed run
    assert files(crashed.parent) == files(straight)


def test_an_interrupted_write_leaves_the_previous_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "BTC-USD-1m.parquet"
    merge_into(path, candles(10), source="a", timeframe="1m")
    before = files(tmp_path)

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataset.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        merge_into(path, candles(20), source="a", timeframe="1m")
    monkeypatch.setattr(dataset.os, "replace", os.replace)
    assert files(tmp_path) == before


@pytest.mark.parametrize(("frame", "message"), [
    (candles(3).drop(columns="volume"), "missing columns volume"),
    (candles(3).assign(ts=lambda f: f["ts"].dt.tz_localize(None)), "timezone-aware UTC"),
    (candles(3).assign(ts=lambda f: f["ts"] + pd.Timedelta(seconds=30)), "off the 1m grid at 2023-01-01T00:00:30Z"),
    (candles(3).assign(high=[1.0, 2.0, 3.0]), "high/low do not bracket"),
    (candles(3).assign(close=[np.nan, 100.0, 101.0]), "missing, non-positive or infinite prices"),
    (candles(3).assign(extra=1), "unknown columns extra"),
    (pd.concat([candles(2), candles(2, price=150)]), "two different rows at 2023-01-01T00:00:00Z"),
    (funding([0]).assign(relative_funding_rate=[np.nan]), "never a NaN or zero"),
])
def test_a_malformed_frame_is_refused_naming_the_file_and_nothing_is_written(tmp_path, frame, message):
    path = tmp_path / "X-USD-1m.parquet"
    with pytest.raises(DatasetError, match=message) as err:
        merge_into(path, frame, source="s", timeframe="1m" if "relative_funding_rate" not in frame else "1h")
    assert str(path) in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_funding_rows_cannot_go_into_a_candle_file(tmp_path):
    path = tmp_path / "PF_XBTUSD-mark-1h.parquet"
    merge_into(path, candles(3, minutes=60), source="s", timeframe="1h")
    with pytest.raises(DatasetError, match="holds candle rows, the merge brings funding rows"):
        merge_into(path, funding([5]), source="s", timeframe="1h")


def test_describe_folder_says_span_gaps_and_sources_per_series(tmp_path):
    spot = tmp_path / "BTC-USD-1m.parquet"
    gappy = candles(100).drop(index=[10, 11, 12, 50]).reset_index(drop=True)
    merge_into(spot, gappy.iloc[:60], source="kraken-archive:XBTUSD_1.csv", timeframe="1m")
    merge_into(spot, gappy.iloc[60:], source="kraken-ohlc", timeframe="1m")
    merge_into(tmp_path / "PF_XBTUSD-funding-1h.parquet", funding([0, 1, 3]), source="kraken-futures",
               timeframe="1h")
    (tmp_path / "README.md").write_text("notes")
    spot_summary, rates = describe_folder(tmp_path)
    assert (spot_summary.name, spot_summary.kind, spot_summary.timeframe) == ("BTC/USD", "spot", "1m")
    assert (spot_summary.rows, spot_summary.gaps, spot_summary.missing, spot_summary.longest_gap) == (96, 2, 4, 3)
    assert spot_summary.start == datetime(2023, 1, 1, tzinfo=UTC)
    assert spot_summary.sources == ("kraken-archive:XBTUSD_1.csv", "kraken-ohlc")
    assert (rates.name, rates.kind, rates.gaps, rates.missing) == ("PF_XBTUSD", "funding", 1, 1)
    line = summary_line(tmp_path)
    assert "BTC/USD spot 1m 2023-01-01 00:00..2023-01-01 01:39 (96 rows, 2 gaps, longest 3 missing)" in line
    assert "PF_XBTUSD funding 1h" in line and "\n" not in line


def test_a_file_without_sidecar_or_source_column_is_unrecorded(tmp_path):
    candles(5).to_parquet(tmp_path / "ETH-USD-1m.parquet")
    assert [(s.rows, s.source) for s in read_spans(tmp_path / "ETH-USD-1m.parquet")] == [(5, "unrecorded")]
    assert merge_into(tmp_path / "ETH-USD-1m.parquet", candles(6), source="ohlc", timeframe="1m") == 1
    assert [(s.rows, s.source) for s in read_spans(tmp_path / "ETH-USD-1m.parquet")] == [(5, "unrecorded"),
                                                                                         (1, "ohlc")]


def test_a_foreign_file_out_of_order_is_refused_not_rewritten(tmp_path):
    path = tmp_path / "ETH-USD-1m.parquet"
    candles(5).iloc[::-1].to_parquet(path)
    before = path.read_bytes()
    with pytest.raises(DatasetError, match="ts not strictly increasing at row 1"):
        merge_into(path, candles(6), source="ohlc", timeframe="1m")
    assert path.read_bytes() == before and not sidecar_path(path).exists()

"""Kraken's OHLCVT archive into a data folder: the shipped ZIP (tests/data/kraken-archive, real Kraken candles)
round-trips exactly, pair names and intervals map, filters select, a malformed line is named and nothing of
its file is written, and the backtest reads the result."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.data import load_dataset
from krakenbot.data.dataset import read_spans
from krakenbot.datasets.kraken_archive import ArchiveError, archive_members, import_archive, read_archive_csv

REPO = Path(__file__).resolve().parents[2]
ZIP = REPO / "tests" / "data" / "kraken-archive" / "kraken-ohlcvt-2023-03-09_12.zip"
EXPECTED = {"XBTUSDC_1.csv": "BTC-USDC-1m.parquet", "XBTUSD_5.csv": "BTC-USD-5m.parquet",
            "XBTUSD_60.csv": "BTC-USD-1h.parquet"}


def lines_of(member: str) -> list[list[str]]:
    with zipfile.ZipFile(ZIP) as archive:
        text = archive.read(member).decode("ascii")
    return [line.split(",") for line in text.splitlines()]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("imported")
    return out, import_archive([ZIP], out, progress=False)


def test_zip_to_parquet_round_trips_every_value_exactly(imported):
    out, results = imported
    written = {r.member.file_name: r for r in results if r.path is not None}
    assert {name: r.path.name for name, r in written.items()} == EXPECTED
    for member, file in EXPECTED.items():
        rows = lines_of(member)
        frame = pd.read_parquet(out / file)
        assert len(frame) == len(rows) == written[member].rows == written[member].added
        assert (frame["ts"].astype("int64").to_numpy() == [int(r[0]) * 10**9 for r in rows]).all()
        for col, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
            assert frame[name].tolist() == [float(r[col]) for r in rows], (member, name)  # exact, not approx
        assert frame["trades"].dtype == np.int64
        assert frame["trades"].tolist() == [int(r[6]) for r in rows]
        assert [(s.rows, s.source) for s in read_spans(out / file)] == [(len(rows), f"kraken-archive:{member}")]


def test_720_minute_candles_are_skipped_with_a_note(imported):
    _, results = imported
    skipped = [r for r in results if r.path is None]
    assert [r.member.file_name for r in skipped] == ["XBTUSD_720.csv"]
    assert not skipped[0].failed and "720-minute candles: Krakenbot has no such timeframe" in (skipped[0].note or "")


def test_reimport_adds_nothing_and_the_csvs_give_the_same_files_as_the_zip(imported, tmp_path):
    out, _ = imported
    before = files(out)
    assert all(r.added == 0 for r in import_archive([ZIP], out, progress=False))
    assert files(out) == before
    with zipfile.ZipFile(ZIP) as archive:
        archive.extractall(tmp_path / "csv")
    csvs = sorted((tmp_path / "csv").glob("*.csv"))
    import_archive(csvs, tmp_path / "from-csv", progress=False)
    assert files(tmp_path / "from-csv") == before


def test_an_import_interrupted_after_a_file_and_run_again_gives_the_same_files(imported, tmp_path):
    def stop(result):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        import_archive([ZIP], tmp_path, progress=False, on_file=stop)
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    import_archive([ZIP], tmp_path, progress=False)
    assert files(tmp_path) == files(imported[0])


def test_a_member_read_in_small_chunks_equals_one_read():
    member = next(m for m in archive_members([ZIP]) if m.file_name == "XBTUSD_5.csv")
    seen: list[int] = []
    chunked = read_archive_csv(member, chunk_rows=100, on_bytes=seen.append)
    pd.testing.assert_frame_equal(chunked, read_archive_csv(member))
    assert sum(seen) == member.size


def test_filters_select_pairs_in_any_spelling_and_timeframes(tmp_path):
    results = import_archive([ZIP], tmp_path, pairs=["XBT/USD"], timeframes=["1h", "5m"], progress=False)
    assert sorted(r.member.file_name for r in results) == ["XBTUSD_5.csv", "XBTUSD_60.csv"]
    assert sorted(p.name for p in tmp_path.glob("*.parquet")) == ["BTC-USD-1h.parquet", "BTC-USD-5m.parquet"]
    with pytest.raises(ArchiveError, match="--timeframe '12h'"):
        import_archive([ZIP], tmp_path, timeframes=["12h"], progress=False)
    with pytest.raises(ArchiveError, match=r"--pair 'LUNA/USD'.*LUNA2/USD or LUNC/USD"):
        import_archive([ZIP], tmp_path, pairs=["LUNA/USD"], progress=False)


@pytest.mark.parametrize(("name", "symbol", "timeframe"), [
    ("XBTUSD_1.csv", "BTC/USD", "1m"),
    ("XXBTZUSD_1440.csv", "BTC/USD", "1d"),
    ("XDGUSD_15.csv", "DOGE/USD", "15m"),
    ("LUNA2USD_60.csv", "LUNA2/USD", "1h"),
    ("LUNAUSD_240.csv", "LUNC/USD", "4h"),
    ("XETHZEUR_30.csv", "ETH/EUR", "30m"),
    ("ETHXBT_5.csv", "ETH/BTC", "5m"),
    ("THETAUSD_1.csv", "THETA/USD", "1m"),
])
def test_kraken_pair_names_map_to_krakenbot_pairs(tmp_path, name, symbol, timeframe):
    path = tmp_path / name
    path.write_text("")
    (member,) = archive_members([path])
    assert (member.symbol, member.timeframe, member.skip) == (symbol, timeframe, None)


@pytest.mark.parametrize(("name", "note"), [
    ("XBTUSD_10080.csv", "10080-minute candles"),
    ("XBTUSD_21600.csv", "21600-minute candles"),
    ("NOTAPAIR_1.csv", "not recognised as a Kraken spot pair"),
    ("ETH2.SETH_1.csv", "reads as ETH2.S/ETH, which no BASE-QUOTE-TF file name can hold"),
])
def test_members_krakenbot_cannot_use_are_skipped_with_a_note(tmp_path, name, note):
    path = tmp_path / name
    path.write_text("1,1,1,1,1,1,1\n")
    (result,) = import_archive([path], tmp_path / "out", progress=False)
    assert result.path is None and not result.failed and note in (result.note or "")


@pytest.mark.parametrize(("line", "problem"), [
    ("1678320120,21696.5,21718.9,21673.7,21698.5,24.8,x", "line 3: trades 'x' is not a number"),
    ("1678320120,21696.5,21718.9,21673.7,21698.5", "line 3: 5 fields, expected 7"),
    ("1678320120,21696.5,21718.9,21673.7,21698.5,24.8,3,9", "line 3: not a Kraken OHLCVT line"),
    ("1678320150,21696.5,21718.9,21673.7,21698.5,24.8,3", "line 3: open time off the 1m grid"),
    ("1678320060,21696.5,21718.9,21673.7,21698.5,24.8,3", "line 3: open time not after the previous line"),
    ("1678320120,21696.5,21690.0,21673.7,21698.5,24.8,3", "line 3: high/low do not bracket"),
    ("1678320120,0,21718.9,0,21698.5,24.8,3", "line 3: a price is zero or negative"),
    ("", "line 3: empty line"),
])
def test_a_malformed_line_names_file_line_and_fix_and_nothing_of_that_file_is_written(tmp_path, line, problem):
    good = ["1678320000,21696.5,21718.9,21673.7,21698.5,24.85421552,146",
            "1678320060,21701.5,21725.1,21687.4,21724.0,4.0636055,107"]
    bad = tmp_path / "XBTUSD_1.csv"
    bad.write_text("\n".join([*good, line, "1678320180,21701.5,21725.1,21687.4,21724.0,4.0636055,107"]) + "\n")
    shutil.copy(ZIP, tmp_path / "archive.zip")
    results = import_archive([bad, tmp_path / "archive.zip"], tmp_path / "out", timeframes=["1m"], progress=False)
    failed = results[0]
    assert failed.failed and failed.path is None
    assert str(bad) in (failed.note or "") and "re-download the archive" in (failed.note or "")
    assert any(p in (failed.note or "") for p in problem.split("|")), failed.note
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["BTC-USDC-1m.parquet",
                                                                     "BTC-USDC-1m.parquet.sources.json"]


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArchiveError, match=r"neither a ZIP nor a \.csv"):
        archive_members([tmp_path / "notes.txt"])
    (tmp_path / "prices.csv").write_text("1,2")
    with pytest.raises(ArchiveError, match=r"name is not PAIR_MINUTES\.csv"):
        archive_members([tmp_path / "prices.csv"])
    with pytest.raises(ArchiveError, match="no such file"):
        archive_members([tmp_path / "missing.zip"])


def test_the_backtest_reads_the_imported_folder(imported):
    out, _ = imported
    data = load_dataset(out, symbols=["BTC/USD"])
    assert data.base_timeframe == "5m" and len(data.ts) == 1152
    assert data.close[0, 0] == float(lines_of("XBTUSD_5.csv")[0][4])

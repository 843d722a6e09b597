"""`data import` and `data list` in-process (typer's CliRunner) on the shipped Kraken archive ZIP, and the
backtest on a folder they wrote: its one-line data summary and the series it says were recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from krakenbot.cli import app
from krakenbot.data.dataset import merge_into, series_path, summary_line

REPO = Path(__file__).resolve().parents[2]
ZIP = REPO / "tests" / "data" / "kraken-archive" / "kraken-ohlcvt-2023-03-09_12.zip"



def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_data_import_writes_the_backtest_layout_and_a_rerun_adds_nothing(tmp_path):
    out = tmp_path / "data"
    first = invoke("data", "import", str(ZIP), "--out", str(out))
    assert first.exit_code == 0, first.output
    assert f"XBTUSD_5.csv -> {out / 'BTC-USD-5m.parquet'}: 1,152 candles, 1,152 new" in first.output
    assert "XBTUSD_720.csv: 720-minute candles: Krakenbot has no such timeframe" in first.output
    assert f"{out}: 3 files imported (5,261 new candles), 1 skipped, 0 failed" in first.output
    again = invoke("data", "import", str(ZIP), "--out", str(out), "--pair", "XBTUSD", "--timeframe", "5m")
    assert again.exit_code == 0, again.output
    assert "1,152 candles, 0 new" in again.output and "1 files imported (0 new candles)" in again.output


def test_data_import_reports_a_malformed_member_and_imports_the_rest(tmp_path):
    bad = tmp_path / "XBTUSD_1.csv"
    bad.write_text("1678320000,21696.5,21718.9,21673.7,21698.5,24.8,146\n1678320060,oops,1,1,1,1,1\n")
    result = invoke("data", "import", str(bad), str(ZIP), "--out", str(tmp_path / "out"), "--timeframe", "1m")
    assert result.exit_code == 2
    assert f"error: {bad}: line 2: open 'oops' is not a number: re-download the archive" in result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.parquet")) == ["BTC-USDC-1m.parquet"]


@pytest.mark.parametrize(("args", "message"), [
    (["data", "import", "missing.zip", "--out", "x"], "data import: missing.zip: no such file"),
    (["data", "import", str(ZIP), "--out", "x", "--timeframe", "12h"], "--timeframe '12h': use one of"),
    (["data", "import", str(ZIP), "--out", "x", "--pair", "ETH/USD"], "no member matched --pair/--timeframe"),
    (["data", "list", "missing-folder"], "data list: missing-folder: not a data folder"),
])
def test_data_commands_refuse_bad_input_with_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "x").exists()


def test_data_list_shows_span_resolution_gaps_and_sources(tmp_path):
    out = tmp_path / "data"
    assert invoke("data", "import", str(ZIP), "--out", str(out)).exit_code == 0
    table = invoke("data", "list", str(out))
    assert table.exit_code == 0, table.output
    row = next(line for line in table.output.splitlines() if "BTC/USDC" in line)
    for cell in ("spot", "1m", "2023-03-09 00:00", "2023-03-12 23:59", "4,013", "930", "1,747", "22",
                 "kraken-archive:XBTUSDC_1.csv"):
        assert cell in row, (cell, row)
    listed = json.loads(invoke("data", "list", str(out), "--json").output)
    assert [(s["name"], s["series"], s["timeframe"], s["rows"]) for s in listed] == [
        ("BTC/USD", "spot", "5m", 1152), ("BTC/USD", "spot", "1h", 96), ("BTC/USDC", "spot", "1m", 4013)]
    assert listed[2]["sources"] == [{"start": "2023-03-09T00:00:00Z", "end": "2023-03-12T23:59:00Z", "rows": 4013,
                                     "source": "kraken-archive:XBTUSDC_1.csv"}]


def test_backtest_prints_the_data_line_and_says_which_series_were_recorded(tmp_path):
    data = tmp_path / "data"
    assert invoke("data", "import", str(ZIP), "--out", str(data), "--pair", "BTC/USD").exit_code == 0
    spot = pd.read_parquet(data / "BTC-USD-5m.parquet")
    mark = spot[["ts", "open", "high", "low", "close", "volume"]].copy()
    for name in ("open", "high", "low", "close"):
        mark[name] = mark[name] * 1.0005  # a stand-in mark: 5 bp over the spot candles
    merge_into(series_path(data, kind="mark", name="PF_XBTUSD", timeframe="5m"), mark, source="test:spot+5bp",
               timeframe="5m")
    hours = pd.date_range("2023-03-09", "2023-03-12 23:00", freq="1h", tz="UTC")
    merge_into(series_path(data, kind="funding", name="PF_XBTUSD", timeframe="1h"),
               pd.DataFrame({"ts": hours, "relative_funding_rate": 1e-5}), source="test:constant", timeframe="1h")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text('universe:\n  symbols: ["BTC/USD"]\nstrategy:\n  class_path: '
                   "krakenbot.strategy.ema_cross:EmaCrossStrategy\n  timeframe: 1h\n"
                   "  params: {fast_span: 3, slow_span: 8}\n")
    out = tmp_path / "out"
    result = invoke("backtest", "--config", str(cfg), "--data", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("data: "))
    assert "BTC/USD spot 5m 2023-03-09 00:00..2023-03-12 23:55 (1,152 rows, no gaps)" in line
    assert "PF_XBTUSD mark 5m" in line and "PF_XBTUSD funding 1h" in line
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mark_source"] == "recorded: PF_XBTUSD-mark-5m"
    assert summary["funding_source"] == "recorded: PF_XBTUSD-funding-1h"


def test_readme_getting_kraken_data_example_is_what_the_commands_print(tmp_path):
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    assert f"data import {ZIP.relative_to(REPO)} --out data/kraken-example" in readme
    out = tmp_path / "kraken-example"
    assert invoke("data", "import", str(ZIP), "--out", str(out)).exit_code == 0
    line = summary_line(out)
    for quoted in ("BTC/USD spot 5m 2023-03-09 00:00..2023-03-12 23:55 (1,152 rows, no gaps); BTC/USD spot 1h",
                   "BTC/USDC spot 1m 2023-03-09 00:00..2023-03-12 23:59 (4,013 rows, 930 gaps, longest 22 missing)"):
        assert quoted in line and quoted in readme, quoted

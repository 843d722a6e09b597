"""Report files: deterministic bytes, a self-contained HTML page, atomic writes, rebuild from outputs."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from builders.backtest import make_backtest_result
from krakenbot.backtest import report as report_module
from krakenbot.backtest.metrics import SUMMARY_KEYS, buy_and_hold_curve, buy_and_hold_return, summary_dict
from krakenbot.backtest.report import (
    build_report_from_dir,
    downsample_prices,
    print_summary,
    write_report,
)
from krakenbot.backtest.report_html import PLOT_IDS, per_symbol_table
from krakenbot.backtest.result import TRADE_COLUMNS, BacktestResult
from krakenbot.domain.errors import ConfigError

FILES = {"summary.json", "trades.csv", "equity.csv", "events.csv", "prices.csv", "report.html"}


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return make_backtest_result(symbols=("BTC/USD", "ETH/USD", "SOL/USD"), minutes=4 * 1440)


def test_write_report_writes_every_file(result: BacktestResult, tmp_path: Path) -> None:
    paths = write_report(result, tmp_path / "run")
    assert set(paths) == FILES
    assert {p.name for p in (tmp_path / "run").iterdir()} == FILES
    assert all(p.stat().st_size > 0 for p in paths.values())
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temp folders left behind


def test_summary_json_is_byte_identical_across_writes(result: BacktestResult, tmp_path: Path) -> None:
    write_report(result, tmp_path / "a")
    first = (tmp_path / "a" / "summary.json").read_bytes()
    write_report(result, tmp_path / "a")  # rewrite in place
    write_report(make_backtest_result(symbols=("BTC/USD", "ETH/USD", "SOL/USD"), minutes=4 * 1440), tmp_path / "b")
    assert (tmp_path / "a" / "summary.json").read_bytes() == first
    assert (tmp_path / "b" / "summary.json").read_bytes() == first
    for name in ("trades.csv", "equity.csv", "events.csv", "prices.csv", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    text = first.decode()
    assert text.endswith("}\n") and json.loads(text) == summary_dict(result)
    keys = re.findall(r'^  "(\w+)":', text, flags=re.MULTILINE)
    assert tuple(keys) == SUMMARY_KEYS  # the fixed, documented order (README), not alphabetical


def test_trades_csv_has_fixed_columns_and_utc_timestamps(result: BacktestResult, tmp_path: Path) -> None:
    write_report(result, tmp_path / "run")
    lines = (tmp_path / "run" / "trades.csv").read_text().splitlines()
    assert lines[0] == ",".join(TRADE_COLUMNS)
    assert lines[1].startswith("BTC/USD,long,2021-05-18T00:00:00Z,2021-05-18T00:05:00Z,100,101,1.5,150,120,")
    assert b"\r\n" not in (tmp_path / "run" / "equity.csv").read_bytes()


def test_report_html_has_plots_and_no_external_scripts(result: BacktestResult, tmp_path: Path) -> None:
    write_report(result, tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    for div_id in PLOT_IDS:
        assert f'id="{div_id}"' in page, div_id
    assert not re.search(r"<script[^>]+src=", page, flags=re.IGNORECASE)  # no external script at all
    assert not re.search(r"<link[^>]+href=[\"']?https?:", page, flags=re.IGNORECASE)
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js is inline
    assert "shock_marketwide" in page  # shock events are marked on the price plot


def test_downsample_prices_caps_points_and_keeps_extremes() -> None:
    ts = pd.date_range("2021-05-12", periods=20_000, freq="1min", tz="UTC")
    close = 100 + np.sin(np.arange(20_000) / 300.0)
    close[12_345] = 50.0  # a one-minute crash wick must survive thinning
    close[777] = 170.0
    prices = pd.DataFrame({"ts": ts, "symbol": "BTC/USD", "close": close})
    thin = downsample_prices(prices, 5_000)
    assert len(thin) <= 5_000
    assert thin["close"].min() == 50.0 and thin["close"].max() == 170.0
    assert thin["ts"].is_monotonic_increasing
    assert thin["ts"].iloc[0] == ts[0] and thin["ts"].iloc[-1] == ts[-1]


def test_failed_write_leaves_no_partial_folder(result: BacktestResult, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("disk full while rendering")

    monkeypatch.setattr(report_module, "render_html", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(result, tmp_path / "run")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_previous_report_intact(result: BacktestResult, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    write_report(result, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()}
    monkeypatch.setattr(report_module, "render_html", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        write_report(make_backtest_result(minutes=60), tmp_path / "run")
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_write_report_refuses_to_replace_a_foreign_folder(result: BacktestResult, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a Krakenbot report folder"):
        write_report(result, tmp_path / "docs")
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"


def test_build_report_from_dir_rebuilds_page(result: BacktestResult, tmp_path: Path) -> None:
    write_report(result, tmp_path / "run")
    original = (tmp_path / "run" / "report.html").read_text()
    (tmp_path / "run" / "report.html").unlink()
    path = build_report_from_dir(tmp_path / "run")
    rebuilt = path.read_text()
    assert path == tmp_path / "run" / "report.html"
    for div_id in PLOT_IDS:
        assert f'id="{div_id}"' in rebuilt
    assert rebuilt == original  # the CSVs carry everything the page shows
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(FILES)


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_rebuilt_report_html_keeps_normal_permissions(result: BacktestResult, tmp_path: Path, umask: int,
                                                      mode: int) -> None:
    old = os.umask(umask)
    try:
        write_report(result, tmp_path / "run")
        written = (tmp_path / "run" / "report.html").stat().st_mode & 0o777
        rebuilt = build_report_from_dir(tmp_path / "run").stat().st_mode & 0o777
    finally:
        os.umask(old)
    assert written == rebuilt == mode  # mkstemp alone would leave the rebuilt page 0600
    assert (tmp_path / "run").stat().st_mode & 0o777 == 0o777 & ~umask


def test_build_report_from_dir_names_missing_summary(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"summary\.json: missing"):
        build_report_from_dir(tmp_path)


def test_print_summary_shows_fractions_as_percentages(result: BacktestResult) -> None:
    buffer = io.StringIO()
    summary = summary_dict(result)
    print_summary(summary, console=Console(file=buffer, width=120, color_system=None))
    out = buffer.getvalue()
    assert f"{100 * summary['total_return']:.2f} %" in out
    assert "win_rate" in out and "50.00 %" in out and "config_hash" in out and "0123456789abcdef" in out


def test_report_without_trades_writes_and_rebuilds(tmp_path: Path) -> None:
    empty = make_backtest_result(minutes=120, trade_pnls_usd=[])
    write_report(empty, tmp_path / "run")
    assert (tmp_path / "run" / "trades.csv").read_text() == ",".join(TRADE_COLUMNS) + "\n"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["win_rate"] is None
    original = (tmp_path / "run" / "report.html").read_bytes()
    assert build_report_from_dir(tmp_path / "run").read_bytes() == original


def test_report_puts_futures_contracts_on_their_spot_pair(tmp_path: Path) -> None:
    spot = make_backtest_result(minutes=600)
    contract = {"BTC/USD": "PF_XBTUSD", "ETH/USD": "PF_ETHUSD"}
    to_contract = {"BTC/USD": "PF_XBTUSD", "ETH/USD": "PF_ETHUSD", "": ""}
    mapped = dataclasses.replace(spot, futures_symbols=contract,
                                 trades=spot.trades.assign(symbol=spot.trades["symbol"].map(to_contract)),
                                 events=spot.events.assign(symbol=spot.events["symbol"].map(to_contract)))
    write_report(mapped, tmp_path / "mapped")
    page = (tmp_path / "mapped" / "report.html").read_text()
    assert '"x":["BTC\\u002fUSD","ETH\\u002fUSD"]' in page  # PnL bars per spot pair (plotly escapes '/')
    assert "BTC\\u002fUSD (PF_XBTUSD)" in page  # price subplot title names both
    assert json.loads((tmp_path / "mapped" / "summary.json").read_text())["futures_symbols"] == contract
    unmapped = dataclasses.replace(mapped, futures_symbols={})
    write_report(unmapped, tmp_path / "unmapped")
    unmapped_page = (tmp_path / "unmapped" / "report.html").read_text()
    assert '"x":["BTC\\u002fUSD","ETH\\u002fUSD","PF_ETHUSD","PF_XBTUSD"]' in unmapped_page


def test_per_symbol_table_sums_to_the_trades(result: BacktestResult) -> None:
    table = per_symbol_table(result.trades, list(result.symbols))
    assert list(table["symbol"]) == list(result.symbols)
    assert table["trades"].sum() == len(result.trades)
    for column in ("pnl_usd", "fees_usd", "funding_usd"):
        assert table[column].sum() == pytest.approx(result.trades[column].sum())
    btc = result.trades[result.trades["symbol"] == "BTC/USD"]
    assert table.set_index("symbol").loc["BTC/USD", "win_rate"] == pytest.approx((btc["pnl_usd"] > 0).mean())


def test_report_page_shows_warmup_trades_per_symbol_and_buy_and_hold(result: BacktestResult, tmp_path: Path) -> None:
    warm = dataclasses.replace(result, warmup_bars=96, warmup_end=result.start + pd.Timedelta(days=1))
    write_report(warm, tmp_path / "run")
    page = (tmp_path / "run" / "report.html").read_text()
    assert "warm-up ends" in page and "id='per-symbol'" in page
    assert "buy-and-hold (equal weight, gross of fees)" in page
    assert "long entry" in page and "short exit: stop" in page  # markers per trade, exit reason in the hover


def test_buy_and_hold_is_equal_weight_from_each_first_close() -> None:
    ts = pd.date_range("2024-01-01", periods=3, freq="1h", tz="UTC")
    prices = pd.DataFrame({"ts": [*ts, *ts], "symbol": ["A"] * 3 + ["B"] * 3,
                           "close": [100.0, 110.0, 120.0, 50.0, 25.0, 50.0]})
    curve = buy_and_hold_curve(prices, 1_000.0)
    assert curve.tolist() == pytest.approx([1_000.0, 500.0 * 1.1 + 250.0, 500.0 * 1.2 + 500.0])
    assert buy_and_hold_return(prices) == pytest.approx(0.1)

"""``data download`` end to end: the real ``KrakenClient`` (real ccxt) against the loopback Kraken.

The loopback serves Kraken's real XBT/USD 5-minute candles of 9-19 March 2023
(``tests/data/kraken-2023q1/XBTUSD-5m-2023-03-09_19.parquet``; Kraken omits candles without trades) and
its seeded synthetic series for ETH/USD and the futures charts, with Kraken's rules: spot OHLC answers
only the newest 720 candles, older candles exist only as public trades (paged by the ``last`` cursor).
Its clock stands at 2023-03-20 00:02 UTC. The folder starts with Kraken's OHLCVT archive of 9-12 March
(``tests/data/kraken-archive``) imported, so XBT/USD is archive + trades rebuild + OHLC top-up across the
720-candle boundary; ETH/USD has no archive and is trades + OHLC.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from krakenbot.config.models import ExchangeConfig
from krakenbot.data.dataset import read_spans
from krakenbot.datasets.download import Downloader, DownloadReport, DownloadRequest
from krakenbot.datasets.kraken_archive import import_archive
from krakenbot.domain import SimulatedClock
from krakenbot.exchange.kraken.client import KrakenClient
from krakenbot.testing import FakeKraken
from krakenbot.testing.fake_kraken_market import Bar

DATA = Path(__file__).resolve().parents[1] / "data"
RECORDED = DATA / "kraken-2023q1" / "XBTUSD-5m-2023-03-09_19.parquet"
ZIP = DATA / "kraken-archive" / "kraken-ohlcvt-2023-03-09_12.zip"
NOW = datetime(2023, 3, 20, 0, 2, tzinfo=UTC)
START, END = datetime(2023, 3, 9, tzinfo=UTC), datetime(2023, 3, 20, tzinfo=UTC)
M5 = timedelta(minutes=5)
REACH = datetime(2023, 3, 20, tzinfo=UTC) - 719 * M5  # oldest closed candle the OHLC endpoint still serves
FUNDING_GAP = datetime(2023, 3, 15, 7, tzinfo=UTC)  # an hour Kraken did not record


def recorded_bars() -> list[Bar]:
    frame = pd.read_parquet(RECORDED)
    seconds = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[ns, UTC]").astype("int64") // 10**9
    return [Bar(ts_s=int(s), open=o, high=h, low=lo, close=c, volume=v) for s, o, h, lo, c, v in
            zip(seconds, frame["open"], frame["high"], frame["low"], frame["close"], frame["volume"], strict=True)]


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
def fake(clock: SimulatedClock) -> Iterator[FakeKraken]:
    with FakeKraken(clock=clock.now, credentials=None) as fk:
        fk.record_candles("XBTUSD", 5, recorded_bars())
        hours = [START + timedelta(hours=i) for i in range(24 * 11)]
        fk.record_funding("PF_XBTUSD", [(h, 1.25e-5, 1.25e-5 * 20_000) for h in hours if h != FUNDING_GAP])
        yield fk


@dataclass
class StoppedError(Exception):
    """Raised from the progress sink: the download is interrupted there (as by Ctrl-C or a kill)."""

    after: int


def client(fk: FakeKraken, sleep: Callable[[float], object]) -> KrakenClient:
    config = ExchangeConfig(spot_base_url=fk.spot_url, futures_base_url=fk.futures_url, max_retries=2,
                            retry_base_delay_seconds=0.01)
    return KrakenClient(config, sleep=sleep, enable_rate_limit=False)


def progress_stopping_after(limit: int | None) -> Callable[[int, str], object]:
    done = 0

    class Sink:
        def advance(self, n: int = 1) -> None:
            nonlocal done
            done += 1
            if limit is not None and done >= limit:
                raise StoppedError(done)

    @contextmanager
    def scope(_total: int, _label: str) -> Iterator[Sink]:
        yield Sink()

    return scope


def download(fk: FakeKraken, out: Path, *, stop_after: int | None = None, sleeps: list[float] | None = None,
             client_sleep: Callable[[float], object] = lambda _s: None) -> DownloadReport:
    request = DownloadRequest(out=out, spot=("BTC/USD", "ETH/USD"), futures=("PF_XBTUSD", "PF_ETHUSD"),
                              timeframe="5m", start=START, end=END)
    downloader = Downloader(client(fk, client_sleep), now=fk.now, progress=progress_stopping_after(stop_after),  # type: ignore[arg-type]
                            sleep=(sleeps.append if sleeps is not None else lambda _s: None), patience=1,
                            wait_seconds=5)
    return downloader.run(request)


def with_archive(folder: Path) -> Path:
    import_archive([ZIP], folder, pairs=["XBTUSD"], timeframes=["5m"], progress=False)
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


@pytest.fixture
def reference(fake: FakeKraken, tmp_path: Path) -> dict[str, bytes]:
    report = download(fake, with_archive(tmp_path / "reference"))
    assert not report.failed, [o.error for o in report.failed]
    return files_of(tmp_path / "reference")


def test_a_full_download_joins_archive_trades_and_ohlc_and_rebuilds_kraken_candles_exactly(fake, tmp_path, reference):
    folder = tmp_path / "reference"
    assert sorted(reference) == sorted(
        [f"{n}.parquet" for n in ("BTC-USD-5m", "ETH-USD-5m")]
        + [f"{c}-{k}-5m.parquet" for c in ("PF_XBTUSD", "PF_ETHUSD") for k in ("trade", "mark", "index")]
        + [f"{c}-funding-1h.parquet" for c in ("PF_XBTUSD", "PF_ETHUSD")]
        + [f"{n}.sources.json" for n in list(reference) if n.endswith(".parquet")])
    btc = pd.read_parquet(folder / "BTC-USD-5m.parquet")
    kraken = pd.read_parquet(RECORDED)
    kraken["ts"] = pd.to_datetime(kraken["ts"], utc=True).astype("datetime64[ns, UTC]")
    pd.testing.assert_series_equal(btc["ts"], kraken["ts"])  # every candle Kraken has, none invented
    for column in ("open", "high", "low", "close"):
        assert (btc[column] == kraken[column]).all(), column
    assert ((btc["volume"] - kraken["volume"]).abs() <= 1e-9 * kraken["volume"].abs().max()).all()
    spans = [(s.source, s.start, s.end) for s in read_spans(folder / "BTC-USD-5m.parquet")]
    assert [s[0] for s in spans] == ["kraken-archive:XBTUSD_5.csv", "kraken-trades", "kraken-ohlc"]
    assert spans[0][2] < datetime(2023, 3, 13, tzinfo=UTC) <= spans[1][1]
    assert spans[1][2] < REACH <= spans[2][1] and spans[2][2] == END - M5
    eth = read_spans(folder / "ETH-USD-5m.parquet")
    assert [s.source for s in eth] == ["kraken-trades", "kraken-ohlc"] and eth[0].start == START
    funding = pd.read_parquet(folder / "PF_XBTUSD-funding-1h.parquet")
    assert len(funding) == 24 * 11 - 1 and pd.Timestamp(FUNDING_GAP) not in set(funding["ts"])  # a gap, not a zero
    assert funding["relative_funding_rate"].eq(1.25e-5).all() and funding["funding_rate"].eq(0.25).all()
    mark = pd.read_parquet(folder / "PF_XBTUSD-mark-5m.parquet")
    assert mark["ts"].iloc[0] == pd.Timestamp(START) and mark["ts"].iloc[-1] == pd.Timestamp(END - M5)
    trades_asked = fake.requests_to("/0/public/Trades")
    assert trades_asked and all(int(r.param("since") or 0) < int(REACH.timestamp() * 1e9) for r in trades_asked)


def test_a_rerun_adds_nothing_and_asks_only_the_newest_window(fake, tmp_path, reference):
    fake.clear_requests()
    report = download(fake, tmp_path / "reference")
    assert not report.failed and all(sum(o.added.values()) == 0 for o in report.outcomes)
    assert files_of(tmp_path / "reference") == reference
    assert not fake.requests_to("/0/public/Trades"), "nothing older than the OHLC reach was asked again"


@pytest.mark.parametrize("stop_after", [3, 9, 14])
def test_interrupted_half_way_and_resumed_it_gives_the_same_files(fake, tmp_path, reference, stop_after):
    folder = with_archive(tmp_path / "resumed")
    with pytest.raises(StoppedError):
        download(fake, folder, stop_after=stop_after)
    assert files_of(folder) != reference  # really cut short
    report = download(fake, folder)
    assert not report.failed
    assert files_of(folder) == reference


def test_a_rate_limit_answer_backs_off_and_the_download_goes_on(fake, tmp_path, reference):
    fake.inject("status", path="/0/public/Trades", status=429, times=1)
    fake.inject("status", path="/api/charts/v1/mark", status=429, times=1)
    folder = with_archive(tmp_path / "limited")
    report = download(fake, folder)
    assert not report.failed
    assert fake.faults_served["status"] == 2
    assert files_of(folder) == reference


def test_kraken_spot_public_rate_limit_is_waited_out(fake, clock, tmp_path, reference):
    limits = fake.limit_spot_public(burst=2, per_second=100.0)  # EGeneral:Too many requests past a burst of 2
    folder = with_archive(tmp_path / "throttled")
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the client's back-off passes on the loopback's clock
        waited.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    report = download(fake, folder, client_sleep=sleep)
    assert not report.failed
    assert waited and limits.refused > 0 and clock.now() - NOW < timedelta(minutes=2)
    assert files_of(folder) == reference


def test_a_malformed_page_is_retried_then_reported_and_never_written(fake, tmp_path, reference):
    fake.inject("malformed", path="/api/charts/v1/mark/PF_ETHUSD", times=1_000)
    folder = with_archive(tmp_path / "malformed")
    fake.clear_requests()
    sleeps: list[float] = []
    report = download(fake, folder, sleeps=sleeps)
    [failed] = report.failed
    assert failed.path.name == "PF_ETHUSD-mark-5m.parquet"
    assert "PF_ETHUSD mark" in (failed.error or "") and "BadResponse" in (failed.error or "")
    assert not failed.path.exists() and sleeps == [5]  # waited once more after the client's retries, then gave up
    assert len(fake.requests_to("/api/charts/v1/mark/PF_ETHUSD")) == 2 * (1 + 2)  # 2 rounds of 1 try + 2 retries
    others = {n: b for n, b in files_of(folder).items() if not n.startswith("PF_ETHUSD-mark")}
    assert others == {n: b for n, b in reference.items() if not n.startswith("PF_ETHUSD-mark")}
    fake.clear_faults()
    assert not download(fake, folder).failed
    assert files_of(folder) == reference


def test_the_cli_downloads_lists_and_the_default_config_backtests_on_the_folder(fake, tmp_path):
    """`data download` through the CLI (the config's exchange URLs point at the loopback), `data list`, then a
    backtest of the embedded default config on the folder: its summary says mark and funding were recorded."""
    from typer.testing import CliRunner

    from krakenbot.cli import app

    config = tmp_path / "loopback.yaml"
    config.write_text(f"exchange:\n  spot_base_url: {fake.spot_url}\n  futures_base_url: {fake.futures_url}\n"
                      "  max_retries: 1\n  retry_base_delay_seconds: 0.01\n  client_rate_limit: false\n")
    data = with_archive(tmp_path / "data")
    runner = CliRunner()
    fetched = runner.invoke(app, ["data", "download", "--config", str(config), "--spot", "BTC/USD,ETH/USD",
                                  "--futures", "PF_XBTUSD", "--futures", "PF_ETHUSD", "--series", "spot,mark,funding",
                                  "--timeframe", "5m", "--start", "2023-03-09", "--end", "2023-03-20",
                                  "--out", str(data)])
    assert fetched.exit_code == 0, fetched.output
    assert "ok     BTC-USD-5m.parquet: 719 from kraken-ohlc, 1,296 from kraken-trades (10 requests)" in fetched.output
    assert not list(data.glob("*-trade-*")) and not list(data.glob("*-index-*"))  # only the series asked for
    listed = runner.invoke(app, ["data", "list", str(data)])
    assert listed.exit_code == 0 and "kraken-futures-charts:mark" in listed.output, listed.output
    out = tmp_path / "report"
    result = runner.invoke(app, ["backtest", "--data", str(data), "--out", str(out), "--allow-missing"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("data: "))
    assert "BTC/USD spot 5m 2023-03-09 00:00..2023-03-19 23:55 (3,167 rows, 1 gap)" in line  # Kraken's own gap
    assert "PF_XBTUSD funding 1h 2023-03-09 00:00..2023-03-19 23:00 (263 rows, 1 gap)" in line  # Kraken's missed hour
    summary = json.loads((out / "summary.json").read_text())
    for contract in ("PF_XBTUSD", "PF_ETHUSD"):
        assert f"recorded: {contract}-mark-5m ({contract})" in summary["mark_source"]
        assert f"recorded: {contract}-funding-1h ({contract})" in summary["funding_source"]
    assert summary["symbols"] == ["BTC/USD", "ETH/USD"] and summary["trades"] > 0

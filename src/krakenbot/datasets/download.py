"""``krakenbot data download``: Kraken's own history into the backtest's folder layout, resumable.

What comes from where (each span's source is written in the file's sidecar, see ``data/dataset.py``):

- **Spot candles** (``BASE-QUOTE-TF.parquet``). Kraken's OHLC endpoint serves only the newest 720
  candles of a timeframe, whatever ``since`` says. So: the candles inside that reach come from OHLC
  (source ``kraken-ohlc``); everything older that the folder does not hold yet (after the last stored
  candle, e.g. the end of an imported archive, or from ``--start``) is rebuilt from the public Trades
  endpoint, paged by Kraken's ``last`` cursor (source ``kraken-trades``). Minutes without a trade stay
  absent, as Kraken omits them. Holes *inside* what is already stored are left alone (``data list`` shows them).
- **Futures candles** (``<CONTRACT>-trade|mark|index-TF.parquet``) from Kraken Futures' charts API, in
  windows of 2,000 candles (sources ``kraken-futures-charts:trade|mark|index``; ``index`` is Kraken's
  ``spot`` price type).
- **Funding** (``<CONTRACT>-funding-1h.parquet``) from Kraken Futures' historical funding rates (a rolling
  year in one answer): ``relative_funding_rate`` (fraction of notional per hour) and ``funding_rate`` (USD
  per contract per hour). Hours Kraken did not record stay absent: gaps, never zeros.

Conventions: only closed candles are written (open time + timeframe <= now); ``end`` is exclusive.
Work is cut into chunks aligned to the UTC calendar (a day of trades, a 2,000-candle window of charts) and
each chunk is merged into its file atomically before the next is asked for, so an interrupted download
resumes where it stopped and ends with the same files as an uninterrupted one. A transient failure
(timeout, rate limit, malformed page) is retried by the client with back-off, then waited out here up to
``patience`` more times; after that the series is reported as failed and nothing of the failed chunk is
written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

from krakenbot.config.models import TIMEFRAME_MINUTES
from krakenbot.data.candle_cache import clean_candles
from krakenbot.data.dataset import merge_into, series_path, stored_ts
from krakenbot.data.trades import fetch_trade_candles
from krakenbot.domain.clock import floor_time
from krakenbot.domain.errors import ExchangeError, MarketDataError, TransientError
from krakenbot.domain.market import SPOT_OHLC_REACH, Candle, FundingRecord, TradePage
from krakenbot.domain.timeconv import from_ns, to_ns

log = logging.getLogger(__name__)

SERIES = ("spot", "trade", "mark", "index", "funding")
SeriesName = Literal["spot", "trade", "mark", "index", "funding"]
CHART_WINDOW = 2_000  # candles per Kraken Futures charts answer
TRADE_CHUNK = timedelta(days=1)  # trades are rebuilt and merged a UTC day at a time
HOUR = timedelta(hours=1)
T = TypeVar("T")


class HistorySource(Protocol):
    """What a download reads (``KrakenClient`` against Kraken or the loopback Kraken)."""

    def fetch_spot_ohlcv(self, pair: str, timeframe: str, since: datetime,
                         until: datetime | None = None) -> Sequence[Candle]: ...

    def fetch_spot_trades(self, pair: str, since: int) -> TradePage: ...

    def fetch_futures_ohlcv(self, symbol: str, timeframe: str, since: datetime, until: datetime | None = None,
                            price: Literal["trade", "mark", "index"] = "trade") -> Sequence[Candle]: ...

    def fetch_funding_history(self, contract: str) -> list[FundingRecord]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadRequest:
    """What to fetch: spot pairs (``BTC/USD``), futures contracts (``PF_XBTUSD``), which series, the
    candle timeframe, and the UTC span ``[start, end)`` (``end`` None: up to now)."""

    out: Path
    spot: tuple[str, ...] = ()
    futures: tuple[str, ...] = ()
    series: frozenset[str] = frozenset(SERIES)
    timeframe: str = "1m"
    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        unknown = sorted(self.series - set(SERIES))
        if unknown:
            raise ValueError(f"--series: unknown {', '.join(unknown)}; use some of {', '.join(SERIES)}")
        if self.timeframe not in TIMEFRAME_MINUTES:
            raise ValueError(f"--timeframe: unknown {self.timeframe!r}; use one of {', '.join(TIMEFRAME_MINUTES)}")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"--end {self.end:%Y-%m-%d} is not after --start {self.start:%Y-%m-%d}")


@dataclass(slots=True)
class SeriesOutcome:
    """One file's result: rows added per source, requests made, and the failure if it stopped."""

    path: Path
    added: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    error: str | None = None

    def add(self, source: str, rows: int) -> None:
        self.added[source] = self.added.get(source, 0) + rows


@dataclass(slots=True)
class DownloadReport:
    """Every file touched, in order; ``failed`` lists those that stopped on an error."""

    outcomes: list[SeriesOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[SeriesOutcome]:
        return [o for o in self.outcomes if o.error is not None]


class Progress(Protocol):
    """A progress sink: ``advance(n)`` units of the current task."""

    def advance(self, n: int = 1) -> None: ...


ProgressFactory = Callable[[int, str], AbstractContextManager[Progress]]
"""``progress(total, label)``: a scope whose value counts work done (a rich bar in the CLI)."""


@dataclass(frozen=True, slots=True)
class _Retry:
    """Waiting out transient failures beyond the client's own retries."""

    sleep: Callable[[float], None]
    patience: int
    wait_seconds: float

    def __call__(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(self.patience + 1):
            try:
                return call()
            except TransientError as exc:
                if attempt == self.patience:
                    raise
                delay = self.wait_seconds * 2**attempt
                log.warning("%s: %s (%s); waiting %.0f s, then trying again (%d/%d)", what, type(exc).__name__,
                            exc, delay, attempt + 1, self.patience)
                self.sleep(delay)
        raise AssertionError("unreachable")


def _candle_frame(rows: Sequence[Candle], step: timedelta, start: datetime, end: datetime) -> pd.DataFrame:
    frame = clean_candles(rows, step).frame
    keep = (frame["ts"] >= pd.Timestamp(start)) & (frame["ts"] < pd.Timestamp(end))
    return frame[keep].drop_duplicates("ts").reset_index(drop=True)


def _windows(start: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """``[start, end)`` cut at multiples of ``size`` from the Unix epoch (the same cuts on every run)."""
    cursor = start
    while cursor < end:
        nxt = min(floor_time(cursor, size) + size, end)
        yield cursor, nxt
        cursor = nxt


class Downloader:
    """Runs a :class:`DownloadRequest` against a :class:`HistorySource`. ``now`` is the source's clock
    (Kraken's, or the loopback's); ``progress(total, label)`` opens a progress scope (rich bar in the CLI)."""

    def __init__(self, source: HistorySource, *, now: Callable[[], datetime], progress: ProgressFactory,
                 sleep: Callable[[float], None], patience: int = 3, wait_seconds: float = 30.0) -> None:
        self._source = source
        self._now = now
        self._progress = progress
        self._retry = _Retry(sleep=sleep, patience=patience, wait_seconds=wait_seconds)

    def run(self, request: DownloadRequest) -> DownloadReport:
        report = DownloadReport()
        request.out.mkdir(parents=True, exist_ok=True)
        jobs: list[tuple[str, SeriesName, Callable[[SeriesOutcome], None], Path]] = []
        tf = request.timeframe
        if "spot" in request.series:
            for pair in request.spot:
                path = series_path(request.out, kind="spot", name=pair, timeframe=tf)
                jobs.append((pair, "spot", partial(self._spot, request, pair, path), path))
        for contract in request.futures:
            for price in ("trade", "mark", "index"):
                if price in request.series:
                    path = series_path(request.out, kind=price, name=contract, timeframe=tf)
                    jobs.append((contract, price, partial(self._chart, request, contract, price, path), path))
            if "funding" in request.series:
                path = series_path(request.out, kind="funding", name=contract, timeframe="1h")
                jobs.append((contract, "funding", partial(self._funding, request, contract, path), path))
        for name, kind, job, path in jobs:
            outcome = SeriesOutcome(path=path)
            report.outcomes.append(outcome)
            try:
                job(outcome)
            except (ExchangeError, MarketDataError) as exc:
                outcome.error = f"{name} {kind}: {type(exc).__name__}: {exc}"
                log.error("%s; what was fetched before is kept in %s: run the same command again to resume",
                          outcome.error, path)
        return report

    def _closed(self, request: DownloadRequest) -> tuple[timedelta, datetime, datetime]:
        """(candle step, open time of the candle still forming, exclusive end of what to fetch): only closed
        candles, never past ``request.end``."""
        step = timedelta(minutes=TIMEFRAME_MINUTES[request.timeframe])
        forming = floor_time(self._now(), step)
        return step, forming, min(request.end or forming, forming)

    # ---- spot ------------------------------------------------------------------------------------
    def _spot(self, request: DownloadRequest, pair: str, path: Path, outcome: SeriesOutcome) -> None:
        step, forming, end = self._closed(request)
        reach = forming - step * (SPOT_OHLC_REACH - 1)  # oldest closed candle OHLC still serves
        if end > reach:  # the top-up first: its window moves with the clock
            since = max(request.start, reach)
            rows = self._retry(f"{pair} OHLC", partial(self._source.fetch_spot_ohlcv, pair, request.timeframe, since,
                                                        end - step))
            outcome.requests += 1
            frame = _candle_frame(rows, step, since, end)
            outcome.add("kraken-ohlc", merge_into(path, frame, source="kraken-ohlc", timeframe=request.timeframe))
        self._spot_trades(request, pair, path, step, min(end, reach), outcome)

    def _spot_trades(self, request: DownloadRequest, pair: str, path: Path, step: timedelta, until: datetime,
                     outcome: SeriesOutcome) -> None:
        """Rebuild what the folder lacks in ``[start, until)`` from trades: before its first candle, and
        after its last candle older than ``until``."""
        held = stored_ts(path)
        inside = held[(held >= to_ns(request.start)) & (held < to_ns(until))]
        spans: list[tuple[datetime, datetime]] = []
        if inside.size == 0:
            spans.append((request.start, until))
        else:
            first, last = from_ns(int(inside.min())), from_ns(int(inside.max()))
            if first > request.start:
                spans.append((request.start, first))
            spans.append((last + step, until))
        windows = [w for a, b in spans if a < b for w in _windows(a, b, TRADE_CHUNK)]
        if not windows:
            return
        total = int(sum((b - a) / step for a, b in windows))
        with self._progress(total, f"{pair} trades -> {request.timeframe}") as bar:
            for a, b in windows:
                rebuilt = self._retry(f"{pair} trades {a:%Y-%m-%d %H:%M}", partial(
                    fetch_trade_candles, self._source, pair, request.timeframe, a, b))
                outcome.requests += rebuilt.pages
                outcome.add("kraken-trades", merge_into(path, rebuilt.frame, source="kraken-trades",
                                                        timeframe=request.timeframe))
                bar.advance(int((b - a) / step))

    # ---- futures ---------------------------------------------------------------------------------
    def _chart(self, request: DownloadRequest, contract: str, price: Literal["trade", "mark", "index"], path: Path,
               outcome: SeriesOutcome) -> None:
        step, _, end = self._closed(request)
        held = stored_ts(path)
        held = held[held >= to_ns(request.start)]
        begin = request.start if held.size == 0 else from_ns(int(held.max())) + step  # resume after the last
        windows = list(_windows(begin, end, step * CHART_WINDOW))
        if not windows:
            return
        source = f"kraken-futures-charts:{price}"
        with self._progress(len(windows), f"{contract} {price} {request.timeframe}") as bar:
            for a, b in windows:
                rows = self._retry(f"{contract} {price} candles", partial(
                    self._source.fetch_futures_ohlcv, contract, request.timeframe, a, b - step, price=price))
                outcome.requests += 1
                frame = _candle_frame(rows, step, a, b)
                outcome.add(source, merge_into(path, frame, source=source, timeframe=request.timeframe))
                bar.advance()

    def _funding(self, request: DownloadRequest, contract: str, path: Path, outcome: SeriesOutcome) -> None:
        end = request.end or floor_time(self._now(), HOUR) + HOUR
        records = self._retry(f"{contract} funding", partial(self._source.fetch_funding_history, contract))
        outcome.requests += 1
        kept = [r for r in records if request.start <= r.ts < end]
        frame = pd.DataFrame({
            "ts": pd.to_datetime([r.ts for r in kept], utc=True).astype("datetime64[ns, UTC]"),
            "relative_funding_rate": np.array([r.relative for r in kept], dtype="float64"),
            "funding_rate": np.array([np.nan if r.absolute is None else r.absolute for r in kept], dtype="float64"),
        })
        with self._progress(1, f"{contract} funding") as bar:
            outcome.add("kraken-futures-funding", merge_into(path, frame, source="kraken-futures-funding",
                                                             timeframe="1h"))
            bar.advance()

"""One trial on a worker: the trial's config backtested on each walk-forward fold, scored, summarised.

This is what a Dask worker runs (``run_trial``); the driver is ``research/study.py``. Each fold is a full
``Backtest`` of the real loop over ``[start - warm-up, end)`` of the data, trading from the fold's start:
the candles before it only warm the strategy up, exactly as ``backtest --start`` does.

Data are loaded once per worker process: ``worker_data`` keeps the folder's candles (the trial's symbols up
to the study's end) in a process-wide cache keyed by (folder, symbols, end), so the trials a worker runs
after its first read them from memory. A remote worker needs the same folder at the same path (a copy, or a
shared filesystem); a missing folder fails the trial with the path in the error.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np

from krakenbot.backtest.data import load_dataset
from krakenbot.backtest.engine import Backtest
from krakenbot.backtest.futures_files import attach_recorded_futures
from krakenbot.backtest.market_data import MarketData
from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.domain.errors import ConfigError
from krakenbot.domain.timeconv import to_ns
from krakenbot.research.folds import Fold
from krakenbot.research.objective import period_returns, score
from krakenbot.strategy.loader import load_strategy

Window = Literal["is", "oos"]
EQUITY_POINTS = 500  # equity points kept per fold for the report (out-of-sample runs only)

# Process-wide cache of a worker's market data (see the module docstring). A worker process runs one
# trial at a time per thread; a dict assignment is atomic, so the worst a race costs is one extra load.
_DATA: dict[tuple[str, tuple[str, ...], int | None], MarketData] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialTask:
    """What a worker needs for one trial: the trial's config (search values applied), the data folder and the
    symbols the driver chose in it, the folds and which of their windows to run, and the objective."""

    number: int
    cfg: AppConfig
    data: Path
    symbols: tuple[str, ...]
    end: datetime | None
    folds: tuple[Fold, ...]
    window: Window = "is"
    objective: str = "sharpe"
    min_trades: int = 5
    keep_equity: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TrialOutcome:
    """A trial's result. ``value``: the mean of the fold scores (the study maximises it); ``fold_scores`` and
    ``fold_trades`` per fold; ``returns``: each fold's period returns (``objective.period_returns``);
    ``equity``: per fold, (ISO times, equity USD) when the task kept them; ``error``: why the trial's config
    cannot run (a ConfigError's text), then ``value`` is NaN; ``loaded_data``: this trial read the data from
    disk (the worker's first, or after a restart); ``worker``: host:pid; ``seconds``: wall time on the worker."""

    number: int
    value: float
    fold_scores: tuple[float, ...] = ()
    fold_trades: tuple[int, ...] = ()
    returns: tuple[tuple[float, ...], ...] = ()
    equity: tuple[tuple[tuple[str, ...], tuple[float, ...]], ...] = ()
    error: str | None = None
    loaded_data: bool = False
    worker: str = ""
    seconds: float = 0.0


def worker_data(folder: Path, symbols: tuple[str, ...], end: datetime | None) -> tuple[MarketData, bool]:
    """(the folder's candles of ``symbols`` up to ``end``, with its recorded futures series; True when read
    from disk now). Raises DataError (a ConfigError) naming the folder or file."""
    key = (str(Path(folder).resolve()), symbols, None if end is None else to_ns(end))
    cached = _DATA.get(key)
    if cached is not None:
        return cached, False
    data = attach_recorded_futures(folder, load_dataset(folder, symbols=list(symbols), end=end, one_resolution=True))
    _DATA[key] = data
    return data, True


def fold_data(data: MarketData, cfg: AppConfig, start: datetime, end: datetime) -> MarketData:
    """The candles a fold's backtest needs: ``[start - warm-up, end)``, the warm-up of ``cfg``'s strategy."""
    strategy = load_strategy(cfg.strategy)
    warm = strategy.warmup_bars * TIMEFRAME_MINUTES[cfg.strategy.timeframe] * 60 * 10**9
    return data.since(to_ns(start) - warm).until(to_ns(end))


def run_trial(task: TrialTask) -> TrialOutcome:
    """Backtest ``task.cfg`` on each fold's ``task.window`` and score it (see TrialOutcome).

    A config the backtest refuses (ConfigError) gives an outcome with ``error``; anything else raises, so
    that Dask retries the trial elsewhere."""
    began = time.perf_counter()
    logging.getLogger("krakenbot").setLevel(logging.ERROR)  # the loop's event lines would flood the worker's log
    worker = f"{os.uname().nodename}:{os.getpid()}"
    data, loaded = worker_data(task.data, task.symbols, task.end)
    scores: list[float] = []
    trades: list[int] = []
    returns: list[tuple[float, ...]] = []
    equity: list[tuple[tuple[str, ...], tuple[float, ...]]] = []
    try:
        for fold in task.folds:
            start, end = (fold.is_start, fold.is_end) if task.window == "is" else (fold.oos_start, fold.oos_end)
            result = Backtest(task.cfg, fold_data(data, task.cfg, start, end), start=start, progress=False).run()
            scores.append(float(score(result, task.objective, min_trades=task.min_trades)))
            trades.append(len(result.trades))
            returns.append(tuple(float(r) for r in period_returns(result)))
            if task.keep_equity:
                rows = np.unique(np.linspace(0, len(result.equity) - 1, min(EQUITY_POINTS, len(result.equity)))
                                 .astype(int))
                picked = result.equity.iloc[rows]
                equity.append((tuple(t.isoformat() for t in picked["ts"]),
                               tuple(float(v) for v in picked["equity_usd"])))
    except ConfigError as exc:
        return TrialOutcome(number=task.number, value=math.nan, error=str(exc), loaded_data=loaded, worker=worker,
                            seconds=time.perf_counter() - began)
    value = float(np.mean(scores)) if scores else math.nan
    return TrialOutcome(number=task.number, value=value, fold_scores=tuple(scores), fold_trades=tuple(trades),
                        returns=tuple(returns), equity=tuple(equity), loaded_data=loaded, worker=worker,
                        seconds=time.perf_counter() - began)

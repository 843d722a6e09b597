"""What a backtest trades: the configured universe, checked against the data folder, plus warm-up history.

- Symbols: ``universe.symbols`` minus the bases in ``universe.deny``; an empty ``universe.symbols``
  means every symbol with a file in the folder (only the bases in ``universe.allow``, if it is set).
- A configured symbol without a file, a file whose symbol has no listed Kraken ``PF_`` perpetual
  (``backtest.contracts``), or a symbol that cannot warm up before the end is an error naming it;
  with ``allow_missing`` it is a warning and the symbol is skipped.
- Mixed base resolutions are refused (``load_dataset(one_resolution=True)``).
- Warm-up: with a ``start``, the strategy's ``warmup_bars`` signal bars before it are loaded when the
  folder has them, so the first signal can come at the start; only [start, end] is traded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from krakenbot.backtest.contracts import LISTED_AS_OF, known_perpetual
from krakenbot.backtest.data import DataError, load_dataset, scan_folder
from krakenbot.backtest.futures_files import attach_recorded_futures
from krakenbot.backtest.instruments import perpetual_for
from krakenbot.backtest.market_data import MarketData, timeframe_ns
from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.domain.timeconv import from_ns, to_ns
from krakenbot.exchange.kraken.symbols import canonical_asset
from krakenbot.strategy.loader import load_strategy


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestInput:
    """Candles to replay: ``data`` runs from the warm-up's first candle to the end; ``start`` (UTC) is the
    first instant traded (None: the data's start). ``warnings``: one line per skipped symbol or short warm-up."""

    data: MarketData
    start: datetime | None
    warnings: tuple[str, ...] = ()


def _key(symbol: str) -> str:
    return symbol.replace("-", "/").upper()


def _base(symbol: str) -> str:
    return canonical_asset(_key(symbol).partition("/")[0])


def _start_dt(start: date | datetime | None) -> datetime | None:
    if start is None or isinstance(start, datetime):
        return start
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def _duration(bars: int, timeframe: str) -> str:
    minutes = bars * TIMEFRAME_MINUTES[timeframe]
    days, rest = divmod(minutes, 1440)
    return (f"{days} d " if days else "") + f"{rest // 60} h {rest % 60:02d} min"


def choose_symbols(cfg: AppConfig, folder: Path, *, allow_missing: bool) -> tuple[list[str], list[str]]:
    """(symbols to load, warnings). Raises DataError listing every problem unless ``allow_missing``."""
    files = scan_folder(folder)
    uni = cfg.universe
    deny = {canonical_asset(b) for b in uni.deny}
    allow = {canonical_asset(b) for b in uni.allow}
    if uni.symbols:
        wanted = [s for s in dict.fromkeys(_key(s) for s in uni.symbols) if _base(s) not in deny]
    else:
        wanted = [s for s in sorted(files) if _base(s) not in deny and (not allow or _base(s) in allow)]
    fix = "or pass --allow-missing to skip it"
    problems: dict[str, str] = {}
    for symbol in wanted:
        if symbol not in files:
            problems[symbol] = (f"universe.symbols: {symbol} has no candle file in {folder} (expected "
                            f"{symbol.replace('/', '-')}-<TF>.parquet or .csv; the folder has "
                            f"{', '.join(sorted(files))}): add the file, remove {symbol} from universe.symbols "
                            f"or add {_base(symbol)} to universe.deny, {fix}")
        elif known_perpetual(symbol) is None:
            problems[symbol] = (f"{files[symbol][0].path}: {symbol} has no known Kraken perpetual "
                                f"({perpetual_for(symbol)} is not among Kraken's PF_ contracts listed {LISTED_AS_OF}): "
                                f"rename the file to a listed asset's BASE-USD-TF, add {_base(symbol)} to "
                                f"universe.deny or remove the file, {fix}")
    return _settle(wanted, problems, allow_missing, folder)


def _settle(wanted: list[str], problems: dict[str, str], allow_missing: bool,
            folder: Path) -> tuple[list[str], list[str]]:
    if problems and not allow_missing:
        raise DataError(list(problems.values()))
    kept = [s for s in wanted if s not in problems]
    if not kept:
        raise DataError([*problems.values(), f"{folder}: nothing left to trade: check universe.symbols, "
                                             "universe.deny and the files in the folder"])
    return kept, [f"skipped: {p}" for p in problems.values()]


def _warmup_problems(data: MarketData, cfg: AppConfig,
                     start: datetime | None) -> tuple[dict[str, str], list[str]]:
    """(symbols that cannot warm up before the end, warnings for a warm-up that ends after ``start``)."""
    strategy = load_strategy(cfg.strategy)
    need, tf = strategy.warmup_bars, cfg.strategy.timeframe
    bars = data.resample(tf)
    tf_ns = timeframe_ns(tf)
    problems: dict[str, str] = {}
    warnings: list[str] = []
    for symbol in data.symbols:
        col = bars.column(symbol)
        opens = bars.ts[bars.complete[:, col]]
        what = (f"the strategy ({cfg.strategy.class_path}) needs warmup_bars={need} {tf} bars "
                f"({_duration(need, tf)}) before its first signal")
        if len(opens) < need:
            span = (f"{from_ns(int(opens[0])).isoformat()} .. {from_ns(int(opens[-1]) + tf_ns).isoformat()}"
                    if len(opens) else "none")
            problems[symbol] = (f"{symbol}: cannot warm up: {what}; the data has {len(opens)} complete {tf} bars "
                            f"up to the end (span {span}): start earlier, add older data, or use a shorter "
                            "strategy.timeframe")
            continue
        first_signal = from_ns(int(opens[need - 1]) + tf_ns)
        if start is not None and first_signal > start:
            before = int(np.count_nonzero(opens + tf_ns <= to_ns(start)))
            warnings.append(f"{symbol}: warm-up ends after the start: {what}; the data has {before} before "
                            f"{start.isoformat()}, so the first signal can come at {first_signal.isoformat()}")
    return problems, warnings


def select_backtest_data(cfg: AppConfig, folder: Path, *, start: date | datetime | None = None,
                         end: date | datetime | None = None, allow_missing: bool = False) -> BacktestInput:
    """Load what the configuration trades from ``folder`` over [start, end] plus the warm-up before ``start``.

    ``start``/``end`` as in :func:`load_dataset` (a day is the whole UTC day); the folder's recorded mark
    and funding series are attached (``attach_recorded_futures``). Raises DataError (a
    ConfigError: exit code 2) naming each problem and its fix; nothing is half-loaded.
    """
    symbols, warnings = choose_symbols(cfg, folder, allow_missing=allow_missing)
    first = _start_dt(start)
    if first is not None and first.tzinfo is None:
        raise DataError(f"start {first.isoformat()} has no timezone: pass a UTC datetime")
    bar = timedelta(minutes=TIMEFRAME_MINUTES[cfg.strategy.timeframe])
    warm = None if first is None else first - load_strategy(cfg.strategy).warmup_bars * bar
    data = attach_recorded_futures(folder, load_dataset(folder, symbols=symbols, start=warm, end=end,
                                                        one_resolution=True))
    if first is not None and not bool((data.ts >= to_ns(first)).any()):
        raise DataError(f"{folder}: no candles from the start {first.isoformat()} to the end (the data runs "
                        f"{data.ts_start.isoformat()} .. {data.ts_end.isoformat()}): move --start/--end into it")
    problems, late = _warmup_problems(data, cfg, first)
    if problems and (not allow_missing or len(problems) == len(data.symbols)):
        raise DataError(list(problems.values()))
    if problems:
        data = data.subset(tuple(s for s in data.symbols if s not in problems))
        warnings += [f"skipped: {p}" for p in problems.values()]
    return BacktestInput(data=data, start=first, warnings=(*warnings, *late))

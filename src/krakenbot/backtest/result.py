"""What a backtest produced: a frozen ``BacktestResult`` the engine fills and the report reads.

Tables are pandas DataFrames with fixed columns (the ``*_COLUMNS`` tuples below); timestamps are UTC
``datetime64``: microseconds in the trades, equity and events tables (``utc_column``), nanoseconds in the prices
and the empty tables; money is USD (float64), sizes are base-asset units. ``empty_*()`` give
correctly typed empty tables for the engine to start from.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from krakenbot.config.models import AppConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.timeconv import to_us

TRADE_COLUMNS = ("symbol", "side", "ts_open", "ts_close", "entry_price", "exit_price", "size", "notional_usd",
                 "pnl_usd", "fees_usd", "funding_usd", "close_reason")
"""One row per closed (or, at the end, marked-out) position.

``side``: 'long' | 'short'; ``size``: base units (> 0); ``notional_usd``: size x entry_price;
``pnl_usd``: net of ``fees_usd`` and ``funding_usd`` (funding paid is a positive cost);
``close_reason``: the closing order's ``OrderReason`` value, e.g. 'stop', 'auction_close_reversed',
'shock_close', 'shock_trim', 'liquidation', 'end_of_data'."""

EQUITY_COLUMNS = ("ts", "equity_usd", "exposure_usd", "margin_used_usd")
"""Account over time: equity (cash + unrealised PnL), gross open notional, initial margin in use."""

EVENT_COLUMNS = ("ts", "kind", "symbol", "detail")
"""Shocks, entry pauses and resumes, closes and trims with reasons. ``symbol`` is '' for market-wide events."""

PRICE_COLUMNS = ("ts", "symbol", "close")
"""Closes for plots (long format); may be downsampled."""

_TS = "datetime64[ns, UTC]"
_DTYPES: dict[str, str] = {
    "symbol": "object", "side": "object", "ts_open": _TS, "ts_close": _TS, "close_reason": "object",
    "ts": _TS, "kind": "object", "detail": "object",
}


def epoch_us(stamps: Iterable[datetime], known: Mapping[datetime, int] | None = None) -> np.ndarray:
    """``to_us`` of each UTC ``datetime`` in ``stamps``, as int64 microseconds since the epoch; a stamp in ``known``
    (datetime -> its microseconds) is read from there: a run's fills and events happen at its wakes' clock readings,
    so the wakes' conversions serve them all (a lookup costs a tenth of a conversion)."""
    if not known:
        return np.fromiter((to_us(ts) for ts in stamps), dtype=np.int64)
    get = known.get
    return np.fromiter((to_us(ts) if (us := get(ts)) is None else us for ts in stamps), dtype=np.int64)


def utc_column(stamps: Iterable[datetime], known: Mapping[datetime, int] | None = None) -> pd.DatetimeIndex:
    """UTC ``datetime``s (microsecond precision) as a ``datetime64[us, UTC]`` column, what ``pd.to_datetime(...,
    utc=True)`` gives for them, through integers (``epoch_us``, with ``known``): pandas' per-object datetime
    parsing is the slow part of a table."""
    return us_column(epoch_us(stamps, known))


def us_column(micros: np.ndarray) -> pd.DatetimeIndex:
    """int64 microseconds since the epoch as a ``datetime64[us, UTC]`` column (``utc_column``'s)."""
    return pd.to_datetime(micros.view("datetime64[us]"), utc=True)


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, "float64")) for c in columns})


def empty_trades() -> pd.DataFrame:
    """A trades table with no rows and the TRADE_COLUMNS dtypes."""
    return _empty(TRADE_COLUMNS)


def empty_events() -> pd.DataFrame:
    """An events table with no rows and the EVENT_COLUMNS dtypes."""
    return _empty(EVENT_COLUMNS)


def _check_table(name: str, frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"BacktestResult.{name} lacks columns {', '.join(missing)} (needs {', '.join(columns)})")
    for col in columns:
        dtype = frame[col].dtype
        if _DTYPES.get(col) == _TS and not (isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"):
            raise ValueError(f"BacktestResult.{name}.{col} must be UTC timestamps ({_TS}), got {dtype}")


@dataclass(frozen=True, slots=True, kw_only=True)
class BacktestResult:
    """A finished backtest. ``candles``: candles processed (timestamps x symbols present).

    ``symbols`` are spot pairs ('BTC/USD'); ``prices.symbol`` uses them. ``trades.symbol`` and
    ``events.symbol`` may name either the spot pair or its futures contract: ``futures_symbols``
    (spot pair -> contract, e.g. 'BTC/USD' -> 'PF_XBTUSD') lets the report put both on one line.
    ``fees_usd`` and ``funding_usd`` are account totals (funding paid > 0 is a cost; received < 0);
    ``liquidations`` is a count; ``insurance_deficit_usd`` is what they lost beyond the account's
    equity (the insurance fund's: equity is floored at 0, ``exchange/intrabar.py``); ``shock_events``
    counts ShockGuard detections only (move, range, basis, market-wide), ``shock_trims`` and
    ``shock_closes`` the reduce-only orders they caused. ``equity``'s last row is the account after
    every close, the end-of-data flatten included, so ``final_equity_usd - initial_equity_usd`` is the
    sum of the trades' ``pnl_usd`` plus ``insurance_deficit_usd``. ``warmup_end``: when the strategy's
    first ``warmup_bars`` bars have closed (no signal before; None if unknown).
    ``config_hash`` identifies the config (:func:`config_hash`). ``series_sources``: which futures series
    were recorded and which assumed, by kind ('mark', 'index', 'funding'; ``futures_series.series_sources``).
    Raises ValueError if a table lacks a
    column or a time is not UTC.
    """

    start: datetime
    end: datetime
    symbols: tuple[str, ...]
    candles: int
    trades: pd.DataFrame
    equity: pd.DataFrame
    events: pd.DataFrame
    prices: pd.DataFrame
    fees_usd: float
    funding_usd: float
    liquidations: int
    shock_events: int
    config_hash: str
    initial_equity_usd: float
    futures_symbols: Mapping[str, str] = field(default_factory=dict)
    shock_trims: int = 0
    shock_closes: int = 0
    warmup_bars: int = 0
    warmup_end: datetime | None = None
    insurance_deficit_usd: float = 0.0
    series_sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def final_equity_usd(self) -> float:
        """Equity after every close (the last equity row); the initial equity with no rows."""
        if self.equity.empty:
            return self.initial_equity_usd
        return float(self.equity["equity_usd"].iloc[-1])

    def __post_init__(self) -> None:
        ensure_utc(self.start, field="BacktestResult.start")
        ensure_utc(self.end, field="BacktestResult.end")
        if self.warmup_end is not None:
            ensure_utc(self.warmup_end, field="BacktestResult.warmup_end")
        if self.end < self.start:
            raise ValueError(f"BacktestResult: end {self.end.isoformat()} is before start {self.start.isoformat()}")
        if self.initial_equity_usd <= 0:
            raise ValueError(f"BacktestResult: initial_equity_usd must be > 0, got {self.initial_equity_usd}")
        object.__setattr__(self, "symbols", tuple(self.symbols))
        object.__setattr__(self, "futures_symbols", dict(sorted(self.futures_symbols.items())))
        _check_table("trades", self.trades, TRADE_COLUMNS)
        _check_table("equity", self.equity, EQUITY_COLUMNS)
        _check_table("events", self.events, EVENT_COLUMNS)
        _check_table("prices", self.prices, PRICE_COLUMNS)


# Where files are, not what runs: config paths are absolute once loaded (relative to the config file),
# so they would make the same config hash differently in every clone or install.
_PATH_FIELDS = {"backtest": {"data", "out"}, "store": {"url"}, "logging": {"file"}}


def config_hash(cfg: AppConfig) -> str:
    """First 16 hex chars of the sha256 of the config's canonical JSON (sorted keys, no spaces),
    leaving out the file locations (data, out, store URL, log file)."""
    canonical = json.dumps(cfg.model_dump(mode="json", exclude=_PATH_FIELDS), sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

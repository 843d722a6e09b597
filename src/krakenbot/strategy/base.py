"""The strategy interface: candles per symbol and ``now`` in, scored signals out.

A strategy computes per-bar arrays once (``compute``) over whatever candles it is given; the
backtest calls it on the whole history, the live loop on a recent window of at least
``warmup_bars`` bars, and both read a bar's signal through the same ``signal_at``. Indicators
with finite memory (see ``krakenbot.strategy.indicators``) make the two give identical values.

Only *closed* candles are used: a candle whose open time plus the timeframe is after ``now``
is still forming and is ignored, so a signal never repaints.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel

from krakenbot.config.models import TIMEFRAME_MINUTES, Timeframe
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.signals import Side, Signal
from krakenbot.domain.timeconv import from_ns, to_ns

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
_COLUMNS = ("open", "high", "low", "close", "volume")


def _frozen(values: Any, dtype: Any) -> Any:
    """``values`` as a read-only array of ``dtype``. An array already read-only, contiguous and of that dtype, over
    memory its owner froze too (``MarketData``'s arrays and their views), is taken as it is: a backtest's history
    is not copied. Anything else is copied (pandas' read-only ``to_numpy`` views, for one: the frame still writes
    their memory)."""
    owner = values.base if isinstance(values, np.ndarray) and values.base is not None else values
    frozen = (isinstance(values, np.ndarray) and values.dtype == dtype and values.flags.c_contiguous
              and not values.flags.writeable and isinstance(owner, np.ndarray) and not owner.flags.writeable)
    array = values if frozen else np.array(values, dtype=dtype, copy=True)
    if array.ndim != 1:
        raise ValueError(f"candle arrays must be 1-D, got shape {array.shape}")
    array.setflags(write=False)
    return array


def ts_to_datetime(ts: np.datetime64) -> datetime:
    """A ``datetime64`` (naive, meaning UTC) as a timezone-aware UTC ``datetime`` (floored to the microsecond)."""
    return from_ns(int(np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)))


def datetime_to_ts(value: datetime) -> np.datetime64:
    """A UTC ``datetime`` as ``datetime64[ns]``; raises ``ValueError`` when naive or not UTC."""
    return np.datetime64(to_ns(value), "ns")


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CandleArrays:
    """One symbol's candles as read-only numpy arrays of equal length, oldest first (a frozen array, such as a
    view of ``MarketData``'s, is kept as it is; any other is copied).

    ``ts`` is each candle's UTC open time as ``datetime64[ns]`` (strictly increasing; gaps
    allowed, Kraken omits empty candles); prices in quote currency, ``volume`` in base units.
    """

    symbol: str
    ts: npt.NDArray[np.datetime64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        ts = _frozen(self.ts, "datetime64[ns]")
        object.__setattr__(self, "ts", ts)
        for name in _COLUMNS:
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64))
            if getattr(self, name).size != ts.size:
                raise ValueError(f"{self.symbol}: column {name} has {getattr(self, name).size} values, "
                                 f"ts has {ts.size}")
        if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
            raise ValueError(f"{self.symbol}: candle timestamps must be strictly increasing (sort and de-duplicate)")
        # every price finite and > 0: a NaN makes min and max NaN (both tests False), so two reductions per column
        if ts.size and not all(bool(p.min() > 0) and bool(p.max() < np.inf)
                               for p in (self.open, self.high, self.low, self.close)):
            raise ValueError(f"{self.symbol}: some OHLC values are missing (NaN), zero or negative; drop those candles")

    def __len__(self) -> int:
        return int(self.ts.size)

    @classmethod
    def from_frame(cls, symbol: str, frame: pd.DataFrame) -> CandleArrays:
        """Build from a DataFrame with columns ``ts, open, high, low, close, volume`` (or a ``ts`` index).

        ``ts`` may be tz-aware (converted to UTC) or naive (taken as UTC). Raises ``ValueError``
        naming a missing column, NaN prices or unordered timestamps.
        """
        data = frame.reset_index() if "ts" not in frame.columns and frame.index.name == "ts" else frame
        missing = [c for c in ("ts", *_COLUMNS) if c not in data.columns]
        if missing:
            raise ValueError(f"{symbol}: candle frame lacks column(s) {missing}; "
                             "need ts, open, high, low, close, volume")
        stamps = pd.to_datetime(data["ts"], utc=True)
        ts = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        return cls(symbol=symbol, ts=ts, **{c: data[c].to_numpy(dtype=np.float64) for c in _COLUMNS})

    def slice(self, start: int | None = None, stop: int | None = None) -> CandleArrays:
        """Bars ``start:stop`` (Python slice semantics) as a new ``CandleArrays``."""
        part = slice(start, stop)
        return CandleArrays(symbol=self.symbol, ts=self.ts[part], open=self.open[part], high=self.high[part],
                            low=self.low[part], close=self.close[part], volume=self.volume[part])

    def tail(self, bars: int) -> CandleArrays:
        """The last ``bars`` bars (all of them when there are fewer)."""
        return self.slice(max(0, len(self) - bars), None)


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class SignalArrays:
    """Per-bar output of ``Strategy.compute``, aligned with the input candles.

    ``side`` is +1 (long), -1 (short) or 0 (no signal); ``score`` is conviction per unit of
    risk (>= 0, NaN during warm-up); ``stop_distance_pct`` the stop distance as a fraction of
    the close (0.02 means 2 %); ``take_profit`` an absolute price or NaN for none.
    """

    side: npt.NDArray[np.int8]
    score: FloatArray
    stop_distance_pct: FloatArray
    take_profit: FloatArray
    extras: Mapping[str, FloatArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.side.size
        for name in ("score", "stop_distance_pct", "take_profit"):
            if getattr(self, name).size != n:
                raise ValueError(f"SignalArrays.{name} has {getattr(self, name).size} values, side has {n}")


P = TypeVar("P", bound=BaseModel)


class Strategy(ABC, Generic[P]):
    """Base of every strategy. Subclasses set ``params_model`` and implement ``warmup_bars`` and ``compute``.

    A user strategy is named in YAML as ``strategy.class_path: 'package.module:ClassName'``;
    ``strategy.params`` is validated by its ``params_model`` (a pydantic model; use
    ``extra='forbid'``). The constructor takes the validated params and the signal timeframe.
    """

    params_model: ClassVar[type[BaseModel]]
    name: ClassVar[str] = "strategy"

    def __init__(self, params: P | None = None, *, timeframe: Timeframe = "1h") -> None:
        self.params: P = params if params is not None else cast(P, self.params_model())
        if not isinstance(self.params, self.params_model):
            raise TypeError(f"{type(self).__name__} needs {self.params_model.__name__} params, "
                            f"got {type(self.params).__name__}")
        self.timeframe: Timeframe = timeframe
        self.bar_duration = timedelta(minutes=TIMEFRAME_MINUTES[timeframe])

    @property
    @abstractmethod
    def warmup_bars(self) -> int:
        """Bars that fix the value at a bar: ``compute`` on any slice ending at bar ``t`` with at least
        this many bars gives bar ``t`` the same values as on the whole history."""

    @abstractmethod
    def compute(self, candles: CandleArrays) -> SignalArrays:
        """Per-bar signal arrays over all of ``candles`` (vectorised; no look-ahead: bar ``t`` uses bars <= ``t``)."""

    def last_closed_index(self, candles: CandleArrays, now: datetime) -> int:
        """Index of the newest candle closed at ``now`` (open time + timeframe <= now), or -1."""
        cutoff = datetime_to_ts(now - self.bar_duration)
        return int(np.searchsorted(candles.ts, cutoff, side="right")) - 1

    def signal_at(self, candles: CandleArrays, computed: SignalArrays, index: int) -> Signal | None:
        """The ``Signal`` of bar ``index`` (its ``ts`` is the bar's close time), or None when it has none."""
        side = int(computed.side[index])
        score = float(computed.score[index])
        stop = float(computed.stop_distance_pct[index])
        if side == 0 or not np.isfinite(score) or not (np.isfinite(stop) and 0 < stop < 1):
            return None
        take_profit = float(computed.take_profit[index])
        return Signal(
            symbol=candles.symbol,
            side=Side.LONG if side > 0 else Side.SHORT,
            score=score,
            ref_price=float(candles.close[index]),
            stop_distance_pct=stop,
            ts=ts_to_datetime(candles.ts[index]) + self.bar_duration,
            take_profit=take_profit if np.isfinite(take_profit) and take_profit > 0 else None,
            strategy=self.name,
        )

    def signals(self, candles: Mapping[str, CandleArrays], now: datetime) -> list[Signal]:
        """Signals of the newest closed bar of each symbol at ``now``, sorted by symbol.

        Computes over the last ``warmup_bars`` closed bars only (identical to the whole
        history by construction). A symbol with fewer closed bars than ``warmup_bars`` gives
        no signal. Raises ``ValueError`` when ``now`` is not timezone-aware UTC.
        """
        ensure_utc(now, field="now")
        out: list[Signal] = []
        for symbol in sorted(candles):
            arrays = candles[symbol]
            last = self.last_closed_index(arrays, now)
            if last + 1 < self.warmup_bars:
                log.debug("%s: %d closed bars, %d needed for warm-up; no signal", symbol, last + 1, self.warmup_bars)
                continue
            window = arrays.slice(last + 1 - self.warmup_bars, last + 1)
            signal = self.signal_at(window, self.compute(window), len(window) - 1)
            if signal is not None:
                out.append(signal)
        return out

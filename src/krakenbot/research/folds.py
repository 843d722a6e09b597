"""Walk-forward folds: K (in-sample, gap, out-of-sample) windows over the data's time span. Pure.

Layout (times UTC, every window half-open ``[start, end)``)::

    rolling   |--IS 0--|gap|OOS 0|
                     |--IS 1--|gap|OOS 1|
                              |--IS 2--|gap|OOS 2|
    anchored  |--IS 0--|gap|OOS 0|
              |--IS 1----------|gap|OOS 1|
              |--IS 2-------------------|gap|OOS 2|

- The K out-of-sample windows have one length ``O``, follow each other without overlap and end at ``end``;
  together they are a continuous out-of-sample record (each fold's OOS run is with the parameters chosen
  on its own IS window).
- ``oos_fraction`` = ``O / (L + O)``, where ``L`` is the in-sample length of a rolling fold and of the
  first anchored fold (the first fold is the same in both modes and starts at ``start``); the gap counts in
  neither. So ``end - start = L + gap + K * O``. Anchored IS windows all start at ``start`` and grow by
  ``O`` per fold; rolling ones keep the length ``L`` and slide by ``O``.
- The gap separates each IS window from its OOS window. Make it at least the strategy's warm-up
  (:func:`warmup_span`, or :func:`max_warmup` over a search space): an OOS backtest warms its indicators
  up on the candles before ``oos_start``, so with such a gap those candles lie in the gap and no
  in-sample candle shapes an out-of-sample signal.
- ``start`` is the first time a backtest can trade: an IS backtest from ``is_start`` warms up on the
  candles before it, so pass the data's start plus the warm-up (a fold starting at the data's first
  candle spends its first ``warmup_bars`` bars warming up).
- With ``align`` (e.g. the signal timeframe) every boundary is a multiple of it since the Unix epoch:
  ``start`` rounded up, ``end`` down, the gap up; the lengths are whole multiples and the leftover of
  the division goes to the in-sample windows. Without it the unit is a microsecond.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from krakenbot.config.models import TIMEFRAME_MINUTES, AppConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.strategy.loader import load_strategy

Mode = Literal["anchored", "rolling"]
MODES: tuple[Mode, ...] = ("anchored", "rolling")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Fold:
    """Fold ``index`` (0-based, in time order): in-sample ``[is_start, is_end)``, then the gap, then
    out-of-sample ``[oos_start, oos_end)``. UTC datetimes. Raises ValueError if out of order."""

    index: int
    is_start: datetime
    is_end: datetime
    oos_start: datetime
    oos_end: datetime

    def __post_init__(self) -> None:
        for name in ("is_start", "is_end", "oos_start", "oos_end"):
            ensure_utc(getattr(self, name), field=f"Fold.{name}")
        if not self.is_start < self.is_end <= self.oos_start < self.oos_end:
            raise ValueError(f"Fold {self.index}: needs is_start < is_end <= oos_start < oos_end, got "
                             f"{self.is_start.isoformat()}, {self.is_end.isoformat()}, "
                             f"{self.oos_start.isoformat()}, {self.oos_end.isoformat()}")

    @property
    def gap(self) -> timedelta:
        """Time between the in-sample end and the out-of-sample start."""
        return self.oos_start - self.is_end


def walk_forward(start: datetime, end: datetime, k: int, *, gap: timedelta, mode: Mode = "anchored",
                 oos_fraction: float = 0.25, align: timedelta | None = None) -> list[Fold]:
    """``k`` walk-forward folds over ``[start, end)`` (the layout in the module doc).

    Raises ValueError naming the argument: naive datetimes, ``end <= start``, ``k < 1``, a negative gap,
    ``oos_fraction`` outside (0, 1), an unknown mode, or a span too short for ``k`` folds and the gap."""
    ensure_utc(start, field="walk_forward start")
    ensure_utc(end, field="walk_forward end")
    if mode not in MODES:
        raise ValueError(f"walk_forward mode: expected 'anchored' or 'rolling', got {mode!r}")
    if k < 1:
        raise ValueError(f"walk_forward k: need at least 1 fold, got {k}")
    if not 0.0 < oos_fraction < 1.0:
        raise ValueError(f"walk_forward oos_fraction: must be between 0 and 1 (exclusive), got {oos_fraction}")
    if gap < timedelta(0):
        raise ValueError(f"walk_forward gap: must be >= 0, got {gap}")
    unit = align if align is not None else timedelta(microseconds=1)
    if unit <= timedelta(0):
        raise ValueError(f"walk_forward align: must be > 0, got {align}")
    first, last = -((_EPOCH - start) // unit), (end - _EPOCH) // unit  # start rounded up, end down
    gap_units = -(-gap // unit)
    usable = last - first - gap_units
    oos_units = int(usable * oos_fraction / (1.0 - oos_fraction + k * oos_fraction)) if usable > 0 else 0
    is_units = usable - k * oos_units
    if end <= start or oos_units < 1 or is_units < 1:
        raise ValueError(
            f"walk_forward: {start.isoformat()} .. {end.isoformat()} ({end - start}) is too short for {k} folds "
            f"with a gap of {gap} and oos_fraction {oos_fraction}: use fewer folds, a longer span or a shorter gap")

    def at(units: int) -> datetime:
        return _EPOCH + unit * units

    folds = []
    for i in range(k):
        oos_start = last - (k - i) * oos_units
        is_end = oos_start - gap_units
        is_start = first if mode == "anchored" else is_end - is_units
        folds.append(Fold(index=i, is_start=at(is_start), is_end=at(is_end), oos_start=at(oos_start),
                          oos_end=at(oos_start + oos_units)))
    return folds


def warmup_span(cfg: AppConfig) -> timedelta:
    """How long ``cfg``'s strategy warms up: its ``warmup_bars`` x ``strategy.timeframe``.

    Raises ``ConfigError`` if the strategy cannot be built (naming ``strategy.class_path`` or the param)."""
    bars = load_strategy(cfg.strategy).warmup_bars
    return timedelta(minutes=TIMEFRAME_MINUTES[cfg.strategy.timeframe] * bars)


def max_warmup(configs: Iterable[AppConfig]) -> timedelta:
    """The longest :func:`warmup_span` of ``configs`` (e.g. ``SearchSpace.corner_configs``); 0 when empty."""
    return max(itertools.chain((warmup_span(cfg) for cfg in configs), [timedelta(0)]))

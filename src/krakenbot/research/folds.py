"""STUB (OPT-B, to be replaced by OPT-A's research/folds.py): walk-forward folds, minimal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class Fold:
    index: int
    is_start: datetime
    is_end: datetime
    oos_start: datetime
    oos_end: datetime


def walk_forward(start: datetime, end: datetime, k: int, *, gap: timedelta,
                 mode: Literal["anchored", "rolling"] = "anchored", oos_fraction: float = 0.25) -> list[Fold]:
    span = (end - start) / k
    folds = []
    for i in range(k):
        block_start = start + span * i
        block_end = block_start + span
        oos = span * oos_fraction
        oos_start = block_end - oos
        is_end = oos_start - gap
        folds.append(Fold(index=i, is_start=start if mode == "anchored" else block_start, is_end=is_end,
                          oos_start=oos_start, oos_end=block_end))
    return folds

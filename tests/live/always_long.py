"""A test strategy that always signals one side (long by default) on every closed bar, with a chosen stop distance.

The end-to-end test of ``python run.py live`` names it through ``strategy.class_path``
(``always_long:AlwaysLong``, with ``tests/live`` on the subprocess' PYTHONPATH), so the loop
trades on the loopback Kraken's candles whatever their shape.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from krakenbot.strategy.base import CandleArrays, SignalArrays, Strategy


class AlwaysLongParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stop_distance_pct: float = Field(0.08, gt=0, lt=1, description="Stop distance, fraction of the close.")
    score: float = Field(1.0, ge=0, description="Score of every signal.")
    side: int = Field(1, ge=-1, le=1, description="+1 always long, -1 always short.")


class AlwaysLong(Strategy[AlwaysLongParams]):
    """Long on every bar: side +1, a fixed score and stop distance, no take-profit."""

    params_model: ClassVar[type[BaseModel]] = AlwaysLongParams
    name: ClassVar[str] = "always_long"

    @property
    def warmup_bars(self) -> int:
        return 1

    def compute(self, candles: CandleArrays) -> SignalArrays:
        n = len(candles)
        return SignalArrays(side=np.full(n, self.params.side, dtype=np.int8), score=np.full(n, self.params.score),
                            stop_distance_pct=np.full(n, self.params.stop_distance_pct),
                            take_profit=np.full(n, np.nan))

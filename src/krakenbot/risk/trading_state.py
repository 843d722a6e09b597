"""Trading state from equity: a daily loss limit and a maximum drawdown switch to reduce-only.

Pure values: the loop keeps an ``EquityMarks`` (the UTC day's starting equity and the peak),
replaces it with ``marks.update(equity, now)`` on each account refresh, and passes it to
``RiskManager.validate_trade``. Nothing here reads the clock.

States (after NautilusTrader's): ``ACTIVE`` trades normally; ``REDUCING`` allows only orders
that reduce exposure (no new entries); ``HALTED`` allows nothing new and means the equity
figure itself is unusable (zero, negative or not finite).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

import numpy as np

from krakenbot.config.models import RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.frozen import fast_init

_NS_PER_DAY = 86_400 * 10**9
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class TradingState(StrEnum):
    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"

    @property
    def allows_entries(self) -> bool:
        return self is _ACTIVE


_ACTIVE = TradingState.ACTIVE  # looked up once: an Enum class's attributes are slow to read on Python 3.11


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class TradingAssessment:
    """A trading state with its reason; ``daily_loss_pct`` and ``drawdown_pct`` are fractions (0.05 = 5 %)."""

    state: TradingState
    reason: str
    daily_loss_pct: float = 0.0
    drawdown_pct: float = 0.0


def assess_trading_state(*, day_start_equity_usd: float, peak_equity_usd: float, equity_usd: float,
                         cfg: RiskConfig) -> TradingAssessment:
    """State from equity now, the UTC day's starting equity and the peak equity (all USD).

    ``REDUCING`` when the loss since the day's start reaches ``cfg.daily_loss_limit_pct`` of the
    starting equity, or the drop from the peak reaches ``cfg.max_drawdown_pct`` of the peak
    (reaching the limit exactly counts). ``HALTED`` when any figure is not finite or equity <= 0.
    """
    drops = _drops(day_start_equity_usd, peak_equity_usd, equity_usd)
    if drops is None:
        return TradingAssessment(state=TradingState.HALTED,
                                 reason=f"equity figures unusable (equity={equity_usd!r}, "
                                        f"day_start={day_start_equity_usd!r}, peak={peak_equity_usd!r})")
    daily_loss, drawdown, peak = drops
    reasons = []
    if daily_loss >= cfg.daily_loss_limit_pct:
        reasons.append(f"daily loss {daily_loss:.2%} >= limit {cfg.daily_loss_limit_pct:.2%} of the day's "
                       f"starting equity {day_start_equity_usd:,.2f} USD")
    if drawdown >= cfg.max_drawdown_pct:
        reasons.append(f"drawdown {drawdown:.2%} from peak {peak:,.2f} USD >= max {cfg.max_drawdown_pct:.2%}")
    if reasons:
        return TradingAssessment(state=TradingState.REDUCING, reason="reduce-only: " + "; ".join(reasons),
                                 daily_loss_pct=daily_loss, drawdown_pct=drawdown)
    return TradingAssessment(state=_ACTIVE, reason="within loss limits",
                             daily_loss_pct=daily_loss, drawdown_pct=drawdown)


def _drops(day_start_equity_usd: float, peak_equity_usd: float,
           equity_usd: float) -> tuple[float, float, float] | None:
    """(daily loss, drawdown, peak in USD) of ``assess_trading_state``, or None when a figure is unusable."""
    isfinite = math.isfinite
    if not (isfinite(day_start_equity_usd) and isfinite(peak_equity_usd) and isfinite(equity_usd)) or equity_usd <= 0:
        return None
    # max() written out (the builtin parses its arguments on every call): the same picks, ties and all
    daily_loss = 0.0
    if day_start_equity_usd > 0:
        loss = (day_start_equity_usd - equity_usd) / day_start_equity_usd
        daily_loss = loss if loss > 0.0 else 0.0
    peak = equity_usd if equity_usd > peak_equity_usd else peak_equity_usd
    drop = (peak - equity_usd) / peak
    return daily_loss, drop if drop > 0.0 else 0.0, peak


@fast_init
@dataclass(frozen=True, slots=True, kw_only=True)
class EquityMarks:
    """The equity reference points of the loss limits: the UTC ``day`` and its starting equity, and the peak (USD).

    The first equity seen on a new UTC day becomes that day's start. Deposits and withdrawals
    move equity too: reset the marks (``EquityMarks.start``) after one.
    """

    day: date
    day_start_equity_usd: float
    peak_equity_usd: float

    def __post_init__(self) -> None:
        for name in ("day_start_equity_usd", "peak_equity_usd"):
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"EquityMarks.{name} must be > 0, got {value!r}")

    @classmethod
    def start(cls, equity_usd: float, now: datetime) -> EquityMarks:
        """Marks that begin at ``equity_usd`` on ``now``'s UTC day. Raises ``ValueError`` for equity <= 0."""
        ensure_utc(now, field="now")
        return cls(day=now.date(), day_start_equity_usd=equity_usd, peak_equity_usd=equity_usd)

    def update(self, equity_usd: float, now: datetime) -> EquityMarks:
        """The marks after observing ``equity_usd`` at ``now``: new UTC day -> new start; peak kept as max.

        An unusable equity (not finite or <= 0) leaves the marks unchanged (the assessment halts on it).
        """
        if now.tzinfo is not UTC:  # the common case first
            ensure_utc(now, field="now")
        if not math.isfinite(equity_usd) or equity_usd <= 0:
            return self
        today = now.date()
        if today <= self.day and equity_usd <= self.peak_equity_usd:
            return self  # the same day (or an earlier clock) below the peak: the marks as they are
        day_start = equity_usd if today > self.day else self.day_start_equity_usd
        return EquityMarks(day=max(today, self.day), day_start_equity_usd=day_start,
                           peak_equity_usd=max(self.peak_equity_usd, equity_usd))

    def along(self, ts_ns: np.ndarray, equity_usd: np.ndarray) -> EquityMarks:
        """The marks after ``update`` at each (``ts_ns[k]`` UTC nanoseconds, ``equity_usd[k]``) in order, at array
        speed (a backtest's idle bars): the same marks, bit for bit. Unusable equities are skipped, as ``update``
        skips them; the day start is the first usable equity of the newest day, when that day is new."""
        equity = np.asarray(equity_usd, dtype=np.float64)
        if not len(equity):
            return self
        last = ts_ns.item(-1) // _NS_PER_DAY  # the newest day (nanoseconds ascend: so do their days)
        # max and min read at argmax / argmin (both point at the first NaN, if any: then NaN, as the ufuncs'
        # reductions give), a third of ``np.maximum.reduce``'s cost on a few dozen bars
        high: float = equity.item(equity.argmax())
        if last <= self.day.toordinal() - _EPOCH_ORDINAL and high <= self.peak_equity_usd:
            return self  # the same day, no usable equity above the peak (most idle stretches): as ``update``
        low: float = equity.item(equity.argmin())
        if low > 0 and high < math.inf:  # every equity usable (a NaN fails both): no masks, the days from the ends
            ts = np.asarray(ts_ns, dtype=np.int64)
            newest = date.fromordinal(_EPOCH_ORDINAL + last)
            day_start = self.day_start_equity_usd
            if newest > self.day:  # the first equity of the newest day
                first = 0 if int(ts[0]) // _NS_PER_DAY == last else int(np.searchsorted(ts // _NS_PER_DAY, last))
                day_start = float(equity[first])
            return EquityMarks(day=max(newest, self.day), day_start_equity_usd=day_start,
                               peak_equity_usd=max(self.peak_equity_usd, high))
        usable = np.isfinite(equity) & (equity > 0)
        if not usable.any():
            return self
        equity, days = equity[usable], np.asarray(ts_ns, dtype=np.int64)[usable] // _NS_PER_DAY
        newest = date.fromordinal(_EPOCH_ORDINAL + int(days[-1]))
        day_start = self.day_start_equity_usd
        if newest > self.day:
            day_start = float(equity[int(np.searchsorted(days, days[-1], side="left"))])
        return EquityMarks(day=max(newest, self.day), day_start_equity_usd=day_start,
                           peak_equity_usd=max(self.peak_equity_usd, float(equity.max())))

    def allows_entries(self, equity_usd: float, cfg: RiskConfig) -> bool:
        """``assess(equity_usd, cfg).state.allows_entries``, without building the assessment (asked on every
        auction and every open: the assessment is wanted only for the reason of a refusal)."""
        drops = _drops(self.day_start_equity_usd, self.peak_equity_usd, equity_usd)
        return drops is not None and drops[0] < cfg.daily_loss_limit_pct and drops[1] < cfg.max_drawdown_pct

    def assess(self, equity_usd: float, cfg: RiskConfig) -> TradingAssessment:
        """``assess_trading_state`` against these marks."""
        return assess_trading_state(day_start_equity_usd=self.day_start_equity_usd,
                                    peak_equity_usd=self.peak_equity_usd, equity_usd=equity_usd, cfg=cfg)

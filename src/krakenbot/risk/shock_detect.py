"""ShockGuard detectors, vectorised over symbols: move, range, basis, market-wide.

Everything here is a pure function of arrays. Times are int64 *microseconds* since the epoch,
so the 60-second lookback and the window boundaries are exact (no float time).

Definitions (``now`` is the tick being evaluated, history is the *stored* ticks before it):

- move: ``|mark_now / baseline - 1|`` where the baseline is the latest good stored mark with
  ``now - L - tolerance <= ts <= now - L``, ``L = max(60 s, base candle)`` (``lookback_us``): 60 s on
  live marks and 1-minute candles, the previous candle's close on coarser candles. A baseline older
  than that is stale and ignored.
- range: ``max / min - 1`` of the good stored marks with ``ts >= now - 60 s``, the current mark and,
  when given (candles), the current candle's high and low. On candles coarser than a minute the
  window holds no earlier close, so the range is the candle's own ``(high - low) / low``.
- basis: ``|mark_now / reference_now - 1|`` (reference: spot or index price at the same tick).
- A symbol is evaluated at a tick only if its current mark is good (finite, > 0); bad history
  values are stored as NaN and skipped, so they neither produce nor hide a shock.
- A magnitude fires when ``magnitude >= threshold * (1 - REL_EPS)``: one part in 10^9 of float
  noise counts as "at the threshold" (102.5 / 100 - 1 is 0.02499999999999991 in float64).
- Event gating: a hit of (symbol, kind) is a ``ShockDetected`` event only if the previous hit of
  the same (symbol, kind) is at least the cooldown ago; later hits extend the pause silently.
- market-wide: at a tick where some symbol hits, the distinct symbols whose latest hit (any kind)
  is within ``[now - window, now]`` are counted; ``count >= shock_marketwide_count`` is a hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from krakenbot.config.models import RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.timeconv import from_us

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

ShockKind = Literal["move", "range", "basis", "marketwide"]
SYMBOL_KINDS: Final[tuple[ShockKind, ShockKind, ShockKind]] = ("move", "range", "basis")
MARKETWIDE_SYMBOL: Final = "*"
LOOKBACK_US: Final = 60_000_000  # the "1 minute" of the move and range detectors (range window; move at least this)
REL_EPS: Final = 1e-9
NO_HIT: Final = -(2**62)  # sentinel "never hit" time, far from int64 overflow

@dataclass(frozen=True, slots=True, kw_only=True)
class ShockDetected:
    """A shock event. ``magnitude`` and ``threshold`` are fractions (0.025 = 2.5 %), except for
    ``kind='marketwide'`` where they are symbol counts; ``symbol`` is ``'*'`` for market-wide."""

    kind: ShockKind
    symbol: str
    magnitude: float
    threshold: float
    ts: datetime

    def __post_init__(self) -> None:
        ensure_utc(self.ts, field="ShockDetected.ts")
        if self.kind not in (*SYMBOL_KINDS, "marketwide"):
            raise ValueError(f"ShockDetected.kind must be move, range, basis or marketwide, got {self.kind!r}")
        if (self.kind == "marketwide") != (self.symbol == MARKETWIDE_SYMBOL):
            raise ValueError(f"ShockDetected: symbol '*' goes with kind 'marketwide' only ({self.kind}, {self.symbol})")
        if not math.isfinite(self.magnitude):
            raise ValueError(f"ShockDetected.magnitude must be finite, got {self.magnitude!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorParams:
    """The detector settings in the units the kernels use (fractions, microseconds)."""

    move_pct: float
    range_pct: float
    basis_pct: float
    tolerance_us: int
    cooldown_us: int
    marketwide_count: int
    marketwide_window_us: int
    min_tick_us: int
    lookback_us: int = LOOKBACK_US  # move baseline age: max(60 s, base candle length)

    @property
    def thresholds(self) -> FloatArray:
        return np.array([self.move_pct, self.range_pct, self.basis_pct], dtype=np.float64)

    @classmethod
    def from_config(cls, cfg: RiskConfig, *, stale_after_seconds: float, min_tick_seconds: float,
                    base_seconds: float = 60.0) -> DetectorParams:
        """Build from ``RiskConfig``; ``stale_after_seconds`` is the baseline age tolerance beyond the
        lookback; ``base_seconds`` the length of a base candle (60 on live marks): the move lookback
        is ``max(60 s, base_seconds)``."""
        return cls(
            move_pct=cfg.shock_move_pct, range_pct=cfg.shock_range_pct, basis_pct=cfg.basis_shock_pct,
            tolerance_us=round(stale_after_seconds * 1e6), cooldown_us=round(cfg.shock_cooldown_minutes * 60e6),
            marketwide_count=cfg.shock_marketwide_count,
            marketwide_window_us=round(cfg.shock_marketwide_window_sec * 1e6),
            min_tick_us=round(min_tick_seconds * 1e6), lookback_us=max(LOOKBACK_US, round(base_seconds * 1e6)))


def reaches(magnitude: FloatArray, threshold: FloatArray | float) -> BoolArray:
    """True where ``magnitude >= threshold`` up to ``REL_EPS`` (relative); NaN never reaches."""
    with np.errstate(invalid="ignore"):
        result: BoolArray = magnitude >= np.asarray(threshold) * (1.0 - REL_EPS)
    return result


def good_prices(values: FloatArray) -> BoolArray:
    """True for finite, strictly positive prices."""
    with np.errstate(invalid="ignore"):
        result: BoolArray = np.isfinite(values) & (values > 0)
    return result


def _extremes(top: FloatArray, bottom: FloatArray, high: FloatArray | None,
              low: FloatArray | None) -> tuple[FloatArray, FloatArray]:
    """Widen the range extremes by the candle's good high and low (bad or missing ones are ignored)."""
    if high is not None:
        top = np.where(good_prices(high), np.fmax(top, high), top)
    if low is not None:
        bottom = np.where(good_prices(low), np.fmin(bottom, low), bottom)
    return top, bottom


def tick_magnitudes(params: DetectorParams, now_us: int, *, cur: FloatArray, ref: FloatArray | None,
                    hist_ts: IntArray, hist_px: FloatArray, high: FloatArray | None = None,
                    low: FloatArray | None = None) -> FloatArray:
    """Move, range and basis magnitudes (S x 3, NaN where not evaluable) of one tick.

    ``cur``/``ref`` are this tick's marks and references (S,), NaN when missing; ``high``/``low``
    (S,) the tick's candle extremes (None on live marks); ``hist_ts`` (n,) and ``hist_px`` (S x n)
    are the stored ticks before this one, oldest first, bad values NaN.
    """
    n_sym = cur.shape[0]
    mags = np.full((n_sym, 3), np.nan)
    good = good_prices(cur)
    # move: latest good baseline in [now - L - tolerance, now - L]
    lo = int(np.searchsorted(hist_ts, now_us - params.lookback_us - params.tolerance_us, side="left"))
    hi = int(np.searchsorted(hist_ts, now_us - params.lookback_us, side="right"))
    if hi > lo:
        sub = hist_px[:, lo:hi]
        ok = ~np.isnan(sub)
        last = sub.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
        base = sub[np.arange(n_sym), last]
        sel = good & ok.any(axis=1)
        mags[sel, 0] = np.abs(cur[sel] / base[sel] - 1.0)
    # range: stored marks with ts >= now - 60 s, plus the current mark
    start = int(np.searchsorted(hist_ts, now_us - LOOKBACK_US, side="left"))
    win = hist_px[:, start:]
    if win.shape[1]:  # fmax/fmin skip the NaN of bad stored marks (a masked max/min costs ~4x more per tick)
        top, bottom = np.fmax(np.fmax.reduce(win, axis=1), cur), np.fmin(np.fmin.reduce(win, axis=1), cur)
    else:
        top, bottom = cur.copy(), cur.copy()
    top, bottom = _extremes(top, bottom, high, low)
    mags[good, 1] = top[good] / bottom[good] - 1.0
    if ref is not None:
        both = good & good_prices(ref)
        mags[both, 2] = np.abs(cur[both] / ref[both] - 1.0)
    return mags


def stored_mask(ts_us: IntArray, min_tick_us: int, last_stored_us: int = NO_HIT) -> BoolArray:
    """Which ticks enter the history: each at least ``min_tick_us`` after the previous stored one."""
    diffs_ok = np.diff(ts_us) >= min_tick_us
    if ts_us.size == 0 or (bool(diffs_ok.all()) and int(ts_us[0]) - last_stored_us >= min_tick_us):
        return np.ones(ts_us.shape[0], dtype=np.bool_)
    mask = np.zeros(ts_us.shape[0], dtype=np.bool_)
    last = last_stored_us
    for i, t in enumerate(ts_us.tolist()):  # over time only; a rare path (ticks closer than min_tick)
        if t - last >= min_tick_us:
            mask[i] = True
            last = t
    return mask


def scan_magnitudes(params: DetectorParams, ts_us: IntArray, marks: FloatArray,
                    reference: FloatArray | None, *, high: FloatArray | None = None,
                    low: FloatArray | None = None) -> FloatArray:
    """Move, range and basis magnitudes (T x S x 3) of a whole history at once.

    ``high``/``low`` (T x S) are the candles' extremes (None: marks only). Gives, tick for tick,
    what ``tick_magnitudes`` gives when the ticks are fed one by one.
    """
    n_t, n_sym = marks.shape
    mags = np.full((n_t, n_sym, 3), np.nan)
    if n_t == 0:
        return mags
    good = good_prices(marks)
    stored = stored_mask(ts_us, params.min_tick_us)
    st_idx = np.flatnonzero(stored)
    st_ts = ts_us[st_idx]
    st_px = np.where(good[st_idx], marks[st_idx], np.nan)  # stored values, bad as NaN
    # number of stored ticks strictly before each tick (history at evaluation time)
    n_before: IntArray = np.cumsum(stored, dtype=np.int64) - stored
    # move: latest good stored tick with ts in [t - L - tol, t - L]
    hi = np.searchsorted(st_ts, ts_us - params.lookback_us, side="right") - 1  # stored position, -1 if none
    hi = np.minimum(hi, n_before - 1)
    st_ok = ~np.isnan(st_px)
    last_good = np.maximum.accumulate(np.where(st_ok, np.arange(st_idx.size)[:, None], -1), axis=0)
    base_pos = np.where((hi >= 0)[:, None], last_good[np.maximum(hi, 0)], -1)
    has_base = base_pos >= 0
    base_ts = st_ts[np.maximum(base_pos, 0)]
    valid = good & has_base & (base_ts >= (ts_us - params.lookback_us - params.tolerance_us)[:, None])
    base_px = st_px[np.maximum(base_pos, 0), np.arange(n_sym)[None, :]]
    with np.errstate(invalid="ignore", divide="ignore"):
        mags[..., 0] = np.where(valid, np.abs(marks / base_px - 1.0), np.nan)
    # range: stored positions [start, n_before) plus the current mark; window length is bounded
    start = np.searchsorted(st_ts, ts_us - LOOKBACK_US, side="left")
    top = np.where(good, marks, np.nan)
    bottom = top.copy()
    width = int(np.max(n_before - start, initial=0))
    for offset in range(1, width + 1):  # over window depth only (<= 60 s / min_tick), never over symbols
        pos = n_before - offset
        inside = (pos >= start)[:, None]
        vals = st_px[np.maximum(pos, 0)]
        use = inside & ~np.isnan(vals)
        top = np.where(use, np.maximum(top, vals), top)
        bottom = np.where(use, np.minimum(bottom, vals), bottom)
    top, bottom = _extremes(top, bottom, high, low)
    with np.errstate(invalid="ignore"):
        mags[..., 1] = np.where(good, top / bottom - 1.0, np.nan)
    if reference is not None:
        both = good & good_prices(reference)
        with np.errstate(invalid="ignore", divide="ignore"):
            mags[..., 2] = np.where(both, np.abs(marks / reference - 1.0), np.nan)
    return mags


def scan_events(params: DetectorParams, ts_us: IntArray, mags: FloatArray,
                symbols: tuple[str, ...]) -> list[ShockDetected]:
    """Gate the hits of a whole history (T x S x 3 magnitudes) into events, vectorised over time."""
    n_t, n_sym, _ = mags.shape
    hits = reaches(mags, params.thresholds[None, None, :])
    idx = np.arange(n_t)
    events: list[tuple[int, int, str, int, ShockDetected]] = []
    # per (symbol, kind): the previous hit strictly before each tick
    last_hit = np.maximum.accumulate(np.where(hits, idx[:, None, None], -1), axis=0)
    prev_hit = np.concatenate([np.full((1, n_sym, 3), -1), last_hit[:-1]], axis=0)
    prev_ts = np.where(prev_hit >= 0, ts_us[np.maximum(prev_hit, 0)], NO_HIT)
    new = hits & (ts_us[:, None, None] - prev_ts >= params.cooldown_us)
    for t, s, k in zip(*np.nonzero(new), strict=True):
        kind = SYMBOL_KINDS[k]
        ev = ShockDetected(kind=kind, symbol=symbols[s], magnitude=float(mags[t, s, k]),
                           threshold=float(params.thresholds[k]), ts=from_us(int(ts_us[t])))
        events.append((int(t), 0, symbols[s], int(k), ev))
    # market-wide: distinct symbols whose latest hit is within the window, at ticks with a hit
    any_hit: BoolArray = np.any(hits, axis=2)
    last_any = np.maximum.accumulate(np.where(any_hit, idx[:, None], -1), axis=0)
    last_any_ts = np.where(last_any >= 0, ts_us[np.maximum(last_any, 0)], NO_HIT)
    count = (last_any_ts >= (ts_us - params.marketwide_window_us)[:, None]).sum(axis=1)
    mw_hit = any_hit.any(axis=1) & (count >= params.marketwide_count)
    mw_last = np.maximum.accumulate(np.where(mw_hit, idx, -1))
    mw_prev = np.concatenate([[-1], mw_last[:-1]])
    mw_prev_ts = np.where(mw_prev >= 0, ts_us[np.maximum(mw_prev, 0)], NO_HIT)
    mw_new = mw_hit & (ts_us - mw_prev_ts >= params.cooldown_us)
    for t in np.flatnonzero(mw_new):
        ev = ShockDetected(kind="marketwide", symbol=MARKETWIDE_SYMBOL, magnitude=float(count[t]),
                           threshold=float(params.marketwide_count), ts=from_us(int(ts_us[t])))
        events.append((int(t), 1, MARKETWIDE_SYMBOL, 0, ev))
    events.sort(key=lambda e: e[:4])
    return [e[4] for e in events]

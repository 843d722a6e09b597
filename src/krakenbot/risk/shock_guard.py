"""ShockGuard: flash-move detection, entry pause and exposure reduction. A pure policy.

The loop feeds it marks each fast tick (``update_mark_prices``), asks which symbols are paused
for entries (``paused_symbols`` / ``is_entry_paused``), and runs the CLOSE / TRIM actions of
``evaluate`` once per tick. It never reads the clock: every call takes ``ts`` / ``now``.
See ``RISK_SHOCK_GUARD.md`` at the repo root, ``shock_detect`` and ``shock_exposure``.

History is a fixed-size ring of ticks (one column per stored tick, one row per symbol), each column
written twice (at ``i`` and ``i + capacity``) so the stored ticks in time order are always one contiguous
view, never copied per tick. A tick
is stored when it is at least ``min_tick_seconds`` after the previous stored tick (a faster tick
is evaluated but not stored), so the ring of ``ceil(history_seconds / min_tick_seconds) + 1``
columns always covers ``history_seconds``, which must be at least 60 s + ``stale_after_seconds``
(the oldest baseline the move detector may use). Hence ``scan_history`` over a whole array
gives exactly the events of feeding the same ticks one by one.

Logging: each ``ShockDetected`` event is logged once as ``SHOCK_MODE ACTIVATED ...`` (WARNING).
An event is a hit of a (symbol, kind) whose previous hit is at least the cooldown ago; hits
inside an ongoing pause extend it without a new event or log line, so an operator sees one line
per symbol and kind per shock episode, plus one per market-wide episode.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np

from krakenbot.config.models import RiskConfig
from krakenbot.domain.clock import ensure_utc
from krakenbot.domain.errors import MarketDataError
from krakenbot.domain.timeconv import from_us, to_us
from krakenbot.domain.trading import AccountState, Position
from krakenbot.risk.shock_detect import (
    MARKETWIDE_SYMBOL,
    NO_HIT,
    SYMBOL_KINDS,
    DetectorParams,
    FloatArray,
    IntArray,
    ShockDetected,
    good_prices,
    reaches,
    scan_events,
    scan_magnitudes,
    tick_magnitudes,
)
from krakenbot.risk.shock_exposure import DEFAULT_MAINTENANCE_MARGIN_RATE, ShockPlan, plan_exposure

log = logging.getLogger(__name__)

__all__ = ["MARKETWIDE_SYMBOL", "ShockDetected", "ShockGuard", "config_warnings"]


def config_warnings(cfg: RiskConfig, symbols: Sequence[str], base_seconds: float) -> list[str]:
    """What in ``cfg`` cannot work as its name says on ``symbols`` sampled every ``base_seconds``
    (a backtest's base candle; live, the fast tick). Each message starts with the YAML key path.
    Pure: the caller logs them (WARNING) at start. Empty when the guard is off."""
    if not cfg.shock_guard_enabled:
        return []
    out: list[str] = []
    n_sym = len(set(symbols))
    if cfg.shock_marketwide_count > n_sym:
        out.append(f"risk.shock_marketwide_count: {cfg.shock_marketwide_count} is above the {n_sym} traded "
                   "symbol(s): market-wide detection can never fire")
    if cfg.shock_marketwide_window_sec < base_seconds:
        out.append(f"risk.shock_marketwide_window_sec: {cfg.shock_marketwide_window_sec:g} s is shorter than one "
                   f"{base_seconds:g} s tick or candle: only symbols hitting at the same tick count as market-wide")
    if cfg.shock_cooldown_minutes * 60.0 < base_seconds:
        out.append(f"risk.shock_cooldown_minutes: {cfg.shock_cooldown_minutes:g} min is shorter than one "
                   f"{base_seconds:g} s tick or candle: a pause ends before the next one is seen")
    return out


def _floats(values: np.ndarray | None) -> FloatArray | None:
    return None if values is None else np.asarray(values, dtype=np.float64)


class ShockGuard:
    """Detects shocks on many symbols at once and says what to pause and reduce.

    ``symbols`` pre-registers symbols (each gets a stable row); unknown symbols met later are
    added. ``stale_after_seconds`` is how much older than 60 s a move baseline may be (and how
    old a stored mark may be to price a position). Raises ``ValueError`` on inconsistent sizes.
    """

    def __init__(self, cfg: RiskConfig, symbols: Sequence[str] | None = None, *,
                 stale_after_seconds: float = 30.0, history_seconds: float = 120.0,
                 min_tick_seconds: float = 1.0, base_seconds: float = 60.0) -> None:
        if not (math.isfinite(stale_after_seconds) and stale_after_seconds >= 0):
            raise ValueError(f"stale_after_seconds must be >= 0, got {stale_after_seconds!r}")
        if not (math.isfinite(min_tick_seconds) and min_tick_seconds > 0):
            raise ValueError(f"min_tick_seconds must be > 0, got {min_tick_seconds!r}")
        if not (math.isfinite(base_seconds) and base_seconds > 0):
            raise ValueError(f"base_seconds must be > 0, got {base_seconds!r}")
        lookback = max(60.0, base_seconds)
        if not history_seconds >= lookback + stale_after_seconds:
            raise ValueError(f"history_seconds ({history_seconds}) must be >= max(60, base_seconds) + "
                             f"stale_after_seconds ({lookback} + {stale_after_seconds}) so the oldest usable "
                             "baseline is kept")
        self.cfg = cfg
        self.stale_after_seconds = stale_after_seconds
        self.params = DetectorParams.from_config(cfg, stale_after_seconds=stale_after_seconds,
                                                 min_tick_seconds=min_tick_seconds, base_seconds=base_seconds)
        self.capacity = math.ceil(history_seconds / min_tick_seconds) + 1
        self._index: dict[str, int] = {}
        self._symbols: list[str] = []
        self._ring_ts: IntArray = np.full(2 * self.capacity, NO_HIT, dtype=np.int64)  # doubled: see the module doc
        self._ring_px: FloatArray = np.full((0, 2 * self.capacity), np.nan)
        self._head = 0  # next column to write
        self._count = 0  # stored columns, <= capacity
        self._last_tick_us = NO_HIT
        self._last_stored_us = NO_HIT
        self._last_hit: IntArray = np.full((0, 3), NO_HIT, dtype=np.int64)  # per symbol and kind
        self._mw_last_hit = NO_HIT
        self._last_mark: FloatArray = np.full(0, np.nan)
        self._last_mark_us: IntArray = np.full(0, NO_HIT, dtype=np.int64)
        self._thresholds = self.params.thresholds
        # rows of the symbols of a mapping, by its keys in order: a tick's marks name the same symbols each time
        self._rows_by_keys: dict[tuple[str, ...], IntArray] = {}
        self._register(symbols or ())

    # -- symbols -------------------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        """Registered symbols in row order (stable)."""
        return tuple(self._symbols)

    @property
    def stored_ticks(self) -> int:
        """Ticks held in the history ring (never more than ``capacity``)."""
        return self._count

    def _register(self, symbols: Sequence[str]) -> None:
        new = [s for s in dict.fromkeys(symbols) if s not in self._index]
        if not new:
            return
        for s in new:
            if not s or s == MARKETWIDE_SYMBOL:
                raise ValueError(f"invalid symbol {s!r}")
            self._index[s] = len(self._symbols)
            self._symbols.append(s)
        extra = len(new)
        self._ring_px = np.vstack([self._ring_px, np.full((extra, 2 * self.capacity), np.nan)])
        self._last_hit = np.vstack([self._last_hit, np.full((extra, 3), NO_HIT, dtype=np.int64)])
        self._last_mark = np.concatenate([self._last_mark, np.full(extra, np.nan)])
        self._last_mark_us = np.concatenate([self._last_mark_us, np.full(extra, NO_HIT, dtype=np.int64)])

    def _rows(self, keys: tuple[str, ...]) -> IntArray:
        """The rows of ``keys`` (registering new symbols), remembered for the next tick with the same keys."""
        rows = self._rows_by_keys.get(keys)
        if rows is None:
            self._register(keys)
            rows = np.fromiter((self._index[s] for s in keys), dtype=np.int64, count=len(keys))
            if len(self._rows_by_keys) >= 8:  # bounded: a few distinct key sets (marks, references) in practice
                self._rows_by_keys.clear()
            self._rows_by_keys[keys] = rows
        return rows

    def _column(self, values: Mapping[str, float], rows: IntArray) -> FloatArray:
        out = np.full(len(self._symbols), np.nan)
        if values:
            out[rows] = np.array(list(values.values()), dtype=np.float64)  # None becomes NaN
        return out

    # -- detection -----------------------------------------------------------------------------
    def update_mark_prices(self, ts: datetime, marks: Mapping[str, float],
                           reference: Mapping[str, float] | None = None) -> list[ShockDetected]:
        """Feed one tick: ``marks`` (futures mark per symbol) and optional ``reference`` (spot or
        index per symbol, for the basis detector), all at ``ts`` (UTC). Missing, NaN, zero or
        negative prices are skipped. Returns the new events (each also logged).
        Raises ``MarketDataError`` if ``ts`` is earlier than the previous tick.
        """
        now = to_us(ts)
        if not self.cfg.shock_guard_enabled:
            return []
        mark_rows = self._rows(tuple(marks))
        ref_rows = self._rows(tuple(reference)) if reference is not None else None
        cur = self._column(marks, mark_rows)
        ref = self._column(reference, ref_rows) if reference is not None and ref_rows is not None else None
        return self._update(now, ts, cur, ref)

    def update_mark_arrays(self, ts: datetime, marks: FloatArray, reference: FloatArray | None = None, *,
                           high: FloatArray | None = None, low: FloatArray | None = None) -> list[ShockDetected]:
        """Like ``update_mark_prices`` with (S,) arrays aligned to ``symbols`` (NaN = missing); a candle
        feed also passes the candle's ``high`` and ``low`` (the range detector uses them; only the
        mark is stored). Raises ``ValueError`` on a wrong shape, ``MarketDataError`` on a tick earlier
        than the last."""
        now = to_us(ts)
        if not self.cfg.shock_guard_enabled:
            return []
        return self._update(now, ts, np.asarray(marks, dtype=np.float64), _floats(reference), _floats(high),
                            _floats(low))

    def _update(self, now: int, ts: datetime, marks: FloatArray, reference: FloatArray | None,
                high: FloatArray | None = None, low: FloatArray | None = None) -> list[ShockDetected]:
        n_sym = len(self._symbols)
        if any(a is not None and a.shape != (n_sym,) for a in (marks, reference, high, low)):
            raise ValueError(f"mark arrays must have shape ({n_sym},) aligned to ShockGuard.symbols")
        if now < self._last_tick_us:
            raise MarketDataError(f"ShockGuard: tick {ts.isoformat()} is earlier than the previous tick "
                                  f"{from_us(self._last_tick_us).isoformat()}")
        self._last_tick_us = now
        end = self._head + self.capacity  # the stored ticks, oldest first: one view of the doubled ring
        mags = tick_magnitudes(self.params, now, cur=marks, ref=reference,
                               hist_ts=self._ring_ts[end - self._count:end],
                               hist_px=self._ring_px[:, end - self._count:end], high=high, low=low)
        events = self._gate(now, ts, mags)
        good = good_prices(marks)
        self._last_mark[good] = marks[good]
        self._last_mark_us[good] = now
        if now - self._last_stored_us >= self.params.min_tick_us:
            self._ring_ts[[self._head, end]] = now
            self._ring_px[:, [self._head, end]] = np.where(good, marks, np.nan)[:, None]
            self._head = (self._head + 1) % self.capacity
            self._count = min(self._count + 1, self.capacity)
            self._last_stored_us = now
        return events

    def _gate(self, now: int, ts: datetime, mags: FloatArray) -> list[ShockDetected]:
        p = self.params
        hits = reaches(mags, self._thresholds[None, :])
        if not hits.any():  # the usual tick: nothing reaches a threshold
            return []
        new = hits & (now - self._last_hit >= p.cooldown_us)
        self._last_hit[hits] = now
        found: list[tuple[str, int, ShockDetected]] = []
        for s, k in zip(*np.nonzero(new), strict=True):
            sym = self._symbols[s]
            ev = ShockDetected(kind=SYMBOL_KINDS[k], symbol=sym, magnitude=float(mags[s, k]),
                               threshold=float(self._thresholds[k]), ts=ts)
            found.append((sym, int(k), ev))
        events = [e for _, _, e in sorted(found, key=lambda f: f[:2])]
        last_any = self._last_hit.max(axis=1)
        count = int(np.count_nonzero(last_any >= now - p.marketwide_window_us))
        if count >= p.marketwide_count:
            if now - self._mw_last_hit >= p.cooldown_us:
                events.append(ShockDetected(kind="marketwide", symbol=MARKETWIDE_SYMBOL, magnitude=float(count),
                                            threshold=float(p.marketwide_count), ts=ts))
            self._mw_last_hit = now
        until = from_us(now + p.cooldown_us).isoformat()
        for ev in events:
            log.warning("SHOCK_MODE ACTIVATED kind=%s symbol=%s magnitude=%.6g threshold=%.6g cooldown_until=%s",
                        ev.kind, ev.symbol, ev.magnitude, ev.threshold, until)
        return events

    def scan_history(self, ts: np.ndarray, marks: np.ndarray, reference: np.ndarray | None,
                     symbols: Sequence[str], *, high: np.ndarray | None = None,
                     low: np.ndarray | None = None) -> list[ShockDetected]:
        """Events of a whole history at once (backtests), identical to feeding it tick by tick to a
        fresh guard with the same settings. ``ts``: (T,) ``datetime64`` (UTC, non-decreasing);
        ``marks``/``reference``/``high``/``low``: (T x S) float, NaN where missing; ``symbols``: (S,) names.
        Does not change this guard's state and logs nothing. Raises ``ValueError`` on bad shapes,
        ``MarketDataError`` if ``ts`` goes backwards.
        """
        if not np.issubdtype(ts.dtype, np.datetime64):
            raise ValueError(f"ts must be a datetime64 array, got dtype {ts.dtype}")
        ts_us: IntArray = ts.astype("datetime64[us]").astype(np.int64)
        px = np.asarray(marks, dtype=np.float64)
        ref, hi, lo = _floats(reference), _floats(high), _floats(low)
        if px.ndim != 2 or px.shape != (ts_us.shape[0], len(symbols)) or any(
                a is not None and a.shape != px.shape for a in (ref, hi, lo)):
            raise ValueError(f"marks (and reference, high, low) must be (T={ts_us.shape[0]}, S={len(symbols)}), "
                             f"got {px.shape}")
        if ts_us.size and bool((np.diff(ts_us) < 0).any()):
            raise MarketDataError("scan_history: ts must be non-decreasing")
        if not self.cfg.shock_guard_enabled:
            return []
        mags = scan_magnitudes(self.params, ts_us, px, ref, high=hi, low=lo)
        return scan_events(self.params, ts_us, mags, tuple(symbols))

    # -- replay (backtests) -------------------------------------------------------------------------
    def apply_magnitudes(self, ts: datetime, mags: FloatArray) -> list[ShockDetected]:
        """Gate one tick's precomputed magnitudes ((S x 3): move, range, basis, aligned to ``symbols``,
        as ``scan_magnitudes`` computes them) exactly as ``update_mark_prices`` gates its own.

        A backtest computes the magnitudes of a whole history at once and replays only the ticks
        that reach a threshold; pauses, episodes and market-wide counts then match feeding every
        tick. Raises ``ValueError`` on a wrong shape, ``MarketDataError`` on a tick earlier than the last.
        """
        now = to_us(ts)
        if not self.cfg.shock_guard_enabled:
            return []
        values = np.asarray(mags, dtype=np.float64)
        if values.shape != (len(self._symbols), 3):
            raise ValueError(f"magnitudes must have shape ({len(self._symbols)}, 3), got {values.shape}")
        if now < self._last_tick_us:
            raise MarketDataError(f"ShockGuard: tick {ts.isoformat()} is earlier than the previous tick "
                                  f"{from_us(self._last_tick_us).isoformat()}")
        self._last_tick_us = now
        return self._gate(now, ts, values)

    def observe_marks(self, ts: datetime, marks: Mapping[str, float]) -> None:
        """Record the latest good marks (used to price positions in ``evaluate``) without detection."""
        values = self._column(marks, self._rows(tuple(marks)))
        good = good_prices(values)
        self._last_mark[good] = values[good]
        self._last_mark_us[good] = to_us(ts)

    # -- state queries ---------------------------------------------------------------------------
    def _marketwide_active(self, now_us: int) -> bool:
        return self._mw_last_hit != NO_HIT and now_us < self._mw_last_hit + self.params.cooldown_us

    def paused_symbols(self, now: datetime) -> frozenset[str]:
        """Symbols whose entries are paused at ``now``; contains ``'*'`` during a market-wide pause
        (meaning every symbol). A pause lasts until ``shock_cooldown_minutes`` after the last hit."""
        if not self.cfg.shock_guard_enabled:  # nothing is ever paused (asked several times per tick)
            if now.tzinfo is not UTC:  # ``now`` is still checked, as ``to_us`` checks it
                ensure_utc(now)
            return frozenset()
        now_us = to_us(now)
        last_any = self._last_hit.max(axis=1, initial=NO_HIT)
        paused = (last_any != NO_HIT) & (now_us < last_any + self.params.cooldown_us)
        out = {self._symbols[i] for i in np.flatnonzero(paused)}
        if self._marketwide_active(now_us):
            out.add(MARKETWIDE_SYMBOL)
        return frozenset(out)

    def paused_until(self, now: datetime) -> datetime | None:
        """When the last pause in force at ``now`` ends (a symbol's or market-wide); None when none is.

        A new shock can extend it: a driver that sleeps until then must still wake for detections.
        """
        if not self.cfg.shock_guard_enabled:
            return None
        now_us = to_us(now)
        last_any = self._last_hit.max(axis=1, initial=NO_HIT)
        ends = [int(t) + self.params.cooldown_us for t in last_any if t != NO_HIT]
        if self._mw_last_hit != NO_HIT:
            ends.append(int(self._mw_last_hit) + self.params.cooldown_us)
        end = max((e for e in ends if e > now_us), default=None)
        return None if end is None else from_us(end)

    def is_entry_paused(self, symbol: str, now: datetime) -> bool:
        """True if new entries on ``symbol`` are paused at ``now`` (its own shock or market-wide)."""
        paused = self.paused_symbols(now)
        return MARKETWIDE_SYMBOL in paused or symbol in paused

    def active(self, now: datetime) -> bool:
        """True while any pause (a symbol's or market-wide) is in force at ``now``."""
        return bool(self.paused_symbols(now))

    # -- response --------------------------------------------------------------------------------
    def evaluate(self, positions: Sequence[Position], account: AccountState, now: datetime, *,
                 maintenance_margin_rate: Mapping[str, float] | float = DEFAULT_MAINTENANCE_MARGIN_RATE,
                 ) -> ShockPlan:
        """CLOSE / TRIM actions for positions whose symbol is shocked (or all, market-wide) at ``now``.

        Pure: does not change the guard, so calling it twice in a tick gives the same plan; each
        action's ``key`` (symbol, action, tick) lets the executor run it once. Marks come from
        this guard's latest good marks not older than ``stale_after_seconds``, else from
        ``position.mark_price``. ``maintenance_margin_rate`` is per symbol (fraction of notional)
        or one rate for all. Raises ``ValueError`` on a rate outside [0, 1).
        """
        now_us = to_us(now)
        shocked = self.paused_symbols(now)
        if not shocked:
            return ShockPlan(ts=now)
        fresh = (self._last_mark_us != NO_HIT) & (now_us - self._last_mark_us <= self.params.tolerance_us)
        fresh &= self._last_mark_us <= now_us
        rows = {p.symbol: self._index[p.symbol] for p in positions if p.symbol in self._index}
        marks = {sym: float(self._last_mark[i]) for sym, i in rows.items() if fresh[i]}
        return plan_exposure(cfg=self.cfg, positions=positions, account=account, now=now, shocked=shocked,
                             marks=marks, maintenance_margin_rate=maintenance_margin_rate)

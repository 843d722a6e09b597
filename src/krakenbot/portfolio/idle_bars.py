"""Idle signal bars: where the auction's rules say it would keep everything and open nothing.

This is the auction's rules 1 and 2 (``krakenbot.portfolio.auction``) read over a whole history at
once, for a driver that wants to sleep until the auction can act:

- a held position is kept while its newest signal is on its side and not older than
  ``stale_signal_minutes`` (else it closes: reversed or stale);
- a signal on a contract not held on that side is a candidate (it may open, or be rejected, but
  the auction has to look at it).

So a bar is *idle* when every signal it carries is on a contract already held on that side and no
held position's newest signal has grown stale by then; the first bar that is not idle is *busy*.
While the loss limits refuse entries (reduce-only: ``next_busy``'s ``entries_from``), a signal on a
contract not held cannot open either: only the held positions' rules make a bar busy.
Held positions can only change at a busy bar or at some other wake (a stop, a shock, funding), so
the answer stays valid until the next wake. Everything is precomputed once (O(bars x symbols));
each question costs O(symbols), whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

_NEVER = np.iinfo(np.int64).max // 4  # a gap no staleness limit reaches (no same-side signal yet)


def _next_true(mask: np.ndarray) -> np.ndarray:
    """For each index k: the first index >= k where ``mask`` holds, or ``len(mask)``."""
    n = len(mask)
    idx = np.where(mask, np.arange(n, dtype=np.int64), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


class IdleBars:
    """Busy-bar queries over ``sides`` (bars x contracts, int8: +1 long, -1 short, 0 no signal) at
    ``times_ns`` (int64, the bars' close times, increasing), with staleness after ``stale_ns``."""

    def __init__(self, sides: np.ndarray, times_ns: np.ndarray, stale_ns: int) -> None:
        if sides.ndim != 2 or sides.shape[0] != len(times_ns):
            raise ValueError(f"sides must be (bars x contracts) with one row per time, got {sides.shape} "
                             f"for {len(times_ns)} times")
        self.times = np.asarray(times_ns, dtype=np.int64)
        self.stale_ns = int(stale_ns)
        self.bars = len(self.times)
        n = self.bars
        self._next_signal = []  # per column: next bar with any signal (busy when the contract is not held)
        self._next_side: list[dict[int, np.ndarray]] = []  # per column and side: next bar with that side
        self._next_stale: list[dict[int, np.ndarray]] = []  # per column and side: next bar whose gap is stale
        for col in range(sides.shape[1]):
            column = sides[:, col]
            self._next_signal.append(_next_true(column != 0))
            by_side, stale = {}, {}
            for sign in (1, -1):
                same = column == sign
                by_side[sign] = _next_true(same)
                last = np.maximum.accumulate(np.where(same, np.arange(n, dtype=np.int64), -1))
                gap = np.where(last >= 0, self.times - self.times[np.maximum(last, 0)], _NEVER)
                stale[sign] = _next_true(gap > self.stale_ns)
            self._next_side.append(by_side)
            self._next_stale.append(stale)

    def next_busy(self, first: int, held: Mapping[int, int], newest_ns: Mapping[int, int],
                  entries_from: int = 0) -> int:
        """The first busy bar index >= ``first``, or ``bars`` when none is.

        ``held`` maps a column to the side held there (+1 / -1; unheld columns are absent);
        ``newest_ns`` a held column to the time of its newest signal known before ``first``
        (absent when none is known: the position is kept, scored by its entry). ``entries_from``: the
        first bar at which the auction may open anything (the loss limits' reduce-only state refuses
        every entry before it, so a signal on a contract not held is no candidate there; ``bars``: never).
        """
        if first >= self.bars:
            return self.bars
        busy = self.bars
        opens_from = max(first, entries_from)
        for col in range(len(self._next_signal)):
            sign = held.get(col, 0)
            if sign == 0:
                if opens_from < self.bars:
                    busy = min(busy, int(self._next_signal[col][opens_from]))
                continue
            busy = min(busy, int(self._next_side[col][-sign][first]))  # a reversal
            if col in newest_ns:
                busy = min(busy, self._stale_at(col, sign, first, newest_ns[col]))
        return busy

    def _stale_at(self, col: int, sign: int, first: int, newest_ns: int) -> int:
        """First bar >= ``first`` at which the held position's newest same-side signal is stale."""
        aged = max(first, int(np.searchsorted(self.times, newest_ns + self.stale_ns, side="right")))
        refreshed = int(self._next_side[col][sign][first])  # the first same-side signal from here on
        if aged < refreshed:
            return aged  # stale before any newer signal on its side arrives (bars or not: aged may be == bars)
        if aged >= self.bars:
            return self.bars
        return int(self._next_stale[col][sign][aged])

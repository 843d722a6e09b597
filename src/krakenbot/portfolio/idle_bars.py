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
contract not held cannot open either: only the held positions' rules make a bar busy. With the signals'
``scores``, ``max_positions`` held and none of them closing, a signal on a contract not held opens
only by outranking a holding (rule 3): its score must beat the weakest holding's by *more than*
``replace_margin``; a bar where no such signal arrives is idle too. A holding's score is that of the
newest signal on its side (the one it was opened on at the least). Minimum hold and margin are not
looked at: a bar they would keep idle still counts as busy (the auction then decides).
Held positions can only change at a busy bar or at some other wake (a stop, a shock, funding), so
the answer stays valid until the next wake. Everything is precomputed once (O(bars x symbols));
each question costs O(symbols), whatever the length of the history.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

OUTRANK_CHUNK = 64  # bars of the first outranking scan step (each further step is 4 x longer)


def _index_dtype(n: int) -> type[np.signedinteger]:
    """The dtype of bar indexes up to ``n`` (inclusive): int32 while they fit (2**31 - 1 bars, four thousand years of
    one-minute bars), else int64. Half the memory of int64, which a long history touches fresh at every run."""
    return np.int32 if n <= np.iinfo(np.int32).max else np.int64


def _next_hit(hits: np.ndarray, n: int) -> np.ndarray:
    """For each index k < ``n``: the first of ``hits`` (increasing indexes) >= k, or ``n``, as ``_index_dtype(n)``.
    Each hit is repeated over the indexes it answers (those after the previous hit up to itself): one pass over the
    output, with no running minimum over a mask."""
    answers = np.empty(hits.size + 1, dtype=_index_dtype(n))
    answers[:-1], answers[-1] = hits, n
    counts = np.diff(answers, prepend=-1)
    counts[-1] -= 1  # ``n`` answers the indexes after the last hit
    return np.repeat(answers, counts)


def _from_each_hit(hits: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """``values[j]`` (one per hit) repeated from index ``hits[j]`` up to the next hit (or ``n``): what the newest
    hit at or before each index carries, for the indexes from ``hits[0]`` on."""
    return np.repeat(values, np.diff(hits, append=n))


class IdleBars:
    """Busy-bar queries over ``sides`` (bars x contracts, int8: +1 long, -1 short, 0 no signal) at
    ``times_ns`` (int64, the bars' close times, increasing), with staleness after ``stale_ns``."""

    def __init__(self, sides: np.ndarray, times_ns: np.ndarray, stale_ns: int, *, scores: np.ndarray | None = None,
                 max_positions: int | None = None, replace_margin: float = 0.0) -> None:
        if sides.ndim != 2 or sides.shape[0] != len(times_ns):
            raise ValueError(f"sides must be (bars x contracts) with one row per time, got {sides.shape} "
                             f"for {len(times_ns)} times")
        if scores is not None and scores.shape != sides.shape:
            raise ValueError(f"scores must have the shape of sides {sides.shape}, got {scores.shape}")
        # (bars x contracts) float64, NaN where no signal; kept only when the outranking rule can apply: with
        # max_positions and more contracts than slots (else a contract not held leaves a slot free)
        outranks = scores is not None and max_positions is not None and sides.shape[1] > max_positions
        self._scores = np.asarray(scores, dtype=np.float64) if outranks else None
        self.max_positions = max_positions
        self.replace_margin = float(replace_margin)
        self._held_score: list[dict[int, np.ndarray]] = []  # per column and side: newest same-side score so far
        self.times = np.asarray(times_ns, dtype=np.int64)
        self.stale_ns = int(stale_ns)
        self.bars = len(self.times)
        n = self.bars
        # bar indexes as ``_index_dtype(n)``; a contract not held is busy at the first signal on either side
        self._next_side: list[dict[int, np.ndarray]] = []  # per column and side: next bar with that side
        self._next_stale: list[dict[int, np.ndarray]] = []  # per column and side: next bar whose gap is stale
        for col in range(sides.shape[1]):
            column = sides[:, col]
            by_side, stale, held_score = {}, {}, {}
            for sign in (1, -1):
                hits = np.flatnonzero(column == sign)  # the bars with that side
                by_side[sign] = _next_hit(hits, n)
                first = int(hits[0]) if hits.size else n  # bars before it have no same-side signal yet: stale
                aged = np.ones(n, dtype=bool)  # the bars whose newest same-side signal is older than stale_ns
                gap = _from_each_hit(hits, self.times[hits], n)  # the newest same-side signal's time, then the gap
                np.subtract(self.times[first:], gap, out=gap)
                np.greater(gap, self.stale_ns, out=aged[first:])
                stale[sign] = _next_hit(np.flatnonzero(aged), n)
                if self._scores is not None:
                    held_score[sign] = np.full(n, np.nan)
                    held_score[sign][first:] = _from_each_hit(hits, self._scores[hits, col], n)
            self._next_side.append(by_side)
            self._next_stale.append(stale)
            if self._scores is not None:
                self._held_score.append(held_score)

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
        unheld: list[int] = []
        for col in range(len(self._next_side)):
            sign = held.get(col, 0)
            if sign == 0:
                unheld.append(col)
                continue
            busy = min(busy, self._next_side[col][-sign].item(first))  # a reversal
            if col in newest_ns:
                busy = min(busy, self._stale_at(col, sign, first, newest_ns[col]))
        opens_from = max(first, entries_from)
        if opens_from >= busy or not unheld:
            return busy
        if self._scores is None or self.max_positions is None or len(held) < self.max_positions:
            return min(busy, *(self._next_signal(col, opens_from) for col in unheld))
        return self._next_outranking(opens_from, busy, held, unheld)  # the slots stay full until ``busy``

    def _next_outranking(self, start: int, limit: int, held: Mapping[int, int], unheld: list[int]) -> int:
        """First bar in [``start``, ``limit``) where a signal on an unheld contract beats the weakest holding's
        score by more than the margin, else ``limit``; scanned in chunks (a busy bar is usually near)."""
        assert self._scores is not None
        columns = np.asarray(unheld, dtype=np.int64)
        lo, step = start, OUTRANK_CHUNK
        while lo < limit:
            hi = min(lo + step, limit)
            weakest = np.min([self._held_score[col][sign][lo:hi] for col, sign in held.items()], axis=0)
            # no score known for a holding (never expected): any signal may outrank it
            bar = np.where(np.isnan(weakest), -np.inf, weakest + self.replace_margin)
            with np.errstate(invalid="ignore"):
                beats = (self._scores[lo:hi][:, columns] > bar[:, None]).any(axis=1)  # NaN: no signal there
            if beats.any():
                return lo + int(np.argmax(beats))
            lo, step = hi, step * 4
        return limit

    def _next_signal(self, col: int, first: int) -> int:
        """The first bar >= ``first`` with a signal on either side on column ``col`` (``bars`` when none is)."""
        by_side = self._next_side[col]
        signal: int = min(by_side[1].item(first), by_side[-1].item(first))
        return signal

    def _stale_at(self, col: int, sign: int, first: int, newest_ns: int) -> int:
        """First bar >= ``first`` at which the held position's newest same-side signal is stale."""
        refreshed = self._next_side[col][sign].item(first)  # the first same-side signal from here on
        if refreshed == first:  # bar ``first`` is one, newer than ``newest_ns``: the bars' own gaps decide
            aged = first
        else:
            aged = max(first, int(self.times.searchsorted(newest_ns + self.stale_ns, side="right")))
            if aged < refreshed:
                return aged  # stale before any newer signal on its side arrives (bars or not: aged may be == bars)
            if aged >= self.bars:
                return self.bars
        stale: int = self._next_stale[col][sign].item(aged)  # the first bar from ``aged`` on whose gap is stale
        return stale

"""Recorded futures series beside the spot candles: mark candles and hourly funding per contract.

``RecordedFutures`` is aligned to a :class:`~krakenbot.backtest.market_data.MarketData` grid (T rows x
S symbols, the spot pairs' columns). Mark arrays are NaN (and ``present`` False) where the column has no
mark file or its file has no candle at that row; a mark candle at a time the spot grid lacks is dropped.
Funding is kept whole per column (it is looked up by time, not by row): ``funding_ts`` int64 ns of the
start of the hour each rate applies to, ``funding_rate`` the fraction of notional per hour (Kraken's
``relativeFundingRate``; > 0: longs pay). ``mark_files`` / ``funding_files`` name the file stems
('PF_XBTUSD-mark-1m'), None where nothing was recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from krakenbot.domain.timeconv import from_ns

HOUR_NS = 3_600 * 1_000_000_000
MARK_FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordedFutures:
    """Recorded mark candles (T x S) and funding series (per column) of a MarketData (see module)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    present: np.ndarray
    mark_files: tuple[str | None, ...]
    funding_ts: tuple[np.ndarray | None, ...]
    funding_rate: tuple[np.ndarray | None, ...]
    funding_files: tuple[str | None, ...]

    def __post_init__(self) -> None:
        n_sym = len(self.mark_files)
        for name in (*MARK_FIELDS, "present"):
            if getattr(self, name).shape[1:] != (n_sym,):
                raise ValueError(f"RecordedFutures.{name} must have {n_sym} columns")
        if not len(self.funding_ts) == len(self.funding_rate) == len(self.funding_files) == n_sym:
            raise ValueError(f"RecordedFutures: funding series must have {n_sym} columns")

    @property
    def has_mark(self) -> np.ndarray:
        """(S,) bool: the column's marks come from a recorded mark file."""
        return np.array([f is not None for f in self.mark_files], dtype=bool)

    def rows(self, selector: Any) -> RecordedFutures:
        """The same series on a subset of the grid's rows (a slice or a boolean mask)."""
        return replace(self, **{f: getattr(self, f)[selector] for f in (*MARK_FIELDS, "present")})

    def columns(self, cols: list[int]) -> RecordedFutures:
        """The same series for the columns ``cols``, in that order."""
        return replace(self, **{f: getattr(self, f)[:, cols] for f in (*MARK_FIELDS, "present")},
                       mark_files=tuple(self.mark_files[c] for c in cols),
                       funding_ts=tuple(self.funding_ts[c] for c in cols),
                       funding_rate=tuple(self.funding_rate[c] for c in cols),
                       funding_files=tuple(self.funding_files[c] for c in cols))

    def mark_source(self, present: np.ndarray,
                    fields: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``present`` and the price ``fields`` (T x S, spot candles) with every column that has a mark
        file replaced by its recorded marks: what positions are marked at."""
        use = self.has_mark[None, :]
        return (np.where(use, self.present, present),
                {name: np.where(use, getattr(self, name), array) for name, array in fields.items()})

    def funding_at(self, col: int, now_ns: int) -> float | None:
        """Recorded rate (fraction/hour) of the hour containing ``now_ns`` (an hour's end belongs to it, so
        the settlement at H charges the rate of [H-1h, H)); 0.0 for an hour missing inside the record (no
        settlement recorded); None outside the record or without a funding file (the rate is assumed)."""
        ts, rate = self.funding_ts[col], self.funding_rate[col]
        if ts is None or rate is None or not len(ts):
            return None
        i = int(np.searchsorted(ts, now_ns, side="left")) - 1
        if i < 0 or now_ns > int(ts[-1]) + HOUR_NS:
            return None
        return float(rate[i]) if now_ns - int(ts[i]) <= HOUR_NS else 0.0


def _joined(groups: dict[str, list[str]]) -> str:
    """'recorded: a, b; assumed: spot close (PF_ETHUSD)': each label once, the contracts named only when mixed."""
    if len(groups) <= 1:
        return next(iter(groups), "none")
    return "; ".join(f"{label} ({', '.join(names)})" for label, names in groups.items())


def series_sources(futures: RecordedFutures | None, contracts: tuple[str, ...], *, start_ns: int, end_ns: int,
                   assumed_funding: float) -> dict[str, str]:
    """Which series a backtest over [start_ns, end_ns] recorded and which it assumed, per kind ('mark',
    'index', 'funding'), aggregated over ``contracts`` (one per column of ``futures``), e.g.
    {'mark': 'recorded: PF_XBTUSD-mark-1m', 'index': 'recorded: spot close', 'funding': 'assumed: 1.25e-05/h'}."""
    mark: dict[str, list[str]] = {}
    index: dict[str, list[str]] = {}
    funding: dict[str, list[str]] = {}
    for col, contract in enumerate(contracts):
        mark_file = None if futures is None else futures.mark_files[col]
        mark.setdefault("assumed: spot close" if mark_file is None else f"recorded: {mark_file}", []).append(contract)
        index.setdefault("assumed: = mark (no basis)" if mark_file is None else "recorded: spot close",
                         []).append(contract)
        ts = None if futures is None else futures.funding_ts[col]
        if futures is None or ts is None or futures.funding_files[col] is None:
            label = f"assumed: {assumed_funding:g}/h"
        else:
            label = f"recorded: {futures.funding_files[col]}"
            first, last = int(ts[0]), int(ts[-1]) + HOUR_NS
            if start_ns < first or end_ns > last:
                label += (f" (assumed {assumed_funding:g}/h outside {from_ns(first):%Y-%m-%dT%H:%MZ}"
                          f"..{from_ns(last):%Y-%m-%dT%H:%MZ})")
        funding.setdefault(label, []).append(contract)
    return {"mark": _joined(mark), "index": _joined(index), "funding": _joined(funding)}

"""Kraken spot's public trades for the loopback server, derived from the candles it serves.

Kraken (docs.kraken.com, "Get Recent Trades" and the historical-data guide): ``GET /0/public/Trades?pair=
&since=&count=`` answers at most 1,000 trades, oldest first, as ``result: {PAIRID: [[price, volume, time,
side, type, misc, trade_id], ...], last: "<ns>"}``: ``time`` in seconds with four decimals, ``side`` ``b``/``s``,
``type`` ``l``/``m``; ``last`` (a nanosecond timestamp, sent as a string) is the ``since`` of the next page.
``since`` may be given in seconds or nanoseconds. Here the trades *after* ``since`` are answered (exclusive),
and none later than the server's now.

Derivation (deterministic, a pure function of the candle): each candle of the pair's finest served series
(its finest recorded resolution, else the synthetic 1-minute series) becomes 1 to 4 trades inside its
interval: open first, then low and high (high first on a falling candle), close last, consecutive equal
prices merged. Rebuilding candles of that resolution from the trades gives the OHLC endpoint's candles:
prices exactly (each price is the candle's own float, sent in its shortest repr), volume exactly in decimal
(the trade volumes are decimal strings that sum exactly to the candle's volume; a float sum of them matches
to float precision, 1e-15 relative). Intervals without a candle have no trades (Kraken omits empty minutes).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from krakenbot.testing.fake_kraken_market import Bar, CandleStore, _unit, decimal_str

TRADES_CAP = 1000  # Kraken answers at most 1,000 trades per call
_NS = 10**9
_TICK_NS = 100_000  # Kraken's trade times have four decimals: 0.1 ms
_SECONDS_BELOW = 10**12  # a since below this is in seconds, else in nanoseconds


def since_ns(raw: str | None) -> int:
    """Kraken's ``since`` (seconds or nanoseconds, possibly fractional seconds) as nanoseconds; 0 when absent."""
    if not raw:
        return 0
    value = Decimal(raw)
    return int(value * _NS) if value < _SECONDS_BELOW else int(value)


def _volume_parts(volume: float, k: int) -> list[str]:
    """``volume`` split in ``k`` positive decimal strings whose exact decimal sum is ``volume``'s repr."""
    total = Decimal(repr(float(volume)))
    if total <= 0:
        return [decimal_str(0.0)] * k
    places = max(0, -int(total.as_tuple().exponent))
    units = int(total.scaleb(places))
    while units < k:  # more decimals until every trade gets a share (exact all the same)
        places += 1
        units = int(total.scaleb(places))
    base, extra = divmod(units, k)
    shares = [base + (1 if i < extra else 0) for i in range(k)]
    return [format(Decimal(share).scaleb(-places), "f") for share in shares]


def bar_trades(bar: Bar, step_s: int, seed: str) -> list[list[Any]]:
    """The trades of one candle, in Kraken's row shape plus the time in ns first:
    ``[time_ns, price, volume, time, side, type, misc, trade_id]``."""
    prices = [bar.open, bar.low, bar.high, bar.close] if bar.close >= bar.open else [
        bar.open, bar.high, bar.low, bar.close]
    merged: list[float] = []
    for price in prices:
        if not merged or merged[-1] != price:
            merged.append(price)
    k = len(merged)
    volumes = _volume_parts(bar.volume, k)
    jitter = int(_unit(seed, bar.ts_s) * 5000)  # < 0.5 s: times look like Kraken's, order kept
    rows: list[list[Any]] = []
    previous = bar.open
    for i, (price, volume) in enumerate(zip(merged, volumes, strict=True)):
        ticks = (i + 1) * step_s * 10_000 // (k + 1) - jitter  # in 0.1 ms after the candle's open
        time_ns = bar.ts_s * _NS + ticks * _TICK_NS
        seconds = float(Decimal(bar.ts_s) + Decimal(ticks).scaleb(-4))  # four decimals, as Kraken sends it
        side = "s" if price < previous else "b"
        previous = price
        rows.append([time_ns, decimal_str(price), volume, seconds, side, "l" if (bar.ts_s // step_s + i) % 3 else "m",
                     "", bar.ts_s // 60 * 10 + i])
    return rows


class TradeTape:
    """The public trades of every spot pair, derived from ``candles`` (see the module docstring)."""

    def __init__(self, candles: CandleStore) -> None:
        self._candles = candles
        self._times: dict[int, tuple[list[Bar], list[int]]] = {}  # id(recorded series) -> (series, open times)

    def _open_times(self, recorded: list[Bar]) -> list[int]:
        cached = self._times.get(id(recorded))
        if cached is None or cached[0] is not recorded:
            cached = (recorded, [b.ts_s for b in recorded])
            self._times[id(recorded)] = cached
        return cached[1]

    def _bars_from(self, names: list[str], anchor: float, start_ns: int, now_s: int) -> Iterator[tuple[Bar, int]]:
        """(bar, step seconds) of the finest series, from the one holding ``start_ns`` up to ``now_s``."""
        minutes, recorded = self._candles.finest(names)
        step = minutes * 60
        if recorded is not None:
            index = max(0, bisect_right(self._open_times(recorded), start_ns // _NS) - 1)
            for position in range(index, len(recorded)):  # no slice: a year of minutes is not copied per page
                bar = recorded[position]
                if bar.ts_s > now_s:
                    return
                yield bar, step
            return
        ts = start_ns // _NS // step * step
        while ts <= now_s:
            chunk = self._candles.bars(names, minutes, anchor, ts, min(now_s, ts + 199 * step))
            yield from ((bar, step) for bar in chunk)
            ts += 200 * step

    def page(self, names: list[str], anchor: float, since: int, now_ns: int,
             count: int = TRADES_CAP) -> tuple[list[list[Any]], int]:
        """Up to ``count`` trades after ``since`` (ns) and at or before ``now_ns``, in Kraken's rows
        ``[price, volume, time, side, type, misc, trade_id]``, and the ``last`` cursor (ns)."""
        count = max(1, min(count, TRADES_CAP))
        seed = f"{self._candles.seed}:{names[0]}:trades"
        rows: list[list[Any]] = []
        for bar, step in self._bars_from(names, anchor, since, now_ns // _NS):
            for trade in bar_trades(bar, step, seed):
                if trade[0] <= since:
                    continue
                if trade[0] > now_ns or len(rows) >= count:
                    return _finish(rows, since)
                rows.append(trade)
        return _finish(rows, since)


def _finish(rows: list[list[Any]], since: int) -> tuple[list[list[Any]], int]:
    last = rows[-1][0] if rows else since
    return [row[1:] for row in rows], last

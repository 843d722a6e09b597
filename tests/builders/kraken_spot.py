"""An in-memory Kraken spot market that plays Kraken's public rules (a plain class, not a mock).

- OHLC: only the newest ``reach`` (720) candles are reachable, the forming one included, whatever
  ``since`` says; empty minutes are absent;
- Trades: pages of at most ``page_size`` (1,000) trades after Kraken's cursor ``since`` (ns, exclusive),
  each with ``last`` = the newest trade's time; a page after the newest trade is empty with
  ``last = since``. ``inclusive=True`` plays a source that re-serves the trades at the cursor (to test
  that a re-served boundary is not counted twice).

The trades are derived from the candles so that rebuilding them gives exactly those candles: per candle
four trades, open at the open time (carrying the whole volume), high, low and close at a quarter, half
and three quarters of the timeframe (volume 0), so sums are exact.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from krakenbot.domain.clock import floor_time
from krakenbot.domain.market import Candle, TradePage
from krakenbot.domain.timeconv import to_ns

Trade = tuple[int, float, float]


def trades_of(candles: Sequence[Candle], step: timedelta) -> list[Trade]:
    """Trades whose rebuild is exactly ``candles`` (see the module docstring), oldest first."""
    q = step // timedelta(microseconds=1) * 1000  # step in ns
    rows: list[Trade] = []
    for c in sorted(candles, key=lambda c: c.ts):
        t = to_ns(c.ts)
        rows += [(t, c.open, c.volume), (t + q // 4, c.high, 0.0), (t + q // 2, c.low, 0.0),
                 (t + 3 * q // 4, c.close, 0.0)]
    return rows


@dataclass
class KrakenSpot:
    """Serves ``candles`` (one timeframe, ``step``) per pair by Kraken's rules at ``clock()``."""

    candles: dict[str, list[Candle]]
    step: timedelta
    clock: Callable[[], datetime]
    reach: int = 720
    page_size: int = 1000
    inclusive: bool = False
    trades_error: Exception | None = None  # raised by every trades request while set
    ohlc_error: Exception | None = None  # raised by every OHLC request while set
    ohlc_calls: list[tuple[str, datetime]] = field(default_factory=list)
    trade_calls: list[tuple[str, int]] = field(default_factory=list)
    _trades: dict[str, list[Trade]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._trades = {pair: trades_of(rows, self.step) for pair, rows in self.candles.items()}

    def fetch_spot_ohlcv(self, pair: str, timeframe: str, since: datetime, until: datetime | None = None
                         ) -> list[Candle]:
        self.ohlc_calls.append((pair, since))
        if self.ohlc_error is not None:
            raise self.ohlc_error
        now = self.clock()
        oldest = floor_time(now, self.step) - self.step * (self.reach - 1)
        return [c for c in self.candles.get(pair, []) if c.ts >= max(since, oldest) and c.ts <= now
                and (until is None or c.ts <= until)]

    def fetch_futures_ohlcv(self, symbol: str, timeframe: str, since: datetime, until: datetime | None = None,
                            price: str = "trade") -> list[Candle]:
        return []

    def fetch_spot_trades(self, pair: str, since: int) -> TradePage:
        self.trade_calls.append((pair, since))
        if self.trades_error is not None:
            raise self.trades_error
        rows = self._trades.get(pair, [])
        now_ns = to_ns(self.clock())
        times = [r[0] for r in rows]
        first = bisect_left(times, since) if self.inclusive else bisect_right(times, since)
        stop = bisect_right(times, now_ns)
        page = tuple(rows[first:min(stop, first + self.page_size)])
        return TradePage(rows=page, last=page[-1][0] if page else since)

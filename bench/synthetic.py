"""SYNTHETIC market data for the benchmarks: seeded random walks of one-minute candles.

Nothing here is market data. Each symbol ``SYNnn/USD`` is a geometric random walk of closes
(log-returns ~ Normal(0, ``sigma_per_minute``), 0.1 % per minute by default, about 3.8 % a day,
a crypto-like volatility), rounded to a 0.01 USD tick, starting at 100 USD. Every candle is
present (no gaps) and:

* ``open[t] = close[t - 1]`` exactly (``open[0]`` is the start price). So a peer's fill "at
  the next bar's open" happens at the very price of the signal bar's close, which is where
  Krakenbot fills (its loop acts on a closed candle at that candle's close, the latest mark).
  The three engines in the comparison therefore trade at identical prices.
* ``high``/``low`` extend the open-close range by a half-normal amount, rounded outward to the tick;
* ``volume`` is log-normal, in base units, and plays no part in any strategy here.

Prices sit on the 0.01 tick, which is also the tick Krakenbot's synthetic PF_ contract takes
for a first price between 100 and 999.99 USD (``backtest.instruments.synthetic_perpetual``), so
no fill price is rounded. The same seed gives the same data on every machine (numpy's PCG64).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from krakenbot.backtest.market_data import NS_PER_MINUTE, MarketData
from krakenbot.domain.timeconv import to_ns

TICK_USD = 0.01
START_PRICE_USD = 100.0
SIGMA_PER_MINUTE = 0.001
TS_START = datetime(2024, 1, 1, tzinfo=UTC)
_CHUNK_ROWS = 262_144  # rows generated at once: bounds the temporary arrays for 50 x 525,600


def synthetic_symbols(count: int) -> tuple[str, ...]:
    """``count`` SYNTHETIC spot pairs: 'SYN00/USD', 'SYN01/USD', ..."""
    if count < 1:
        raise ValueError(f"need at least one symbol, got {count}")
    return tuple(f"SYN{i:02d}/USD" for i in range(count))


def _to_tick(values: np.ndarray, rounding: str = "nearest") -> np.ndarray:
    scaled = values / TICK_USD
    ticks = np.floor(scaled) if rounding == "down" else np.ceil(scaled) if rounding == "up" else np.rint(scaled)
    # Division by 100 (not multiplication by 0.01) gives each price its shortest decimal repr.
    return np.maximum(ticks, 1.0) / round(1 / TICK_USD)


def random_walk_market(symbols: int, candles: int, *, seed: int = 20240101,
                       sigma_per_minute: float = SIGMA_PER_MINUTE) -> MarketData:
    """SYNTHETIC one-minute candles: ``symbols`` random walks of ``candles`` candles each, as ``MarketData``.

    Deterministic for a given ``seed``; see the module docstring for the construction. Raises
    ``ValueError`` for fewer than one symbol or candle, or a non-positive ``sigma_per_minute``.
    """
    if candles < 1:
        raise ValueError(f"need at least one candle, got {candles}")
    if not sigma_per_minute > 0:
        raise ValueError(f"sigma_per_minute must be > 0, got {sigma_per_minute}")
    names = synthetic_symbols(symbols)
    rng = np.random.default_rng(seed)
    shape = (candles, symbols)
    close = np.empty(shape)
    high = np.empty(shape)
    low = np.empty(shape)
    volume = np.empty(shape)
    level = np.full(symbols, np.log(START_PRICE_USD))
    for start in range(0, candles, _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, candles)
        steps = rng.normal(0.0, sigma_per_minute, (stop - start, symbols))
        path = level + np.cumsum(steps, axis=0)
        level = path[-1]
        close[start:stop] = _to_tick(np.exp(path))
        wick = np.abs(rng.normal(0.0, sigma_per_minute / 2, (stop - start, 2, symbols)))
        high[start:stop] = wick[:, 0]  # filled in below, once the opens are known
        low[start:stop] = wick[:, 1]
        volume[start:stop] = rng.lognormal(3.0, 1.0, (stop - start, symbols))
    opens = np.empty(shape)
    opens[0] = START_PRICE_USD
    opens[1:] = close[:-1]
    high = _to_tick(np.maximum(opens, close) * (1 + high), "up")
    low = _to_tick(np.minimum(opens, close) * (1 - low), "down")
    ts = TS_START_NS + np.arange(candles, dtype=np.int64) * NS_PER_MINUTE
    present = np.ones(shape, dtype=bool)
    return MarketData(symbols=names, base_timeframe="1m", ts=ts, open=opens, high=high, low=low, close=close,
                      volume=volume, present=present, complete=present.copy())


TS_START_NS = to_ns(TS_START)


def describe(data: MarketData) -> str:
    """One line saying what the SYNTHETIC data is, for tables and logs."""
    return (f"SYNTHETIC seeded random walk: {len(data.symbols)} symbol(s) x {len(data.ts):,} one-minute candles, "
            f"sigma {SIGMA_PER_MINUTE:.2%}/min, tick {TICK_USD} USD, open = previous close")

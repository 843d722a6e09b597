"""The realistic case beside vectorbt: the default TrendStrategy's own signal arrays, simulated by vectorbt.

Krakenbot runs the case as ``bench.krakenbot_side scale`` does: the shipped defaults, the default
``TrendStrategy`` on 1h signal candles over S SYNTHETIC symbols x N one-minute candles, with its
auction, RiskManager, stops, ShockGuard, funding and paper exchange.

vectorbt gets the strategy's own precomputed signals, computed as Krakenbot's backtest computes
them (``backtest/feeds.py``, ``PrecomputedSignals``): the 1m candles resampled to the strategy's
timeframe (``MarketData.resample``), ``strategy.compute`` per symbol (side, score, stop distance),
and at each one-minute candle's close the signal of the newest closed signal bar, valid once the
strategy's warm-up is over and the score and stop are finite with the stop inside (0, 1)
(``PrecomputedSignals.sides_at``'s rule). vectorbt then holds each symbol on its signal's side
(flat when there is none), the same fills and costs as Krakenbot's:

* fills: a change of side known at a candle's close fills at the next candle's open (= that close on
  this data, where Krakenbot fills); one settlement bar at the last close closes out at the end;
* fees: ``fees.taker_fee_pct`` of notional per fill, plus ``fees.slippage_pct`` as price slippage;
* size at entry: the RiskManager's first rule, ``equity x risk_per_trade_pct / stop distance``,
  capped by ``max_position_notional_usd`` and ``max_leverage x equity``, at the configured starting
  equity (vectorbt's target amounts do not follow equity), not rounded to a lot; cash unbounded
  (vectorbt's margin is not Krakenbot's), PnL = final value - starting value.

So the trades and PnL differ by design, and the comparison is of throughput first. Where they
differ: Krakenbot holds at most ``risk.max_positions`` (5) positions picked by score in its auction
(vectorbt holds every signalling symbol), sizes from the current equity and caps total exposure and
margin, keeps a position until the signal reverses or goes stale (``auction.stale_signal_minutes``),
exits at protective stops, pauses entries after shocks (ShockGuard), and pays funding. The JSON
reports both engines' trades and PnL side by side.

Timed (vectorbt): the resampling, ``strategy.compute``, the per-minute arrays and
``Portfolio.from_orders`` with its final value; ``seconds_simulation_only`` is ``from_orders`` alone.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from bench.krakenbot_side import peak_rss_mb, reset_peak_rss, scale_config
from bench.synthetic import describe, random_walk_market
from krakenbot.backtest.market_data import MarketData, timeframe_ns
from krakenbot.config.models import AppConfig
from krakenbot.domain.timeconv import duration_ns
from krakenbot.strategy.base import CandleArrays
from krakenbot.strategy.loader import load_strategy


def strategy_signal_arrays(cfg: AppConfig, data: MarketData) -> tuple[np.ndarray, np.ndarray]:
    """(T x S) side (int8: +1, -1, 0) and stop distance (NaN where no signal) known at each 1m candle's close."""
    strategy = load_strategy(cfg.strategy)
    signal_data = data.resample(cfg.strategy.timeframe)
    now_ns = data.ts + timeframe_ns(data.base_timeframe)
    bar_ns = duration_ns(strategy.bar_duration)
    side = np.zeros(data.close.shape, dtype=np.int8)
    stop = np.full(data.close.shape, np.nan)
    for symbol in signal_data.symbols:
        arrays = CandleArrays.from_frame(symbol, signal_data.frame(symbol))
        if not len(arrays):
            continue
        computed = strategy.compute(arrays)
        last = np.searchsorted(arrays.ts.astype(np.int64), now_ns - bar_ns, side="right") - 1
        idx = np.maximum(last, 0)
        s = computed.stop_distance_pct[idx]
        with np.errstate(invalid="ignore"):
            valid = ((last + 1 >= strategy.warmup_bars) & np.isfinite(computed.score[idx]) & np.isfinite(s)
                     & (s > 0) & (s < 1))
        col = data.column(symbol)
        side[:, col] = np.where(valid, np.sign(computed.side[idx]), 0)
        stop[:, col] = np.where(valid, s, np.nan)
    return side, stop


def target_amounts(cfg: AppConfig, close: np.ndarray, side: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """(T + 1 x S) target positions in units (NaN: no order): a change of side at row t sets row t + 1;
    the appended settlement row targets 0."""
    equity = cfg.backtest.initial_equity_usd
    r = cfg.risk
    previous = np.vstack([np.zeros((1, side.shape[1]), dtype=np.int8), side[:-1]])
    changed = side != previous
    with np.errstate(invalid="ignore", divide="ignore"):
        notional = np.minimum(np.minimum(equity * r.risk_per_trade_pct / stop, r.max_position_notional_usd),
                              r.max_leverage * equity)
        units = np.where(side != 0, side * notional / close, 0.0)
    target = np.full((close.shape[0] + 1, close.shape[1]), np.nan)
    rows, cols = np.nonzero(changed)
    target[rows + 1, cols] = units[rows, cols]
    target[-1] = 0.0
    return target


def vectorbt_realistic(cfg: AppConfig, data: MarketData) -> dict[str, Any]:
    """vectorbt on the strategy's signal arrays; figures (timed as the module docstring says)."""
    import vectorbt as vbt

    cash = 1e12  # unbounded: vectorbt's cash is not Krakenbot's margin; PnL = final value - this
    last = data.close[-1:]
    close = np.vstack([data.close, last])
    price = np.vstack([data.open, last])
    fees = cfg.fees
    # numba compiles on the first call (per array layout): a small warm-up on arrays like the real ones, timed apart
    started = time.perf_counter()
    warm_close = np.ascontiguousarray(close[:101, :2])
    warm_side = np.ones((100, warm_close.shape[1]), dtype=np.int8)
    warm_target = target_amounts(cfg, np.ascontiguousarray(data.close[:100, :2]), warm_side,
                                 np.full(warm_side.shape, 0.02))
    vbt.Portfolio.from_orders(close=warm_close, size=warm_target, size_type="targetamount",
                              price=np.ascontiguousarray(price[:101, :2]), fees=fees.taker_fee_pct,
                              slippage=fees.slippage_pct, init_cash=cash, cash_sharing=True, group_by=True,
                              direction="both", freq="1min").final_value()
    first = time.perf_counter() - started
    gc.collect()
    reset_ok = reset_peak_rss()
    cpu_started = time.process_time()
    started = time.perf_counter()
    side, stop = strategy_signal_arrays(cfg, data)
    target = target_amounts(cfg, data.close, side, stop)
    signals_s = time.perf_counter() - started
    portfolio = vbt.Portfolio.from_orders(close=close, size=target, size_type="targetamount", price=price,
                                          fees=fees.taker_fee_pct, slippage=fees.slippage_pct, init_cash=cash,
                                          cash_sharing=True, group_by=True, direction="both", freq="1min")
    final_value = float(np.asarray(portfolio.final_value()).sum())
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = peak_rss_mb()
    candles = int(data.present.sum())
    trades = int(portfolio.trades.count().sum()) if hasattr(portfolio.trades.count(), "sum") else \
        int(portfolio.trades.count())
    return {"engine": "vectorbt", "case": f"{len(data.symbols)} x {len(data.ts):,} 1m (synthetic)",
            "candles": candles, "seconds": round(seconds, 4), "cpu_seconds": round(cpu_seconds, 4),
            "candles_per_s": round(candles / seconds), "seconds_signals": round(signals_s, 4),
            "seconds_simulation_only": round(seconds - signals_s, 4),
            "seconds_first_call_incl_jit": round(first, 3), "trades": trades,
            "net_pnl_usd": round(final_value - cash, 2), "entries": int(np.count_nonzero(np.diff(
                np.vstack([np.zeros((1, side.shape[1]), dtype=np.int8), side]), axis=0) & (side != 0))),
            "peak_rss_mb": None if peak is None else round(peak, 1), "peak_reset_after_data": reset_ok,
            "note": "the default TrendStrategy's signal arrays (Krakenbot's precomputation) held per symbol, "
                    "next-open fills, taker fee + slippage of the config, size at the starting equity; see "
                    "bench/realistic.py for what differs from Krakenbot"}


def vectorbt_realistic_case(symbols: int, candles: int, seed: int) -> dict[str, Any]:
    """The realistic case's vectorbt side on ``symbols`` x ``candles`` SYNTHETIC minutes (fresh-process entry)."""
    data = random_walk_market(symbols, candles, seed=seed)
    out = vectorbt_realistic(scale_config(data), data)
    out["data"] = describe(data)
    return out

"""The same EMA(20)/EMA(50) always-in-the-market strategy in backtesting.py and vectorbt.

What the three engines share, so that differences come from the engines only:

* data: the SYNTHETIC one-minute candles of ``bench.synthetic`` (open = previous close);
* signal: long when EMA(close, 20) > EMA(close, 50), short otherwise, from the first bar on
  which both EMAs exist. All three use Krakenbot's finite-memory ``ema`` (a 231-bar window for
  span 50): pandas' recursive EMA differs from it by up to 1e-4 of the price range in the dropped
  tail, enough to flip a near-tie cross now and then; the same indicator isolates the engines;
* fills: at the next bar's open (backtesting.py's default, vectorbt with ``price=open`` on the
  following bar); with open = previous close that is the signal bar's close, where Krakenbot fills;
* size: a fixed notional per entry, ``floor(notional / signal close / lot) x lot`` units, the
  RiskManager's arithmetic (``units_for``) when ``max_position_notional_usd`` binds;
* fee: taker 0.0005 of traded notional on every fill, no slippage, no funding, no spread;
* end: every engine ends flat at the last close.

The end needs care. Krakenbot acts on the last candle's signal at its close and then closes
what is open at that same close. A next-open engine cannot act on a bar that has no successor,
so the peers get two flat SETTLEMENT bars appended (open = high = low = close = last close): the
first fills the last candle's signal, the second closes out (vectorbt: an order to target 0;
backtesting.py: ``finalize_trades=True``). The peers ignore any signal of the settlement bars.
They are not counted as candles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import numpy as np
import pandas as pd

from krakenbot.strategy.indicators import ema

FAST_SPAN = 20
SLOW_SPAN = 50
SETTLEMENT_BARS = 2


def cross_side(close: np.ndarray, fast_span: int = FAST_SPAN, slow_span: int = SLOW_SPAN) -> np.ndarray:
    """+1 where EMA(fast) > EMA(slow), -1 where not, 0 while either EMA is still warming up (int8)."""
    fast, slow = ema(close, fast_span), ema(close, slow_span)
    valid = np.isfinite(fast) & np.isfinite(slow)
    return np.where(valid, np.where(fast > slow, 1, -1), 0).astype(np.int8)


def units_for(notional_usd: float, price: float, lot: Decimal) -> Decimal:
    """Units worth ``notional_usd`` at ``price``, rounded down to ``lot`` (exact, as Krakenbot's RiskManager)."""
    units = Decimal(notional_usd) / Decimal(repr(float(price)))
    return (units / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def with_settlement_bars(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (Open, High, Low, Close, Volume; minute index) plus ``SETTLEMENT_BARS`` flat bars at the last close."""
    last = float(frame["Close"].iloc[-1])
    index = frame.index[-1] + pd.to_timedelta(np.arange(1, SETTLEMENT_BARS + 1), unit="min")
    extra = pd.DataFrame({"Open": last, "High": last, "Low": last, "Close": last, "Volume": 0.0}, index=index)
    return pd.concat([frame, extra])


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerRun:
    """One engine's result: seconds of the timed run, closed trades, net PnL (USD, after fees)."""

    engine: str
    seconds: float
    trades: int
    net_pnl_usd: float
    fees_usd: float
    trade_table: pd.DataFrame  # columns: entry_price, exit_price, size (signed units), pnl_usd
    note: str = ""
    seconds_first_call: float | None = None
    wakes: int | None = None  # times the engine ran its per-step code (None: vectorised, no steps)
    cpu_seconds: float | None = None  # this process's CPU time over the timed run
    seconds_simulation_only: float | None = None  # vectorbt: Portfolio.from_orders alone
    seconds_data_prep: float | None = None  # untimed preparation of the engine's inputs (NautilusTrader's Bars)
    peak_rss_mb: float | None = None  # the engine's own process at its peak during the timed run

    def summary(self, candles: int) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": self.engine, "seconds": round(self.seconds, 4),
                               "candles_per_s": round(candles / self.seconds),
                               "us_per_candle": round(self.seconds / candles * 1e6, 3), "trades": self.trades,
                               "net_pnl_usd": round(self.net_pnl_usd, 6), "fees_usd": round(self.fees_usd, 6)}
        if self.cpu_seconds is not None:
            out["cpu_seconds"] = round(self.cpu_seconds, 4)
        if self.wakes:
            out["wakes"] = self.wakes
            out["us_per_wake"] = round(self.seconds / self.wakes * 1e6, 1)
        if self.seconds_simulation_only is not None:
            out["seconds_simulation_only"] = round(self.seconds_simulation_only, 4)
        if self.seconds_data_prep is not None:
            out["seconds_data_prep"] = round(self.seconds_data_prep, 3)
        if self.seconds_first_call is not None:
            out["seconds_first_call_incl_jit"] = round(self.seconds_first_call, 3)
        if self.peak_rss_mb is not None:
            out["peak_rss_mb"] = round(self.peak_rss_mb, 1)
        if self.note:
            out["note"] = self.note
        return out


# -- backtesting.py -------------------------------------------------------------------------------
def run_backtesting_py(frame: pd.DataFrame, *, notional_usd: float, lot: Decimal, cash_usd: float,
                       fee: float) -> PeerRun:
    """backtesting.py 0.6.6: ``FractionalBacktest`` (whole lots), exclusive orders, next-open fills."""
    from backtesting import Strategy
    from backtesting.lib import FractionalBacktest

    n_signal_bars = len(frame)
    lot_float = float(lot)

    class EmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            # RawClose: the unscaled close (FractionalBacktest scales OHLC by the lot).
            self.side = self.I(cross_side, self.data.RawClose, name="ema_cross_side")

        def next(self) -> None:
            if len(self.data) > n_signal_bars:  # a settlement bar: no new signals
                return
            side = self.side[-1]
            if side == 0 or (side > 0 and self.position.is_long) or (side < 0 and self.position.is_short):
                return
            lots = int(units_for(notional_usd, self.data.RawClose[-1], lot) / lot)
            if side > 0:
                self.buy(size=lots)
            else:
                self.sell(size=lots)

    data = with_settlement_bars(frame)
    data["RawClose"] = data["Close"]
    backtest = FractionalBacktest(data, EmaCross, cash=cash_usd, commission=fee, margin=1.0, trade_on_close=False,
                                  hedging=False, exclusive_orders=True, finalize_trades=True,
                                  fractional_unit=lot_float)
    cpu_started = time.process_time()
    started = time.perf_counter()
    stats = backtest.run()  # timed: Backtest.run alone (the simulation and its own statistics)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    # Untimed from here: the agreement check's trade table.
    trades = stats["_trades"]
    table = pd.DataFrame({"entry_price": trades["EntryPrice"].to_numpy(), "exit_price": trades["ExitPrice"].to_numpy(),
                          "size": trades["Size"].to_numpy(), "pnl_usd": trades["PnL"].to_numpy()})
    fees = float((trades["Commission"]).sum()) if "Commission" in trades else float("nan")
    return PeerRun(engine="backtesting.py", seconds=seconds, cpu_seconds=cpu_seconds, trades=len(trades),
                   net_pnl_usd=float(stats["Equity Final [$]"]) - cash_usd, fees_usd=fees, trade_table=table,
                   wakes=len(data),  # Strategy.next runs on (about) every bar, settlement bars included
                   note=f"FractionalBacktest(fractional_unit={lot}), exclusive_orders, finalize_trades; "
                        "timed: Backtest.run() alone (built before the clock starts)")


# -- vectorbt -------------------------------------------------------------------------------------
def vectorbt_orders(close: np.ndarray, *, notional_usd: float, lot: Decimal) -> np.ndarray:
    """Target positions (signed units) per bar of the data plus settlement bars; NaN where no order.

    The signal of bar t sets the target at bar t + 1 when the side changed; the last settlement
    bar targets 0 (flat).
    """
    side = cross_side(close)
    previous = np.concatenate([[0], side[:-1]])
    changed = np.flatnonzero((side != 0) & (side != previous))
    target = np.full(close.size + SETTLEMENT_BARS, np.nan)
    target[changed + 1] = [float(side[t]) * float(units_for(notional_usd, close[t], lot)) for t in changed]
    target[-1] = 0.0
    return target


def run_vectorbt(frame: pd.DataFrame, *, notional_usd: float, lot: Decimal, cash_usd: float, fee: float,
                 warm_up: bool = True) -> PeerRun:
    """vectorbt 1.2.0: ``Portfolio.from_orders`` with target amounts at the next bar's open.

    Timed: the signal and target arrays (the same EMA cross and sizing as the other engines) and
    ``Portfolio.from_orders`` with the final value, the whole simulation. Not timed: the
    human-readable trade table (``trades.records_readable``, about 87 % of the total at 200,000
    candles), built afterwards for the agreement check only. ``seconds_simulation_only`` in the
    note is ``from_orders`` alone.
    """
    import vectorbt as vbt

    def simulate(data: pd.DataFrame) -> tuple[Any, float, float]:
        padded = with_settlement_bars(data)
        target = vectorbt_orders(data["Close"].to_numpy(), notional_usd=notional_usd, lot=lot)
        sim_started = time.perf_counter()
        portfolio = vbt.Portfolio.from_orders(close=padded["Close"], size=target, size_type="targetamount",
                                              price=padded["Open"], fees=fee, init_cash=cash_usd, direction="both",
                                              freq="1min")
        final_value = float(portfolio.final_value())
        return portfolio, final_value, time.perf_counter() - sim_started

    first = None
    if warm_up:  # numba compiles on the first call: time it apart
        started = time.perf_counter()
        warm, _, _ = simulate(frame.iloc[:1000])
        _ = warm.trades.records_readable
        first = time.perf_counter() - started
    cpu_started = time.process_time()
    started = time.perf_counter()
    portfolio, final_value, sim_only = simulate(frame)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    # Untimed from here: the human-readable trade table, for the agreement check only.
    records = portfolio.trades.records_readable
    table = pd.DataFrame({
        "entry_price": records["Avg Entry Price"].to_numpy(), "exit_price": records["Avg Exit Price"].to_numpy(),
        "size": np.where(records["Direction"].astype(str).str.lower() == "short", -1.0, 1.0)
        * records["Size"].to_numpy(),
        "pnl_usd": records["PnL"].to_numpy()})
    fees = float(records["Entry Fees"].sum() + records["Exit Fees"].sum())
    return PeerRun(engine="vectorbt", seconds=seconds, cpu_seconds=cpu_seconds, trades=len(records),
                   net_pnl_usd=final_value - cash_usd,
                   fees_usd=fees, trade_table=table, seconds_first_call=first, seconds_simulation_only=sim_only,
                   note="Portfolio.from_orders(size_type='targetamount', price=next open); timed: signals, targets, "
                        "from_orders and final_value; the trade table is built after the clock stops; "
                        "first call compiles (numba)")

"""The EMA(20)/EMA(50) always-in cross in NautilusTrader 1.231 (optional peer; ``pip install nautilus_trader``).

NautilusTrader 1.231 needs Python >= 3.12 (Krakenbot runs on 3.11), so this module is a
standalone script run by its own interpreter: ``<python> bench/nautilus_peer.py IN.npz OUT.npz``.
It imports numpy, pandas and nautilus_trader only (not Krakenbot): ``bench.compare`` writes the
candles, the signal side per bar and the units per entry to ``IN.npz``, and reads the trade
table from ``OUT.npz`` and one JSON line (seconds, CPU seconds, peak RSS, net PnL) from stdout.

Low-level API: a ``BacktestEngine`` with one simulated venue (``SIM``, a margin account in USD,
hedging OMS so that each entry is its own position, i.e. one trade), one synthetic linear
perpetual (``SYN00-PERP.SIM``: 0.01 USD tick, 0.01 unit lot, taker fee 0.0005, no margin
requirement), the candles as 1-minute ``Bar`` objects, and a ``Strategy`` subclass.

What it shares with the other engines (``bench.peers``):

* signal: the side of ``bench.peers.cross_side`` (Krakenbot's finite-memory ``ema``), read per
  bar from the input arrays, as backtesting.py reads its ``self.I`` array. Nautilus's own
  ``ExponentialMovingAverage`` is the recursive one (like pandas'): it differs from Krakenbot's
  by up to 1e-4 of the price range and flips a near-tie cross now and then, so it cannot decide
  if the trades are to agree. The strategy still registers two of them (20 and 50) on the bars,
  so their per-bar update is in the timed run as it would be in a Nautilus user's strategy;
* fills: a market order submitted in ``on_bar`` fills against the bar just processed, at its
  close, which on this data (open = previous close) is the next bar's open, the price the others
  fill at. A reversal closes the open position, then opens the new side (two fills, as
  backtesting.py's ``exclusive_orders``). The bars' volume is set to 1e12 so that a market order
  never exceeds the simulated top of book (Nautilus fills what exceeds it one tick worse); no
  strategy here reads volume;
* size: ``units_for(10,000 USD, close, lot)`` (computed by the caller, exact), a fixed notional per
  entry; fee 0.0005 of notional (the instrument's taker fee);
* end: on the last bar the strategy acts on its signal, then closes everything at that close,
  as Krakenbot does (no settlement bars needed: Nautilus fills on the signal bar).

Timed: ``BacktestEngine.run()`` alone. Building the 1,000,000 ``Bar`` objects and ``add_data``
(which sorts them) are data preparation, reported apart (``seconds_data_prep``).
"""

from __future__ import annotations

import json
import re
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

VENUE = "SIM"
FAST_SPAN = 20  # the registered (not deciding) Nautilus EMAs, as bench.peers
SLOW_SPAN = 50
BAR_VOLUME = 1e12  # above any order: no partial fills at the top of the simulated book
RUN_ANALYSIS = False  # its post-run performance report (pandas, per position) is not the simulation: off


def _peak_rss_mb() -> float | None:
    try:
        match = re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) / 1024 if match else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def version() -> str | None:
    """The installed nautilus_trader version in this interpreter, or None."""
    from importlib import metadata

    try:
        return metadata.version("nautilus_trader")
    except metadata.PackageNotFoundError:
        return None


def run(arrays: dict[str, np.ndarray], *, cash_usd: float, fee: float, tick: float, lot: float) -> dict[str, Any]:
    """Run the strategy on ``arrays`` (ts_ns, open, high, low, close, side int8, units float per bar).

    Returns the figures (seconds, cpu_seconds, trades, net_pnl_usd, fees_usd, ...) and the trade
    table as arrays (entry_price, exit_price, size signed, pnl_usd).
    """
    from nautilus_trader.backtest.config import BacktestEngineConfig
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import LoggingConfig, StrategyConfig
    from nautilus_trader.indicators import ExponentialMovingAverage
    from nautilus_trader.model.currencies import USD
    from nautilus_trader.model.data import Bar, BarType
    from nautilus_trader.model.enums import AccountType, CurrencyType, OmsType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, TraderId, Venue
    from nautilus_trader.model.instruments import CryptoPerpetual
    from nautilus_trader.model.objects import Currency, Money, Price, Quantity
    from nautilus_trader.trading.strategy import Strategy

    prep_started = time.perf_counter()
    price_precision = _decimals(tick)
    size_precision = _decimals(lot)
    venue = Venue(VENUE)
    instrument_id = InstrumentId(Symbol("SYN00-PERP"), venue)
    base = Currency("SYN00", 8, 0, "SYNTHETIC random walk", CurrencyType.CRYPTO)
    instrument = CryptoPerpetual(
        instrument_id=instrument_id, raw_symbol=Symbol("SYN00-PERP"), base_currency=base, quote_currency=USD,
        settlement_currency=USD, is_inverse=False, price_precision=price_precision, size_precision=size_precision,
        price_increment=Price(tick, price_precision), size_increment=Quantity(lot, size_precision),
        ts_event=0, ts_init=0, margin_init=Decimal(0), margin_maint=Decimal(0),
        maker_fee=Decimal(repr(fee)), taker_fee=Decimal(repr(fee)))
    bar_type = BarType.from_str(f"{instrument_id}-1-MINUTE-LAST-EXTERNAL")
    close_ns = arrays["ts_ns"].astype(np.int64) + 60_000_000_000  # a bar's ts_event is its close
    volume = Quantity(BAR_VOLUME, size_precision)
    bars = [Bar(bar_type, Price(o, price_precision), Price(h, price_precision), Price(lo, price_precision),
                Price(c, price_precision), volume, int(t), int(t))
            for o, h, lo, c, t in zip(arrays["open"].tolist(), arrays["high"].tolist(), arrays["low"].tolist(),
                                      arrays["close"].tolist(), close_ns.tolist(), strict=True)]
    side = arrays["side"].astype(int).tolist()
    units = arrays["units"].tolist()
    n_bars = len(bars)

    class EmaCrossConfig(StrategyConfig, frozen=True):  # type: ignore[misc,call-arg]
        instrument_id: InstrumentId
        bar_type: BarType

    class AlwaysInEmaCross(Strategy):  # type: ignore[misc]
        def __init__(self, config: EmaCrossConfig) -> None:
            super().__init__(config)
            self.fast = ExponentialMovingAverage(FAST_SPAN)
            self.slow = ExponentialMovingAverage(SLOW_SPAN)
            self.index = 0
            self.held = 0

        def on_start(self) -> None:
            self.register_indicator_for_bars(self.config.bar_type, self.fast)
            self.register_indicator_for_bars(self.config.bar_type, self.slow)
            self.subscribe_bars(self.config.bar_type)

        def on_bar(self, bar: Bar) -> None:
            i = self.index
            self.index += 1
            want = side[i]
            if want not in (0, self.held):
                if self.held:
                    self.close_all_positions(instrument_id)
                order = self.order_factory.market(instrument_id, OrderSide.BUY if want > 0 else OrderSide.SELL,
                                                  Quantity(units[i], size_precision))
                self.submit_order(order)
                self.held = want
            if i == n_bars - 1 and self.held:
                self.close_all_positions(instrument_id)
                self.held = 0

    engine = BacktestEngine(config=BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                        logging=LoggingConfig(log_level="ERROR"),
                                                        run_analysis=RUN_ANALYSIS))
    engine.add_venue(venue=venue, oms_type=OmsType.HEDGING, account_type=AccountType.MARGIN, base_currency=USD,
                     starting_balances=[Money(cash_usd, USD)], default_leverage=Decimal(1))
    engine.add_instrument(instrument)
    engine.add_data(bars)
    engine.add_strategy(AlwaysInEmaCross(EmaCrossConfig(instrument_id=instrument_id, bar_type=bar_type)))
    del bars
    seconds_prep = time.perf_counter() - prep_started
    reset_ok = _reset_peak_rss()
    cpu_started = time.process_time()
    started = time.perf_counter()
    engine.run()  # timed: the simulation alone
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = _peak_rss_mb()
    # Untimed from here: the trade table for the agreement check.
    positions = sorted(engine.cache.positions(), key=lambda p: (p.ts_opened, str(p.id)))
    table: dict[str, list[float]] = {"entry_price": [], "exit_price": [], "size": [], "pnl_usd": []}
    fees = 0.0
    for p in positions:
        fees += sum(m.as_double() for m in p.commissions())
        table["entry_price"].append(float(p.avg_px_open))
        table["exit_price"].append(float(p.avg_px_close))
        table["size"].append((1.0 if p.entry == OrderSide.BUY else -1.0) * float(p.peak_qty))
        table["pnl_usd"].append(p.realized_pnl.as_double())
    net = float(engine.portfolio.account(venue).balance_total(USD).as_double()) - cash_usd
    engine.dispose()
    figures = {"engine": "nautilus", "seconds": seconds, "cpu_seconds": cpu_seconds, "trades": len(positions),
               "net_pnl_usd": net, "fees_usd": fees, "wakes": n_bars, "seconds_data_prep": seconds_prep,
               "peak_rss_mb": peak, "peak_reset_before_run": reset_ok, "version": version(),
               "python": sys.version.split()[0]}
    return {"figures": figures, "table": {k: np.asarray(v, dtype=float) for k, v in table.items()}}


def _decimals(step: float) -> int:
    text = np.format_float_positional(step, trim="-")
    return len(text.split(".")[1]) if "." in text else 0


def main(argv: list[str] | None = None) -> int:
    """``nautilus_peer.py IN.npz OUT.npz``: run, write the trade table to OUT.npz, print the figures as JSON."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0] == "--version":
        sys.stdout.write(json.dumps({"version": version(), "python": sys.version.split()[0]}) + "\n")
        return 0 if version() else 1
    if len(args) != 2:
        sys.stderr.write("usage: nautilus_peer.py IN.npz OUT.npz (or --version)\n")
        return 2
    with np.load(args[0]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    params = {k: float(arrays.pop(k)) for k in ("cash_usd", "fee", "tick", "lot")}
    out = run(arrays, **params)
    np.savez(args[1], **out["table"])
    sys.stdout.write(json.dumps(out["figures"]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The result tables built from integers and codes equal what pandas infers from the Python values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.engine import _symbol_column
from krakenbot.backtest.instruments import synthetic_perpetual
from krakenbot.backtest.result import empty_trades, epoch_us, utc_column
from krakenbot.backtest.trades import build_trades
from krakenbot.domain import Fill, OrderSide
from krakenbot.domain.timeconv import to_us


@pytest.mark.parametrize(("symbols", "counts"), [
    (("BTC/USD", "ETH/USD", "SOL/USD"), [5, 0, 3]), (("BTC/USD",), [0]), ((), []),
])
def test_symbol_column_is_the_inferred_column_of_the_repeated_strings(symbols, counts):
    counts = np.array(counts, dtype=np.int64)
    inferred = pd.DataFrame({"symbol": np.repeat(np.array(symbols, dtype=object), counts)})
    pd.testing.assert_frame_equal(pd.DataFrame({"symbol": _symbol_column(symbols, counts)}), inferred,
                                  check_exact=True)


def test_utc_column_is_what_to_datetime_gives_for_utc_datetimes():
    stamps = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=k, microseconds=7 * k) for k in range(5)]
    pd.testing.assert_index_equal(utc_column(stamps), pd.DatetimeIndex(pd.to_datetime(stamps, utc=True)))


def test_epoch_us_reads_known_stamps_and_converts_the_others():
    stamps = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=k, microseconds=7 * k) for k in range(4)]
    known = {stamps[1]: to_us(stamps[1]), stamps[3]: to_us(stamps[3])}
    assert epoch_us(stamps, known).tolist() == [to_us(ts) for ts in stamps] == epoch_us(stamps).tolist()


def test_trades_table_keeps_its_column_dtypes_with_known_stamps():
    xbt = synthetic_perpetual("BTC/USD", 30_000.0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    fills = [Fill(trade_id=f"t-{n}", client_order_id=f"kb-{n}", symbol=xbt.symbol, side=side, size=Decimal("0.1"),
                  price=Decimal("30000"), fee_usd=Decimal("0.5"), ts=t0 + timedelta(minutes=n))
             for n, side in enumerate([OrderSide.BUY, OrderSide.SELL])]
    plain = build_trades(fills, {}, {xbt.symbol: xbt}, [])
    known = build_trades(fills, {}, {xbt.symbol: xbt}, [], {fills[1].ts: to_us(fills[1].ts)})
    pd.testing.assert_frame_equal(known, plain, check_exact=True)
    assert {c: str(t) for c, t in plain.dtypes.items()} == {
        "symbol": "str", "side": "str", "ts_open": "datetime64[us, UTC]", "ts_close": "datetime64[us, UTC]",
        "entry_price": "float64", "exit_price": "float64", "size": "float64", "notional_usd": "float64",
        "pnl_usd": "float64", "fees_usd": "float64", "funding_usd": "float64", "close_reason": "str"}
    # money is float64 whether or not funding was paid, as in the empty table
    assert plain["funding_usd"].dtype == empty_trades()["funding_usd"].dtype

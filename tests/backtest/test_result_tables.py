"""The result tables built from integers and codes equal what pandas infers from the Python values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from krakenbot.backtest.engine import _symbol_column
from krakenbot.backtest.result import utc_column


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
